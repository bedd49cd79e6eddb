/** The one rule for "this command ran the project's checks": for milestones and the PR body. */
const TEST_COMMAND =
  /\b(test|check|lint|pytest|jest|vitest|mocha|go test|cargo test|cargo check|make check|mvn|gradle|tsc)\b/;

export function isTestCommand(command: string): boolean {
  return TEST_COMMAND.test(command);
}
