/** Test helpers: build safetensors files (valid or deliberately broken) and locate the corpus. */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const CORPUS = path.resolve(process.cwd(), '../shared/corpus');
export const HAVE_CORPUS = existsSync(CORPUS);
export const NO_CORPUS = HAVE_CORPUS ? false : `no corpus at ${CORPUS} (../shared absent)`;
export const REGISTRY_ONNX = path.resolve(process.cwd(), 'node_modules/@ricky0123/vad-web/dist/silero_vad_v6.onnx');

export interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** Serializes a safetensors file; `header` may be overridden to craft broken files. */
export function safetensorsBytes(
  tensors: RawTensor[],
  opts: { metadata?: Record<string, string>; headerOverride?: string; lengthOverride?: bigint } = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (opts.metadata) header.__metadata__ = opts.metadata;
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.length] };
    off += t.data.length;
  }
  let json = opts.headerOverride ?? JSON.stringify(header);
  while ((json.length + 8) % 8 !== 0) json += ' ';
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + off);
  new DataView(out.buffer).setBigUint64(0, opts.lengthOverride ?? BigInt(hb.length), true);
  out.set(hb, 8);
  let p = 8 + hb.length;
  for (const t of tensors) {
    out.set(t.data, p);
    p += t.data.length;
  }
  return out;
}

export function tempDir(prefix = 'tz-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeFile(dir: string, name: string, bytes: Uint8Array | string): string {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** Deterministic pseudo-random generator (xorshift32) for synthetic data. */
export function rng(seed = 12345): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

/** Gaussian-ish float32 weights (sum of uniforms), like trained weights around N(0, sigma). */
export function gaussianF32(n: number, sigma = 0.02, seed = 7): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() + r() + r() + r() - 2) * sigma * 1.7;
  return a;
}

/** Rounds float32 values to bfloat16 (nearest even) and returns the raw bytes. */
export function toBF16Bytes(f: Float32Array): Uint8Array {
  const u = new Uint32Array(f.buffer, f.byteOffset, f.length);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const x = u[i]!;
    out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return new Uint8Array(out.buffer);
}
