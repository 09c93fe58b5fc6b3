/**
 * Tensor inspector logic without the DOM: wire decoding, cell <-> element ranges, zoom windows and
 * the diverging colour scale. Cell gi of a window of wr rows in gr cells holds the rows r with
 * floor(r * gr / wr) = gi (engine/analysis/tensorView.ts), i.e. r in [ceil(gi*wr/gr), ceil((gi+1)*wr/gr)).
 */
import type { TensorViewResult, ViewWindow } from '../../protocol/tensorView';

export function decodeBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export interface DecodedView {
  cells: Float32Array;
  /** per cell: 1 NaN, 2 +Inf, 4 -Inf */
  flags: Uint8Array;
}

export function decodeView(v: TensorViewResult): DecodedView {
  const b = decodeBase64(v.cellsBase64);
  return { cells: new Float32Array(b.buffer, 0, v.gridRows * v.gridCols), flags: decodeBase64(v.nonFiniteBase64) };
}

/** Element range [a, b) of cell g of `cells` cells over `n` elements starting at `off`. */
export function cellRange(g: number, cells: number, n: number, off: number): [number, number] {
  return [off + Math.ceil((g * n) / cells), off + Math.ceil(((g + 1) * n) / cells)];
}

/** The window covered by cells [gi0, gi1] x [gj0, gj1] (inclusive) of a view. */
export function windowOfCells(
  v: Pick<TensorViewResult, 'window' | 'gridRows' | 'gridCols'>,
  gi0: number,
  gi1: number,
  gj0: number,
  gj1: number,
): ViewWindow {
  const w = v.window;
  const wr = w.row1 - w.row0,
    wc = w.col1 - w.col0;
  const [lo, hi] = [Math.min(gi0, gi1), Math.max(gi0, gi1)];
  const [lc, hc] = [Math.min(gj0, gj1), Math.max(gj0, gj1)];
  return {
    row0: cellRange(lo, v.gridRows, wr, w.row0)[0],
    row1: cellRange(hi, v.gridRows, wr, w.row0)[1],
    col0: cellRange(lc, v.gridCols, wc, w.col0)[0],
    col1: cellRange(hc, v.gridCols, wc, w.col0)[1],
  };
}

/**
 * Wheel zoom: the window scaled by `factor` (< 1 zooms in) around the point at fractions (fx, fy) of
 * it, kept inside the rows x cols matrix and at least one element each way.
 */
export function zoomWindow(
  w: ViewWindow,
  rows: number,
  cols: number,
  factor: number,
  fx: number,
  fy: number,
): ViewWindow {
  const axis = (a0: number, a1: number, n: number, f: number): [number, number] => {
    const len = a1 - a0;
    // at least one element more or less per step, so a 1-element window can grow again
    const scaled = Math.round(len * factor);
    const nl = Math.max(
      1,
      Math.min(n, factor > 1 ? Math.max(len + 1, scaled) : Math.min(Math.max(1, len - 1), scaled)),
    );
    const centre = a0 + f * len;
    let s = Math.round(centre - f * nl);
    s = Math.max(0, Math.min(n - nl, s));
    return [s, s + nl];
  };
  const [row0, row1] = axis(w.row0, w.row1, rows, fy);
  const [col0, col1] = axis(w.col0, w.col1, cols, fx);
  return { row0, row1, col0, col1 };
}

export const isFullWindow = (w: ViewWindow, rows: number, cols: number) =>
  w.row0 === 0 && w.col0 === 0 && w.row1 === rows && w.col1 === cols;

/**
 * Symmetric colour limit: the 99th percentile of |cell| over finite cells (so one outlier cell does
 * not wash out the rest; cells beyond it saturate), or the max when that is 0.
 */
export function colourLimit(cells: Float32Array): { limit: number; max: number } {
  const abs: number[] = [];
  for (const x of cells) if (Number.isFinite(x)) abs.push(Math.abs(x));
  if (!abs.length) return { limit: 1, max: 0 };
  abs.sort((a, b) => a - b);
  const max = abs[abs.length - 1]!;
  const p = abs[Math.min(abs.length - 1, Math.floor(abs.length * 0.99))]!;
  return { limit: p > 0 ? p : max > 0 ? max : 1, max };
}

// coolwarm-like end points (blue, neutral, red)
const NEG: [number, number, number] = [59, 76, 192];
const MID: [number, number, number] = [221, 221, 221];
const POS: [number, number, number] = [180, 4, 38];
export const NAN_RGB: [number, number, number] = [255, 0, 255];
export const INF_RGB: [number, number, number] = [255, 214, 0];
export const EMPTY_RGB: [number, number, number] = [0, 0, 0];

/** Diverging colour of x on [-limit, limit], centred on 0 (beyond the limit: saturated). */
export function divergingRgb(x: number, limit: number): [number, number, number] {
  const t = Math.max(-1, Math.min(1, x / limit));
  const end = t < 0 ? NEG : POS;
  const a = Math.abs(t);
  return [
    Math.round(MID[0] + (end[0] - MID[0]) * a),
    Math.round(MID[1] + (end[1] - MID[1]) * a),
    Math.round(MID[2] + (end[2] - MID[2]) * a),
  ];
}

/** RGBA pixels (one per cell) of a decoded view: NaN cells magenta, Inf cells yellow. */
export function heatmapPixels(d: DecodedView, limit: number): Uint8ClampedArray<ArrayBuffer> {
  const n = d.cells.length;
  const px = new Uint8ClampedArray(n * 4);
  for (let k = 0; k < n; k++) {
    const f = d.flags[k]!;
    const x = d.cells[k]!;
    const c = f & 1 ? NAN_RGB : f & 6 ? INF_RGB : Number.isFinite(x) ? divergingRgb(x, limit) : EMPTY_RGB;
    px[4 * k] = c[0];
    px[4 * k + 1] = c[1];
    px[4 * k + 2] = c[2];
    px[4 * k + 3] = 255;
  }
  return px;
}

/** A value as the inspector shows it (6 significant digits; non-finite as text). */
export function formatValue(x: number | string | null): string {
  if (x === null) return '–';
  if (typeof x === 'string') return x;
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e6 ? String(Number(x.toPrecision(6))) : x.toExponential(4);
}

/** The first-values table as tab-separated text (full precision), for the clipboard. */
export function firstValuesTsv(v: Pick<TensorViewResult, 'first' | 'window'>): string {
  const { rows, cols, values } = v.first;
  const lines = [['', ...Array.from({ length: cols }, (_, j) => String(v.window.col0 + j))].join('\t')];
  for (let i = 0; i < rows; i++)
    lines.push([String(v.window.row0 + i), ...values.slice(i * cols, (i + 1) * cols).map(String)].join('\t'));
  return lines.join('\n');
}

/** Histogram bars on a value axis: x in [0, width) per bin (exact bins are points, drawn as 1 px stems). */
export function histogramBars(
  h: TensorViewResult['histogram'],
  width: number,
): Array<{ x: number; w: number; count: number; lo: number; hi: number }> {
  const n = h.counts.length;
  if (!n) return [];
  const lo = h.edges[0]!,
    hi = h.exact ? h.edges[n - 1]! : h.edges[n]!;
  const span = hi - lo;
  const xOf = (v: number) => (span > 0 ? ((v - lo) / span) * (width - 1) : width / 2);
  if (!h.exact)
    return h.counts.map((count, i) => ({
      x: xOf(h.edges[i]!),
      w: Math.max(1, xOf(h.edges[i + 1]!) - xOf(h.edges[i]!)),
      count,
      lo: h.edges[i]!,
      hi: h.edges[i + 1]!,
    }));
  // exact values: values landing on the same pixel share a stem
  const out: Array<{ x: number; w: number; count: number; lo: number; hi: number }> = [];
  for (let i = 0; i < n; i++) {
    const x = Math.round(xOf(h.edges[i]!));
    const last = out[out.length - 1];
    if (last && last.x === x) {
      last.count += h.counts[i]!;
      last.hi = h.edges[i]!;
    } else out.push({ x, w: 1, count: h.counts[i]!, lo: h.edges[i]!, hi: h.edges[i]! });
  }
  return out;
}
