/**
 * Corrupted containers never pass over the server either (issue 12, item 2: test/unit/corrupt-property
 * runs the engine directly). The same real containers (test/helpers/corrupt.ts) with one flipped byte in
 * each position class and cut at every 16/64 of their length go through `tensorzip/verify` and
 * `tensorzip/decompress` 5 times each, on servers whose jobs code with 1, 2 and 4 threads (every chunk
 * on a pool worker: TZ_TEST_WORKERS_ONLY). Every answer must be a failure with a one-line message
 * naming the file (verify: `ok: false` or a job error), and nothing may be left beside the file.
 */
import * as assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DecompressRequest, JOB_FAILED_ERROR, VerifyRequest } from '../../protocol/server';
import { buildTargets, CLASSES, type PositionClass, type Target } from '../helpers/corrupt';
import { NO_BUILD, rejection, startServer, type Harness } from './server-harness';
import { tempDir } from '../helpers/safetensors';

const THREADS = [1, 2, 4];
const REPS = 5;
const tmp = tempDir('tz-server-corrupt-');
let targets: Target[] = [];
before(async () => {
  mkdirSync(path.join(tmp.dir, 'models'));
  targets = await buildTargets(path.join(tmp.dir, 'models'));
});
after(() => tmp.cleanup());

interface Case {
  target: Target;
  bytes: Uint8Array;
  what: string;
}
/** One case per position class (its middle position, in the first container holding it) and the cuts. */
function cases(): Case[] {
  const out: Case[] = [];
  for (const k of CLASSES) {
    const t = targets.find((x) => x.classes[k]?.length);
    if (!t) continue;
    const positions = t.classes[k]!;
    const pos = positions[Math.floor(positions.length / 2)]!;
    const bytes = new Uint8Array(readFileSync(t.tzip));
    bytes[pos] = bytes[pos]! ^ 0x5a;
    out.push({ target: t, bytes, what: `${t.name}: ${k} byte ${pos} flipped` });
  }
  for (const t of targets) {
    const good = readFileSync(t.tzip);
    for (let k = 0; k < 64; k += 16) {
      const len = Math.floor((k * good.length) / 64);
      out.push({ target: t, bytes: good.subarray(0, len), what: `${t.name}: cut to ${len} of ${good.length} bytes` });
    }
  }
  return out;
}

let caseNo = 0;
async function mustFail(h: Harness, c: Case, label: string): Promise<void> {
  const dir = path.join(tmp.dir, `case-${caseNo++}`);
  mkdirSync(dir);
  const file = path.join(dir, path.basename(c.target.tzip));
  writeFileSync(file, c.bytes);
  // a delta file finds its base beside it
  const kept = [path.basename(file)];
  if (c.target.base) {
    copyFileSync(c.target.base, path.join(dir, path.basename(c.target.base)));
    kept.push(path.basename(c.target.base));
  }
  const oneLineNaming = (m: string) => !m.includes('\n') && m.includes(file);
  try {
    for (let rep = 0; rep < REPS; rep++) {
      const at = `${label}, run ${rep + 1}`;
      const v = await h.conn.sendRequest(VerifyRequest, { path: file }).then(
        (r) => r,
        (e: { code: number; message: string }) => e,
      );
      if ('ok' in v) {
        assert.equal(v.ok, false, `${at}: verify passed`);
        assert.ok(v.problems.length > 0 && v.problems.every(oneLineNaming), `${at}: ${v.problems.join(' | ')}`);
      } else {
        assert.equal(v.code, JOB_FAILED_ERROR, `${at}: verify: ${v.message}`);
        assert.ok(oneLineNaming(v.message), `${at}: verify: ${v.message}`);
      }
      const e = await rejection(
        h.conn.sendRequest(DecompressRequest, { path: file, output: path.join(dir, 'restored') }),
      );
      assert.equal(e.code, JOB_FAILED_ERROR, `${at}: decompress: ${e.message}`);
      assert.ok(oneLineNaming(e.message), `${at}: decompress: ${e.message}`);
      assert.deepEqual(readdirSync(dir).sort(), kept.sort(), `${at}: left something behind`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('corrupted containers fail over the server on every thread count, every time', { skip: NO_BUILD }, () => {
  for (const threads of THREADS) {
    test(`${threads} thread(s): every position class flipped and 4 cuts of each container, 5 runs each`, async () => {
      const all = cases();
      const classes = new Set(all.map((c) => /: (\S+) byte/.exec(c.what)?.[1]).filter(Boolean));
      assert.deepEqual(
        CLASSES.filter((k: PositionClass) => !classes.has(k)),
        [],
        'classes no container holds',
      );
      const h = await startServer({ settings: { threads }, env: { TZ_TEST_WORKERS_ONLY: '1' } });
      try {
        for (const c of all) await mustFail(h, c, `${c.what}, ${threads} thread(s)`);
        assert.ok(h.proc.exitCode === null, 'the server still runs');
      } finally {
        await h.stop();
      }
      console.log(`server, ${threads} thread(s): ${all.length} cases x ${REPS} runs x (verify, decompress)`);
    });
  }
});
