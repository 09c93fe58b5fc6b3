// WorkerPool: tasks posted before any worker has booted run on the calling thread, later ones in
// the workers, and every task gives the same bytes wherever it ran.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { WorkerPool } from '../../engine/pool/pool';
import type { EncodeReply, EncodeTask } from '../../protocol/pool';
import { initTasks, runTask } from '../../engine/pool/tasks';
import { mulberry32 as rng } from '../helpers/random';

const HAVE_WORKER = existsSync('dist/worker.js');

function task(seed: number): EncodeTask {
  const r = rng(seed);
  // BF16-like: skewed high bytes, noisy low bytes
  const data = Uint8Array.from({ length: 256 * 1024 }, (_, i) =>
    i & 1 ? 0x3c + Math.floor(-Math.log(r() + 1e-9)) : (r() * 256) | 0,
  );
  return { op: 'encode', dtype: 'BF16', data };
}

test(
  'the pool codes inline until a worker is ready, then in the workers; same bytes either way',
  { skip: !HAVE_WORKER && 'dist/worker.js not built (npm run build)' },
  async () => {
    await initTasks();
    const expected = [1, 2, 3, 4, 5, 6].map((s) => runTask(task(s)) as EncodeReply);
    const pool = new WorkerPool(2);
    try {
      const early = await Promise.all([1, 2].map((s) => pool.run<EncodeReply>(task(s))));
      assert.equal(pool.stats().inline, 2, 'tasks posted at once should not wait for the workers to boot');
      const deadline = Date.now() + 15000;
      while (pool.stats().ready < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
      assert.equal(pool.stats().ready, 2, 'both workers report ready');
      const late = await Promise.all([3, 4, 5, 6].map((s) => pool.run<EncodeReply>(task(s))));
      assert.equal(pool.stats().workers, 4, 'tasks after boot go to the workers');
      [...early, ...late].forEach((r, i) => {
        assert.equal(
          Buffer.compare(Buffer.from(r.payload), Buffer.from(expected[i]!.payload)),
          0,
          `task ${i + 1}: payload differs`,
        );
        assert.equal(r.crc, expected[i]!.crc);
      });
    } finally {
      await pool.close();
    }
  },
);
