/** Engine tensor views and pages -> the wire shapes of protocol/server.ts (run in the job worker). */
import type { PooledView } from '../engine/analysis/tensorView';
import { converterFor } from '../engine/analysis/values';
import type { PoolMode, ReadTensorResult, TensorViewResult } from '../protocol/server';
import type { TensorData, TensorInfo } from '../engine/container/tensorReader';

const wireNumber = (x: number): number | string => (Number.isFinite(x) ? x : String(x));

export function viewToWire(v: PooledView, pool: PoolMode): TensorViewResult {
  const src = pool === 'mean' ? v.mean : pool === 'maxabs' ? v.maxAbs : v.std;
  const cells = Float32Array.from(src);
  const flags = new Uint8Array(cells.length);
  for (let k = 0; k < cells.length; k++)
    flags[k] = (v.nans[k] ? 1 : 0) | (v.posInfs[k] ? 2 : 0) | (v.negInfs[k] ? 4 : 0);
  const norms = (n: PooledView['rowNorms']) => ({
    rms: Array.from(n.rms),
    ...(n.min ? { min: Array.from(n.min) } : {}),
    ...(n.max ? { max: Array.from(n.max) } : {}),
  });
  return {
    name: v.name,
    dtype: v.dtype,
    shape: v.shape,
    rowAxis: v.rowAxis,
    rows: v.rows,
    cols: v.cols,
    window: v.window,
    gridRows: v.gridRows,
    gridCols: v.gridCols,
    pool,
    cellsBase64: Buffer.from(cells.buffer).toString('base64'),
    nonFiniteBase64: Buffer.from(flags).toString('base64'),
    rowNorms: norms(v.rowNorms),
    colNorms: norms(v.colNorms),
    histogram: v.histogram,
    stats: v.stats,
    first: { rows: v.first.rows, cols: v.first.cols, values: v.first.values.map(wireNumber) },
    dequantized: v.dequantized,
    ...(v.sampled ? { sampled: v.sampled } : {}),
  };
}

export function pageToWire(t: TensorInfo, d: TensorData, requestedEnd: number): ReadTensorResult {
  const r: ReadTensorResult = {
    name: t.name,
    dtype: t.dtype,
    shape: t.rowMajorShape,
    start: d.start,
    count: d.count,
    total: t.elements,
    nextStart: requestedEnd < t.elements ? requestedEnd : null,
    bytesBase64: Buffer.from(d.bytes.buffer, d.bytes.byteOffset, d.bytes.length).toString('base64'),
  };
  const conv = converterFor(t.dtype);
  if (conv) {
    const c = conv.convert(d.bytes);
    r.values = Array.from(c.values.subarray(0, d.count), wireNumber);
    if (conv.dequantized) r.dequantized = true;
  }
  return r;
}
