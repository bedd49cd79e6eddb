import { describe, expect, it } from 'vitest';
import { checkStandIns, registerStandIn } from '../fakes/stand-ins.js';

/** A stand-in as the registry sees one: a problems list and a script to drain. */
function standIn(name: string, script: string[] = []) {
  const problems: string[] = [];
  const handle = registerStandIn({ name, problems, takeUnconsumed: () => script.splice(0) });
  return { problems, script, ...handle };
}

describe('strict stand-ins', () => {
  it('a problem nobody claimed fails the check once, naming the stand-in and the problem', () => {
    const slack = standIn('slack http://127.0.0.1:1');
    slack.problems.push('unknown or unimplemented Web API method chat.nope');
    const report = checkStandIns();
    expect(report).toContain('  slack http://127.0.0.1:1\n');
    expect(report).toContain('    unexpected: unknown or unimplemented Web API method chat.nope');
    // Charged to one test only: the next check does not repeat it.
    expect(checkStandIns()).toBeUndefined();
    slack.closed();
  });

  it('scripted steps nobody asked for fail the check, and are dropped so they fail it once', () => {
    const model = standIn('anthropic http://127.0.0.1:2', ['reply [text "never asked"]']);
    expect(checkStandIns()).toContain('    scripted but never requested: reply [text "never asked"]');
    expect(model.script).toEqual([]);
    expect(checkStandIns()).toBeUndefined();
    model.closed();
  });

  it('problems a test claimed with takeProblems() do not fail it; later ones still do', () => {
    const jira = standIn('jira cloud http://127.0.0.1:3');
    jira.problems.push('401: wrong credentials, on purpose');
    expect(jira.takeProblems()).toEqual(['401: wrong credentials, on purpose']);
    expect(checkStandIns()).toBeUndefined();
    jira.problems.push('400: bad JQL, by accident');
    expect(checkStandIns()).toContain('400: bad JQL, by accident');
    expect(jira.takeProblems()).toEqual([]);
    jira.closed();
  });

  it('a closed stand-in is checked once more, then forgotten', () => {
    const kube = standIn('kubernetes http://127.0.0.1:4');
    kube.closed();
    kube.problems.push('seen while closing');
    expect(checkStandIns()).toContain('seen while closing');
    kube.problems.push('after it was forgotten');
    expect(checkStandIns()).toBeUndefined();
  });
});
