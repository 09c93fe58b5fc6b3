// Test helpers (not a test file): ggml-style quantizers (Q8_0, Q4_0, Q4_K, Q6_K) following the
// reference quantize_row_*_ref of ggml-quants.c (Q4_K/Q6_K with the simple scale search, not the
// iterative one), F32 weights from any model file the engine reads, and a minimal GGUF v3 writer.
import { readFileSync } from 'node:fs';
import { openModel } from '../../engine/formats/index';

/** float32 -> IEEE half bits, round to nearest even. */
export function f16bits(v: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = v;
  const x = u[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

export function f16value(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const nearestInt = (v: number): number => Math.round(v); // ggml's nearest_int rounds half away... close enough

function putF16(out: Uint8Array, at: number, v: number): number {
  const h = f16bits(v);
  out[at] = h & 0xff;
  out[at + 1] = h >>> 8;
  return f16value(h);
}

export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const nb = x.length / 32;
  const out = new Uint8Array(nb * 34);
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[i * 32 + j]!));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    putF16(out, i * 34, d);
    for (let j = 0; j < 32; j++) out[i * 34 + 2 + j] = Math.round(x[i * 32 + j]! * id) & 0xff;
  }
  return out;
}

export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const nb = x.length / 32;
  const out = new Uint8Array(nb * 18);
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[i * 32 + j]!;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = max / -8;
    const id = d ? 1 / d : 0;
    putF16(out, i * 18, d);
    for (let j = 0; j < 16; j++) {
      const x0 = Math.min(15, Math.trunc(x[i * 32 + j]! * id + 8.5));
      const x1 = Math.min(15, Math.trunc(x[i * 32 + 16 + j]! * id + 8.5));
      out[i * 18 + 2 + j] = x0 | (x1 << 4);
    }
  }
  return out;
}

/** Q4_K: 8 sub-blocks of 32 with a 6-bit scale and min each, 4-bit codes. */
export function quantizeQ4_K(x: Float32Array): Uint8Array {
  const nb = x.length / 256;
  const out = new Uint8Array(nb * 144);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  const L = new Uint8Array(256);
  for (let i = 0; i < nb; i++) {
    const xb = x.subarray(i * 256, i * 256 + 256);
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let mn = 0;
      let mx = -Infinity;
      for (let l = 0; l < 32; l++) {
        mn = Math.min(mn, xb[32 * j + l]!);
        mx = Math.max(mx, xb[32 * j + l]!);
      }
      scales[j] = (mx - mn) / 15;
      mins[j] = -mn;
      maxScale = Math.max(maxScale, scales[j]!);
      maxMin = Math.max(maxMin, mins[j]!);
    }
    const invScale = maxScale > 0 ? 63 / maxScale : 0;
    const invMin = maxMin > 0 ? 63 / maxMin : 0;
    const b = i * 144;
    const ls = new Uint8Array(8);
    const lm = new Uint8Array(8);
    for (let j = 0; j < 8; j++) {
      ls[j] = Math.min(63, nearestInt(invScale * scales[j]!));
      lm[j] = Math.min(63, nearestInt(invMin * mins[j]!));
      if (j < 4) {
        out[b + 4 + j] = ls[j]!;
        out[b + 4 + j + 4] = lm[j]!;
      } else {
        out[b + 4 + j + 4] = (ls[j]! & 0xf) | ((lm[j]! & 0xf) << 4);
        out[b + 4 + j - 4] |= (ls[j]! >> 4) << 6;
        out[b + 4 + j] |= (lm[j]! >> 4) << 6;
      }
    }
    const d = putF16(out, b, maxScale / 63);
    const dmin = putF16(out, b + 2, maxMin / 63);
    for (let j = 0; j < 8; j++) {
      const sd = d * ls[j]!;
      const dm = dmin * lm[j]!;
      for (let l = 0; l < 32; l++) {
        L[32 * j + l] = sd ? Math.max(0, Math.min(15, nearestInt((xb[32 * j + l]! + dm) / sd))) : 0;
      }
    }
    for (let j = 0; j < 256; j += 64) {
      for (let l = 0; l < 32; l++) out[b + 16 + j / 2 + l] = L[j + l]! | (L[j + l + 32]! << 4);
    }
  }
  return out;
}

/** Q6_K: 16 sub-blocks of 16 with an int8 scale each, 6-bit codes split into ql (4 bits) and qh (2). */
export function quantizeQ6_K(x: Float32Array): Uint8Array {
  const nb = x.length / 256;
  const out = new Uint8Array(nb * 210);
  const scales = new Float32Array(16);
  const L = new Uint8Array(256);
  for (let i = 0; i < nb; i++) {
    const xb = x.subarray(i * 256, i * 256 + 256);
    let maxScale = 0;
    let maxAbs = 0;
    for (let ib = 0; ib < 16; ib++) {
      let amax = 0;
      let max = 0;
      for (let l = 0; l < 16; l++) {
        const v = xb[16 * ib + l]!;
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          max = v;
        }
      }
      scales[ib] = max / -32; // make_qx_quants: iscale = -nmax / max
      if (Math.abs(scales[ib]!) > maxAbs) {
        maxAbs = Math.abs(scales[ib]!);
        maxScale = scales[ib]!;
      }
    }
    const b = i * 210;
    if (!maxAbs) continue; // all-zero block: d = 0, codes 0
    const iscale = -128 / maxScale;
    const d = putF16(out, b + 208, 1 / iscale);
    for (let ib = 0; ib < 16; ib++) {
      const s = Math.max(-128, Math.min(127, nearestInt(iscale * scales[ib]!)));
      out[b + 192 + ib] = s & 0xff;
      const sd = d * s;
      for (let l = 0; l < 16; l++) {
        const q = sd ? Math.max(-32, Math.min(31, nearestInt(xb[16 * ib + l]! / sd))) : 0;
        L[16 * ib + l] = q + 32;
      }
    }
    for (let j = 0, ql = b, qh = b + 128; j < 256; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        out[ql + l] = (L[j + l]! & 0xf) | ((L[j + l + 64]! & 0xf) << 4);
        out[ql + l + 32] = (L[j + l + 32]! & 0xf) | ((L[j + l + 96]! & 0xf) << 4);
        out[qh + l] =
          (L[j + l]! >> 4) | ((L[j + l + 32]! >> 4) << 2) | ((L[j + l + 64]! >> 4) << 4) | ((L[j + l + 96]! >> 4) << 6);
      }
    }
  }
  return out;
}

/** Q4_1 / Q5_1: blocks of 32 with d and min m (x = d*q + m); Q5_0: d = max / -16, 5-bit codes. */
function quantizeMinBlock32(x: Float32Array, bits: 4 | 5): Uint8Array {
  const B = bits === 4 ? 20 : 24;
  const nb = x.length / 32;
  const out = new Uint8Array(nb * B);
  const nmax = (1 << bits) - 1;
  for (let i = 0; i < nb; i++) {
    let mn = Infinity,
      mx = -Infinity;
    for (let j = 0; j < 32; j++) {
      mn = Math.min(mn, x[i * 32 + j]!);
      mx = Math.max(mx, x[i * 32 + j]!);
    }
    const d = (mx - mn) / nmax;
    const id = d ? 1 / d : 0;
    const b = i * B;
    putF16(out, b, d);
    putF16(out, b + 2, mn);
    let qh = 0;
    const qs = b + (bits === 4 ? 4 : 8);
    for (let j = 0; j < 16; j++) {
      const x0 = Math.min(nmax, Math.trunc((x[i * 32 + j]! - mn) * id + 0.5));
      const x1 = Math.min(nmax, Math.trunc((x[i * 32 + 16 + j]! - mn) * id + 0.5));
      out[qs + j] = (x0 & 0xf) | ((x1 & 0xf) << 4);
      qh |= ((x0 >> 4) & 1) << j;
      qh |= ((x1 >> 4) & 1) << (j + 16);
    }
    if (bits === 5) for (let k = 0; k < 4; k++) out[b + 4 + k] = (qh >>> (8 * k)) & 0xff;
  }
  return out;
}

export function quantizeQ5_0(x: Float32Array): Uint8Array {
  const nb = x.length / 32;
  const out = new Uint8Array(nb * 22);
  for (let i = 0; i < nb; i++) {
    let amax = 0,
      max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[i * 32 + j]!;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = max / -16;
    const id = d ? 1 / d : 0;
    const b = i * 22;
    putF16(out, b, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const x0 = Math.min(31, Math.trunc(x[i * 32 + j]! * id + 16.5));
      const x1 = Math.min(31, Math.trunc(x[i * 32 + 16 + j]! * id + 16.5));
      out[b + 6 + j] = (x0 & 0xf) | ((x1 & 0xf) << 4);
      qh |= ((x0 >> 4) & 1) << j;
      qh |= ((x1 >> 4) & 1) << (j + 16);
    }
    for (let k = 0; k < 4; k++) out[b + 2 + k] = (qh >>> (8 * k)) & 0xff;
  }
  return out;
}

/** Q5_K: Q4_K's scales with 5-bit codes (low 4 bits in qs, high bits in qh). */
export function quantizeQ5_K(x: Float32Array): Uint8Array {
  const nb = x.length / 256;
  const out = new Uint8Array(nb * 176);
  const L = new Uint8Array(256);
  for (let i = 0; i < nb; i++) {
    const xb = x.subarray(i * 256, i * 256 + 256);
    const b = i * 176;
    const { d, dmin, ls, lm } = kScales(xb, 32, 31, out, b + 4);
    putF16(out, b, d);
    putF16(out, b + 2, dmin);
    const dq = f16value(f16bits(d)),
      dm = f16value(f16bits(dmin));
    for (let j = 0; j < 8; j++) {
      const sd = dq * ls[j]!,
        mm = dm * lm[j]!;
      for (let l = 0; l < 32; l++)
        L[32 * j + l] = sd ? Math.max(0, Math.min(31, nearestInt((xb[32 * j + l]! + mm) / sd))) : 0;
    }
    let m1 = 1,
      m2 = 2;
    for (let n = 0, ql = b + 48; n < 256; n += 64, ql += 32) {
      for (let j = 0; j < 32; j++) {
        let l1 = L[n + j]!,
          l2 = L[n + j + 32]!;
        if (l1 > 15) {
          l1 -= 16;
          out[b + 16 + j] |= m1;
        }
        if (l2 > 15) {
          l2 -= 16;
          out[b + 16 + j] |= m2;
        }
        out[ql + j] = l1 | (l2 << 4);
      }
      m1 <<= 2;
      m2 <<= 2;
    }
  }
  return out;
}

/** Sub-block scales/mins (min <= 0 folded), 6-bit packed as in Q4_K/Q5_K at out[at .. at+12). */
function kScales(
  xb: Float32Array,
  sub: number,
  nmax: number,
  out: Uint8Array,
  at: number,
): { d: number; dmin: number; ls: Uint8Array; lm: Uint8Array } {
  const ns = 256 / sub;
  const scales = new Float32Array(ns),
    mins = new Float32Array(ns);
  let maxScale = 0,
    maxMin = 0;
  for (let j = 0; j < ns; j++) {
    let mn = 0,
      mx = -Infinity;
    for (let l = 0; l < sub; l++) {
      mn = Math.min(mn, xb[sub * j + l]!);
      mx = Math.max(mx, xb[sub * j + l]!);
    }
    scales[j] = (mx - mn) / nmax;
    mins[j] = -mn;
    maxScale = Math.max(maxScale, scales[j]!);
    maxMin = Math.max(maxMin, mins[j]!);
  }
  const ls = new Uint8Array(ns),
    lm = new Uint8Array(ns);
  const invS = maxScale > 0 ? 63 / maxScale : 0,
    invM = maxMin > 0 ? 63 / maxMin : 0;
  for (let j = 0; j < ns; j++) {
    ls[j] = Math.min(63, nearestInt(invS * scales[j]!));
    lm[j] = Math.min(63, nearestInt(invM * mins[j]!));
    if (j < 4) {
      out[at + j] = ls[j]!;
      out[at + j + 4] = lm[j]!;
    } else {
      out[at + j + 4] = (ls[j]! & 0xf) | ((lm[j]! & 0xf) << 4);
      out[at + j - 4] |= (ls[j]! >> 4) << 6;
      out[at + j] |= (lm[j]! >> 4) << 6;
    }
  }
  return { d: maxScale / 63, dmin: maxMin / 63, ls, lm };
}

/** Q2_K: 16 sub-blocks of 16, 4-bit scale and min each (scales[16]), 2-bit codes. */
export function quantizeQ2_K(x: Float32Array): Uint8Array {
  const nb = x.length / 256;
  const out = new Uint8Array(nb * 84);
  const L = new Uint8Array(256);
  for (let i = 0; i < nb; i++) {
    const xb = x.subarray(i * 256, i * 256 + 256);
    const b = i * 84;
    const scales = new Float32Array(16),
      mins = new Float32Array(16);
    let maxScale = 0,
      maxMin = 0;
    for (let j = 0; j < 16; j++) {
      let mn = 0,
        mx = -Infinity;
      for (let l = 0; l < 16; l++) {
        mn = Math.min(mn, xb[16 * j + l]!);
        mx = Math.max(mx, xb[16 * j + l]!);
      }
      scales[j] = (mx - mn) / 3;
      mins[j] = -mn;
      maxScale = Math.max(maxScale, scales[j]!);
      maxMin = Math.max(maxMin, mins[j]!);
    }
    const d = putF16(out, b + 80, maxScale / 15);
    const dmin = putF16(out, b + 82, maxMin / 15);
    for (let j = 0; j < 16; j++) {
      const ls = maxScale > 0 ? Math.min(15, nearestInt((15 * scales[j]!) / maxScale)) : 0;
      const lm = maxMin > 0 ? Math.min(15, nearestInt((15 * mins[j]!) / maxMin)) : 0;
      out[b + j] = ls | (lm << 4);
      const sd = d * ls,
        mm = dmin * lm;
      for (let l = 0; l < 16; l++)
        L[16 * j + l] = sd ? Math.max(0, Math.min(3, nearestInt((xb[16 * j + l]! + mm) / sd))) : 0;
    }
    for (let j = 0; j < 256; j += 128) {
      for (let l = 0; l < 32; l++)
        out[b + 16 + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
    }
  }
  return out;
}

export const QUANTIZERS: Record<string, { id: number; block: number; quantize: (x: Float32Array) => Uint8Array }> = {
  Q8_0: { id: 8, block: 32, quantize: quantizeQ8_0 },
  Q4_0: { id: 2, block: 32, quantize: quantizeQ4_0 },
  Q4_K: { id: 12, block: 256, quantize: quantizeQ4_K },
  Q6_K: { id: 14, block: 256, quantize: quantizeQ6_K },
  Q4_1: { id: 3, block: 32, quantize: (x) => quantizeMinBlock32(x, 4) },
  Q5_0: { id: 6, block: 32, quantize: quantizeQ5_0 },
  Q5_1: { id: 7, block: 32, quantize: (x) => quantizeMinBlock32(x, 5) },
  Q5_K: { id: 13, block: 256, quantize: quantizeQ5_K },
  Q2_K: { id: 10, block: 256, quantize: quantizeQ2_K },
};

/** The F32 tensors of a model file (any format the engine reads), at least minElements each. */
export async function f32Weights(
  file: string,
  minElements = 4096,
): Promise<Array<{ name: string; data: Float32Array }>> {
  const layout = await openModel(file);
  const buf = readFileSync(file);
  const out: Array<{ name: string; data: Float32Array }> = [];
  for (const t of layout.tensors) {
    if (t.dtype !== 'F32' || t.bytes < 4 * minElements || (t.file && t.file !== layout.path)) continue;
    const copy = new Uint8Array(t.bytes);
    copy.set(buf.subarray(t.offset, t.offset + t.bytes));
    out.push({ name: t.name, data: new Float32Array(copy.buffer) });
  }
  return out;
}

/** A GGUF v3 file with the given tensors quantized to `type` (1-D, truncated to whole 256-element
 *  multiples, tensors in order, 32-byte alignment). */
export function buildQuantGguf(tensors: Array<{ name: string; data: Float32Array }>, type: string): Uint8Array {
  const q = QUANTIZERS[type]!;
  const enc = new TextEncoder();
  const head: number[] = [];
  const u32 = (v: number) => {
    for (let k = 0; k < 4; k++) head.push((v >>> (8 * k)) & 0xff);
  };
  const u64 = (v: number) => {
    u32(v % 2 ** 32);
    u32(Math.floor(v / 2 ** 32));
  };
  const str = (s: string) => {
    const b = enc.encode(s);
    u64(b.length);
    head.push(...b);
  };
  head.push(0x47, 0x47, 0x55, 0x46);
  u32(3);
  u64(tensors.length);
  u64(2);
  str('general.architecture');
  u32(8);
  str('test');
  str('general.alignment');
  u32(4);
  u32(32);
  const datas: Uint8Array[] = [];
  let rel = 0;
  for (const t of tensors) {
    const n = Math.floor(t.data.length / 256) * 256;
    const data = q.quantize(t.data.subarray(0, n));
    str(t.name);
    u32(1);
    u64(n);
    u32(q.id);
    u64(rel);
    datas.push(data);
    rel = Math.ceil((rel + data.length) / 32) * 32;
  }
  const start = Math.ceil(head.length / 32) * 32;
  const out = new Uint8Array(start + rel);
  out.set(head, 0);
  let at = start;
  for (const d of datas) {
    out.set(d, at);
    at = Math.ceil((at + d.length) / 32) * 32;
  }
  return out;
}
