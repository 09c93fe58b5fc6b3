/**
 * Dequantization of GGUF block types for viewing (the inspector's values are marked as
 * dequantized). Block sizes come from GGML_TYPES (ggml.ts); the arithmetic follows
 * dequantize_row_* of ggml-quants.c. Types not listed in DEQUANTIZERS are shown as unknown.
 */
import { f16Value } from '../core/floats';
import { ggmlTypeByName } from './ggml';

const hv = new Float32Array(1);
const hu = new Uint32Array(hv.buffer);
/** IEEE half bits -> value */
function f16(b: Uint8Array, at: number): number {
  return f16Value(b[at]! | (b[at + 1]! << 8));
}
function f32(b: Uint8Array, at: number): number {
  hu[0] = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  return hv[0]!;
}
const i8 = (v: number) => (v << 24) >> 24;

/** Writes the blockSize values of the block at b[o..] to y[yo..]. */
type BlockFn = (b: Uint8Array, o: number, y: Float32Array, yo: number) => void;

/** get_scale_min_k4 of ggml-quants.c: 6-bit scale and min j of a K-quant's 12 scale bytes at s. */
function scaleMinK4(b: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [b[s + j]! & 63, b[s + j + 4]! & 63];
  return [(b[s + j + 4]! & 0xf) | ((b[s + j - 4]! >> 6) << 4), (b[s + j + 4]! >> 4) | ((b[s + j]! >> 6) << 4)];
}

export const DEQUANTIZERS: Record<string, BlockFn> = {
  Q4_0(b, o, y, yo) {
    const d = f16(b, o);
    for (let j = 0; j < 16; j++) {
      const q = b[o + 2 + j]!;
      y[yo + j] = ((q & 0xf) - 8) * d;
      y[yo + j + 16] = ((q >> 4) - 8) * d;
    }
  },
  Q4_1(b, o, y, yo) {
    const d = f16(b, o),
      m = f16(b, o + 2);
    for (let j = 0; j < 16; j++) {
      const q = b[o + 4 + j]!;
      y[yo + j] = (q & 0xf) * d + m;
      y[yo + j + 16] = (q >> 4) * d + m;
    }
  },
  Q5_0(b, o, y, yo) {
    const d = f16(b, o);
    const qh = (b[o + 2]! | (b[o + 3]! << 8) | (b[o + 4]! << 16) | (b[o + 5]! << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = b[o + 6 + j]!;
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      y[yo + j] = (((q & 0xf) | h0) - 16) * d;
      y[yo + j + 16] = (((q >> 4) | h1) - 16) * d;
    }
  },
  Q5_1(b, o, y, yo) {
    const d = f16(b, o),
      m = f16(b, o + 2);
    const qh = (b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16) | (b[o + 7]! << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = b[o + 8 + j]!;
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      y[yo + j] = ((q & 0xf) | h0) * d + m;
      y[yo + j + 16] = ((q >> 4) | h1) * d + m;
    }
  },
  Q8_0(b, o, y, yo) {
    const d = f16(b, o);
    for (let j = 0; j < 32; j++) y[yo + j] = i8(b[o + 2 + j]!) * d;
  },
  Q8_1(b, o, y, yo) {
    const d = f16(b, o);
    for (let j = 0; j < 32; j++) y[yo + j] = i8(b[o + 4 + j]!) * d;
  },
  Q2_K(b, o, y, yo) {
    const d = f16(b, o + 80),
      min = f16(b, o + 82);
    let is = 0,
      q = o + 16;
    for (let n = 0; n < 256; n += 128) {
      let shift = 0;
      for (let j = 0; j < 4; j++) {
        for (const half of [0, 16]) {
          const sc = b[o + is++]!;
          const dl = d * (sc & 0xf),
            ml = min * (sc >> 4);
          for (let l = 0; l < 16; l++) y[yo++] = dl * ((b[q + l + half]! >> shift) & 3) - ml;
        }
        shift += 2;
      }
      q += 32;
    }
  },
  Q3_K(b, o, y, yo) {
    const dAll = f16(b, o + 108);
    // the 12 scale bytes hold 16 6-bit scales (ggml's kmask unpacking)
    const u = (k: number) =>
      (b[o + 96 + k]! | (b[o + 97 + k]! << 8) | (b[o + 98 + k]! << 16) | (b[o + 99 + k]! << 24)) >>> 0;
    const a0 = u(0),
      a1 = u(4),
      tmp = u(8);
    const k1 = 0x03030303,
      k2 = 0x0f0f0f0f;
    const aux = [
      ((a0 & k2) | (((tmp >>> 0) & k1) << 4)) >>> 0,
      ((a1 & k2) | (((tmp >>> 2) & k1) << 4)) >>> 0,
      (((a0 >>> 4) & k2) | (((tmp >>> 4) & k1) << 4)) >>> 0,
      (((a1 >>> 4) & k2) | (((tmp >>> 6) & k1) << 4)) >>> 0,
    ];
    const scale = (i: number) => i8((aux[i >> 2]! >>> (8 * (i & 3))) & 0xff);
    let is = 0,
      q = o + 32,
      m = 1;
    for (let n = 0; n < 256; n += 128) {
      let shift = 0;
      for (let j = 0; j < 4; j++) {
        for (const half of [0, 16]) {
          const dl = dAll * (scale(is++) - 32);
          for (let l = 0; l < 16; l++)
            y[yo++] = dl * (((b[q + l + half]! >> shift) & 3) - (b[o + l + half]! & m ? 0 : 4));
        }
        shift += 2;
        m <<= 1;
      }
      q += 32;
    }
  },
  Q4_K(b, o, y, yo) {
    const d = f16(b, o),
      min = f16(b, o + 2);
    let q = o + 16;
    for (let j = 0, is = 0; j < 256; j += 64, is += 2) {
      const [s1, m1] = scaleMinK4(b, o + 4, is);
      const [s2, m2] = scaleMinK4(b, o + 4, is + 1);
      for (let l = 0; l < 32; l++) y[yo++] = d * s1 * (b[q + l]! & 0xf) - min * m1;
      for (let l = 0; l < 32; l++) y[yo++] = d * s2 * (b[q + l]! >> 4) - min * m2;
      q += 32;
    }
  },
  Q5_K(b, o, y, yo) {
    const d = f16(b, o),
      min = f16(b, o + 2);
    let ql = o + 48;
    const qh = o + 16;
    let u1 = 1,
      u2 = 2;
    for (let j = 0, is = 0; j < 256; j += 64, is += 2) {
      const [s1, m1] = scaleMinK4(b, o + 4, is);
      const [s2, m2] = scaleMinK4(b, o + 4, is + 1);
      for (let l = 0; l < 32; l++) y[yo++] = d * s1 * ((b[ql + l]! & 0xf) + (b[qh + l]! & u1 ? 16 : 0)) - min * m1;
      for (let l = 0; l < 32; l++) y[yo++] = d * s2 * ((b[ql + l]! >> 4) + (b[qh + l]! & u2 ? 16 : 0)) - min * m2;
      ql += 32;
      u1 <<= 2;
      u2 <<= 2;
    }
  },
  Q6_K(b, o, y, yo) {
    const d = f16(b, o + 208);
    let ql = o,
      qh = o + 128,
      sc = o + 192;
    for (let n = 0; n < 256; n += 128) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const q1 = ((b[ql + l]! & 0xf) | (((b[qh + l]! >> 0) & 3) << 4)) - 32;
        const q2 = ((b[ql + l + 32]! & 0xf) | (((b[qh + l]! >> 2) & 3) << 4)) - 32;
        const q3 = ((b[ql + l]! >> 4) | (((b[qh + l]! >> 4) & 3) << 4)) - 32;
        const q4 = ((b[ql + l + 32]! >> 4) | (((b[qh + l]! >> 6) & 3) << 4)) - 32;
        y[yo + n + l] = d * i8(b[sc + is]!) * q1;
        y[yo + n + l + 32] = d * i8(b[sc + is + 2]!) * q2;
        y[yo + n + l + 64] = d * i8(b[sc + is + 4]!) * q3;
        y[yo + n + l + 96] = d * i8(b[sc + is + 6]!) * q4;
      }
      ql += 64;
      qh += 32;
      sc += 8;
    }
  },
  Q8_K(b, o, y, yo) {
    const d = f32(b, o);
    for (let j = 0; j < 256; j++) y[yo + j] = i8(b[o + 4 + j]!) * d;
  },
};

export function canDequantize(dtype: string): boolean {
  return DEQUANTIZERS[dtype] !== undefined && ggmlTypeByName(dtype) !== undefined;
}

/**
 * Dequantizes whole blocks: `bytes` must hold a whole number of blocks; returns blocks x blockSize
 * values (into `out` when it is large enough).
 */
export function dequantize(dtype: string, bytes: Uint8Array, out?: Float32Array): Float32Array {
  const fn = DEQUANTIZERS[dtype];
  const g = ggmlTypeByName(dtype);
  if (!fn || !g) throw new Error(`no dequantizer for ${dtype}`);
  const blocks = Math.floor(bytes.length / g.typeSize);
  if (blocks * g.typeSize !== bytes.length)
    throw new Error(`${dtype}: ${bytes.length} bytes is not a whole number of ${g.typeSize}-byte blocks`);
  const n = blocks * g.blockSize;
  const y = out && out.length >= n ? out.subarray(0, n) : new Float32Array(n);
  for (let k = 0; k < blocks; k++) fn(bytes, k * g.typeSize, y, k * g.blockSize);
  return y;
}
