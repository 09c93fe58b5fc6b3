/** What `diff` answers: types only, no runtime code (the webview's TypeScript project reads them). */

export type DiffStatus = 'added' | 'removed' | 'dtype-changed' | 'shape-changed' | 'identical' | 'changed';

export interface TensorDiff {
  name: string;
  status: DiffStatus;
  dtype: string;
  shape: number[];
  elements: number;
  /** elements whose bit patterns differ (null when not comparable: added, removed, dtype/shape changed) */
  changedElements: number | null;
  maxAbsDiff: number | null;
  meanAbsDiff: number | null;
  /** ||a - b|| / ||a|| (null when ||a|| = 0 or not a float/integer dtype) */
  relL2: number | null;
  cosine: number | null;
  /** ||a|| (compared numeric tensors): with relL2 it gives a layer's relative L2 from streamed tensors */
  normA?: number;
  /** counts of ULP distances: bucket 0 is distance 0, bucket k >= 1 is [2^(k-1), 2^k) */
  ulpHistogram: number[] | null;
  /** per bit position (0 = least significant, last = sign), elements whose bit differs */
  xorBitHistogram: number[] | null;
  /** B's dtype and shape when they differ from A's */
  dtypeB?: string;
  shapeB?: number[];
  layer: string;
  bytes: number;
  /** order-0 bounds in bytes of coding B alone (byte planes as the codec splits them), as XOR with A, and as ULP
   * distances from A */
  bounds?: { standalone: number; xor: number; ulp?: number };
}

export interface LayerDiff {
  layer: string;
  tensors: number;
  changedTensors: number;
  elements: number;
  changedElements: number;
  changedFraction: number;
  relL2: number | null;
  maxAbsDiff: number;
}

export interface DiffSummary {
  tensors: Record<DiffStatus, number>;
  elements: number;
  changedElements: number;
  changedFraction: number;
  relL2: number | null;
  maxAbsDiff: number;
  bytesA: number;
  bytesB: number;
  /** totals of the per-tensor order-0 bounds (compared tensors), and the best of the three per tensor */
  bounds: { standalone: number; xor: number; ulp: number; best: number };
}

export interface DiffResult {
  a: string;
  b: string;
  tensors: TensorDiff[];
  layers: LayerDiff[];
  summary: DiffSummary;
}
