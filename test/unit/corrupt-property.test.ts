/**
 * Corrupted containers never pass, on any thread count (issue 12, item 2). Real containers
 * (test/helpers/corrupt.ts: the registry's ONNX model, a safetensors mix of every payload mode, a
 * GGUF Q4_0 model, a delta file) get a single flipped byte in every position class and are cut at
 * every 1/64 of their length; each case runs 5 times with 1, 2 and 4 threads through verifyFile and
 * decompressFile. Every run must fail with a one-line message naming the file and leave nothing
 * behind. With more than one thread, TZ_TEST_WORKERS_ONLY makes every chunk decode on a worker (the
 * pool otherwise starts inline while workers boot, and these containers are small enough to end
 * before one has), and the pool's own counters confirm it. The repeat matters: the lost-reply bug
 * this guards against (pool-close.test.ts) passed about three runs in four.
 */
import * as assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decompressFile, verifyFile } from '../../engine/api';
import { TzError } from '../../engine/core/errors';
import { WorkerPool } from '../../engine/pool/pool';
import { buildTargets, CLASSES, type PositionClass, type Target } from '../helpers/corrupt';
import { tempDir } from '../helpers/safetensors';

const THREADS = [1, 2, 4];
const REPS = 5;
/** classes a reader refuses before any chunk is decoded (no pool is started) */
const STRUCTURE: PositionClass[] = ['header', 'index', 'footer'];

const tmp = tempDir('tz-corrupt-prop-');
let targets: Target[] = [];
const poolStats: Array<ReturnType<WorkerPool['stats']>> = [];
const close = WorkerPool.prototype.close;
const env = process.env.TZ_TEST_WORKERS_ONLY;

before(async () => {
  mkdirSync(path.join(tmp.dir, 'models'));
  targets = await buildTargets(path.join(tmp.dir, 'models'));
  process.env.TZ_TEST_WORKERS_ONLY = '1';
  WorkerPool.prototype.close = function (this: WorkerPool) {
    poolStats.push(this.stats());
    return close.call(this);
  };
});
after(() => {
  WorkerPool.prototype.close = close;
  if (env === undefined) delete process.env.TZ_TEST_WORKERS_ONLY;
  else process.env.TZ_TEST_WORKERS_ONLY = env;
  tmp.cleanup();
});

let caseNo = 0;
/** Runs one corrupted file REPS times through verify and decompress with `threads`; returns the messages. */
async function mustFail(
  t: Target,
  bytes: Uint8Array,
  threads: number,
  what: string,
  onWorkers: boolean,
): Promise<string[]> {
  const dir = path.join(tmp.dir, `case-${caseNo++}`);
  mkdirSync(dir);
  const file = path.join(dir, path.basename(t.tzip));
  writeFileSync(file, bytes);
  const base = t.base ? { base: t.base } : {};
  const messages: string[] = [];
  try {
    for (let rep = 0; rep < REPS; rep++) {
      const label = `${what}, ${threads} thread(s), run ${rep + 1}`;
      poolStats.length = 0;
      const v = await verifyFile(file, { threads, ...base });
      assert.equal(v.ok, false, `${label}: verify passed`);
      assert.ok(
        v.problems.length > 0 && v.problems.every((m) => !m.includes('\n') && m.includes(file)),
        `${label}: ${v.problems.join(' | ')}`,
      );
      messages.push(v.problems[0]!);
      const out = path.join(dir, 'restored');
      let err: unknown;
      await decompressFile(file, { output: out, threads, ...base }).then(
        () => undefined,
        (e: unknown) => {
          err = e;
        },
      );
      assert.ok(
        err instanceof TzError,
        `${label}: decompress ${err ? `threw a non-TzError: ${String(err)}` : 'succeeded'}`,
      );
      assert.ok(!err.message.includes('\n') && err.message.includes(file), `${label}: ${err.message}`);
      assert.deepEqual(readdirSync(dir), [path.basename(file)], `${label}: left something behind`);
      if (onWorkers) {
        assert.equal(poolStats.length, 2, `${label}: one pool per verify and decompress`);
        for (const s of poolStats)
          assert.ok(s.inline === 0 && s.workers > 0, `${label}: chunks decoded on workers (${JSON.stringify(s)})`);
      }
    }
    return messages;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('corrupted containers fail on every thread count, every time', () => {
  test('the containers hold every position class', () => {
    const found = new Set(targets.flatMap((t) => Object.keys(t.classes)));
    assert.deepEqual(
      CLASSES.filter((k) => !found.has(k)),
      [],
      'classes no container holds',
    );
  });

  test('a single flipped byte in every position class (1, 2, 4 threads, 5 runs each)', async () => {
    let runs = 0;
    const hit = new Map<PositionClass, number>();
    for (const t of targets) {
      const good = readFileSync(t.tzip);
      for (const [k, positions] of Object.entries(t.classes) as Array<[PositionClass, number[]]>) {
        for (const [pi, pos] of positions.entries()) {
          for (const threads of THREADS) {
            // every position with one thread; on workers (each run boots a pool) the middle position
            // of each payload class in the first container holding it; structure fails before any pool
            const first = targets.find((x) => x.classes[k]?.length) === t;
            if (threads > 1 && !STRUCTURE.includes(k) && (!first || pi !== 1 % positions.length)) continue;
            const bad = new Uint8Array(good);
            bad[pos] = bad[pos]! ^ 0x5a;
            await mustFail(
              t,
              bad,
              threads,
              `${t.name}: ${k} byte ${pos} flipped`,
              threads > 1 && !STRUCTURE.includes(k),
            );
            runs += 2 * REPS;
            hit.set(k, (hit.get(k) ?? 0) + 1);
          }
        }
      }
    }
    assert.deepEqual(
      CLASSES.filter((k) => !hit.has(k)),
      [],
    );
    console.log(`flips: ${runs} runs, ${[...hit].map(([k, n]) => `${k} ${n}`).join(', ')} cases`);
  });

  test('truncation at every 1/64 of the length (1, 2, 4 threads, 5 runs each)', async () => {
    let runs = 0;
    for (const t of targets) {
      const good = readFileSync(t.tzip);
      for (let k = 0; k < 64; k++) {
        const len = Math.floor((k * good.length) / 64);
        for (const threads of THREADS) {
          await mustFail(t, good.subarray(0, len), threads, `${t.name}: cut to ${len} of ${good.length} bytes`, false);
          runs += 2 * REPS;
        }
      }
    }
    console.log(`truncations: ${runs} runs`);
  });
});
