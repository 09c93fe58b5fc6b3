import type { FormatName } from '../formats/types';

/** Per-tensor analysis. The first six fields are the stable JSON contract of `analyze --json`. */
export interface TensorAnalysis {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  /** Shannon entropy (bits) of the IEEE exponent field; null for non-float tensors */
  exponentEntropy: number | null;
  /** order-0 bound in bytes: sum over byte planes (sign moved next to the mantissa) of count x H / 8 */
  boundBytes: number;
  /** layer this tensor belongs to (see layers.ts), or a group name for non-layer tensors */
  layer: string;
  elements: number;
  /** multi-file models (sharded safetensors): the file holding the tensor, relative to the model's folder */
  shard?: string;
  /** histogram of the exponent field (length 2^exponentBits); floats only */
  exponentHistogram?: number[];
  signEntropy?: number;
  mantissaEntropy?: number;
  /** entropy (bits) of each byte plane as the codec codes it (its sign transform for the dtype,
   * engine/codec/layout.ts), low byte first */
  planeEntropy?: number[];
  min?: number;
  max?: number;
  mean?: number;
  std?: number;
  zeros?: number;
  subnormals?: number;
  nans?: number;
  infs?: number;
  /** number of low mantissa bits that are zero in every element (a "clean" upcast) */
  cleanLowBits?: number;
  /** distinct element values, when at most 256 (low-cardinality tensors compress by value) */
  distinctValues?: number;
  /** true when the figures come from a sample (quick mode) */
  estimate?: boolean;
  /** format-specific facts (quant block layout, bits per weight, ...) */
  extra?: Record<string, unknown>;
}

export interface LayerAnalysis {
  name: string;
  tensors: number;
  bytes: number;
  boundBytes: number;
  elements: number;
}

export interface FileAnalysis {
  path: string;
  format: FormatName;
  bytes: number;
  tensors: TensorAnalysis[];
  layers: LayerAnalysis[];
  parameters: number;
  bytesPerDtype: Record<string, number>;
  /** the estimate of a lossless .tzip's size (estimate.ts: order-0 bound + framing + structure) */
  predictedBytes: number;
  /** sum of tensor order-0 bounds plus non-tensor bytes */
  boundBytes: number;
  estimate: boolean;
  metadata?: Record<string, unknown>;
  /** multi-file models: every file with its size and tensor count (relative to the model's folder) */
  shards?: ShardAnalysis[];
}

export interface ShardAnalysis {
  file: string;
  bytes: number;
  tensors: number;
}

export interface AnalysisReport {
  files: FileAnalysis[];
}
