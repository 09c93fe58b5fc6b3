/**
 * Streaming per-tensor statistics. The hot loop is one histogram increment per 16-bit lane:
 * for BF16/F16 a 65536-bin histogram of the raw values determines every figure exactly
 * (exponent/sign/mantissa entropies, byte planes, min/max/mean/std, zeros, NaN, distinct
 * values), so the scan runs at memory speed. F32/F64 also keep 16-bit lane histograms (which
 * give the byte planes) plus a float loop for the value statistics.
 */
import { dtypeInfo } from '../core/dtypes';
import { bf16Value, f16Value, f8Value } from '../core/floats';
import { layoutFor } from '../codec/layout';
import { transformTop16 } from '../codec/planes';
import { entropyPerSymbol, order0Bits } from '../codec/entropy';

/** Raw accumulators for one tensor; `add` takes element-aligned chunks (a trailing partial element is counted as bytes
 * only). */
export class TensorStats {
  readonly dtype: string;
  readonly size: number;
  readonly kind: 'f16like' | 'f32' | 'f64' | 'f8' | 'bytes';
  /** 16-bit lane histograms (f16like: 1, f32: 2, f64: 4) or byte-plane histograms (bytes: size planes of 256; f8: 1) */
  readonly lanes: Float64Array[];
  private scratch: Uint32Array;
  elements = 0;
  bytes = 0;
  // value statistics for f32/f64 (16-bit and 8-bit floats derive them from the histogram)
  sum = 0;
  sumSq = 0;
  min = Infinity;
  max = -Infinity;
  zeros = 0;
  subnormals = 0;
  nans = 0;
  infs = 0;
  mantOr = 0;
  mantOrHi = 0;
  /** bytes not part of a whole element (malformed tails, opaque types) */
  tailHist = new Float64Array(256);

  constructor(dtype: string) {
    this.dtype = dtype;
    const info = dtypeInfo(dtype);
    this.size = info.size;
    if (info.float && info.size === 2) this.kind = 'f16like';
    else if (info.float && info.size === 4) this.kind = 'f32';
    else if (info.float && info.size === 8) this.kind = 'f64';
    else if (info.float && info.size === 1) this.kind = 'f8';
    else this.kind = 'bytes';
    const lanes = this.kind === 'f16like' ? 1 : this.kind === 'f32' ? 2 : this.kind === 'f64' ? 4 : 0;
    if (lanes) {
      this.lanes = Array.from({ length: lanes }, () => new Float64Array(65536));
      this.scratch = new Uint32Array(65536);
    } else {
      const planes = this.kind === 'f8' ? 1 : Math.max(1, this.size);
      this.lanes = Array.from({ length: planes }, () => new Float64Array(256));
      this.scratch = new Uint32Array(256 * planes);
    }
  }

  /** Adds a chunk; `chunk.byteOffset` need not be aligned (it is copied if needed). */
  add(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    const size = this.size || 1;
    const whole = chunk.length - (chunk.length % size);
    for (let i = whole; i < chunk.length; i++) this.tailHist[chunk[i]!]! += 1;
    if (whole === 0) return;
    let data = chunk.subarray(0, whole);
    if (data.byteOffset % 8 !== 0) data = data.slice();
    const n = whole / size;
    this.elements += this.size ? n : 0;
    switch (this.kind) {
      case 'f16like':
        return this.addLanes16(data, 1);
      case 'f32':
        this.addLanes16(data, 2);
        return this.addF32(data, n);
      case 'f64':
        this.addLanes16(data, 4);
        return this.addF64(data, n);
      default:
        return this.addBytes(data);
    }
  }

  private addLanes16(data: Uint8Array, lanes: number): void {
    const u16 = new Uint16Array(data.buffer, data.byteOffset, data.length >> 1);
    const h = this.scratch;
    for (let l = 0; l < lanes; l++) {
      h.fill(0);
      if (lanes === 1) {
        for (let i = 0; i < u16.length; i++) h[u16[i]!]!++;
      } else {
        for (let i = l; i < u16.length; i += lanes) h[u16[i]!]!++;
      }
      const acc = this.lanes[l]!;
      for (let i = 0; i < 65536; i++) acc[i]! += h[i]!;
    }
  }

  private addF32(data: Uint8Array, n: number): void {
    const f = new Float32Array(data.buffer, data.byteOffset, n);
    const u = new Uint32Array(data.buffer, data.byteOffset, n);
    let s = 0,
      ss = 0,
      mn = this.min,
      mx = this.max,
      zeros = 0,
      sub = 0,
      nans = 0,
      infs = 0,
      or = 0;
    for (let i = 0; i < n; i++) {
      const x = u[i]!;
      const e = (x >>> 23) & 0xff;
      or |= x;
      if (e === 0xff) {
        if (x & 0x7fffff) nans++;
        else infs++;
        continue;
      }
      const v = f[i]!;
      if (e === 0) {
        if ((x & 0x7fffff) === 0) zeros++;
        else sub++;
      }
      s += v;
      ss += v * v;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    this.sum += s;
    this.sumSq += ss;
    this.min = mn;
    this.max = mx;
    this.zeros += zeros;
    this.subnormals += sub;
    this.nans += nans;
    this.infs += infs;
    this.mantOr |= or & 0x7fffff;
  }

  private addF64(data: Uint8Array, n: number): void {
    const f = new Float64Array(data.buffer, data.byteOffset, n);
    const u = new Uint32Array(data.buffer, data.byteOffset, n * 2);
    let s = 0,
      ss = 0,
      mn = this.min,
      mx = this.max,
      zeros = 0,
      sub = 0,
      nans = 0,
      infs = 0,
      orLo = 0,
      orHi = 0;
    for (let i = 0; i < n; i++) {
      const lo = u[2 * i]!;
      const hi = u[2 * i + 1]!;
      const e = (hi >>> 20) & 0x7ff;
      orLo |= lo;
      orHi |= hi;
      if (e === 0x7ff) {
        if ((hi & 0xfffff) | lo) nans++;
        else infs++;
        continue;
      }
      const v = f[i]!;
      if (e === 0) {
        if (((hi & 0xfffff) | lo) === 0) zeros++;
        else sub++;
      }
      s += v;
      ss += v * v;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    this.sum += s;
    this.sumSq += ss;
    this.min = mn;
    this.max = mx;
    this.zeros += zeros;
    this.subnormals += sub;
    this.nans += nans;
    this.infs += infs;
    this.mantOr |= orLo;
    this.mantOrHi |= orHi & 0xfffff;
  }

  private addBytes(data: Uint8Array): void {
    const planes = this.lanes.length;
    const h = this.scratch;
    h.fill(0);
    if (planes === 1) {
      for (let i = 0; i < data.length; i++) h[data[i]!]!++;
    } else {
      for (let p = 0; p < planes; p++) {
        const base = p * 256;
        for (let i = p; i < data.length; i += planes) h[base + data[i]!]!++;
      }
    }
    for (let p = 0; p < planes; p++) {
      const acc = this.lanes[p]!;
      for (let i = 0; i < 256; i++) acc[i]! += h[p * 256 + i]!;
    }
  }
}

export interface StatsSummary {
  exponentEntropy: number | null;
  exponentHistogram?: number[];
  signEntropy?: number;
  mantissaEntropy?: number;
  planeEntropy: number[];
  /** order-0 bound in bits (planes + tail bytes), before scaling */
  boundBits: number;
  min?: number;
  max?: number;
  mean?: number;
  std?: number;
  zeros?: number;
  subnormals?: number;
  nans?: number;
  infs?: number;
  cleanLowBits?: number;
  distinctValues?: number;
}

const planeBits = order0Bits;

function trailingZeros(x: number, width: number): number {
  if (x === 0) return width;
  let n = 0;
  while ((x & 1) === 0 && n < width) {
    x >>>= 1;
    n++;
  }
  return n;
}

/** Turns accumulators into the figures of TensorAnalysis. */
export function summarizeStats(st: TensorStats): StatsSummary {
  const info = dtypeInfo(st.dtype);
  const tailBits = planeBits(st.tailHist);
  if (st.kind === 'bytes' || !info.float) {
    const pe = st.lanes.map((h) => entropyPerSymbol(h));
    return {
      exponentEntropy: null,
      planeEntropy: pe,
      boundBits: st.lanes.reduce((a, h) => a + planeBits(h), 0) + tailBits,
    };
  }
  const { exponentBits: eb, mantissaBits: mb } = info.float;
  const expHist = new Float64Array(1 << eb);
  const signHist = new Float64Array(2);
  const planes: Float64Array[] = [];
  const out: StatsSummary = { exponentEntropy: 0, planeEntropy: [], boundBits: 0 };
  // the byte planes are those the codec codes (its layout for this dtype)
  const { transform } = layoutFor(st.dtype);

  if (st.kind === 'f8' || st.kind === 'f16like') {
    // Every value is in one histogram: derive all figures exactly.
    const h = st.lanes[0]!;
    const bitsTotal = st.kind === 'f8' ? 8 : 16;
    const mantHist = new Float64Array(1 << mb);
    const lo = new Float64Array(256);
    const hi = new Float64Array(256);
    let n = 0,
      s = 0,
      ss = 0,
      mn = Infinity,
      mx = -Infinity,
      zeros = 0,
      sub = 0,
      nans = 0,
      infs = 0,
      or = 0,
      distinct = 0;
    const e4m3 = st.dtype === 'F8_E4M3';
    for (let v = 0; v < h.length; v++) {
      const c = h[v]!;
      if (c === 0) continue;
      distinct++;
      const sign = v >>> (bitsTotal - 1);
      const e = (v >>> mb) & ((1 << eb) - 1);
      const m = v & ((1 << mb) - 1);
      expHist[e]! += c;
      signHist[sign]! += c;
      mantHist[m]! += c;
      or |= m;
      if (bitsTotal === 16) {
        const t = transformTop16(transform, v);
        lo[t & 0xff]! += c;
        hi[t >>> 8]! += c;
      } else lo[v]! += c;
      const val = st.dtype === 'BF16' ? bf16Value(v) : st.dtype === 'F16' ? f16Value(v) : f8Value(v, e4m3);
      n += c;
      if (Number.isNaN(val)) {
        nans += c;
        continue;
      }
      if (!Number.isFinite(val)) {
        infs += c;
        continue;
      }
      if (val === 0) zeros += c;
      else if (e === 0) sub += c;
      s += c * val;
      ss += c * val * val;
      if (val < mn) mn = val;
      if (val > mx) mx = val;
    }
    planes.push(lo);
    if (bitsTotal === 16) planes.push(hi);
    const finite = n - nans - infs;
    Object.assign(out, {
      mantissaEntropy: entropyPerSymbol(mantHist),
      zeros,
      subnormals: sub,
      nans,
      infs,
      cleanLowBits: trailingZeros(or, mb),
      distinctValues: distinct,
    });
    if (finite > 0) {
      const mean = s / finite;
      Object.assign(out, { min: mn, max: mx, mean, std: Math.sqrt(Math.max(0, ss / finite - mean * mean)) });
    }
  } else {
    // F32: lanes [low16, high16]; F64: lanes [0..3], lane 3 holding sign, exponent, 4 mantissa bits.
    const top = st.lanes[st.lanes.length - 1]!;
    const topMant = 16 - 1 - eb; // mantissa bits inside the top lane (7 for F32, 4 for F64)
    const p2 = new Float64Array(256); // byte below the exponent byte after the codec's transform
    const p3 = new Float64Array(256); // exponent byte (F32) / top 8 exponent bits (F64)
    const topMantHist = new Float64Array(1 << topMant);
    for (let v = 0; v < 65536; v++) {
      const c = top[v]!;
      if (c === 0) continue;
      const sign = v >>> 15;
      const e = (v >>> topMant) & ((1 << eb) - 1);
      const m = v & ((1 << topMant) - 1);
      expHist[e]! += c;
      signHist[sign]! += c;
      topMantHist[m]! += c;
      const rot = transformTop16(transform, v);
      p3[rot >>> 8]! += c;
      p2[rot & 0xff]! += c;
    }
    for (let l = 0; l < st.lanes.length - 1; l++) {
      const h = st.lanes[l]!;
      const a = new Float64Array(256);
      const b = new Float64Array(256);
      for (let v = 0; v < 65536; v++) {
        const c = h[v]!;
        if (c === 0) continue;
        a[v & 0xff]! += c;
        b[v >>> 8]! += c;
      }
      planes.push(a, b);
    }
    planes.push(p2, p3);
    // mantissa entropy: sum of its parts' marginal entropies (an upper bound for F32/F64)
    let mantH = entropyPerSymbol(topMantHist);
    for (let l = 0; l < st.lanes.length - 1; l++) mantH += entropyPerSymbol(st.lanes[l]!);
    const finite = st.elements - st.nans - st.infs;
    const mantOr = st.kind === 'f32' ? st.mantOr : 0;
    const clean =
      st.kind === 'f32'
        ? trailingZeros(mantOr, 23)
        : st.mantOr === 0
          ? 32 + trailingZeros(st.mantOrHi, 20)
          : trailingZeros(st.mantOr, 32);
    Object.assign(out, {
      mantissaEntropy: mantH,
      zeros: st.zeros,
      subnormals: st.subnormals,
      nans: st.nans,
      infs: st.infs,
      cleanLowBits: clean,
    });
    if (finite > 0) {
      const mean = st.sum / finite;
      Object.assign(out, {
        min: st.min,
        max: st.max,
        mean,
        std: Math.sqrt(Math.max(0, st.sumSq / finite - mean * mean)),
      });
    }
  }
  out.exponentEntropy = entropyPerSymbol(expHist);
  out.exponentHistogram = Array.from(expHist);
  out.signEntropy = entropyPerSymbol(signHist);
  out.planeEntropy = planes.map((p) => entropyPerSymbol(p));
  out.boundBits = planes.reduce((a, p) => a + planeBits(p), 0) + tailBits;
  return out;
}
