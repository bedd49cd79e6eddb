// Fails a test when a stand-in saw an unexpected call or kept scripted steps nobody asked for
// (see test/fakes/stand-ins.ts), so no test can pass because a stand-in was lenient and nobody
// looked. Registered as a vitest setup file, so these hooks run after each test file's own
// afterEach/afterAll (hooks run as a stack): a stand-in closed there is still checked.
import { afterAll, afterEach } from 'vitest';
import { checkStandIns } from '../fakes/stand-ins.js';

function failOnUnclaimed(): void {
  const report = checkStandIns();
  if (report) throw new Error(report);
}

afterEach(failOnUnclaimed);
// Stand-ins started in beforeAll may see something while closing, after the last test.
afterAll(failOnUnclaimed);
