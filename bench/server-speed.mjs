// Issue 19 item 7: a compress or decompress job through the server against the CLI on the same file.
//   node bench/server-speed.mjs [--mb 500] [--rounds 3] [--threads N]
// One LLM-shaped BF16 file (bench/shapes.mjs, real values) on tmpfs when there is one. Per round, in
// turn: `tensorzip compress` and `tensorzip decompress` as fresh CLI processes (process start
// included, as a user runs them), then the same two as tensorzip/compress and tensorzip/decompress
// requests to one long-running `dist/server.js --stdio` (request to answer; each job in its own
// worker, as the editor runs them). Both use the same thread count (default: the machine's cores).
// Every output is compared with the original. Medians of interleaved rounds; the ratio is
// server time / CLI time (1.10 = the server is 10% slower).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initialize, SERVER, spawnServer } from './server.mjs';
import { writeShape } from './shapes.mjs';

const { values: a } = parseArgs({
  options: {
    mb: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
  },
});
const CLI = path.resolve('dist/cli.js');
if (!existsSync(CLI) || !existsSync(SERVER)) throw new Error('run npm run build first');
const threads = Number(a.threads);
const work = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'tensorzip-server-speed-'));
const median = (xs) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
const same = (p, q) => readFileSync(p).equals(readFileSync(q));

try {
  const file = path.join(work, 'bf16.safetensors');
  writeShape('bf16', file, Number(a.mb));
  const bytes = statSync(file).size;
  const tz = `${file}.tzip`,
    back = path.join(work, 'back.safetensors');

  const { conn, stop } = spawnServer();
  await initialize(conn, { threads });

  const t = { 'CLI compress': [], 'server compress': [], 'CLI decompress': [], 'server decompress': [] };
  const time = async (key, fn) => {
    const t0 = performance.now();
    await fn();
    t[key].push((performance.now() - t0) / 1000);
  };
  const cli = (...args) => execFileSync(process.execPath, [CLI, ...args, '--threads', String(threads), '--force']);
  for (let r = 0; r < Number(a.rounds); r++) {
    await time('CLI compress', () => cli('compress', file, '-o', tz));
    await time('CLI decompress', () => cli('decompress', tz, '-o', back));
    if (!same(file, back)) throw new Error('CLI round trip differs');
    rmSync(back);
    await time('server compress', () =>
      conn.sendRequest('tensorzip/compress', { path: file, output: tz, force: true }),
    );
    await time('server decompress', () =>
      conn.sendRequest('tensorzip/decompress', { path: tz, output: back, force: true }),
    );
    if (!same(file, back)) throw new Error('server round trip differs');
    rmSync(back);
  }
  await stop();

  console.log(
    `## Server job vs CLI: ${(bytes / 1e6).toFixed(0)} MB BF16, ${threads} threads, medians of ${a.rounds} rounds\n`,
  );
  for (const [k, xs] of Object.entries(t)) {
    const rate = (bytes / 1e6 / median(xs)).toFixed(0).padStart(5);
    console.log(`${k.padEnd(18)} ${rate} MB/s  (${xs.map((x) => x.toFixed(2)).join(', ')} s)`);
  }
  for (const op of ['compress', 'decompress'])
    console.log(`server / CLI time, ${op}: ${(median(t[`server ${op}`]) / median(t[`CLI ${op}`])).toFixed(2)}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
