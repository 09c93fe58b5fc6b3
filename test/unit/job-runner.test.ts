/**
 * Spare job workers (server/job-runner.ts): a job goes to the spare started ahead of it, a new spare
 * is waiting for the next job, and a spare that dies before its job never turns into a hang or a
 * false answer (the job gets a fresh worker, or fails loudly if the death is noticed only after the
 * job took it). The workers here are small scripts speaking the job-worker protocol.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as path from 'node:path';
import { writeFileSync } from 'node:fs';
import { JobError, JobRun, hasSpareWorker, keepSpareWorker } from '../../server/job-runner';
import type { JobSpec } from '../../protocol/jobs';
import { tempDir } from '../helpers/safetensors';

const tmp = tempDir('tz-runner-');
after(() => tmp.cleanup());

/** Answers its job with where the job came from; a spare (no spec) waits for `start`, or dies at once. */
function script(name: string, spareDies: boolean): string {
  const file = path.join(tmp.dir, name);
  writeFileSync(
    file,
    `const { parentPort, workerData } = require('node:worker_threads');
const answer = (spec, spare) => parentPort.postMessage({ type: 'result', result: { path: spec.path, spare } });
if (workerData.spec) answer(workerData.spec, false);
else if (${spareDies}) process.exit(3);
else parentPort.once('message', (m) => { if (m.type === 'start') answer(m.spec, true); });
`,
  );
  return file;
}

const spec = (p: string): JobSpec => ({ kind: 'info', path: p });

describe('spare job workers', () => {
  test('each job goes to the spare started for it, and a new spare waits for the next', async () => {
    const s = script('ok.cjs', false);
    keepSpareWorker(s);
    for (let i = 0; i < 5; i++) {
      const run = new JobRun(spec(`/m/${i}`), {}, 150, s);
      assert.equal(run.fromSpare, true, `job ${i}`);
      assert.deepEqual(await run.done, { path: `/m/${i}`, spare: true });
    }
  });

  test('a spare that dies before its job: a fresh worker answers, or the job fails loudly; never a hang', async () => {
    const s = script('dies.cjs', true);
    let fresh = 0,
      loud = 0;
    // Even rounds wait until the spare's death has been seen: that job must get a fresh worker. Odd
    // rounds start at once or after a short delay: the death lands before the job, with it or after it
    // took the spare, depending on timing, and either answer is allowed.
    for (let i = 0; i < 30; i++) {
      keepSpareWorker(s);
      const waitForDeath = i % 2 === 0;
      if (waitForDeath) {
        const deadline = Date.now() + 20_000;
        while (hasSpareWorker(s)) {
          assert.ok(Date.now() < deadline, 'a dying spare was never seen to exit');
          await new Promise((r) => setTimeout(r, 5));
        }
      } else await new Promise((r) => setTimeout(r, i % 3 === 0 ? 0 : i * 3));
      const run = new JobRun(spec(`/d/${i}`), {}, 150, s);
      if (waitForDeath) assert.equal(run.fromSpare, false, `job ${i}: a spare seen dead was taken`);
      try {
        const r = await run.done;
        assert.deepEqual(r, { path: `/d/${i}`, spare: false }, `job ${i}`);
        assert.equal(run.fromSpare, false);
        fresh++;
      } catch (e) {
        assert.ok(e instanceof JobError && e.code === 'INTERNAL', `job ${i}: ${String(e)}`);
        assert.match(e.message, /job worker exited unexpectedly/);
        assert.equal(run.fromSpare, true);
        loud++;
      }
    }
    assert.equal(fresh + loud, 30);
    assert.ok(fresh >= 15, 'every spare seen dead was replaced by a fresh worker');
  });
});
