// Delta files (.tzip 3.0, issue 15) on really trained checkpoints, next to zstd in the same run:
//   `node --import tsx bench/delta.mjs [--rounds 3] [--threads 1]`, or a section of `npm run bench`
//   (skip it there with --skip-delta).
// The checkpoints are scripts/make-checkpoints.py's (a small transformer trained from scratch at a
// high learning rate, saved every 25 steps, then fine-tuned 100 steps at 1/20 of the rate), in F32
// and BF16, generated when absent into the folder the tests use (test/helpers/checkpoints.ts:
// test/fixtures/generated/checkpoints, regenerated when the script changes).
// Pairs: every consecutive pair, and the fine-tune against its base, for each dtype. Per pair:
//   - sizes (% of the original file): standalone .tzip, delta .tzip (and delta / standalone), and
//     `zstd -19 --patch-from=BASE` (its round trip checked too);
//   - the order-0 bound of the residual planes: per tensor, the byte planes (byte k of every element)
//     of new XOR base, and of the ULP distance (zigzag of ord(new) - ord(base), the residual of the
//     ULP mode, engine/codec/delta.ts), each plane coded with its own order-0 model; tensor bytes only
//     (the header is not counted);
//   - MB/s (10^6 bytes of the original per second, in-process engine calls, `--threads` threads) of
//     delta compress and decompress, next to standalone compress and decompress measured in the same
//     rounds: medians of interleaved rounds (each job of every pair once per round); per group also
//     per CPU second of this process (steadier than wall time on a loaded machine);
//   - every delta round trip is checked bit-exact (SHA-256 against the original): a mismatch fails the
//     bench (exit 1).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, statfsSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { compressFile, decompressFile, openModel } from '../engine/api.ts';
import { ulpForward, ulpWidth, xorInto } from '../engine/codec/delta.ts';
import { order0Bits } from '../engine/codec/entropy.ts';
import { dtypeInfo } from '../engine/core/dtypes.ts';
import { CHECKPOINTS, checkpointFiles, ensureCheckpoints } from '../test/helpers/checkpoints.ts';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt('rounds', '3'));
const THREADS = Number(opt('threads', '1'));

const sha = (f) => createHash('sha256').update(readFileSync(f)).digest('hex');
const size = (f) => statSync(f).size;
const pct = (a, b) => `${((100 * a) / b).toFixed(2)}%`;
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
function printTable(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (c) => c.map((x, i) => (i ? String(x).padStart(w[i]) : String(x).padEnd(w[i]))).join('  ');
  console.log(line(headers));
  console.log(w.map((x) => '-'.repeat(x)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log();
}
/** Fails the bench loudly: the error ends the process with exit status 1 (after the work folder is removed). */
function fail(msg) {
  throw new Error(`*** DELTA BENCH FAILED: ${msg} ***`);
}

/** Order-0 bits of the byte planes of `res` (elements of width w; a partial tail is one more plane). */
function planeBits(res, w) {
  const n = Math.floor(res.length / w);
  const hist = Array.from({ length: w }, () => new Float64Array(256));
  for (let i = 0; i < n; i++) for (let k = 0; k < w; k++) hist[k][res[i * w + k]]++;
  const tail = new Float64Array(256);
  for (let i = n * w; i < res.length; i++) tail[res[i]]++;
  return hist.reduce((a, h) => a + order0Bits(h), 0) + order0Bits(tail);
}

/** Order-0 bounds (bytes) of the XOR and ULP-distance planes of `file` against `base`, tensor by tensor. */
async function residualBounds(base, file) {
  const [lb, lf] = await Promise.all([openModel(base), openModel(file)]);
  const bb = readFileSync(base),
    fb = readFileSync(file);
  const byName = new Map(lb.tensors.map((t) => [t.name, t]));
  let xorBits = 0,
    ulpBits = 0,
    unmatched = 0;
  for (const t of lf.tensors) {
    const a = fb.subarray(t.offset, t.offset + t.bytes);
    const p = byName.get(t.name);
    const w = Math.max(1, dtypeInfo(t.dtype).size);
    if (!p || p.dtype !== t.dtype || p.bytes !== t.bytes) {
      // no partner: coded standalone, so its own planes
      const own = planeBits(a, w);
      xorBits += own;
      ulpBits += own;
      unmatched++;
      continue;
    }
    // aligned copies: the ULP kernel views elements in place
    const x = new Uint8Array(a),
      y = new Uint8Array(bb.subarray(p.offset, p.offset + p.bytes));
    const r = new Uint8Array(t.bytes);
    xorInto(x, y, r);
    const xb = planeBits(r, w);
    xorBits += xb;
    const uw = ulpWidth(t.dtype);
    if (uw) {
      ulpForward(x, y, uw, r);
      ulpBits += planeBits(r, uw);
    } else ulpBits += xb;
  }
  return { xor: Math.ceil(xorBits / 8), ulp: Math.ceil(ulpBits / 8), unmatched };
}

function zstdPatch(base, file, out) {
  // --patch-from needs a window covering the reference and the input (--long sets it; the decoder
  // must be allowed the same window)
  const wlog = Math.max(23, Math.ceil(Math.log2(size(base) + size(file))));
  const c = spawnSync('zstd', ['-19', '-T1', '-q', '-f', `--long=${wlog}`, `--patch-from=${base}`, file, '-o', out], {
    encoding: 'utf8',
  });
  if (c.status !== 0) fail(`zstd -19 --patch-from=${base} ${file}: exit ${c.status} ${c.stderr}`);
  const back = `${out}.back`;
  const d = spawnSync(
    'zstd',
    ['-d', '-q', '-f', `--long=${wlog}`, `--memory=${2 ** (wlog - 20)}MB`, `--patch-from=${base}`, out, '-o', back],
    { encoding: 'utf8' },
  );
  if (d.status !== 0) fail(`zstd -d --patch-from=${base} ${out}: exit ${d.status} ${d.stderr}`);
  const exact = sha(back) === sha(file);
  rmSync(back);
  if (!exact) fail(`zstd --patch-from round trip of ${file} differs`);
  return size(out);
}

if (spawnSync('zstd', ['--version']).status !== 0) fail('zstd not found (apt-get install -y zstd)');
const why = ensureCheckpoints();
if (why) fail(`no checkpoints: ${why}`);

const pairs = [];
for (const dt of ['bf16', 'f32']) {
  const { steps, finetune } = checkpointFiles(dt);
  for (let i = 1; i < steps.length; i++)
    pairs.push({ group: `${dt.toUpperCase()} consecutive`, base: steps[i - 1], file: steps[i] });
  pairs.push({ group: `${dt.toUpperCase()} fine-tune`, base: steps[steps.length - 1], file: finetune });
}
const shm = '/dev/shm';
const onShm = existsSync(shm) && statfsSync(shm).bavail * statfsSync(shm).bsize > 1e9;
const work = mkdtempSync(path.join(onShm ? shm : tmpdir(), 'tensorzip-delta-'));
const name = (p) => path.basename(p).replace('.safetensors', '');
try {
  for (const [i, p] of pairs.entries()) {
    p.label = `${p.group}: ${name(p.file)} vs ${name(p.base)}`;
    p.dir = path.join(work, String(i));
    p.bytes = size(p.file);
    p.sha = sha(p.file);
    p.std = path.join(p.dir, 'standalone.tzip');
    p.delta = path.join(p.dir, `${path.basename(p.file)}.tzip`);
    p.back = path.join(p.dir, 'back.safetensors');
    p.stdBack = path.join(p.dir, 'standalone-back.safetensors');
    p.zst = path.join(p.dir, 'patch.zst');
    spawnSync('mkdir', ['-p', p.dir]);
    p.bound = await residualBounds(p.base, p.file);
    p.zstd = zstdPatch(p.base, p.file, p.zst);
  }
  const jobs = {
    c: (p) => compressFile(p.file, { output: p.std, force: true, threads: THREADS }),
    cd: (p) => compressFile(p.file, { output: p.delta, base: p.base, force: true, threads: THREADS }),
    dd: (p) => decompressFile(p.delta, { output: p.back, base: p.base, force: true, threads: THREADS }),
    d: (p) => decompressFile(p.std, { output: p.stdBack, force: true, threads: THREADS }),
  };
  // one warm-up pass (module initialisation, wasm compile, page cache), then the timed rounds
  for (const p of pairs) for (const f of Object.values(jobs)) await f(p);
  for (let r = 0; r < ROUNDS; r++)
    for (const p of pairs)
      for (const [k, f] of Object.entries(jobs)) {
        const t0 = performance.now(),
          u0 = process.cpuUsage();
        await f(p);
        ((p.t ??= {})[k] ??= []).push((performance.now() - t0) / 1000);
        const u = process.cpuUsage(u0);
        ((p.cpu ??= {})[k] ??= []).push((u.user + u.system) / 1e6);
        if ((k === 'dd' && sha(p.back) !== p.sha) || (k === 'd' && sha(p.stdBack) !== p.sha))
          fail(`${p.label}: ${k === 'dd' ? 'delta' : 'standalone'} round trip is not bit-exact (round ${r + 1})`);
      }
  const mbps = (p, k) => (p.bytes / 1e6 / median(p.t[k])).toFixed(1);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(
    `## Delta files on trained checkpoints (${path.relative(process.cwd(), CHECKPOINTS)}): % of the original; ` +
      `MB/s in-process, ${THREADS} thread${THREADS > 1 ? 's' : ''}, medians of ${ROUNDS} interleaved rounds; ` +
      `load average ${load}\n`,
  );
  const rows = [];
  const groups = new Map();
  for (const p of pairs) {
    p.stdBytes = size(p.std);
    p.deltaBytes = size(p.delta);
    const g = groups.get(p.group) ?? {
      pairs: 0,
      bytes: 0,
      std: 0,
      delta: 0,
      zstd: 0,
      xor: 0,
      ulp: 0,
      min: 1,
      max: 0,
      sec: { cd: 0, dd: 0, c: 0, d: 0 },
      cpu: { cd: 0, dd: 0, c: 0, d: 0 },
    };
    for (const k of Object.keys(g.sec)) {
      g.sec[k] += median(p.t[k]);
      g.cpu[k] += median(p.cpu[k]);
    }
    g.pairs++;
    g.bytes += p.bytes;
    g.std += p.stdBytes;
    g.delta += p.deltaBytes;
    g.zstd += p.zstd;
    g.xor += p.bound.xor;
    g.ulp += p.bound.ulp;
    g.min = Math.min(g.min, p.deltaBytes / p.stdBytes);
    g.max = Math.max(g.max, p.deltaBytes / p.stdBytes);
    groups.set(p.group, g);
    rows.push([
      p.label,
      (p.bytes / 1e6).toFixed(2),
      pct(p.stdBytes, p.bytes),
      pct(p.deltaBytes, p.bytes),
      pct(p.deltaBytes, p.stdBytes),
      pct(p.zstd, p.bytes),
      pct(p.bound.xor, p.bytes),
      pct(p.bound.ulp, p.bytes),
      mbps(p, 'cd'),
      mbps(p, 'dd'),
      mbps(p, 'c'),
      mbps(p, 'd'),
      'yes',
    ]);
  }
  printTable(
    [
      'pair',
      'MB',
      '.tzip',
      'delta .tzip',
      'delta/.tzip',
      'zstd -19 --patch-from',
      'XOR order-0',
      'ULP order-0',
      'delta c MB/s',
      'delta d MB/s',
      '.tzip c MB/s',
      '.tzip d MB/s',
      'bit-exact',
    ],
    rows,
  );
  console.log(
    'Per group (sums over its pairs; delta / standalone range over the pairs; MB/s: bytes over the sum of the ' +
      "pairs' median times, wall clock / CPU seconds of this process, which a loaded machine disturbs less):\n",
  );
  const gmbps = (g, k) => `${(g.bytes / 1e6 / g.sec[k]).toFixed(1)} / ${(g.bytes / 1e6 / g.cpu[k]).toFixed(1)}`;
  printTable(
    [
      'group',
      'pairs',
      '.tzip',
      'delta .tzip',
      'delta/.tzip',
      'zstd -19 --patch-from',
      'XOR order-0',
      'ULP order-0',
      'delta c MB/s',
      'delta d MB/s',
      '.tzip c MB/s',
      '.tzip d MB/s',
    ],
    [...groups].map(([k, g]) => [
      k,
      g.pairs,
      pct(g.std, g.bytes),
      pct(g.delta, g.bytes),
      g.pairs > 1
        ? `${pct(g.delta, g.std)} (${(100 * g.min).toFixed(1)}-${(100 * g.max).toFixed(1)}%)`
        : pct(g.delta, g.std),
      pct(g.zstd, g.bytes),
      pct(g.xor, g.bytes),
      pct(g.ulp, g.bytes),
      gmbps(g, 'cd'),
      gmbps(g, 'dd'),
      gmbps(g, 'c'),
      gmbps(g, 'd'),
    ]),
  );
  const json = pairs.map((p) => ({
    group: p.group,
    file: name(p.file),
    base: name(p.base),
    bytes: p.bytes,
    standalone: p.stdBytes,
    delta: p.deltaBytes,
    zstdPatch: p.zstd,
    xorBound: p.bound.xor,
    ulpBound: p.bound.ulp,
    deltaCompressMBs: +mbps(p, 'cd'),
    deltaDecompressMBs: +mbps(p, 'dd'),
    compressMBs: +mbps(p, 'c'),
    decompressMBs: +mbps(p, 'd'),
    medianCpuSeconds: Object.fromEntries(Object.entries(p.cpu).map(([k, v]) => [k, +median(v).toFixed(4)])),
    exact: true,
  }));
  console.log(`DELTA_JSON ${JSON.stringify(json)}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
