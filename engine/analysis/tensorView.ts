/**
 * Pooled view of one tensor for the inspector: the tensor as a matrix (rows = one chosen axis,
 * columns = the other axes flattened in order; 1-D: one row), a window of it reduced to at most
 * gridRows x gridCols cells with mean, max |x| and std per cell, NaN/Inf counts per cell, row and
 * column L2 norms, a value histogram and summary statistics of the window. One streaming pass over
 * the window's bytes (TensorSource.readBytes), so memory is bounded by the grid, not the tensor.
 *
 * Cell (gi, gj) of a window of wr x wc holds the rows r with floor(r * gr / wr) = gi and the
 * columns c with floor(c * gc / wc) = gj (r, c relative to the window).
 */
import { TzError, throwIfAborted } from '../core/errors';
import type { TensorSource } from '../container/tensorReader';
import { keyTables, poolKeyRow, type CellSums, type KeyTables } from './poolKernel';
import { createWasmPool, type WasmPool } from './poolWasm';
import { converterFor, keyExponentZero, keyValue, type Converted, type Converter, type KeyKind } from './values';
import type { SampledRows, ValueHistogram, ValueStats, ViewWindow } from './viewTypes';
export type { PoolMode, SampledRows, ValueHistogram, ValueStats, ViewWindow } from './viewTypes';

export interface ViewParams {
  /** axis of the row-major shape that becomes the rows (default 0; ignored for 0-D and 1-D) */
  rowAxis?: number;
  /** default: the whole matrix */
  window?: ViewWindow;
  gridRows: number;
  gridCols: number;
  /** equal-width value histogram bins of types without exact keys (at most; default 256) */
  histogramBins?: number;
  /** first values of the window returned as a small table (default 8 x 16) */
  firstRows?: number;
  firstCols?: number;
  /**
   * A preview: when the window holds more elements than this, pool only runs of whole rows (at most
   * about this many elements, one run per grid row, fewer grid rows when the source decodes in
   * larger pieces) and say so in `sampled`. Default: every element.
   */
  sampleElements?: number;
}

export interface LineNorms {
  /** root mean square of the per-line L2 norms in each bin */
  rms: Float64Array;
  /** smallest and largest per-line L2 norm in each bin (absent when the lines are too many to keep) */
  min?: Float64Array;
  max?: Float64Array;
}

export interface PooledView {
  name: string;
  dtype: string;
  /** row-major shape */
  shape: number[];
  /** -1 for 0-D and 1-D tensors (one row) */
  rowAxis: number;
  rows: number;
  cols: number;
  window: ViewWindow;
  gridRows: number;
  gridCols: number;
  /** per cell, row-major gridRows x gridCols; NaN for a cell without finite values */
  mean: Float64Array;
  maxAbs: Float64Array;
  std: Float64Array;
  /** elements per cell, and the non-finite ones among them */
  count: Float64Array;
  nans: Float64Array;
  posInfs: Float64Array;
  negInfs: Float64Array;
  rowNorms: LineNorms;
  colNorms: LineNorms;
  histogram: ValueHistogram;
  stats: ValueStats;
  first: { rows: number; cols: number; values: number[] };
  dequantized: boolean;
  /**
   * a preview from a sample of rows: cells, row norms, histogram and statistics are those of the
   * sampled rows; column norms are scaled to the whole window's rows (an estimate)
   */
  sampled?: SampledRows;
}

/** Lines (rows or columns of the window) up to which exact per-line norms are kept. */
const MAX_LINES = 1 << 23;
const MAX_GRID = 4096;

export interface MatrixShape {
  rowAxis: number;
  rows: number;
  cols: number;
  /** linear index L = (o * rows + r) * inner + j, column = o * inner + j */
  inner: number;
  outer: number;
}

export function matrixOf(shape: number[], rowAxis = 0): MatrixShape {
  const n = shape.reduce((a, b) => a * b, 1);
  if (shape.length <= 1) return { rowAxis: -1, rows: 1, cols: n, inner: n, outer: 1 };
  if (!Number.isInteger(rowAxis) || rowAxis < 0 || rowAxis >= shape.length)
    throw new TzError('USAGE', undefined, `row axis ${rowAxis} is not an axis of shape [${shape.join(', ')}]`);
  const inner = shape.slice(rowAxis + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, rowAxis).reduce((a, b) => a * b, 1);
  return { rowAxis, rows: shape[rowAxis]!, cols: outer * inner, inner, outer };
}

export interface PoolOptions {
  signal?: AbortSignal;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

export async function poolTensor(
  src: TensorSource,
  name: string,
  p: ViewParams,
  opts: PoolOptions = {},
): Promise<PooledView> {
  const t = src.tensor(name);
  const shape = t.rowMajorShape;
  if (!Number.isFinite(t.elements)) throw new TzError('BAD_INPUT', src.path, `tensor "${name}" has no valid shape`);
  const conv = converterFor(t.dtype);
  if (!conv)
    throw new TzError(
      'UNSUPPORTED',
      src.path,
      `tensor "${name}": values of dtype ${t.dtype} are unknown to TensorZip (shown as bytes only)`,
    );
  const m = matrixOf(shape, p.rowAxis ?? 0);
  const w = p.window ?? { row0: 0, row1: m.rows, col0: 0, col1: m.cols };
  if (
    ![w.row0, w.row1, w.col0, w.col1].every(Number.isSafeInteger) ||
    w.row0 < 0 ||
    w.col0 < 0 ||
    w.row1 > m.rows ||
    w.col1 > m.cols ||
    w.row1 <= w.row0 ||
    w.col1 <= w.col0
  ) {
    if (t.elements === 0) throw new TzError('USAGE', src.path, `tensor "${name}" is empty`);
    throw new TzError(
      'USAGE',
      src.path,
      `tensor "${name}": window rows ${w.row0}..${w.row1}, columns ${w.col0}..${w.col1} is outside its ` +
        `${m.rows} x ${m.cols} matrix`,
    );
  }
  const wr = w.row1 - w.row0,
    wc = w.col1 - w.col0;
  let gr = Math.max(1, Math.min(MAX_GRID, Math.floor(p.gridRows), wr));
  const gc = Math.max(1, Math.min(MAX_GRID, Math.floor(p.gridCols), wc));
  const fr = Math.min(p.firstRows ?? 8, wr);
  // row runs to read (absolute rows): the whole window, or a sample of it
  let runs: Array<[number, number]> = [[w.row0, w.row1]];
  if (p.sampleElements !== undefined && wr > 1 && wr * wc > p.sampleElements) {
    // rows per piece the source decodes at once (a .tzip chunk), so a sample does not decode chunks it mostly skips
    const granule = src.readGranule?.(name) ?? 0;
    const rowBytes = (m.inner * conv.unitBytes) / conv.unitElements;
    const s = sampleRuns(w.row0, w.row1, gr, Math.floor(p.sampleElements / wc), granule / rowBytes, fr);
    runs = s.runs;
    gr = s.gridRows;
  }
  const sampled = runs.length !== 1 || runs[0]![0] !== w.row0 || runs[0]![1] !== w.row1;
  const acc = new Accumulator(conv, w, gr, gc, fr, p.firstCols ?? 16, sampled ? runs : undefined);

  // element spans to read: per outer index o, the window rows; per row when the window is a
  // narrow slice of a long row (reading the whole span would read mostly unused columns)
  const spans: Array<[number, number]> = [];
  const oFirst = Math.floor(w.col0 / m.inner),
    oLast = Math.ceil(w.col1 / m.inner);
  for (let o = oFirst; o < oLast; o++) {
    const j0 = Math.max(0, w.col0 - o * m.inner),
      j1 = Math.min(m.inner, w.col1 - o * m.inner);
    const rowStart = (r: number) => (o * m.rows + r) * m.inner;
    for (const [ra, rb] of runs) {
      if ((j1 - j0) * 2 < m.inner && rb - ra > 1)
        for (let r = ra; r < rb; r++) spans.push([rowStart(r) + j0, rowStart(r) + j1]);
      else spans.push([rowStart(ra) + j0, rowStart(rb - 1) + j1]);
    }
  }
  const unitE = conv.unitElements;
  let totalBytes = 0;
  for (const [a, b] of spans) totalBytes += (Math.ceil(b / unitE) - Math.floor(a / unitE)) * conv.unitBytes;
  let doneBytes = 0;
  for (const [e0, e1] of spans) {
    throwIfAborted(opts.signal, src.path);
    const u0 = Math.floor(e0 / unitE),
      u1 = Math.ceil(e1 / unitE);
    const carry = new Uint8Array(conv.unitBytes);
    let carried = 0;
    let unitPos = u0; // first unit of the next converted piece
    const feed = (bytes: Uint8Array) => {
      const whole = bytes.length - (bytes.length % conv.unitBytes);
      if (whole === 0) return;
      const c = conv.keys16 ? conv.keys16(bytes.subarray(0, whole)) : conv.convert(bytes.subarray(0, whole));
      const first = unitPos * unitE;
      const n = (whole / conv.unitBytes) * unitE;
      // only the elements inside [e0, e1) (block types are read in whole blocks)
      const from = Math.max(0, e0 - first),
        to = Math.min(n, e1 - first);
      if (to > from) acc.add(c, first + from, from, to - from, m);
      unitPos += whole / conv.unitBytes;
    };
    await src.readBytes(
      name,
      u0 * conv.unitBytes,
      (u1 - u0) * conv.unitBytes,
      (piece) => {
        let pc = piece;
        if (carried) {
          const need = Math.min(conv.unitBytes - carried, pc.length);
          carry.set(pc.subarray(0, need), carried);
          carried += need;
          pc = pc.subarray(need);
          if (carried < conv.unitBytes) return;
          feed(carry);
          carried = 0;
        }
        feed(pc);
        const rest = pc.length % conv.unitBytes;
        if (rest) {
          carry.set(pc.subarray(pc.length - rest));
          carried = rest;
        }
      },
      { ...(opts.signal ? { signal: opts.signal } : {}), onBytes: (d) => opts.onProgress?.(doneBytes + d, totalBytes) },
    );
    doneBytes += (u1 - u0) * conv.unitBytes;
  }
  return acc.result(t.name, t.dtype, shape, m, p.histogramBins ?? 256);
}

/**
 * Row runs of a sample of window rows [row0, row1) with about `budgetRows` rows: one run per grid
 * row (`gridRows` of them, fewer when runs of `granuleRows` rows, the rows a source decodes
 * together, do not fit the budget), each inside its grid row's rows and aligned to granules; the
 * first starts at row0 and holds at least `firstRows` rows (the first values are exact).
 */
export function sampleRuns(
  row0: number,
  row1: number,
  gridRows: number,
  budgetRows: number,
  granuleRows: number,
  firstRows: number,
): { runs: Array<[number, number]>; gridRows: number } {
  const wr = row1 - row0;
  const budget = Math.max(1, Math.floor(budgetRows));
  if (budget >= wr) return { runs: [[row0, row1]], gridRows };
  const unit = Math.max(1, Math.min(budget, Math.floor(granuleRows) || 1));
  const gr = Math.max(1, Math.min(gridRows, wr, Math.floor(budget / unit)));
  const per = Math.max(unit, Math.floor(budget / gr / unit) * unit);
  const runs: Array<[number, number]> = [];
  for (let g = 0; g < gr; g++) {
    const c0 = row0 + Math.ceil((g * wr) / gr),
      c1 = row0 + Math.ceil(((g + 1) * wr) / gr);
    let len = Math.min(per, c1 - c0);
    let a: number;
    if (g === 0) {
      len = Math.min(c1 - c0, Math.max(len, firstRows));
      a = c0;
    } else {
      const centre = Math.floor((c0 + c1 - len) / 2);
      a = Math.floor(centre / unit) * unit;
      a = Math.max(c0, Math.min(c1 - len, a));
    }
    if (len > 0) runs.push([a, a + len]);
  }
  return { runs, gridRows: gr };
}

class Accumulator {
  readonly sum: Float64Array;
  readonly sq: Float64Array;
  readonly mx: Float64Array;
  readonly fin: Float64Array;
  readonly nan: Float64Array;
  readonly pinf: Float64Array;
  readonly ninf: Float64Array;
  readonly rowSq: Float64Array | undefined;
  readonly colSq: Float64Array | undefined;
  readonly hist = new Float64Array(65536);
  min = Infinity;
  max = -Infinity;
  zeros = 0;
  readonly first: number[];
  readonly wr: number;
  readonly wc: number;
  private tables: KeyTables | undefined;
  /** the kernel's 32-bit histogram, moved into `hist` before it could overflow */
  private hist32: Uint32Array | undefined;
  private hist32Count = 0;
  /** min, max and zeros come from the (exact-key) histogram */
  private fromHist = false;
  /** exact keys pooled in WebAssembly (poolWasm.ts): the cell sums, histogram and column sums live there */
  private readonly wasm: WasmPool | undefined;

  constructor(
    readonly conv: Converter,
    readonly w: ViewWindow,
    readonly gr: number,
    readonly gc: number,
    readonly fr: number,
    readonly fc: number,
    /** sampled row runs (absolute rows); undefined: every row of the window */
    readonly runs?: Array<[number, number]>,
  ) {
    const cells = gr * gc;
    this.wr = w.row1 - w.row0;
    this.wc = w.col1 - w.col0;
    const withColumns = this.wc <= MAX_LINES;
    // keys of a read piece go through the kernel's buffer; a small window needs a small one
    const keys = Math.max(1 << 16, this.wr * this.wc);
    this.wasm = conv.keys16 ? createWasmPool(conv.keyKind, cells, this.wc, withColumns, keys) : undefined;
    const js = (): CellSums => ({
      sum: new Float64Array(cells),
      sq: new Float64Array(cells),
      mx: new Float64Array(cells),
      fin: new Float64Array(cells),
      nan: new Float64Array(cells),
      pinf: new Float64Array(cells),
      ninf: new Float64Array(cells),
    });
    const sums = this.wasm?.cells ?? js();
    this.sum = sums.sum;
    this.sq = sums.sq;
    this.mx = sums.mx;
    this.fin = sums.fin;
    this.nan = sums.nan;
    this.pinf = sums.pinf;
    this.ninf = sums.ninf;
    this.hist32 = this.wasm?.hist;
    this.rowSq = this.wr <= MAX_LINES ? new Float64Array(this.wr) : undefined;
    this.colSq = withColumns ? (this.wasm?.colSq ?? new Float64Array(this.wc)) : undefined;
    this.fr = Math.min(fr, this.wr);
    this.fc = Math.min(fc, this.wc);
    this.first = new Array<number>(this.fr * this.fc).fill(NaN);
  }

  /**
   * Values c.values[vi .. vi + n) (or the exact keys c[vi .. vi + n), see Converter.keys16) are the
   * tensor's elements lin, lin + 1, ...
   */
  add(c: Converted | Uint16Array, lin: number, vi: number, n: number, m: MatrixShape): void {
    const wasm = this.wasm;
    if (!wasm || !(c instanceof Uint16Array)) return this.walk(c, lin, vi, n, m);
    const step = wasm.keys.length;
    for (let off = 0; off < n; off += step) {
      const len = Math.min(step, n - off);
      wasm.keys.set(c.subarray(vi + off, vi + off + len));
      this.walk(wasm.keys, lin + off, 0, len, m);
    }
  }

  /** add() over values or keys the pooling loop can read where they are */
  private walk(c: Converted | Uint16Array, lin: number, vi: number, n: number, m: MatrixShape): void {
    const w = this.w;
    const end = lin + n;
    while (lin < end) {
      const o = Math.floor(lin / (m.rows * m.inner));
      const rem = lin - o * m.rows * m.inner;
      const r = Math.floor(rem / m.inner);
      const j = rem - r * m.inner;
      const segLen = Math.min(end - lin, m.inner - j);
      const col = o * m.inner + j;
      if (r >= w.row0 && r < w.row1) {
        const cs = Math.max(col, w.col0),
          ce = Math.min(col + segLen, w.col1);
        if (ce > cs) {
          if (c instanceof Uint16Array) this.keySegment(c, vi + (cs - col), r - w.row0, cs - w.col0, ce - w.col0);
          else
            this.segment(
              c.values,
              c.keys,
              c.keyStride,
              c.keyOffset,
              vi + (cs - col),
              r - w.row0,
              cs - w.col0,
              ce - w.col0,
            );
        }
      }
      lin += segLen;
      vi += segLen;
    }
  }

  /** Row rr of the window, its columns [c, cEnd), exact keys from keys[i] (poolKernel.ts). */
  private keySegment(keys: Uint16Array, i: number, rr: number, c: number, cEnd: number): void {
    const t = (this.tables ??= keyTables(this.conv.keyKind));
    if (rr < this.fr && c < this.fc)
      for (let cc = c; cc < Math.min(cEnd, this.fc); cc++) this.first[rr * this.fc + cc] = t.value[keys[i + cc - c]!]!;
    const base = Math.floor((rr * this.gr) / this.wr) * this.gc;
    const h32 = (this.hist32 ??= new Uint32Array(65536));
    if (this.hist32Count + (cEnd - c) >= 2 ** 32) this.flushHist();
    this.hist32Count += cEnd - c;
    const q = this.wasm
      ? this.wasm.row(i, c, cEnd, this.gc, this.wc, base, this.colSq !== undefined)
      : poolKeyRow(t, keys, i, c, cEnd, this.gc, this.wc, base, this, h32, this.colSq);
    if (this.rowSq) this.rowSq[rr]! += q;
    this.fromHist = true;
  }

  private flushHist(): void {
    const h32 = this.hist32;
    if (!h32) return;
    for (let k = 0; k < 65536; k++) this.hist[k]! += h32[k]!;
    h32.fill(0);
    this.hist32Count = 0;
  }

  /** Row rr of the window, its columns [c, cEnd), values from vals[i]. */
  private segment(
    vals: Float32Array | Float64Array,
    keys: Uint8Array | Uint16Array,
    ks: number,
    ko: number,
    i: number,
    rr: number,
    c: number,
    cEnd: number,
  ): void {
    const gr = this.gr,
      gc = this.gc,
      wr = this.wr,
      wc = this.wc;
    const base = Math.floor((rr * gr) / wr) * gc;
    const hist = this.hist;
    for (let k = i, kk = i * ks + ko, e = i + (cEnd - c); k < e; k++, kk += ks) hist[keys[kk]!]!++;
    if (rr < this.fr && c < this.fc)
      for (let cc = c; cc < Math.min(cEnd, this.fc); cc++) this.first[rr * this.fc + cc] = vals[i + cc - c]!;
    const colSq = this.colSq;
    let mn = this.min,
      mxv = this.max,
      zeros = 0,
      rowQ = 0;
    while (c < cEnd) {
      const b = Math.floor((c * gc) / wc);
      const bEnd = Math.min(cEnd, Math.ceil(((b + 1) * wc) / gc));
      let s = 0,
        q = 0,
        a = 0,
        f = 0,
        nan = 0,
        pinf = 0,
        ninf = 0;
      for (; c < bEnd; c++, i++) {
        const x = vals[i]!;
        if (x - x === 0) {
          s += x;
          const x2 = x * x;
          q += x2;
          if (colSq) colSq[c]! += x2;
          const ax = x < 0 ? -x : x;
          if (ax > a) a = ax;
          if (x < mn) mn = x;
          if (x > mxv) mxv = x;
          if (x === 0) zeros++;
          f++;
        } else if (x !== x) nan++;
        else if (x > 0) pinf++;
        else ninf++;
      }
      const cell = base + b;
      this.sum[cell]! += s;
      this.sq[cell]! += q;
      if (a > this.mx[cell]!) this.mx[cell] = a;
      this.fin[cell]! += f;
      if (nan) this.nan[cell]! += nan;
      if (pinf) this.pinf[cell]! += pinf;
      if (ninf) this.ninf[cell]! += ninf;
      rowQ += q;
    }
    if (this.rowSq) this.rowSq[rr]! += rowQ;
    this.min = mn;
    this.max = mxv;
    this.zeros += zeros;
  }

  result(name: string, dtype: string, shape: number[], m: MatrixShape, maxBins: number): PooledView {
    this.flushHist();
    const { gr, gc } = this;
    const cells = gr * gc;
    const mean = new Float64Array(cells),
      std = new Float64Array(cells),
      count = new Float64Array(cells),
      maxAbs = new Float64Array(cells);
    let tf = 0,
      ts = 0,
      tq = 0,
      tnan = 0,
      tp = 0,
      tn = 0;
    for (let k = 0; k < cells; k++) {
      const f = this.fin[k]!;
      count[k] = f + this.nan[k]! + this.pinf[k]! + this.ninf[k]!;
      if (f > 0) {
        const mu = this.sum[k]! / f;
        mean[k] = mu;
        std[k] = Math.sqrt(Math.max(0, this.sq[k]! / f - mu * mu));
        maxAbs[k] = this.mx[k]!;
      } else {
        mean[k] = NaN;
        std[k] = NaN;
        maxAbs[k] = NaN;
      }
      tf += f;
      ts += this.sum[k]!;
      tq += this.sq[k]!;
      tnan += this.nan[k]!;
      tp += this.pinf[k]!;
      tn += this.ninf[k]!;
    }
    // row strips: bins of rows; each row's L2 norm is over the window's columns
    // a sample: row strips over the sampled rows only; column norms scaled to every row of the window
    const runs = this.runs?.map(([a, b]): [number, number] => [a - this.w.row0, b - this.w.row0]);
    const seenRows = runs ? runs.reduce((n, [a, b]) => n + b - a, 0) : this.wr;
    const colScale = this.wr / Math.max(1, seenRows);
    const rowNorms = lineNorms(
      this.rowSq,
      this.wr,
      gr,
      (b) => {
        let q = 0;
        for (let j = 0; j < gc; j++) q += this.sq[b * gc + j]!;
        return q;
      },
      1,
      runs,
    );
    const colNorms = lineNorms(
      this.colSq,
      this.wc,
      gc,
      (b) => {
        let q = 0;
        for (let i = 0; i < gr; i++) q += this.sq[i * gc + b]!;
        return q;
      },
      colScale,
    );
    const kind = this.conv.keyKind;
    let distinct = 0,
      expZero = 0;
    for (let k = 0; k < 65536; k++) {
      const c = this.hist[k]!;
      if (!c) continue;
      distinct++;
      if (keyExponentZero(kind, k)) expZero += c;
    }
    if (this.fromHist) {
      // exact keys: the smallest and largest finite value and the zeros are those of the histogram
      const t = (this.tables ??= keyTables(kind));
      let mn = Infinity,
        mxv = -Infinity,
        zeros = 0;
      for (let k = 0; k < 65536; k++) {
        const c = this.hist[k]!;
        if (!c || t.nonFinite[k]) continue;
        const v = t.value[k]!;
        if (v < mn) mn = v;
        if (v > mxv) mxv = v;
        if (v === 0) zeros += c;
      }
      this.min = mn;
      this.max = mxv;
      this.zeros = zeros;
    }
    // exponent-zero keys are zeros or subnormals (bf16 keys of wider types: at bfloat16 resolution)
    const sub = Math.max(0, expZero - this.zeros);
    const meanAll = tf > 0 ? ts / tf : null;
    const stats: ValueStats = {
      count: tf + tnan + tp + tn,
      finite: tf,
      min: tf > 0 ? this.min : null,
      max: tf > 0 ? this.max : null,
      mean: meanAll,
      std: meanAll !== null ? Math.sqrt(Math.max(0, tq / tf - meanAll * meanAll)) : null,
      zeros: this.zeros,
      subnormals: sub,
      nans: tnan,
      posInfs: tp,
      negInfs: tn,
      distinct,
    };
    return {
      name,
      dtype,
      shape,
      rowAxis: m.rowAxis,
      rows: m.rows,
      cols: m.cols,
      window: this.w,
      gridRows: gr,
      gridCols: gc,
      mean,
      maxAbs,
      std,
      count,
      nans: this.nan,
      posInfs: this.pinf,
      negInfs: this.ninf,
      rowNorms,
      colNorms,
      histogram: valueHistogram(this.hist, kind, this.conv.exactKeys, stats, maxBins),
      stats,
      first: { rows: this.fr, cols: this.fc, values: this.first },
      dequantized: this.conv.dequantized,
      ...(this.runs
        ? {
            sampled: {
              rows: seenRows,
              ofRows: this.wr,
              elements: stats.count,
              ofElements: this.wr * this.wc,
            },
          }
        : {}),
    };
  }
}

/**
 * Per-bin norms of `lines` lines in `bins` bins (line l in bin floor(l * bins / lines)); squares are
 * multiplied by `scale`; with `runs` (line runs [a, b)) only those lines were read.
 */
function lineNorms(
  lineSq: Float64Array | undefined,
  lines: number,
  bins: number,
  binSq: (b: number) => number,
  scale = 1,
  runs?: Array<[number, number]>,
): LineNorms {
  const rms = new Float64Array(bins);
  const seen = new Float64Array(bins);
  if (runs) {
    for (const [a, b] of runs) for (let l = a; l < b; l++) seen[Math.floor((l * bins) / lines)]!++;
  } else for (let b = 0; b < bins; b++) seen[b] = Math.ceil(((b + 1) * lines) / bins) - Math.ceil((b * lines) / bins);
  for (let b = 0; b < bins; b++) rms[b] = Math.sqrt((binSq(b) * scale) / Math.max(1, seen[b]!));
  if (!lineSq) return { rms };
  const min = new Float64Array(bins).fill(Infinity),
    max = new Float64Array(bins);
  const one = (l: number) => {
    const b = Math.floor((l * bins) / lines);
    const v = Math.sqrt(lineSq[l]! * scale);
    if (v < min[b]!) min[b] = v;
    if (v > max[b]!) max[b] = v;
  };
  if (runs) for (const [a, b] of runs) for (let l = a; l < b; l++) one(l);
  else for (let l = 0; l < lines; l++) one(l);
  return { rms, min, max };
}

/**
 * Histogram of the finite values: one bin per distinct value when the keys are exact (8- and 16-bit
 * floats: at most 65536 bins, whatever maxBins says); otherwise maxBins equal-width bins over
 * [min, max], each key's count put in the bin of the value it stands for.
 */
function valueHistogram(
  hist: Float64Array,
  kind: KeyKind,
  exact: boolean,
  st: ValueStats,
  maxBins: number,
): ValueHistogram {
  const pairs: Array<[number, number]> = [];
  for (let k = 0; k < hist.length; k++) {
    const c = hist[k]!;
    if (!c) continue;
    const v = keyValue(kind, k);
    if (Number.isFinite(v)) pairs.push([v, c]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  // merge +0 and -0 (and bf16 keys of wider types that stand for the same value)
  const merged: Array<[number, number]> = [];
  for (const [v, c] of pairs) {
    const last = merged[merged.length - 1];
    if (last && last[0] === v) last[1] += c;
    else merged.push([v, c]);
  }
  if (exact) {
    return { edges: merged.map((p) => p[0]), counts: merged.map((p) => p[1]), exact: true };
  }
  const lo = st.min ?? 0,
    hi = st.max ?? 0;
  const bins = Math.max(1, Math.min(maxBins, merged.length));
  const width = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const [v, c] of merged) {
    const b = width > 0 ? Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width))) : 0;
    counts[b]! += c;
  }
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * width);
  return { edges, counts, exact: false };
}
