/** Readable reference of the plane split/merge (the WebAssembly kernels do the same). */
import type { Layout } from './layout';

const rot16 = (v: number) => ((v << 1) | (v >>> 15)) & 0xffff;
const unrot16 = (r: number) => (r >>> 1) | ((r & 1) << 15);
const rot32 = (v: number) => (((v << 1) & 0xff000000) | ((v >>> 31) << 23) | (v & 0x7fffff)) >>> 0;
const unrot32 = (r: number) => (((r >>> 1) & 0x7f800000) | (((r >>> 23) & 1) << 31) | (r & 0x7fffff)) >>> 0;
// F64: only the high 32 bits change
const rot64hi = (h: number) => (((h << 1) & 0xffe00000) | ((h >>> 31) << 20) | (h & 0xfffff)) >>> 0;
const unrot64hi = (r: number) => (((r >>> 1) & 0x7ff00000) | (((r >>> 20) & 1) << 31) | (r & 0xfffff)) >>> 0;

/**
 * The top 16 bits of a transformed element whose top 16 bits are v (the bits that hold the sign and
 * exponent): what the split does to them, for the analysis to measure the planes the codec codes.
 */
export function transformTop16(transform: Layout['transform'], v: number): number {
  if (transform === 1) return rot16(v);
  if (transform === 2) return rot32((v << 16) >>> 0) >>> 16;
  if (transform === 3) return rot64hi((v << 16) >>> 0) >>> 16;
  return v;
}

function transformElement(bytes: number[], { width, transform }: Layout, inverse: boolean): void {
  if (transform === 1) {
    const v = bytes[0]! | (bytes[1]! << 8);
    const r = inverse ? unrot16(v) : rot16(v);
    bytes[0] = r & 0xff;
    bytes[1] = r >>> 8;
  } else if (transform === 2 || transform === 3) {
    const o = width - 4;
    const v = (bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24)) >>> 0;
    const r = transform === 2 ? (inverse ? unrot32(v) : rot32(v)) : inverse ? unrot64hi(v) : rot64hi(v);
    for (let k = 0; k < 4; k++) bytes[o + k] = (r >>> (8 * k)) & 0xff;
  }
}

/** Planes of the first n elements of src, concatenated: byte k of element i goes to k * n + i. */
export function splitRef(src: Uint8Array, n: number, layout: Layout): Uint8Array {
  const w = layout.width;
  const out = new Uint8Array(n * w);
  const el: number[] = new Array(w).fill(0);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < w; k++) el[k] = src[i * w + k]!;
    transformElement(el, layout, false);
    for (let k = 0; k < w; k++) out[k * n + i] = el[k]!;
  }
  return out;
}

/** Inverse of splitRef, writing n * width bytes into dst. */
export function mergeRef(planes: Uint8Array, n: number, layout: Layout, dst: Uint8Array): void {
  const w = layout.width;
  const el: number[] = new Array(w).fill(0);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < w; k++) el[k] = planes[k * n + i]!;
    transformElement(el, layout, true);
    for (let k = 0; k < w; k++) dst[i * w + k] = el[k]!;
  }
}
