/**
 * Messages between the server's main thread (server/main.ts, job-runner.ts) and a job worker
 * (server/job-worker.ts). Internal to the server process; the client protocol is ./server.ts.
 *
 * A job is one engine call. `JobSpec` is a discriminated union on `kind` (every JobKind has exactly
 * one spec and one result type, JobResults), so the worker's handler table and the request handlers
 * that build specs are checked against each other by the compiler.
 */
import type {
  CompressResult,
  DecompressResult,
  DiffResult,
  FileAnalysis,
  TensorDiff,
  VerifyResult,
  WhatIfResult,
} from '../engine/api';
import type { TensorAnalysis } from '../engine/analysis/types';
import type {
  InfoResult,
  JobKind,
  PoolMode,
  ReadTensorResult,
  ServerErrorCode,
  TensorViewResult,
  ViewWindow,
} from './server';

interface SpecBase {
  /** the input file (absolute) */
  path: string;
  /** engine coding threads (the server's `threads` setting); omitted: the engine's default */
  threads?: number;
}

export interface AnalyzeJobSpec extends SpecBase {
  kind: 'analyze';
  quick?: boolean;
  /** stream per-tensor results (the request has a partialResultToken) */
  wantTensors?: boolean;
}

export interface CompressJobSpec extends SpecBase {
  kind: 'compress';
  output?: string;
  force?: boolean;
  lossyBits?: number;
  durable?: boolean;
  /** delta-code against each of these bases, keep the smallest */
  bases?: string[];
}

export interface DecompressJobSpec extends SpecBase {
  kind: 'decompress';
  output?: string;
  force?: boolean;
}

export interface VerifyJobSpec extends SpecBase {
  kind: 'verify';
  against?: string;
}

export interface InfoJobSpec extends SpecBase {
  kind: 'info';
}

export interface WhatIfJobSpec extends SpecBase {
  kind: 'whatIf';
  exact?: boolean;
  bits?: number[];
}

export interface ReadTensorJobSpec extends SpecBase {
  kind: 'readTensor';
  tensor: string;
  start?: number;
  count?: number;
}

export interface TensorViewJobSpec extends SpecBase {
  kind: 'tensorView';
  tensor: string;
  width: number;
  height: number;
  pool: PoolMode;
  rowAxis?: number;
  window?: ViewWindow;
  histogramBins?: number;
  sampleElements?: number;
}

export interface DiffJobSpec extends SpecBase {
  kind: 'diff';
  /** the model compared with `path` (A) */
  pathB: string;
  /** stream per-tensor results (the request has a partialResultToken) */
  wantTensors?: boolean;
}

/** What a job worker is asked to do (its workerData, with the shared cancel flag). */
export type JobSpec =
  | AnalyzeJobSpec
  | CompressJobSpec
  | DecompressJobSpec
  | VerifyJobSpec
  | InfoJobSpec
  | WhatIfJobSpec
  | ReadTensorJobSpec
  | TensorViewJobSpec
  | DiffJobSpec;

/** The spec of one kind of job. */
export type JobSpecOf<K extends JobKind> = Extract<JobSpec, { kind: K }>;

/** What each kind of job answers (the `result` message's value, and the request's result). */
export interface JobResults {
  analyze: FileAnalysis;
  compress: CompressResult;
  decompress: DecompressResult;
  verify: VerifyResult;
  info: InfoResult;
  whatIf: WhatIfResult;
  readTensor: ReadTensorResult;
  tensorView: TensorViewResult;
  diff: DiffResult;
}

// every JobKind has a spec and a result, and nothing else does
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const kindsMatch: Same<JobSpec['kind'], JobKind> & Same<keyof JobResults, JobKind> = true;
void kindsMatch;

/** per-tensor results a job streams: analyze's statistics or diff's comparisons */
export type StreamedTensor = TensorAnalysis | TensorDiff;

export interface JobWorkerData {
  /** absent: a spare worker, started ahead of its job, that waits for `start` */
  spec?: JobSpec;
  /** Int32Array over a SharedArrayBuffer; [0] becomes 1 when the job is cancelled */
  cancelFlag: Int32Array;
}

export type FromWorker =
  | { type: 'progress'; bytesDone: number; bytesTotal: number; tensor?: string }
  | { type: 'tensors'; index: number; total: number; tensors: StreamedTensor[] }
  /** the JobResults entry of the spec's kind (structured-cloned) */
  | { type: 'result'; result: JobResults[JobKind] }
  | { type: 'error'; code: ServerErrorCode; message: string; file?: string };

export type ToWorker = { type: 'cancel' } | { type: 'start'; spec: JobSpec };
