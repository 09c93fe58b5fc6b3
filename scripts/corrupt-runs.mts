/**
 * Randomized corruption runs (issue 12 acceptance): `node --import tsx scripts/corrupt-runs.mts [runs] [--seed N]
 * [--workers-only]`
 * (after `npm run build`). Each run takes one of the real containers of test/helpers/corrupt.ts,
 * flips one byte (a random position of a random class, or anywhere) or cuts it at a random k/64,
 * and runs verify or decompress with 1, 2 or 4 threads, through a `node dist/cli.js` process or a
 * `node dist/server.js --stdio` (one per thread count). Prints how many runs passed (exit 0, ok: true
 * or a resolved decompress: must be 0), failed unclean (not exit 1 with one stderr line naming the
 * file, or not a one-line job error naming it) and left files behind. Exit 1 unless all are 0.
 * --workers-only sets TZ_TEST_WORKERS_ONLY (every chunk on a worker); by default the pool starts
 * inline as in real use, so runs mix inline and worker decoding.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DecompressRequest, VerifyRequest } from '../protocol/server';
import { buildTargets, CLASSES, type Target } from '../test/helpers/corrupt';
import { rng } from '../test/helpers/safetensors';
import { CLI, rejection, startServer, type Harness } from '../test/integration/server-harness';

const args = process.argv.slice(2);
const total = Number(args.find((a) => /^\d+$/.test(a)) ?? 2000);
const seedAt = args.indexOf('--seed');
const seed = seedAt >= 0 ? Number(args[seedAt + 1]) : 1;
const env = args.includes('--workers-only') ? { TZ_TEST_WORKERS_ONLY: '1' } : {};
const LANES = 3;

const root = mkdtempSync(path.join(tmpdir(), 'tz-corrupt-runs-'));
const r = rng(seed);
const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const counts = { runs: 0, passed: 0, unclean: 0, leftovers: 0, cli: 0, server: 0 };
const examples: string[] = [];
const note = (what: string) => {
  if (examples.length < 10) examples.push(what);
};

function cli(argv: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...argv], { env: { ...process.env, ...env } });
    let stdout = '',
      stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function one(n: number, targets: Target[], servers: Map<number, Harness>): Promise<void> {
  const t = pick(targets);
  const good = readFileSync(t.tzip);
  let bytes: Uint8Array, what: string;
  if (r() < 0.25) {
    const k = Math.floor(r() * 64);
    bytes = good.subarray(0, Math.floor((k * good.length) / 64));
    what = `cut at ${k}/64`;
  } else {
    const k = pick(CLASSES.filter((c) => t.classes[c]?.length));
    const pos = r() < 0.2 ? Math.floor(r() * good.length) : pick(t.classes[k]!);
    bytes = new Uint8Array(good);
    bytes[pos] = bytes[pos]! ^ (1 + Math.floor(r() * 255));
    what = `${k} byte ${pos}`;
  }
  const threads = pick([1, 2, 4]);
  const op = pick(['verify', 'decompress'] as const);
  const surface = r() < 0.5 ? 'cli' : 'server';
  const dir = path.join(root, `r${n}`);
  mkdirSync(dir);
  const file = path.join(dir, path.basename(t.tzip));
  writeFileSync(file, bytes);
  if (t.base) copyFileSync(t.base, path.join(dir, path.basename(t.base)));
  const expected = readdirSync(dir).sort().join(',');
  const label = `${t.name} ${what}, ${op} ${surface} --threads ${threads}`;
  const out = path.join(dir, 'restored');
  if (surface === 'cli') {
    counts.cli++;
    const res = await cli([op, file, ...(op === 'decompress' ? ['-o', out] : []), '--threads', String(threads)]);
    const lines = res.stderr.split('\n').filter(Boolean);
    if (res.status === 0) {
      counts.passed++;
      note(`PASSED: ${label}`);
    } else if (
      res.status !== 1 ||
      res.stdout !== '' ||
      lines.length !== 1 ||
      !lines[0]!.startsWith(`tensorzip: ${file}: `)
    ) {
      counts.unclean++;
      note(`unclean (${res.status}): ${label}: ${res.stderr.slice(0, 300)}`);
    }
  } else {
    counts.server++;
    const h = servers.get(threads)!;
    if (op === 'verify') {
      const v = await h.conn.sendRequest(VerifyRequest, { path: file }).catch((e: Error) => e);
      if (!(v instanceof Error) && v.ok) {
        counts.passed++;
        note(`PASSED: ${label}`);
      } else if (
        v instanceof Error ||
        !v.problems.length ||
        !v.problems.every((m) => m.includes(file) && !m.includes('\n'))
      ) {
        counts.unclean++;
        note(`unclean: ${label}: ${v instanceof Error ? v.message : v.problems.join('|')}`);
      }
    } else {
      const e = await rejection(h.conn.sendRequest(DecompressRequest, { path: file, output: out })).catch(
        () => undefined,
      );
      if (!e) {
        counts.passed++;
        note(`PASSED: ${label}`);
      } else if (!e.message.includes(file) || e.message.includes('\n')) {
        counts.unclean++;
        note(`unclean: ${label}: ${e.message}`);
      }
    }
  }
  if (readdirSync(dir).sort().join(',') !== expected) {
    counts.leftovers++;
    note(`left ${readdirSync(dir).join(',')}: ${label}`);
  }
  counts.runs++;
  rmSync(dir, { recursive: true, force: true });
}

const t0 = Date.now();
const models = path.join(root, 'models');
mkdirSync(models);
const targets = await buildTargets(models);
const servers = new Map<number, Harness>();
for (const threads of [1, 2, 4])
  servers.set(threads, await startServer({ settings: { threads, maxConcurrentJobs: LANES }, env }));
try {
  let next = 0;
  await Promise.all(
    Array.from({ length: LANES }, async () => {
      while (next < total) {
        await one(next++, targets, servers);
        if (counts.runs % 100 === 0)
          process.stderr.write(`${counts.runs} runs (${Math.round((Date.now() - t0) / 1000)} s)\n`);
      }
    }),
  );
} finally {
  for (const h of servers.values()) await h.stop();
  rmSync(root, { recursive: true, force: true });
}
console.log(
  `${counts.runs} runs (${counts.cli} CLI, ${counts.server} server; threads 1/2/4, verify and decompress; ` +
    `seed ${seed}${env.TZ_TEST_WORKERS_ONLY ? ', workers only' : ''}) in ${Math.round((Date.now() - t0) / 1000)} s`,
);
console.log(
  `exit 0 / passed: ${counts.passed}   unclean failures: ${counts.unclean}   runs leaving files: ${counts.leftovers}`,
);
for (const e of examples) console.log(`  ${e}`);
process.exitCode = counts.passed || counts.unclean || counts.leftovers ? 1 : 0;
