// The four shapes of model `npm run bench` measures, built from real weight values of the corpus
// (../shared/corpus; without it, the registry ONNX fallback of synthetic.mjs):
//   bf16      LLM-shaped BF16: TinyLlama-1.1B layer shapes (embedding, then q/k/v/o, norms, MLP)
//   f32       the same shapes in F32, values from the corpus's F32 tensors
//   cleanf32  the same shapes in F32, BF16 values upcast (low 16 mantissa bits zero)
//   small     many small tensors: 23,329 tensors, median 32 bytes, F32 values, 264 MB in all
// Every element's sign is flipped by a PRNG so tiles of the value pool never repeat byte for byte
// (dedupe and LZ windows cannot cheat), while exponent and mantissa statistics stay those of real
// weights. Files are written in 4 MiB blocks, so memory stays flat at any size.
// usage: node bench/shapes.mjs <bf16|f32|cleanf32|small> <out.safetensors> <megabytes>
import { closeSync, existsSync, openSync, readFileSync, readdirSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { realBF16Pool } from './synthetic.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every F32 tensor of the corpus's F32 safetensors files, as raw u32 words. */
export function realF32Pool() {
  const corpus = path.resolve(ROOT, '../shared/corpus');
  const parts = [];
  if (existsSync(corpus)) {
    for (const f of readdirSync(corpus).filter((n) => n.endsWith('.f32.safetensors'))) {
      const b = readFileSync(path.join(corpus, f));
      const n = Number(b.readBigUInt64LE(0));
      const h = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
      for (const [k, t] of Object.entries(h)) {
        if (k === '__metadata__' || t.dtype !== 'F32') continue;
        const [s, e] = t.data_offsets;
        if (e - s >= 4096) parts.push(b.subarray(8 + n + s, 8 + n + e));
      }
    }
  }
  if (!parts.length) {
    const bf = realBF16Pool();
    const out = new Uint32Array(bf.length);
    for (let i = 0; i < bf.length; i++) out[i] = bf[i] << 16;
    return out;
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const pool = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    pool.set(p, o);
    o += p.length;
  }
  return new Uint32Array(pool.buffer, 0, total >> 2);
}

/** TinyLlama-1.1B tensors in file order, until `bytes` would be exceeded. */
function llamaTensors(elementBytes, bytes) {
  const H = 2048,
    I = 5632,
    KV = 256,
    V = 32000;
  const out = [['model.embed_tokens.weight', [V, H]]];
  for (let l = 0; out.length < 100000; l++) {
    const p = `model.layers.${l}.`;
    out.push(
      [`${p}input_layernorm.weight`, [H]],
      [`${p}self_attn.q_proj.weight`, [H, H]],
      [`${p}self_attn.k_proj.weight`, [KV, H]],
      [`${p}self_attn.v_proj.weight`, [KV, H]],
      [`${p}self_attn.o_proj.weight`, [H, H]],
      [`${p}post_attention_layernorm.weight`, [H]],
      [`${p}mlp.gate_proj.weight`, [I, H]],
      [`${p}mlp.up_proj.weight`, [I, H]],
      [`${p}mlp.down_proj.weight`, [H, I]],
    );
    if (out.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1) * elementBytes, 0) > bytes) break;
  }
  const kept = [];
  let total = 0;
  for (const t of out) {
    const b = t[1].reduce((x, y) => x * y, 1) * elementBytes;
    if (total + b > bytes && kept.length) break;
    kept.push(t);
    total += b;
  }
  return kept;
}

/** 23,329 tensors (scaled with `bytes`), median 32 bytes: norms, biases and scales of every size from
 *  4 bytes up, plus a few hundred weight matrices holding most of the bytes. */
function smallTensors(bytes) {
  const count = Math.max(100, Math.round((23329 * bytes) / 264e6));
  let x = 0x2545f491;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const large = Math.max(1, Math.round(count * 0.04));
  const sizes = [];
  // 4 .. 256 bytes, median 32
  for (let i = 0; i < count - large; i++) sizes.push(4 * Math.max(1, Math.round(2 ** (rnd() * 6))));
  const smallBytes = sizes.reduce((a, b) => a + b, 0);
  const each = Math.max(4, Math.floor((bytes - smallBytes) / large / 4) * 4);
  // large tensors interleaved with the small ones, as in a real model's layer order
  const out = [];
  const every = Math.floor(sizes.length / large);
  let li = 0;
  sizes.forEach((s, i) => {
    out.push([`blocks.${Math.floor(i / 8)}.p${i % 8}`, [s / 4]]);
    if ((i + 1) % every === 0 && li < large) out.push([`blocks.${Math.floor(i / 8)}.w${li++}`, [each / 4]]);
  });
  while (li < large) out.push([`head.w${li++}`, [each / 4]]);
  return out;
}

/** Writes one of the shapes (tensor names prefixed with `prefix`); returns { bytes, tensors, names }. */
export function writeShape(kind, out, megabytes, prefix = '') {
  const target = megabytes * 1e6;
  const el = kind === 'bf16' ? 2 : 4;
  const tensors = kind === 'small' ? smallTensors(target) : llamaTensors(el, target);
  const dtype = el === 2 ? 'BF16' : 'F32';
  const header = {};
  let off = 0;
  for (const [name, shape] of tensors) {
    const b = shape.reduce((a, c) => a * c, 1) * el;
    header[prefix + name] = { dtype, shape, data_offsets: [off, off + b] };
    off += b;
  }
  let json = JSON.stringify(header);
  while ((json.length + 8) % 8) json += ' ';
  const fd = openSync(out, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, json);
  const bf = kind === 'bf16' || kind === 'cleanf32' ? realBF16Pool() : undefined;
  const f32 = kind === 'f32' || kind === 'small' ? realF32Pool() : undefined;
  const poolLen = (bf ?? f32).length;
  const BLOCK = 1 << 20; // elements per write
  const buf = el === 2 ? new Uint16Array(BLOCK) : new Uint32Array(BLOCK);
  let p = 0;
  let x = 0x9e3779b9;
  let left = off / el;
  while (left > 0) {
    const n = Math.min(BLOCK, left);
    for (let j = 0; j < n; j++) {
      if ((j & 31) === 0) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
      }
      const flip = (x >>> (j & 31)) & 1;
      if (el === 2) buf[j] = bf[p] ^ (flip << 15);
      else buf[j] = ((bf ? bf[p] << 16 : f32[p]) ^ (flip << 31)) >>> 0;
      if (++p === poolLen) p = (p * 7 + 13) % 4099; // restart at a varying phase
    }
    writeSync(fd, new Uint8Array(buf.buffer, 0, n * el));
    left -= n;
  }
  closeSync(fd);
  return { bytes: 8 + json.length + off, tensors: tensors.length, names: Object.keys(header) };
}

if (process.argv[1] && process.argv[1].endsWith('shapes.mjs')) {
  const [kind, out, mb] = process.argv.slice(2);
  if (!['bf16', 'f32', 'cleanf32', 'small'].includes(kind) || !out || !mb) {
    console.error('usage: node bench/shapes.mjs <bf16|f32|cleanf32|small> <out.safetensors> <megabytes>');
    process.exit(2);
  }
  console.log(writeShape(kind, out, Number(mb)));
}
