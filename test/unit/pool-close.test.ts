/**
 * WorkerPool.close() while replies are in flight. A reply that arrived after terminate() used to
 * unref its worker, the event loop ran dry before the 'exit' event, and `await close()` never
 * returned: the process just ended, and a corrupted .tzip "verified" with exit 0. Each run is a fresh
 * plain-node process (a bundle beside dist/worker.js: tsx's loader keeps the loop alive and hides the
 * bug), repeated because it is a race: the old pool failed most runs of this script.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildSync } from 'esbuild';

const DIST = path.resolve('dist');
const script = `
import { WorkerPool } from ${JSON.stringify(path.resolve('engine/pool/pool.ts'))};
(async () => {
  const pool = new WorkerPool(2);
  const data = new Uint8Array(1 << 20).map((_, i) => (i * 2654435761) >>> 24);
  while (pool.stats().ready < 2) await new Promise((r) => setTimeout(r, 5));
  const encode = () => pool.run({ op: 'encode', dtype: 'BF16', data: data.slice() }).catch(() => undefined);
  const tasks = [0, 1, 2].map(encode);
  await tasks[0];
  // the main thread is busy (hashing, say) while the other replies queue up, then closes the pool
  const t = Date.now();
  while (Date.now() - t < 40) { /* spin */ }
  await pool.close();
  process.stdout.write('closed');
})();`;

test(
  'close() with replies in flight always returns (20 runs)',
  { skip: !existsSync(path.join(DIST, 'worker.js')) && 'no dist/worker.js (run `npm run build`)' },
  () => {
    // dist/<tmp>/../../dist/worker.js is where the pool looks for its worker entry
    const dir = mkdtempSync(path.join(DIST, 'pool-close-'));
    try {
      const src = path.join(dir, 'close.ts');
      writeFileSync(src, script);
      buildSync({
        entryPoints: [src],
        bundle: true,
        platform: 'node',
        outfile: path.join(dir, 'close.js'),
        logLevel: 'error',
      });
      let closed = 0;
      for (let run = 0; run < 20; run++) {
        const r = spawnSync(process.execPath, [path.join(dir, 'close.js')], { encoding: 'utf8', timeout: 30_000 });
        assert.equal(r.status, 0, r.stderr);
        if (r.stdout === 'closed') closed++;
      }
      assert.equal(closed, 20, `close() returned in ${closed} of 20 runs`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
