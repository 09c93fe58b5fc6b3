/**
 * The inspector's pooling kernel for types whose 16-bit histogram key is the value itself (BF16,
 * F16, FP8): one pass over the raw keys of a row segment, values looked up in a table, no
 * conversion pass. Per cell it adds the sum, sum of squares, max |x|, finite and non-finite
 * counts; per column the sum of squares; per key the histogram count. Sums run in float64 in
 * element order, so they equal those of a plain loop over the converted values.
 */
import { keyValue, type KeyKind } from './values';

export interface CellSums {
  sum: Float64Array;
  sq: Float64Array;
  mx: Float64Array;
  fin: Float64Array;
  nan: Float64Array;
  pinf: Float64Array;
  ninf: Float64Array;
}

export interface KeyTables {
  /** the value of each key (NaN and infinities included) */
  value: Float64Array;
  /** the value of each finite key, 0 for the others (float32 holds every such value exactly) */
  finite: Float32Array;
  /** 1 for keys of NaN and infinities */
  nonFinite: Uint8Array;
  /**
   * ((key & mask) + inc) >>> shift is 1 for exactly the keys of NaN and infinities, else 0 (no branch:
   * a data-dependent branch per element costs more than the rest of the loop)
   */
  mask: number;
  inc: number;
  shift: number;
}

/** Bits that make a key NaN or infinite (all exponent ones; E4M3FN: only S.1111.111 is NaN), and the top bit. */
const NON_FINITE: Record<KeyKind, [number, number]> = {
  bf16: [0x7f80, 15],
  f16: [0x7c00, 15],
  f8e5m2: [0x7c, 7],
  f8e4m3: [0x7f, 7],
};

const tables = new Map<KeyKind, KeyTables>();

/** Value tables of a key kind (65536 entries; FP8 keys use the first 256), built once. */
export function keyTables(kind: KeyKind): KeyTables {
  let t = tables.get(kind);
  if (!t) {
    const n = kind === 'f8e4m3' || kind === 'f8e5m2' ? 256 : 65536;
    const value = new Float64Array(65536),
      finite = new Float32Array(65536),
      nonFinite = new Uint8Array(65536);
    for (let k = 0; k < n; k++) {
      const v = keyValue(kind, k);
      value[k] = v;
      if (Number.isFinite(v)) finite[k] = v;
      else nonFinite[k] = 1;
    }
    const [mask, shift] = NON_FINITE[kind];
    const inc = (1 << shift) - mask;
    for (let k = 0; k < n; k++)
      if (((k & mask) + inc) >>> shift !== nonFinite[k]) throw new Error(`non-finite mask of ${kind} at key ${k}`);
    t = { value, finite, nonFinite, mask, inc, shift };
    tables.set(kind, t);
  }
  return t;
}

/**
 * Window columns [c, cEnd) of one row, whose keys are keys[i ..], into the cells base + b (b: the
 * column bin, floor(col * gc / wc)). Returns the row segment's sum of squares of finite values. `hist`
 * counts in 32 bits: the caller moves them to wider counts before 2^32 elements.
 */
export function poolKeyRow(
  t: KeyTables,
  keys: Uint16Array,
  i: number,
  c: number,
  cEnd: number,
  gc: number,
  wc: number,
  base: number,
  cells: CellSums,
  hist: Uint32Array,
  colSq: Float64Array | undefined,
): number {
  const fv = t.finite,
    nfv = t.nonFinite,
    mask = t.mask,
    inc = t.inc,
    shift = t.shift;
  let rowQ = 0;
  while (c < cEnd) {
    const b = Math.floor((c * gc) / wc);
    const bEnd = Math.min(cEnd, Math.ceil(((b + 1) * wc) / gc));
    const i0 = i,
      n = bEnd - c;
    let s = 0,
      q = 0,
      a = 0,
      nf = 0;
    if (colSq) {
      for (; c < bEnd; c++, i++) {
        const u = keys[i]!;
        hist[u]!++;
        const x = fv[u]!;
        s += x;
        const x2 = x * x;
        q += x2;
        colSq[c]! += x2;
        a = Math.max(a, Math.abs(x));
        nf += ((u & mask) + inc) >>> shift;
      }
    } else {
      for (; c < bEnd; c++, i++) {
        const u = keys[i]!;
        hist[u]!++;
        const x = fv[u]!;
        s += x;
        q += x * x;
        a = Math.max(a, Math.abs(x));
        nf += ((u & mask) + inc) >>> shift;
      }
    }
    const cell = base + b;
    cells.sum[cell]! += s;
    cells.sq[cell]! += q;
    if (a > cells.mx[cell]!) cells.mx[cell] = a;
    cells.fin[cell]! += n - nf;
    if (nf) {
      let nan = 0,
        pinf = 0,
        ninf = 0;
      for (let k = i0; k < i0 + n; k++) {
        const u = keys[k]!;
        if (!nfv[u]) continue;
        const v = t.value[u]!;
        if (v !== v) nan++;
        else if (v > 0) pinf++;
        else ninf++;
      }
      cells.nan[cell]! += nan;
      cells.pinf[cell]! += pinf;
      cells.ninf[cell]! += ninf;
    }
    rowQ += q;
  }
  return rowQ;
}
