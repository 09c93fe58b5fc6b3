// Shared helpers of the codec tests (not a test file itself).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';

import { CORPUS } from '../helpers/safetensors';
export { CORPUS };
export const HAVE_CORPUS = existsSync(CORPUS);
export const CHUNK = 1 << 20;

export interface RawTensor {
  name: string;
  dtype: string;
  data: Uint8Array;
}

/** Minimal safetensors reader: 8-byte LE header length, JSON header, data. */
export function readSafetensors(file: string): { header: Uint8Array; tensors: RawTensor[] } {
  const buf = readFileSync(file);
  const hlen = Number(buf.readBigUInt64LE(0));
  const json = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8')) as Record<
    string,
    { dtype: string; data_offsets: [number, number] }
  >;
  const base = 8 + hlen;
  const tensors: RawTensor[] = [];
  for (const [name, t] of Object.entries(json)) {
    if (name === '__metadata__') continue;
    const [a, b] = t.data_offsets;
    tensors.push({ name, dtype: t.dtype, data: new Uint8Array(buf.buffer, buf.byteOffset + base + a, b - a) });
  }
  return { header: new Uint8Array(buf.buffer, buf.byteOffset, base), tensors };
}

export function corpusFiles(suffix = '.safetensors'): string[] {
  if (!HAVE_CORPUS) return [];
  return readdirSync(CORPUS)
    .filter((f) => f.endsWith(suffix))
    .sort()
    .map((f) => path.join(CORPUS, f));
}

import { mulberry32 as rng } from '../helpers/random';
export { rng };

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.length === b.length &&
    Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0
  );
}
