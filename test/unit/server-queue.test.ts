import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { JobQueue, conflict, type Schedulable } from '../../server/job-queue';
import { JobError } from '../../server/job-runner';
import { jobFiles } from '../../server/job';
import { applySettings, DEFAULTS, serverSection } from '../../server/settings';

/** A fake job whose run ends when the test says so. */
function fakeJob(id: number, over: Partial<Schedulable> = {}) {
  let finish!: () => void;
  const positions: number[] = [];
  const job: Schedulable & { finish: () => void; started: boolean; positions: number[] } = {
    id,
    kind: 'analyze',
    path: `/m/${id}`,
    reads: [`/m/${id}`],
    writes: [],
    light: false,
    state: 'queued',
    queuedAt: Date.now(),
    bytesDone: 0,
    bytesTotal: 0,
    percentage: 0,
    started: false,
    positions,
    start() {
      job.started = true;
      return new Promise<void>((r) => (finish = r));
    },
    queuePositionChanged: (p) => positions.push(p),
    finish: () => finish(),
    ...over,
  };
  return job;
}

const tick = () => new Promise((r) => setImmediate(r));

test('runs at most `limit` jobs and starts queued ones in order as slots free', async () => {
  let changes = 0;
  const q = new JobQueue(2, () => changes++);
  const jobs = [1, 2, 3, 4].map((i) => fakeJob(i));
  for (const j of jobs) q.add(j);
  assert.deepEqual(
    jobs.map((j) => j.started),
    [true, true, false, false],
  );
  assert.deepEqual(
    q.list().map((j) => [j.id, j.state]),
    [
      [1, 'running'],
      [2, 'running'],
      [3, 'queued'],
      [4, 'queued'],
    ],
  );
  assert.deepEqual(jobs[2].positions, [0]);
  assert.deepEqual(jobs[3].positions, [1]);
  jobs[1].finish();
  await tick();
  assert.equal(jobs[2].started, true);
  assert.equal(jobs[3].started, false);
  assert.deepEqual(jobs[3].positions, [1, 0], 'the last job moved up');
  jobs[0].finish();
  await tick();
  assert.equal(jobs[3].started, true);
  jobs[2].finish();
  jobs[3].finish();
  await tick();
  assert.deepEqual(q.list(), []);
  assert.ok(changes >= 4);
});

test('raising the limit starts waiting jobs; light jobs bypass it', async () => {
  const q = new JobQueue(1);
  const a = fakeJob(1);
  const b = fakeJob(2);
  const info = fakeJob(3, { kind: 'info', light: true });
  q.add(a);
  q.add(b);
  q.add(info);
  assert.equal(b.started, false);
  assert.equal(info.started, true, 'info does not wait for a slot');
  q.setLimit(2);
  assert.equal(b.started, true);
  for (const j of [a, b, info]) j.finish();
  await tick();
});

test('removeQueued removes only waiting jobs', async () => {
  const q = new JobQueue(1);
  const a = fakeJob(1);
  const b = fakeJob(2);
  const c = fakeJob(3);
  q.add(a);
  q.add(b);
  q.add(c);
  assert.equal(q.removeQueued(1), false, 'running');
  assert.equal(q.removeQueued(2), true);
  assert.deepEqual(c.positions, [1, 0]);
  assert.deepEqual(
    q.list().map((j) => j.id),
    [1, 3],
  );
  a.finish();
  await tick();
  assert.equal(b.started, false);
  assert.equal(c.started, true);
  c.finish();
  await tick();
});

test('two jobs writing the same output, or reading what another writes, are refused as BUSY', () => {
  const q = new JobQueue(1);
  const w = fakeJob(1, { kind: 'compress', reads: ['/m/a'], writes: ['/m/a.tzip'] });
  q.add(w);
  for (const other of [
    fakeJob(2, { kind: 'compress', reads: ['/m/b'], writes: ['/m/a.tzip'] }),
    fakeJob(3, { kind: 'verify', reads: ['/m/a.tzip'], writes: [] }),
    fakeJob(4, { kind: 'decompress', reads: ['/m/x.tzip'], writes: ['/m/a'] }),
  ]) {
    assert.throws(
      () => q.add(other),
      (e: unknown) => e instanceof JobError && e.code === 'BUSY' && /job 1 \(compress\)/.test(e.message),
    );
  }
  // reading the same input twice is fine
  assert.equal(conflict(fakeJob(5, { reads: ['/m/a'] }), [w]), undefined);
  w.finish();
});

test('jobFiles: default outputs and normalized paths', () => {
  assert.deepEqual(jobFiles({ kind: 'compress', path: '/m/x/../a.safetensors' }), {
    reads: ['/m/a.safetensors'],
    writes: ['/m/a.safetensors.tzip'],
    output: '/m/a.safetensors.tzip',
  });
  assert.deepEqual(jobFiles({ kind: 'decompress', path: '/m/a.safetensors.tzip' }).writes, ['/m/a.safetensors']);
  assert.deepEqual(jobFiles({ kind: 'decompress', path: '/m/a.tzip', output: '/o/b' }).writes, ['/o/b']);
  assert.deepEqual(jobFiles({ kind: 'verify', path: '/m/a.tzip', against: '/m/a' }), {
    reads: ['/m/a.tzip', '/m/a'],
    writes: [],
  });
});

test('settings: initializationOptions and didChangeConfiguration, bad values ignored', () => {
  assert.deepEqual(applySettings(DEFAULTS, undefined), DEFAULTS);
  const s = applySettings(DEFAULTS, { maxConcurrentJobs: 3.7, threads: 4 });
  assert.deepEqual(s, { maxConcurrentJobs: 3, threads: 4 });
  assert.deepEqual(applySettings(s, { maxConcurrentJobs: 0, threads: 'x' }), s);
  assert.deepEqual(serverSection({ settings: { tensorzip: { server: { threads: 1 } } } }), { threads: 1 });
  assert.equal(serverSection({ settings: null }), undefined);
});
