/**
 * Mantissa rounding kernels (lossy mode, issue 4). Every float keeps k mantissa bits:
 *  - round to nearest, ties to even (on the last kept bit of the bit pattern; with k = 0 that is
 *    the exponent's lowest bit), on the magnitude, so a carry out of the mantissa moves into the
 *    exponent naturally;
 *  - a value that would round up to infinity is clamped to the largest finite value with k
 *    mantissa bits (exponent 2^E - 2, the top k mantissa bits set);
 *  - NaN and Inf are left exactly as they are (payload bits included); zeros never change;
 *  - subnormals keep k significant bits after their leading one bit (relative precision, like
 *    normals), so |x' - x| <= 2^-(k+1) |x| holds for every nonzero finite x except the clamped
 *    values near the top of the range (their error is below 2^-k relative).
 * The dropped low bits of normal values are zero afterwards, which is what makes the coded
 * mantissa planes cheap. Rounding is done in place on the caller's buffer (the worker's copy).
 */
import { dtypeInfo } from '../core/dtypes';
import { values16 } from '../core/floats';
import { newAcc, type ErrorAcc } from './errorStats';

/** Dtypes lossy mode rounds, with their mantissa widths (no prototype: a dtype string from a file finds
 *  nothing else). */
export const LOSSY_DTYPES: Record<string, number> = Object.setPrototypeOf({ BF16: 7, F16: 10, F32: 23, F64: 52 }, null);

export function mantissaBitsOf(dtype: string): number | undefined {
  return LOSSY_DTYPES[dtype];
}

export function checkBits(dtype: string, k: number): void {
  const m = LOSSY_DTYPES[dtype];
  if (m === undefined) throw new RangeError(`lossy rounding does not apply to ${dtype}`);
  if (!Number.isInteger(k) || k < 0 || k >= m)
    throw new RangeError(`${dtype}: mantissa bits kept must be an integer from 0 to ${m - 1}, got ${k}`);
}

/** Rounds a magnitude bit pattern (sign cleared) of a float with M mantissa bits to k bits (widths up to 32). */
function roundMag(mag: number, M: number, k: number, expMask: number, maxK: number): number {
  if (mag >= expMask) return mag; // Inf / NaN
  let d = M - k;
  if (mag < 1 << M) {
    if (mag === 0) return 0;
    const lead = 31 - Math.clz32(mag); // bits after the leading one
    if (lead <= k) return mag;
    d = lead - k;
  }
  const unit = 2 ** d;
  const half = unit / 2;
  const rem = mag % unit;
  let r = mag - rem;
  if (rem > half || (rem === half && (r / unit) % 2 === 1)) r += unit;
  return r >= expMask ? maxK : r;
}

interface Fmt {
  M: number;
  E: number;
  expMask: number;
}
/** Field widths from dtypes.ts; expMask: the exponent field in place. */
const FMT: Record<string, Fmt> = Object.fromEntries(
  ['BF16', 'F16', 'F32'].map((d) => {
    const { mantissaBits: M, exponentBits: E } = dtypeInfo(d).float!;
    return [d, { M, E, expMask: (2 ** E - 1) * 2 ** M }];
  }),
);

function maxFinite(f: Fmt, k: number): number {
  return (2 ** f.E - 2) * 2 ** f.M + (2 ** f.M - 2 ** (f.M - k));
}

/** Rounds one BF16/F16/F32 bit pattern (unsigned, as a number). */
export function roundBits(bits: number, dtype: 'BF16' | 'F16' | 'F32', k: number): number {
  checkBits(dtype, k);
  const f = FMT[dtype]!;
  const signBit = 2 ** (f.M + f.E);
  const sign = bits >= signBit ? signBit : 0;
  return sign + roundMag(bits - sign, f.M, k, f.expMask, maxFinite(f, k));
}

const F64_EXP = 0x7ffn << 52n;
const F64_MAG = (1n << 63n) - 1n;

/** Rounds one F64 bit pattern. */
export function roundBitsF64(bits: bigint, k: number): bigint {
  checkBits('F64', k);
  const sign = bits & (1n << 63n);
  const mag = bits & F64_MAG;
  if (mag >= F64_EXP || mag === 0n) return bits;
  let d = 52 - k;
  if (mag < 1n << 52n) {
    const lead = mag.toString(2).length - 1;
    if (lead <= k) return bits;
    d = lead - k;
  }
  const unit = 1n << BigInt(d);
  const half = unit >> 1n;
  const rem = mag & (unit - 1n);
  let r = mag - rem;
  if (rem > half || (rem === half && (r & unit) !== 0n)) r += unit;
  if (r >= F64_EXP) r = (0x7fen << 52n) | (((1n << 52n) - 1n) ^ ((1n << BigInt(52 - k)) - 1n));
  return sign | r;
}

// ---------------------------------------------------------------- chunk kernels

const table16 = values16;

const magMaps = new Map<string, Uint16Array>();
/** Every 15-bit magnitude maps to one result: a table makes the loop one lookup per element. */
function magMap(dtype: 'BF16' | 'F16', k: number): Uint16Array {
  const key = `${dtype}|${k}`;
  let map = magMaps.get(key);
  if (!map) {
    const f = FMT[dtype]!;
    const maxK = maxFinite(f, k);
    map = new Uint16Array(32768);
    for (let m = 0; m < 32768; m++) map[m] = roundMag(m, f.M, k, f.expMask, maxK);
    magMaps.set(key, map);
  }
  return map;
}

function round16(u: Uint16Array, dtype: 'BF16' | 'F16', k: number, acc: ErrorAcc): void {
  const f = FMT[dtype]!;
  const tbl = table16(dtype);
  const map = magMap(dtype, k);
  const expMask = f.expMask;
  let { nonFinite, changed, maxAbs, maxRel, sumSqErr, sumSqRef } = acc;
  for (let i = 0; i < u.length; i++) {
    const v = u[i]!;
    const mag = v & 0x7fff;
    if (mag >= expMask) {
      nonFinite++;
      continue;
    }
    const x = tbl[v]!;
    sumSqRef += x * x;
    const r = map[mag]!;
    if (r !== mag) {
      const nv = (v & 0x8000) | r;
      u[i] = nv;
      const e = Math.abs(tbl[nv]! - x);
      changed++;
      sumSqErr += e * e;
      if (e > maxAbs) maxAbs = e;
      const rel = e / Math.abs(x);
      if (rel > maxRel) maxRel = rel;
    }
  }
  acc.elements += u.length;
  Object.assign(acc, { nonFinite, changed, maxAbs, maxRel, sumSqErr, sumSqRef });
}

function round32(u: Uint32Array, k: number, acc: ErrorAcc): void {
  const f = FMT.F32!;
  const fl = new Float32Array(u.buffer, u.byteOffset, u.length);
  const maxK = maxFinite(f, k);
  const d = f.M - k;
  const lowMask = (1 << d) - 1;
  const half = 1 << (d - 1);
  let { nonFinite, changed, maxAbs, maxRel, sumSqErr, sumSqRef } = acc;
  for (let i = 0; i < u.length; i++) {
    const v = u[i]!;
    const mag = (v & 0x7fffffff) >>> 0;
    if (mag >= 0x7f800000) {
      nonFinite++;
      continue;
    }
    const x = fl[i]!;
    sumSqRef += x * x;
    let r: number;
    if (mag >= 0x800000) {
      // normal: the common path, inlined
      const rem = mag & lowMask;
      r = mag - rem;
      if (rem > half || (rem === half && (r & (lowMask + 1)) !== 0)) r += lowMask + 1;
      if (r >= 0x7f800000) r = maxK;
    } else r = roundMag(mag, 23, k, 0x7f800000, maxK);
    if (r !== mag) {
      u[i] = ((v & 0x80000000) | r) >>> 0;
      const e = Math.abs(fl[i]! - x);
      changed++;
      sumSqErr += e * e;
      if (e > maxAbs) maxAbs = e;
      const rel = e / Math.abs(x);
      if (rel > maxRel) maxRel = rel;
    }
  }
  acc.elements += u.length;
  Object.assign(acc, { nonFinite, changed, maxAbs, maxRel, sumSqErr, sumSqRef });
}

function round64(u: BigUint64Array, k: number, acc: ErrorAcc): void {
  const fl = new Float64Array(u.buffer, u.byteOffset, u.length);
  for (let i = 0; i < u.length; i++) {
    const v = u[i]!;
    if ((v & F64_MAG) >= F64_EXP) {
      acc.nonFinite++;
      continue;
    }
    const x = fl[i]!;
    acc.sumSqRef += x * x;
    const r = roundBitsF64(v, k);
    if (r !== v) {
      u[i] = r;
      const e = Math.abs(fl[i]! - x);
      acc.changed++;
      acc.sumSqErr += e * e;
      if (e > acc.maxAbs) acc.maxAbs = e;
      const rel = e / Math.abs(x);
      if (rel > acc.maxRel) acc.maxRel = rel;
    }
  }
  acc.elements += u.length;
}

/**
 * Rounds the whole elements of `data` (a chunk of a `dtype` tensor) in place to k mantissa bits
 * and returns the error statistics. A trailing partial element is left alone.
 */
export function roundChunk(data: Uint8Array, dtype: string, k: number, acc: ErrorAcc = newAcc()): ErrorAcc {
  checkBits(dtype, k);
  const size = dtypeInfo(dtype).size;
  const n = Math.floor(data.length / size);
  if (n === 0) return acc;
  if (data.byteOffset % size !== 0) {
    // typed views need alignment: work on an aligned copy
    const copy = new Uint8Array(n * size); // not data.slice: on a Buffer that is a view
    copy.set(data.subarray(0, n * size));
    roundChunk(copy, dtype, k, acc);
    data.set(copy);
    return acc;
  }
  if (dtype === 'BF16' || dtype === 'F16') round16(new Uint16Array(data.buffer, data.byteOffset, n), dtype, k, acc);
  else if (dtype === 'F32') round32(new Uint32Array(data.buffer, data.byteOffset, n), k, acc);
  else round64(new BigUint64Array(data.buffer, data.byteOffset, n), k, acc);
  return acc;
}
