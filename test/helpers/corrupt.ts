/**
 * Real containers for the corruption property tests (test/unit/corrupt-property.test.ts,
 * scripts/corrupt-runs.mts), built without ../shared: the registry's Silero VAD ONNX model, a
 * safetensors file whose tensors make the encoder pick each payload mode (rANS planes, STORED,
 * PALETTE, ZSTD, a duplicated tensor), a GGUF Q4_0 model (BLOCKS) and a delta file against the
 * safetensors one (XOR, ULP, SAME). Positions are found in the written container (its index and
 * each payload's mode byte), so a class that the encoder stops producing fails the test loudly
 * instead of silently testing less.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { compressFile } from '../../engine/api';
import { readVarint } from '../../engine/codec/bitio';
import {
  KIND_CONST,
  KIND_RANS,
  KIND_RAW,
  MODE_BLOCKS,
  MODE_PALETTE,
  MODE_PLANES,
  MODE_STORED,
  MODE_ZSTD,
} from '../../engine/codec/codec';
import { MODE_SAME, MODE_ULP, MODE_ULPG, MODE_XOR } from '../../engine/codec/delta';
import { CHUNK_FLAG_DUPLICATE, FOOTER_BYTES } from '../../engine/container/format';
import { openContainer } from '../../engine/container/read';
import { gguf } from './gguf';
import { gaussianF32, REGISTRY_ONNX, rng, safetensorsBytes, toBF16Bytes, type RawTensor } from './safetensors';

/** Every position class the property covers. */
export const CLASSES = [
  'header',
  'rANS',
  'RAW',
  'PALETTE',
  'ZSTD',
  'BLOCKS',
  'dedup',
  'XOR',
  'ULP',
  'SAME',
  'index',
  'footer',
] as const;
export type PositionClass = (typeof CLASSES)[number];

export interface Target {
  name: string;
  tzip: string;
  /** delta files: the base model (passed explicitly) */
  base?: string;
  /** byte positions of each class found in this container */
  classes: Partial<Record<PositionClass, number[]>>;
}

function mixTensors(seed: number): RawTensor[] {
  const r = rng(seed);
  const bf16 = toBF16Bytes(gaussianF32(300_000, 0.02, seed)); // 600 kB of weights: rANS planes
  const random = new Uint8Array(200_000).map(() => Math.floor(r() * 256)); // incompressible: STORED
  const pal = new Float32Array(65_536).map(() => [0, 0.5, -1, 2][Math.floor(r() * 4)]!); // 4 values: PALETTE
  const motif = new Int32Array(1024).map(() => Math.floor(r() * 2 ** 31));
  const rep = new Int32Array(100_000).map((_, i) => motif[i % 1024]!); // long repeats: ZSTD
  return [
    { name: 'layers.0.weight', dtype: 'BF16', shape: [300_000], data: bf16 },
    { name: 'noise', dtype: 'U8', shape: [200_000], data: random },
    { name: 'palette', dtype: 'F32', shape: [65_536], data: new Uint8Array(pal.buffer) },
    { name: 'positions', dtype: 'I32', shape: [100_000], data: new Uint8Array(rep.buffer) },
    { name: 'layers.1.weight', dtype: 'BF16', shape: [300_000], data: bf16.slice() }, // a duplicate
  ];
}

/** The mix with changes a fine-tune makes: one ulp here and there (ULP), sign flips (XOR), an untouched tensor (SAME).
 * */
function deltaTensors(base: RawTensor[]): RawTensor[] {
  const r = rng(99);
  return base.map((t) => {
    const d = t.data.slice();
    if (t.name === 'layers.0.weight') {
      const u = new Uint16Array(d.buffer);
      for (let i = 0; i < u.length; i++) if (r() < 0.3) u[i] = (u[i]! + (r() < 0.5 ? 1 : -1)) & 0xffff;
    } else if (t.name === 'palette') {
      const u = new Uint32Array(d.buffer);
      for (let i = 0; i < u.length; i += 7) u[i] = u[i]! ^ 0x80000000;
    }
    return { ...t, data: d };
  });
}

/** A GGUF file with one Q4_0 tensor whose blocks look quantized (a few scales, skewed nibbles): BLOCKS mode. */
function q4Model(): Buffer {
  const blocks = 40_000;
  const bytes = blocks * 18;
  const file = gguf({ tensors: [{ name: 'blk.0.ffn_up.weight', ne: [32 * blocks], type: 2, bytes }] });
  const r = rng(5);
  const data = file.subarray(file.length - bytes);
  const scales = [0x2c00, 0x2c66, 0x2d1f, 0x2e00];
  for (let b = 0; b < blocks; b++) {
    data.writeUInt16LE(scales[Math.floor(r() * 4)]!, b * 18);
    for (let k = 0; k < 16; k++) {
      const nib = () => Math.max(0, Math.min(15, Math.round(8 + (r() + r() + r() - 1.5) * 4)));
      data[b * 18 + 2 + k] = nib() | (nib() << 4);
    }
  }
  return file;
}

/** Offsets inside a PLANES payload that lie in a rANS block (after its kind and length), if any. */
function ransBytes(p: Uint8Array, rawLength: number): number[] {
  const width = p[2]!;
  const n = Math.floor(rawLength / width);
  let pos = 3;
  const out: number[] = [];
  for (let k = 0; k < width; k++) {
    const kind = p[pos++];
    if (kind === KIND_RAW) pos += n;
    else if (kind === KIND_CONST) pos += 1;
    else if (kind === KIND_RANS) {
      const [len, next] = readVarint(p, pos);
      out.push(next, next + (len >> 1), next + len - 1);
      pos = next + len;
    } else break;
  }
  return out;
}

const MODE_CLASS: Record<number, PositionClass> = {
  [MODE_STORED]: 'RAW',
  [MODE_PALETTE]: 'PALETTE',
  [MODE_ZSTD]: 'ZSTD',
  [MODE_BLOCKS]: 'BLOCKS',
  [MODE_XOR]: 'XOR',
  [MODE_ULP]: 'ULP',
  [MODE_ULPG]: 'ULP',
  [MODE_SAME]: 'SAME',
};

/** Byte positions of each class in a container: for payloads, the mode byte, a middle byte and the last byte. */
export async function positionsOf(tzip: string): Promise<Target['classes']> {
  const bytes = readFileSync(tzip);
  const c = await openContainer(tzip);
  await c.file.close();
  const classes: Target['classes'] = {};
  const add = (k: PositionClass, ps: number[]) => {
    const set = (classes[k] ??= []);
    for (const p of ps) if (!set.includes(p)) set.push(p);
  };
  add('header', [0, 4, 6, 8, 12]);
  const indexOffset = Number(bytes.readBigUInt64LE(bytes.length - FOOTER_BYTES));
  const ixLen = bytes.length - FOOTER_BYTES - indexOffset;
  add('index', [indexOffset, indexOffset + (ixLen >> 1), indexOffset + ixLen - 1]);
  add(
    'footer',
    [0, 8, 12, 16, 20, 24].map((o) => bytes.length - FOOTER_BYTES + o),
  );
  for (const ch of c.chunks) {
    const at = ch.payloadOffset;
    const p = bytes.subarray(at, at + ch.payloadLength);
    const edges = [at, at + (ch.payloadLength >> 1), at + ch.payloadLength - 1];
    if (ch.flags & CHUNK_FLAG_DUPLICATE) {
      add('dedup', edges);
      continue;
    }
    if (p[0] === MODE_PLANES) {
      const rans = ransBytes(p, ch.rawLength);
      if (rans.length) add('rANS', [at, ...rans.slice(0, 2).map((o) => at + o)]);
      continue;
    }
    const k = MODE_CLASS[p[0]!];
    if (k) add(k, edges);
  }
  // a few positions per class and container keep the runs affordable
  for (const k of Object.keys(classes) as PositionClass[])
    classes[k] = classes[k]!.slice(0, k === 'header' || k === 'footer' ? 6 : 3);
  return classes;
}

/** Writes the models and their containers under `dir` (compressed with one thread: the output does not depend on it).
 * */
export async function buildTargets(dir: string): Promise<Target[]> {
  const mix = mixTensors(11);
  const files = {
    onnx: path.join(dir, 'silero_vad_v6.onnx'),
    mix: path.join(dir, 'mix.safetensors'),
    gguf: path.join(dir, 'q4.gguf'),
    tuned: path.join(dir, 'tuned.safetensors'),
  };
  copyFileSync(REGISTRY_ONNX, files.onnx);
  writeFileSync(files.mix, safetensorsBytes(mix));
  writeFileSync(files.gguf, q4Model());
  writeFileSync(files.tuned, safetensorsBytes(deltaTensors(mix)));
  const out: Target[] = [];
  for (const [name, f] of Object.entries(files)) {
    const base = name === 'tuned' ? files.mix : undefined;
    const r = await compressFile(f, { output: `${f}.tzip`, force: true, threads: 1, ...(base ? { base } : {}) });
    out.push({ name, tzip: r.output, ...(base ? { base } : {}), classes: await positionsOf(r.output) });
  }
  return out;
}
