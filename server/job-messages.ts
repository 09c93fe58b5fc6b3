/**
 * Messages between the server's main thread and a job worker (server/job-worker.ts).
 * Internal to the server; the client protocol is protocol/server.ts.
 */
import type { TensorAnalysis } from '../engine/analysis/types';
import type { JobKind, PoolMode, ServerErrorCode, ViewWindow } from '../protocol/server';

/** What a job worker is asked to do (its workerData, with the shared cancel flag). */
export interface JobSpec {
  kind: JobKind;
  path: string;
  quick?: boolean;
  output?: string;
  force?: boolean;
  lossyBits?: number;
  durable?: boolean;
  /** compress: delta-code against each of these bases, keep the smallest */
  bases?: string[];
  /** whatIf only */
  exact?: boolean;
  bits?: number[];
  against?: string;
  threads?: number;
  /** stream per-tensor analysis results (analyze only) */
  wantTensors?: boolean;
  /** readTensor / tensorView */
  tensor?: string;
  start?: number;
  count?: number;
  rowAxis?: number;
  window?: ViewWindow;
  width?: number;
  height?: number;
  pool?: PoolMode;
  histogramBins?: number;
}

export interface JobWorkerData {
  spec: JobSpec;
  /** Int32Array over a SharedArrayBuffer; [0] becomes 1 when the job is cancelled */
  cancelFlag: Int32Array;
}

export type FromWorker =
  | { type: 'progress'; bytesDone: number; bytesTotal: number; tensor?: string }
  | { type: 'tensors'; index: number; total: number; tensors: TensorAnalysis[] }
  | { type: 'result'; result: unknown }
  | { type: 'error'; code: ServerErrorCode; message: string; file?: string };

export type ToWorker = { type: 'cancel' };
