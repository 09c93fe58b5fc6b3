/**
 * The answer of `tensorzip/tensorView` (protocol/server.ts), which the webview's inspector draws: types only,
 * no runtime code and nothing that needs node, so the webview's TypeScript project (DOM, no node) reads it.
 */
import type { PoolMode, SampledRows, ValueHistogram, ValueStats, ViewWindow } from '../engine/analysis/viewTypes';

export type { PoolMode, SampledRows, ValueHistogram, ValueStats, ViewWindow };

export interface LineNormsWire {
  rms: number[];
  min?: number[];
  max?: number[];
}

export interface TensorViewResult {
  name: string;
  dtype: string;
  shape: number[];
  /** -1: a 0-D or 1-D tensor (one row) */
  rowAxis: number;
  rows: number;
  cols: number;
  window: ViewWindow;
  gridRows: number;
  gridCols: number;
  pool: PoolMode;
  /** gridRows x gridCols float32 (row-major, little-endian) of the chosen pooling, base64; NaN = no finite value */
  cellsBase64: string;
  /** per cell: bit 0 has NaN, bit 1 has +Inf, bit 2 has -Inf (base64 of gridRows x gridCols bytes) */
  nonFiniteBase64: string;
  rowNorms: LineNormsWire;
  colNorms: LineNormsWire;
  histogram: ValueHistogram;
  stats: ValueStats;
  /** the first values of the window, row-major (non-finite as strings) */
  first: { rows: number; cols: number; values: Array<number | string> };
  dequantized: boolean;
  /**
   * present when only a sample of rows was pooled (a preview): cells, row norms, histogram and statistics are
   * those of the sampled rows, column norms are scaled to all rows (an estimate); absent: every element
   */
  sampled?: SampledRows;
}
