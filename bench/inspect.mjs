// Random access and tensor-view benchmark (issue 14):
//   node --import tsx bench/inspect.mjs [--gb 1] [--rounds 3]
// 1. extract of one tensor from a ~135 MB .tzip with thousands of chunks (3072 tensors of 64 KiB:
//    one chunk each) vs decompressing the whole file, both through the CLI (fresh processes); the
//    extracted bytes are checked against the original's.
// 2. the first heatmap of a 1 GiB BF16 tensor (16384 x 32768) over the server, as the inspector asks
//    for it: tensorzip/tensorView of the whole matrix into 512 x 1024 cells (histogram, norms, stats),
//    request to answer, from the .safetensors and from its .tzip (a fresh job worker each time): the
//    sampled preview (sampleElements = TENSOR_VIEW_PREVIEW_ELEMENTS, what the inspector shows first)
//    and the exact view.
// Rounds are interleaved and medians reported, since the machine is shared (timings move with load).
// Data is generated from real BF16 weights (bench/synthetic.mjs) into bench/out/ and reused.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readSync, writeSync, closeSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { realBF16Pool } from './synthetic.mjs';
import { initialize, spawnServer } from './server.mjs';
import { TENSOR_VIEW_PREVIEW_ELEMENTS } from '../protocol/server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench/out/inspect');
const CLI = path.join(ROOT, 'dist/cli.js');
const { values: a } = parseArgs({
  options: { gb: { type: 'string', default: '1' }, rounds: { type: 'string', default: '3' } },
});
const rounds = Number(a.rounds);
mkdirSync(OUT, { recursive: true });
const pool = realBF16Pool();

/** safetensors of `tensors` BF16 tensors of `shape`, values tiled from real weights with PRNG sign flips. */
function writeModel(file, tensors, shape) {
  if (existsSync(file)) return;
  const elems = shape.reduce((x, y) => x * y, 1);
  const bytes = elems * 2;
  const header = {};
  for (let i = 0; i < tensors; i++)
    header[`t.${i}.weight`] = { dtype: 'BF16', shape, data_offsets: [i * bytes, (i + 1) * bytes] };
  let json = JSON.stringify(header);
  while ((json.length + 8) % 8) json += ' ';
  const fd = openSync(`${file}.part`, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, json);
  const step = Math.min(elems, 16 << 20);
  const buf = new Uint16Array(step);
  let p = 0,
    x = 0x9e3779b9;
  for (let i = 0; i < tensors; i++) {
    for (let done = 0; done < elems; done += step) {
      const n = Math.min(step, elems - done);
      for (let j = 0; j < n; j++) {
        if ((j & 31) === 0) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
        }
        buf[j] = pool[p] ^ (((x >>> (j & 31)) & 1) << 15);
        if (++p === pool.length) p = (p * 7 + 13) % 4099;
      }
      writeSync(fd, new Uint8Array(buf.buffer, 0, n * 2));
    }
  }
  closeSync(fd);
  execFileSync('mv', [`${file}.part`, file]);
}

function tzipOf(file) {
  const z = `${file}.tzip`;
  if (!existsSync(z)) execFileSync(process.execPath, [CLI, 'compress', file, '-o', z], { stdio: 'inherit' });
  return z;
}

/** The stored bytes of tensor `name` of a safetensors file. */
function tensorBytes(file, name) {
  const fd = openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const head = Buffer.alloc(n);
    readSync(fd, head, 0, n, 8);
    const [a, b] = JSON.parse(head.toString('utf8'))[name].data_offsets;
    const out = Buffer.alloc(b - a);
    readSync(fd, out, 0, b - a, 8 + n + a);
    return out;
  } finally {
    closeSync(fd);
  }
}

const median = (xs) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
const ms = (t0) => performance.now() - t0;
function timeCli(args) {
  const t0 = performance.now();
  execFileSync(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  return ms(t0);
}

// 1. extract vs decompress
const many = path.join(OUT, 'many3k.safetensors');
writeModel(many, 3072, [256, 128]);
const manyZ = tzipOf(many);
const chunks = JSON.parse(
  execFileSync(process.execPath, [CLI, 'info', manyZ, '--json'], { encoding: 'utf8' }),
).files[0].regions.reduce((s, r) => s + r.chunks, 0);
const ext = [],
  dec = [];
for (let r = 0; r < rounds; r++) {
  const o1 = path.join(OUT, 'one.safetensors'),
    o2 = path.join(OUT, 'whole.safetensors');
  rmSync(o1, { force: true });
  rmSync(o2, { force: true });
  ext.push(timeCli(['extract', manyZ, '--tensor', 't.1000.weight', '-o', o1]));
  dec.push(timeCli(['decompress', manyZ, '-o', o2]));
  if (!tensorBytes(o1, 't.1000.weight').equals(tensorBytes(many, 't.1000.weight')))
    throw new Error('extracted tensor differs from the original');
  rmSync(o2, { force: true });
}
console.log(
  `extract one tensor of ${(statSync(manyZ).size / 1e6) | 0} MB .tzip (${chunks} chunks): median ` +
    `${median(ext).toFixed(0)} ms; decompress whole: ${median(dec).toFixed(0)} ms; ratio ` +
    `${(median(ext) / median(dec)).toFixed(3)} (extracted bytes identical to the original's; rounds: extract ` +
    `${ext.map((t) => t.toFixed(0)).join(', ')}; decompress ${dec.map((t) => t.toFixed(0)).join(', ')})`,
);

// 2. first heatmap of a 1 GiB BF16 tensor
const rows = 16384,
  cols = Math.round((Number(a.gb) * (1 << 30)) / 2 / rows);
const big = path.join(OUT, `big-${a.gb}g.safetensors`);
writeModel(big, 1, [rows, cols]);
const bigZ = tzipOf(big);
const { conn, stop } = spawnServer();
await initialize(conn);
const times = { 'safetensors preview': [], 'safetensors exact': [], '.tzip preview': [], '.tzip exact': [] };
const shares = {};
for (let r = 0; r < rounds; r++) {
  for (const [k, f] of [
    ['safetensors', big],
    ['.tzip', bigZ],
  ]) {
    for (const preview of [true, false]) {
      const t0 = performance.now();
      const v = await conn.sendRequest('tensorzip/tensorView', {
        path: f,
        name: 't.0.weight',
        width: 1024,
        height: 512,
        pool: 'mean',
        ...(preview ? { sampleElements: TENSOR_VIEW_PREVIEW_ELEMENTS } : {}),
      });
      times[`${k} ${preview ? 'preview' : 'exact'}`].push(ms(t0));
      if (preview) {
        if (!v.sampled || v.gridCols !== 1024) throw new Error('no sampled preview');
        shares[k] = `${v.sampled.rows} of ${v.sampled.ofRows} rows, ${v.gridRows} x ${v.gridCols} cells`;
      } else if (v.sampled || v.stats.count !== rows * cols || v.gridRows !== 512 || v.gridCols !== 1024)
        throw new Error('incomplete view');
    }
  }
}
await stop();
console.log(
  `heatmap over the server of a ${((rows * cols * 2) / (1 << 30)).toFixed(2)} GiB BF16 tensor [${rows}, ` +
    `${cols}] into 512 x 1024 cells (preview: safetensors ${shares.safetensors}; .tzip ${shares['.tzip']}):`,
);
for (const [k, ts] of Object.entries(times))
  console.log(`  ${k}: median ${median(ts).toFixed(0)} ms (${ts.map((t) => t.toFixed(0)).join(', ')})`);
