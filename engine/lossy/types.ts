/** Shapes of the lossy-mode results (CompressResult.lossy and the what-if table). */
import type { ErrorSummary } from './errorStats';

export type { ErrorSummary };

export interface LossyTensorReport {
  name: string;
  dtype: string;
  /** mantissa bits kept */
  bits: number;
  bytes: number;
  error: ErrorSummary;
}

export interface LossyReport {
  /** mantissa bits kept (as asked) */
  bits: number;
  /** SHA-256 of the input file (the container's original.sha256 is that of the rounded result) */
  inputSha256: string;
  /** the rounded tensors, in file order (empty: nothing was selected and the file was written lossless) */
  tensors: LossyTensorReport[];
  /** float tensors kept lossless by the selection rules */
  losslessTensors: number;
  /** all rounded tensors together */
  total: ErrorSummary;
}
