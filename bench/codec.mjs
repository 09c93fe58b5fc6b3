// Codec micro-benchmark: `node --import tsx bench/codec.mjs [--mb 96] [--ratios-only] [--speed-only]`
// 1. Corpus ratios: every ../shared/corpus/*.safetensors tensor cut into 1 MiB chunks and encoded;
//    the JSON header is encoded as one "RAW" chunk. Printed next to the MANIFEST bound/ZipNN columns,
//    with and without deduplication of identical tensors (which the container does, not the codec).
// 2. Speed: synthetic BF16 built by tiling the corpus BF16 tensors, encodeChunk/decodeChunk in 1 MiB
//    chunks on one thread vs `zstd -3 -T1` and `zstd -d` (Debian zstd CLI, in-memory `-b` mode)
//    measured in the same run; prints the ratios the targets are stated in.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  initCodec,
  encodeChunk as encodeChunk0,
  decodeChunk,
  decodeChunkInto,
  codecBackendName,
  DEFAULT_OPTIONS,
} from '../engine/codec/index.ts';

const args = process.argv.slice(2);
const MB = Number(args[args.indexOf('--mb') + 1]) || 96;
const CORPUS = path.resolve(process.cwd(), '../shared/corpus');
const CHUNK = 1 << 20;
// --min-gain 0.02 etc. override encoder options for measurements
const OPTS = { ...DEFAULT_OPTIONS };
for (const k of ['minRansGain', 'zstdLevel', 'repeatThreshold']) {
  const flag = '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
  if (args.includes(flag)) OPTS[k] = Number(args[args.indexOf(flag) + 1]);
}
const encodeChunk = (data, dtype) => encodeChunk0(data, dtype, OPTS);

function readSafetensors(file) {
  const buf = readFileSync(file);
  const hlen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
  const base = 8 + hlen;
  const tensors = Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .map(([name, t]) => ({
      name,
      dtype: t.dtype,
      data: new Uint8Array(
        buf.buffer,
        buf.byteOffset + base + t.data_offsets[0],
        t.data_offsets[1] - t.data_offsets[0],
      ),
    }));
  return { buf, headerBytes: new Uint8Array(buf.buffer, buf.byteOffset, base), tensors };
}

function manifest() {
  const rows = {};
  const p = path.join(CORPUS, 'MANIFEST.md');
  if (!existsSync(p)) return rows;
  for (const line of readFileSync(p, 'utf8').split('\n')) {
    const c = line.split('|').map((s) => s.trim());
    if (c.length > 10 && c[1].endsWith('.safetensors')) rows[c[1]] = { bound: c[6], zipnn: c[7], z3: c[8], z19: c[9] };
  }
  return rows;
}

function encodeTensor(t) {
  let total = 0;
  for (let o = 0; o < t.data.length || o === 0; o += CHUNK) {
    const chunk = t.data.subarray(o, Math.min(t.data.length, o + CHUNK));
    const p = encodeChunk(chunk, t.dtype);
    total += p.length;
    if (t.data.length === 0) break;
  }
  return total;
}

function ratios() {
  const man = manifest();
  const files = readdirSync(CORPUS)
    .filter((f) => f.endsWith('.safetensors'))
    .sort();
  console.log('\n== corpus ratios (codec payload bytes / file bytes; 1 MiB chunks per tensor) ==');
  console.log(
    'file'.padEnd(42),
    'ours'.padStart(8),
    'dedup'.padStart(8),
    'bound'.padStart(8),
    'ZipNN'.padStart(8),
    'zstd-19'.padStart(8),
  );
  let sumFile = 0,
    sumOurs = 0,
    sumDedup = 0;
  for (const f of files) {
    const { buf, headerBytes, tensors } = readSafetensors(path.join(CORPUS, f));
    let ours = encodeChunk(headerBytes, 'RAW').length;
    let dedup = ours;
    const seen = new Set();
    for (const t of tensors) {
      const size = encodeTensor(t);
      ours += size;
      const key = t.dtype + createHash('sha256').update(t.data).digest('hex');
      if (!seen.has(key)) {
        seen.add(key);
        dedup += size;
      }
    }
    sumFile += buf.length;
    sumOurs += ours;
    sumDedup += dedup;
    const m = man[f] ?? {};
    const pct = (x) => ((100 * x) / buf.length).toFixed(2) + '%';
    console.log(
      f.padEnd(42),
      pct(ours).padStart(8),
      pct(dedup).padStart(8),
      (m.bound ?? '?').padStart(8),
      (m.zipnn ?? '?').padStart(8),
      (m.z19 ?? '?').padStart(8),
    );
  }
  console.log(
    'TOTAL'.padEnd(42),
    ((100 * sumOurs) / sumFile).toFixed(2).padStart(7) + '%',
    ((100 * sumDedup) / sumFile).toFixed(2).padStart(7) + '%',
    ' (ZipNN 69.21%, bound 68.58%)',
  );
}

function syntheticBf16(bytes) {
  const parts = [];
  for (const f of readdirSync(CORPUS)
    .filter((x) => x.endsWith('.bf16.safetensors'))
    .sort()) {
    for (const t of readSafetensors(path.join(CORPUS, f)).tensors) if (t.dtype === 'BF16') parts.push(t.data);
  }
  const out = new Uint8Array(bytes);
  let o = 0;
  while (o < bytes)
    for (const p of parts) {
      const n = Math.min(p.length, bytes - o);
      out.set(p.subarray(0, n), o);
      o += n;
      if (o >= bytes) break;
    }
  return out;
}

function zstdBench(file, level) {
  // zstd -b prints "... ->  size (ratio),  C MB/s,  D MB/s"; take the final line
  const out = execFileSync('zstd', [`-b${level}`, '-T1', '-i1', file], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const m = [...out.matchAll(/(\d+) \(x?([\d.]+)\),\s+([\d.]+) MB\/s,\s+([\d.]+) MB\/s/g)].pop();
  return { size: Number(m[1]), comp: Number(m[3]), dec: Number(m[4]) };
}

function best(fn) {
  let t = Infinity;
  for (let i = 0; i < 2; i++) {
    const s = performance.now();
    fn();
    t = Math.min(t, performance.now() - s);
  }
  return t;
}

// The machine is shared: zstd and our codec are measured in alternating rounds and the best of
// each is kept, so both see the same background load.
function speed() {
  const bytes = MB * 1e6;
  const data = syntheticBf16(bytes);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tzbench-'));
  const file = path.join(dir, 'synthetic.bf16');
  writeFileSync(file, data);
  const payloads = [];
  const encodeAll = () => {
    payloads.length = 0;
    for (let o = 0; o < data.length; o += CHUNK)
      payloads.push(encodeChunk(data.subarray(o, Math.min(data.length, o + CHUNK)), 'BF16'));
  };
  const slot = new Uint8Array(CHUNK);
  const decodeAll = (into) => {
    let o = 0;
    for (const p of payloads) {
      const len = Math.min(CHUNK, data.length - o);
      if (into) decodeChunkInto(p, 'BF16', len, slot);
      else decodeChunk(p, 'BF16', len);
      o += len;
    }
  };
  const z = { size: 0, comp: 0, dec: 0 };
  let encMs = Infinity,
    decMs = Infinity,
    decAllocMs = Infinity;
  try {
    for (let round = 0; round < 3; round++) {
      const r = zstdBench(file, 3);
      z.size = r.size;
      z.comp = Math.max(z.comp, r.comp);
      z.dec = Math.max(z.dec, r.dec);
      encMs = Math.min(encMs, best(encodeAll));
      decMs = Math.min(
        decMs,
        best(() => decodeAll(true)),
      );
      decAllocMs = Math.min(
        decAllocMs,
        best(() => decodeAll(false)),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  let o = 0;
  for (const p of payloads) {
    const len = Math.min(CHUNK, data.length - o);
    const d = decodeChunk(p, 'BF16', len);
    if (Buffer.compare(Buffer.from(d), Buffer.from(data.subarray(o, o + len))) !== 0)
      throw new Error('round trip mismatch');
    o += len;
  }
  const size = payloads.reduce((a, p) => a + p.length, 0);
  const mbs = (ms) => bytes / 1e6 / (ms / 1000);
  const enc = mbs(encMs),
    dec = mbs(decMs),
    decAlloc = mbs(decAllocMs);
  console.log(
    `\n== speed, synthetic BF16 ${MB} MB (tiled corpus BF16 tensors), 1 MiB chunks, one thread, backend ` +
      `${codecBackendName()} ==`,
  );
  console.log(
    `ours:     ${((100 * size) / bytes).toFixed(2)}%  encodeChunk ${enc.toFixed(0)} MB/s  decodeChunkInto ` +
      `${dec.toFixed(0)} MB/s  (decodeChunk, new array per chunk: ${decAlloc.toFixed(0)} MB/s)`,
  );
  console.log(
    `zstd -3:  ${((100 * z.size) / bytes).toFixed(2)}%  compress ${z.comp.toFixed(0)} MB/s  decompress ` +
      `${z.dec.toFixed(0)} MB/s  (zstd -b3 -T1, in memory)`,
  );
  console.log(
    `encode / zstd -3 compress = ${(enc / z.comp).toFixed(2)} (target >= 1.0);  decode / zstd -d = ` +
      `${(dec / z.dec).toFixed(2)} (target >= 0.6; with allocation ${(decAlloc / z.dec).toFixed(2)})`,
  );
}

await initCodec();
if (!existsSync(CORPUS)) {
  console.log('no ../shared/corpus: nothing to measure');
  process.exit(0);
}
if (!args.includes('--speed-only')) ratios();
if (!args.includes('--ratios-only')) speed();
