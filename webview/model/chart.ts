/**
 * Geometry for the two hand-made SVG charts (per-layer bytes and the exponent histogram).
 * Pure math, no DOM: the views turn these numbers into <rect>/<line> elements.
 */
import type { LayerRow, TensorRow } from '../../protocol/webview';
import { tensorEstimate } from '../../shared/estimate';

/** "Nice" axis ticks (1, 2, 2.5, 5 x 10^k steps) covering [0, max]. */
export function niceTicks(max: number, target = 4): { ticks: number[]; max: number } {
  if (!(max > 0) || !Number.isFinite(max)) return { ticks: [0], max: 1 };
  const raw = max / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const top = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { ticks, max: top };
}

/** Groups rows by their layer in model order (first appearance) when the server sent no layers. */
export function layersFromRows(rows: readonly TensorRow[]): LayerRow[] {
  const order: string[] = [];
  const acc = new Map<string, LayerRow & { analysed: number; estimateBytes: number }>();
  for (const r of rows) {
    const key = r.layer || '(other)';
    let l = acc.get(key);
    if (!l) {
      l = { name: key, tensors: 0, bytes: 0, boundBytes: 0, estimateBytes: 0, elements: 0, analysed: 0 };
      acc.set(key, l);
      order.push(key);
    }
    l.tensors++;
    l.bytes += r.bytes;
    let el = 1;
    for (const d of r.shape) el *= d;
    l.elements += el;
    if (r.boundBytes !== null) {
      l.boundBytes += r.boundBytes;
      l.estimateBytes += tensorEstimate(r.boundBytes, r.bytes);
      l.analysed++;
    }
    if (r.storedBytes !== null && r.storedBytes !== undefined) l.storedBytes = (l.storedBytes ?? 0) + r.storedBytes;
  }
  return order.map((k) => {
    const { analysed, ...l } = acc.get(k)!;
    // a layer whose tensors are not all analysed has no bound yet (NaN marks "unknown")
    return analysed === l.tensors ? l : { ...l, boundBytes: NaN, estimateBytes: NaN };
  });
}

export interface LayerBar {
  index: number;
  name: string;
  x: number;
  width: number;
  /** bar for the bytes now */
  nowY: number;
  nowH: number;
  /** filled bar: stored bytes (.tzip) when known, else the predicted size (order-0 bound) */
  predY: number | null;
  predH: number;
  predKind: 'stored' | 'bound' | null;
  /** y of the order-0 bound tick, null while unknown */
  boundY: number | null;
}

export interface LayerChartGeometry {
  width: number;
  height: number;
  plotTop: number;
  plotBottom: number;
  plotLeft: number;
  ticks: { value: number; y: number }[];
  bars: LayerBar[];
}

export interface LayerChartOptions {
  /** width available on screen; the chart grows (scrolls) when layers need more */
  width: number;
  height: number;
  minBarWidth?: number;
  maxBarWidth?: number;
  left?: number;
  top?: number;
  bottom?: number;
}

export function layerChartGeometry(layers: readonly LayerRow[], o: LayerChartOptions): LayerChartGeometry {
  const left = o.left ?? 64;
  const top = o.top ?? 8;
  const bottom = o.bottom ?? 22;
  const minW = o.minBarWidth ?? 6;
  const maxW = o.maxBarWidth ?? 48;
  const n = layers.length;
  const avail = Math.max(0, o.width - left - 8);
  const slot = n === 0 ? 0 : Math.min(maxW, Math.max(minW, avail / n));
  const width = Math.max(o.width, left + 8 + slot * n);
  const plotBottom = o.height - bottom;
  const plotH = Math.max(1, plotBottom - top);
  const { ticks, max } = niceTicks(layers.reduce((m, l) => Math.max(m, l.bytes), 0));
  const y = (v: number) => plotBottom - (v / max) * plotH;
  const gap = slot >= 10 ? Math.max(1, slot * 0.18) : 1;
  const bars = layers.map((l, i): LayerBar => {
    const x = left + i * slot + gap / 2;
    const w = Math.max(1, slot - gap);
    const bound = Number.isFinite(l.boundBytes) ? l.boundBytes : null;
    const pred = l.storedBytes !== undefined ? l.storedBytes : bound;
    const predKind = l.storedBytes !== undefined ? 'stored' : bound !== null ? 'bound' : null;
    return {
      index: i,
      name: l.name,
      x,
      width: w,
      nowY: y(l.bytes),
      nowH: plotBottom - y(l.bytes),
      predY: pred === null ? null : y(pred),
      predH: pred === null ? 0 : plotBottom - y(pred),
      predKind,
      boundY: bound === null ? null : y(bound),
    };
  });
  return {
    width,
    height: o.height,
    plotTop: top,
    plotBottom,
    plotLeft: left,
    ticks: ticks.map((v) => ({ value: v, y: y(v) })),
    bars,
  };
}

/** Shannon entropy (bits) of a histogram. */
export function histogramEntropy(hist: readonly number[]): number {
  let total = 0;
  for (const c of hist) total += c;
  if (total === 0) return 0;
  let h = 0;
  for (const c of hist) if (c > 0) h -= (c / total) * Math.log2(c / total);
  return h;
}

export interface HistogramBin {
  /** raw exponent field value */
  field: number;
  /** unbiased exponent (field - bias); the zero field holds zeros and subnormals */
  exponent: number;
  count: number;
  x: number;
  width: number;
  y: number;
  h: number;
}

export interface HistogramGeometry {
  bins: HistogramBin[];
  lo: number;
  hi: number;
  maxCount: number;
  plotBottom: number;
  log: boolean;
}

/**
 * Bars for the non-empty part of an exponent histogram (from the first to the last non-zero
 * bin, with one empty bin of margin each side). `log` scales heights by log10(1 + count), which
 * keeps rare exponents visible next to the peak.
 */
export function histogramGeometry(
  hist: readonly number[],
  o: { width: number; height: number; log?: boolean; left?: number; bottom?: number; top?: number },
): HistogramGeometry {
  const left = o.left ?? 8;
  const bottom = o.bottom ?? 20;
  const top = o.top ?? 6;
  const log = o.log ?? false;
  const bias = hist.length > 1 ? hist.length / 2 - 1 : 0;
  // the zero field (zeros and subnormals) sits 100+ exponents below the normal values of F32: it
  // is counted in the caption, not drawn, or it would stretch the axis over empty bins
  let first = hist.findIndex((c, f) => c > 0 && f > 0);
  let last = hist.length - 1;
  while (last >= 0 && !(hist[last]! > 0)) last--;
  if (first < 0 && hist[0]! > 0) first = 0;
  if (first < 0) return { bins: [], lo: 0, hi: -1, maxCount: 0, plotBottom: o.height - bottom, log };
  first = Math.max(first === 0 ? 0 : 1, first - 1);
  last = Math.min(hist.length - 1, last + 1);
  const n = last - first + 1;
  const slot = Math.max(1, (o.width - left - 8) / n);
  const plotBottom = o.height - bottom;
  const plotH = Math.max(1, plotBottom - top);
  const maxCount = Math.max(...hist.slice(first, last + 1));
  const scale = (c: number) => (log ? Math.log10(1 + c) / Math.log10(1 + maxCount) : c / maxCount);
  const bins: HistogramBin[] = [];
  for (let f = first; f <= last; f++) {
    const c = hist[f] ?? 0;
    const h = c > 0 ? Math.max(1, scale(c) * plotH) : 0;
    bins.push({
      field: f,
      exponent: f - bias,
      count: c,
      x: left + (f - first) * slot,
      width: Math.max(1, slot - (slot > 4 ? 1 : 0)),
      y: plotBottom - h,
      h,
    });
  }
  return { bins, lo: first, hi: last, maxCount, plotBottom, log };
}

/** Which bin labels to print so they do not overlap: every k-th bin. */
export function labelStride(binCount: number, width: number, minLabelPx = 28): number {
  if (binCount <= 0) return 1;
  const per = width / binCount;
  return Math.max(1, Math.ceil(minLabelPx / Math.max(1e-9, per)));
}
