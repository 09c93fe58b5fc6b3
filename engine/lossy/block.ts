/**
 * Measurement of NeuZip's block normalisation (it is not written into files; see docs/measurements.md,
 * "Lossy mode"). Each block of n values is divided by the mantissa part s in [1, 2) of its absolute
 * maximum (8 bits per block in NeuZip), rounded to k mantissa bits, and on decoding multiplied by s
 * and rounded back to the dtype. The block maximum then survives exactly; everything else gets the
 * plain rounding error plus the final rounding to the dtype.
 */
import { dtypeInfo } from '../core/dtypes';
import { values16 } from '../core/floats';
import { newAcc, type ErrorAcc } from './errorStats';
import { LOSSY_DTYPES, roundBitsF64 } from './round';

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** x rounded to k mantissa bits (RNE; computed on the F64 pattern, so no exponent-range effects). */
export function roundValue(x: number, k: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  f64[0] = x;
  u64[0] = roundBitsF64(u64[0]!, k);
  return f64[0]!;
}

/** Element values of a float chunk as doubles. */
export function valuesOf(data: Uint8Array, dtype: string): Float64Array {
  const size = dtypeInfo(dtype).size;
  const n = Math.floor(data.length / size);
  const a = new Uint8Array(n * size); // a copy (Buffer#slice would be a view into a shared pool)
  a.set(data.subarray(0, n * size));
  if (dtype === 'F32') return Float64Array.from(new Float32Array(a.buffer));
  if (dtype === 'F64') return new Float64Array(a.buffer);
  const u = new Uint16Array(a.buffer);
  const out = new Float64Array(n);
  const t = values16(dtype === 'BF16' ? 'BF16' : 'F16');
  for (let i = 0; i < n; i++) out[i] = t[u[i]!]!;
  return out;
}

/** Error of block-normalised rounding of `values` (blocks of n, k bits kept); `accPlain` gets plain rounding for
 * comparison. */
export function measureBlock(
  values: Float64Array,
  dtype: string,
  k: number,
  n: number,
  acc: ErrorAcc = newAcc(),
  accPlain?: ErrorAcc,
): ErrorAcc {
  const M = LOSSY_DTYPES[dtype]!;
  for (let b = 0; b < values.length; b += n) {
    const end = Math.min(values.length, b + n);
    let amax = 0;
    for (let i = b; i < end; i++) {
      const a = Math.abs(values[i]!);
      if (Number.isFinite(a) && a > amax) amax = a;
    }
    const s = amax > 0 ? amax / 2 ** Math.floor(Math.log2(amax)) : 1;
    for (let i = b; i < end; i++) {
      const x = values[i]!;
      acc.elements++;
      if (accPlain) accPlain.elements++;
      if (!Number.isFinite(x)) {
        acc.nonFinite++;
        if (accPlain) accPlain.nonFinite++;
        continue;
      }
      const xb = roundValue(roundValue(x / s, k) * s, M);
      add(acc, x, xb);
      if (accPlain) add(accPlain, x, roundValue(x, k));
    }
  }
  return acc;
}

function add(acc: ErrorAcc, x: number, y: number): void {
  acc.sumSqRef += x * x;
  if (y === x) return;
  const e = Math.abs(y - x);
  acc.changed++;
  acc.sumSqErr += e * e;
  if (e > acc.maxAbs) acc.maxAbs = e;
  const rel = e / Math.abs(x);
  if (rel > acc.maxRel) acc.maxRel = rel;
}
