// Every stand-in registers here when it starts, so that test/setup/strict-stand-ins.ts can fail the
// test during which a stand-in saw something unexpected (a refusal, an unknown route, a crash) or
// was left holding scripted steps nobody asked for. Tests no longer have to remember to look.
//
// A test that provokes a refusal on purpose claims it with the stand-in's `takeProblems()` and
// asserts on what it got; a test that leaves a script unconsumed on purpose claims it with
// `takeUnconsumed()`. Whatever nobody claimed fails the test.
//
// No vitest import: the same stand-ins run in scripts/ and bench/, where nobody checks.

export interface StandIn {
  /** How the failure message names it, e.g. "anthropic http://127.0.0.1:41234". */
  name: string;
  /** The stand-in's own append-only record of what it refused or did not understand. */
  problems: readonly string[];
  /** Scripted stand-ins: removes the steps never asked for and describes them. */
  takeUnconsumed?: () => string[];
}

export interface StandInHandle {
  /** The problems not yet checked or claimed; once taken they no longer fail the test. */
  takeProblems(): string[];
  /** Called from the stand-in's close(); it is still checked once more, then forgotten. */
  closed(): void;
}

interface Entry {
  standIn: StandIn;
  /** How many of `problems` were already charged to a test or claimed. */
  seen: number;
  closed: boolean;
}

const entries = new Set<Entry>();

function take(entry: Entry): string[] {
  const { problems } = entry.standIn;
  // A test may have truncated the array (`problems.length = 0`); then everything left is new.
  const fresh = problems.slice(Math.min(entry.seen, problems.length));
  entry.seen = problems.length;
  return fresh;
}

export function registerStandIn(standIn: StandIn): StandInHandle {
  const entry: Entry = { standIn, seen: 0, closed: false };
  entries.add(entry);
  return {
    takeProblems: () => take(entry),
    closed: () => {
      entry.closed = true;
    },
  };
}

/**
 * What every stand-in saw since the previous check that nobody claimed, as a readable report, or
 * undefined when all is well. It counts as claimed afterwards (scripts are emptied), so one failure
 * is charged to one test only; closed stand-ins are then forgotten. A stand-in shared across tests
 * (started in beforeAll) is thus charged per test: push its script in the test that consumes it.
 */
export function checkStandIns(): string | undefined {
  const reports: string[] = [];
  for (const entry of entries) {
    const problems = take(entry);
    const unconsumed = entry.standIn.takeUnconsumed?.() ?? [];
    if (entry.closed) entries.delete(entry);
    if (problems.length === 0 && unconsumed.length === 0) continue;
    reports.push(
      [
        `  ${entry.standIn.name}`,
        ...problems.map((p) => `    unexpected: ${p}`),
        ...unconsumed.map((s) => `    scripted but never requested: ${s}`),
      ].join('\n'),
    );
  }
  if (reports.length === 0) return undefined;
  return [
    'A stand-in saw what no test claimed (claim a deliberate one with takeProblems() / takeUnconsumed() and assert on it):',
    ...reports,
  ].join('\n');
}
