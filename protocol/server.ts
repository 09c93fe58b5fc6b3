/**
 * The TensorZip server protocol: every custom request and notification the background server
 * (server/main.ts) answers, shared by the client (client/), tests and bench scripts.
 *
 * Conventions (keep them when adding methods):
 * - Paths are absolute file-system paths. Remote URIs are the client's business.
 * - Results are the engine's own JSON shapes (engine/api.ts), so `tensorzip/analyze` answers
 *   exactly what `tensorzip analyze --json` prints for one file.
 * - Long requests (analyze, compress, decompress, verify) accept a `workDoneToken`. The server
 *   then reports `$/progress` on it: one `begin` (sent at once, while the job may still be queued),
 *   `report`s throttled to ~10/s with a non-decreasing `percentage`, and one `end`. The values
 *   carry extra typed fields (see JobProgressFields): bytes done, MB/s, ETA, queued/running.
 * - Cancelling: `$/cancelRequest` for the request, or `window/workDoneProgress/cancel` with the
 *   request's workDoneToken, or `tensorzip/cancelJob` with the job id from `tensorzip/jobs`.
 *   A cancelled request answers the standard RequestCancelled error (-32800) once the engine has
 *   removed its temp files (normally well under 200 ms).
 * - A failing job answers a ResponseError with code `JOB_FAILED_ERROR` (or -32800 for cancels,
 *   -32602 for bad params), `message` = the engine's one-line `<file>: <problem>` message (what
 *   the CLI prints), and `data` = TzErrorData.
 * - Partial analysis results are streamed with `$/progress` on the request's
 *   `partialResultToken` (AnalyzePartialResultProgress). Unlike LSP's rule for partial results,
 *   the final answer is still the complete FileAnalysis, so a client may ignore the partials.
 *
 * Runtime dependency: only the RequestType/NotificationType/ProgressType objects below (from
 * vscode-languageserver-protocol). Browser code (the webview) must `import type` from here.
 */
import {
  NotificationType,
  ProgressType,
  RequestType,
  RequestType0,
  type PartialResultParams,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressParams,
  type WorkDoneProgressReport,
} from 'vscode-languageserver-protocol';
import type {
  CompressResult,
  DecompressResult,
  DiffResult,
  FileAnalysis,
  JobPhase,
  TensorAnalysis,
  TensorDiff,
  TzErrorCode,
  TzipInfo,
  TzipRegionInfo,
  VerifyResult,
  WhatIfResult,
} from '../engine/api';
import type {
  LineNormsWire,
  PoolMode,
  SampledRows,
  TensorViewResult,
  ValueHistogram,
  ValueStats,
  ViewWindow,
} from './tensorView';

export type {
  DiffResult,
  TensorDiff,
  FileAnalysis,
  TensorAnalysis,
  CompressResult,
  DecompressResult,
  VerifyResult,
  TzipInfo,
  TzipRegionInfo,
  TzErrorCode,
};

// ---------------------------------------------------------------------------------------------
// Settings

/**
 * Server settings. Sent as `initializationOptions` on `initialize`, and may be changed later with
 * `workspace/didChangeConfiguration` `{ settings: { tensorzip: { server: ServerSettings } } }`
 * (a missing key keeps its current value).
 */
export interface ServerSettings {
  /** jobs that run at the same time; more are queued (default 2, at least 1) */
  maxConcurrentJobs?: number;
  /** worker threads the engine uses per job for coding (default: the engine's, = cores) */
  threads?: number;
}

export const DEFAULT_MAX_CONCURRENT_JOBS = 2;

/**
 * What this server build can do, advertised in the `initialize` result as
 * `capabilities.experimental.tensorzip`. A feature that is absent or false is not offered.
 */
export interface ServerFeatures {
  analyze: boolean;
  compress: boolean;
  decompress: boolean;
  verify: boolean;
  info: boolean;
  /** compress accepts `lossyBits` */
  lossy: boolean;
  /** a lossy what-if estimate is available */
  lossyWhatIf: boolean;
  /** `tensorzip/diff` (model comparison) */
  diff: boolean;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** JSON-RPC error code of a job that failed (the engine threw, a worker crashed, a conflict). */
export const JOB_FAILED_ERROR = 1;

/**
 * `data` of every error the server answers for a TensorZip request:
 * the engine's TzError code, plus two server codes:
 * - `BUSY`: another job is writing this request's output (or reading what it would write)
 * - `INTERNAL`: the job worker crashed or the server hit a bug; the server itself keeps running
 */
export type ServerErrorCode = TzErrorCode | 'BUSY' | 'INTERNAL';

export interface TzErrorData {
  code: ServerErrorCode;
  /** the file the problem is about, when known */
  file?: string;
}

// ---------------------------------------------------------------------------------------------
// Jobs and progress

export type JobKind = JobPhase | 'info' | 'whatIf' | 'readTensor' | 'tensorView' | 'diff';
export type JobState = 'queued' | 'running';

/** Extra fields carried by every `$/progress` value the server sends on a workDoneToken. */
export interface JobProgressFields {
  /** id of the job, as listed by `tensorzip/jobs` */
  jobId: number;
  state: JobState;
  /** jobs ahead of this one while queued */
  queuePosition?: number;
  bytesDone: number;
  bytesTotal: number;
  /** average throughput since the job started running (MB = 1e6 bytes) */
  mbPerSecond?: number;
  /** estimated seconds left, once a rate is known */
  etaSeconds?: number;
  /** tensor currently being processed, when the engine says */
  tensor?: string;
}

export type JobProgressBegin = WorkDoneProgressBegin & JobProgressFields;
export type JobProgressReport = WorkDoneProgressReport & JobProgressFields;
export type JobProgressEnd = WorkDoneProgressEnd & Partial<JobProgressFields>;
export type JobProgress = JobProgressBegin | JobProgressReport | JobProgressEnd;

/** Use with `connection.onProgress(JobWorkDoneProgress, token, handler)` to get typed values. */
export const JobWorkDoneProgress = new ProgressType<JobProgress>();

/** Long requests take a workDoneToken; the server answers with `$/progress` on it. */
export type JobParams = WorkDoneProgressParams;

export interface JobInfo {
  id: number;
  kind: JobKind;
  /** input path */
  path: string;
  /** output being written (compress, decompress) */
  output?: string;
  state: JobState;
  /** ms since the epoch */
  queuedAt: number;
  startedAt?: number;
  bytesDone: number;
  bytesTotal: number;
  percentage: number;
}

export interface JobsResult {
  maxConcurrentJobs: number;
  /** running jobs first, then queued ones in the order they will start */
  jobs: JobInfo[];
}

// ---------------------------------------------------------------------------------------------
// Requests

export const Methods = {
  analyze: 'tensorzip/analyze',
  compress: 'tensorzip/compress',
  decompress: 'tensorzip/decompress',
  verify: 'tensorzip/verify',
  info: 'tensorzip/info',
  whatIf: 'tensorzip/whatIf',
  readTensor: 'tensorzip/readTensor',
  tensorView: 'tensorzip/tensorView',
  diff: 'tensorzip/diff',
  jobs: 'tensorzip/jobs',
  cancelJob: 'tensorzip/cancelJob',
  jobsChanged: 'tensorzip/jobsChanged',
  eventLoopStats: 'tensorzip/debug/eventLoop',
} as const;

export interface AnalyzeParams extends JobParams, PartialResultParams {
  path: string;
  /** sample instead of scanning everything (results are marked `estimate`) */
  quick?: boolean;
}

/**
 * Partial results of `tensorzip/analyze`, sent as `$/progress` on the request's
 * partialResultToken: tensors as they complete, in file order, batched (~10 messages/s at most).
 * `tensors[i]` has index `index + i` among `total` tensors.
 */
export interface AnalyzePartialResult {
  path: string;
  index: number;
  total: number;
  tensors: TensorAnalysis[];
}

export const AnalyzePartialResultProgress = new ProgressType<AnalyzePartialResult>();

/** `{path, quick?}` → the same JSON as `tensorzip analyze --json` prints for that file. */
export const AnalyzeRequest = new RequestType<AnalyzeParams, FileAnalysis, TzErrorData>(Methods.analyze);

export interface CompressParams extends JobParams {
  path: string;
  /** default `<path>.tzip` */
  output?: string;
  /** lossy mode: mantissa bits kept; omitted = lossless */
  lossyBits?: number;
  /** overwrite an existing output */
  force?: boolean;
  /** fsync the .tzip before renaming it into place (for callers that delete the original next) */
  durable?: boolean;
  /**
   * delta coding (.tzip 3.0): absolute paths of base models; the file is coded against each and the
   * smallest .tzip is kept (a checkpoint chain's keyframe and predecessor). Omitted or empty: standalone.
   */
  bases?: string[];
}

export const CompressRequest = new RequestType<CompressParams, CompressResult, TzErrorData>(Methods.compress);

export interface DecompressParams extends JobParams {
  /** a .tzip file */
  path: string;
  /** default: the original name stored in the container, next to the .tzip */
  output?: string;
  force?: boolean;
}

export const DecompressRequest = new RequestType<DecompressParams, DecompressResult, TzErrorData>(Methods.decompress);

export interface VerifyParams extends JobParams {
  /** a .tzip file */
  path: string;
  /** also compare the decoded content with this original file */
  against?: string;
}

export const VerifyRequest = new RequestType<VerifyParams, VerifyResult, TzErrorData>(Methods.verify);

export interface InfoParams {
  path: string;
}

/** Container facts of a .tzip: the engine's `infoFile` result (original name/size/sha256, regions). */
export type InfoResult = TzipInfo;

export const InfoRequest = new RequestType<InfoParams, InfoResult, TzErrorData>(Methods.info);

export interface WhatIfParams extends JobParams {
  path: string;
  /** code every chunk (exact sizes) instead of a sample per tensor (quick, marked `estimate`) */
  exact?: boolean;
  /** k values to evaluate; default every k valid for the file's float tensors */
  bits?: number[];
}

/**
 * Lossy "what if": for the lossless point and each k, the predicted .tzip size and the error
 * figures (max abs/rel error, RMSE, SNR dB, fraction changed), per file, layer and tensor.
 * Nothing is written. Advertised as `lossyWhatIf` in the server features.
 */
export const WhatIfRequest = new RequestType<WhatIfParams, WhatIfResult, TzErrorData>(Methods.whatIf);

// ---------------------------------------------------------------------------------------------
// Model comparison (issue 15 item 4)

export interface DiffParams extends JobParams, PartialResultParams {
  /** the reference model (absolute path) */
  a: string;
  /** the model compared with it */
  b: string;
}

/**
 * Partial results of `tensorzip/diff`, sent as `$/progress` on the request's partialResultToken:
 * tensors as they complete, in A's order (tensors only B has last), batched (~10 messages/s at most).
 * `tensors[i]` has index `index + i` among `total`.
 */
export interface DiffPartialResult {
  a: string;
  b: string;
  index: number;
  total: number;
  tensors: TensorDiff[];
}

export const DiffPartialResultProgress = new ProgressType<DiffPartialResult>();

/**
 * `{a, b}` → the same JSON as `tensorzip diff A B --json` prints. A job with `$/progress` (bytes of A
 * compared) and cancellation; as for analyze, the final answer is complete whatever partials were sent.
 */
export const DiffRequest = new RequestType<DiffParams, DiffResult, TzErrorData>(Methods.diff);

// ---------------------------------------------------------------------------------------------
// Tensor values (issue 14): random access into any readable file, a .tzip included

/** Elements one `tensorzip/readTensor` answer holds at most (ask again from `nextStart`). */
export const READ_TENSOR_PAGE = 65536;

export interface ReadTensorParams {
  path: string;
  name: string;
  /** first element (default 0) */
  start?: number;
  /** elements (default and at most READ_TENSOR_PAGE) */
  count?: number;
}

export interface ReadTensorResult {
  name: string;
  dtype: string;
  /** row-major shape */
  shape: number[];
  start: number;
  count: number;
  /** elements of the tensor */
  total: number;
  /** where the next page starts, null after the last one */
  nextStart: number | null;
  /** the stored bytes of the page (GGUF block types: whole blocks), base64 */
  bytesBase64: string;
  /** the values; non-finite ones as "NaN", "Infinity", "-Infinity"; absent for unknown dtypes */
  values?: Array<number | string>;
  /** values were dequantized from GGUF blocks */
  dequantized?: boolean;
}

/** A page of a tensor's elements: a .tzip decodes only the chunks that hold them. */
export const ReadTensorRequest = new RequestType<ReadTensorParams, ReadTensorResult, TzErrorData>(Methods.readTensor);

export type { LineNormsWire, PoolMode, SampledRows, TensorViewResult, ViewWindow, ValueHistogram, ValueStats };

export interface TensorViewParams extends JobParams {
  path: string;
  name: string;
  /** axis of the row-major shape shown as rows (default 0); the others are flattened into columns */
  rowAxis?: number;
  /** default: the whole matrix */
  window?: ViewWindow;
  /** canvas size in cells: the answer never has more cells than this (each at most 4096) */
  width: number;
  height: number;
  pool: PoolMode;
  /** equal-width value histogram bins (default 256, at most 2048); 8- and 16-bit floats always get one bin per distinct
   * value */
  histogramBins?: number;
  /**
   * A quick preview: when the window holds more elements than this, only runs of whole rows (about this many
   * elements, one run per cell row; fewer cell rows for a .tzip, whose chunks decode whole) are pooled, and the
   * answer's `sampled` says which share. Default: every element (an exact view).
   */
  sampleElements?: number;
}

/** The preview budget the inspector asks for first (elements; 64 MiB of BF16) before the exact view. */
export const TENSOR_VIEW_PREVIEW_ELEMENTS = 1 << 25;

/** Pooled heatmap window of a tensor, with `$/progress` on the workDoneToken while it is read. */
export const TensorViewRequest = new RequestType<TensorViewParams, TensorViewResult, TzErrorData>(Methods.tensorView);

/** Running and queued jobs (jobs of every client of this server). */
export const JobsRequest = new RequestType0<JobsResult, void>(Methods.jobs);

export interface CancelJobParams {
  id: number;
}

/** Cancels a job by id (its own request then answers RequestCancelled). `false` if no such job. */
export const CancelJobRequest = new RequestType<CancelJobParams, boolean, void>(Methods.cancelJob);

/** Sent by the server whenever a job is queued, starts or finishes. */
export const JobsChangedNotification = new NotificationType<JobsResult>(Methods.jobsChanged);

// ---------------------------------------------------------------------------------------------
// Diagnostics (bench scripts)

export interface EventLoopStatsParams {
  /** start a new measurement window after answering */
  reset?: boolean;
}

/**
 * Event-loop delay of the server's main thread (perf_hooks.monitorEventLoopDelay). The histogram
 * values are intervals between timer ticks, so they include the sampling resolution; `maxBlockedMs`
 * subtracts it and is the figure to compare with a "never blocked > 50 ms" budget.
 */
export interface EventLoopStats {
  resolutionMs: number;
  /** longest time the main thread could not run a timer (maxMs - resolutionMs) */
  maxBlockedMs: number;
  maxMs: number;
  p99Ms: number;
  p50Ms: number;
  meanMs: number;
  /** number of samples */
  count: number;
  /** length of the window, ms */
  windowMs: number;
  /** fraction of the window the main thread's event loop was busy (performance.eventLoopUtilization) */
  utilization: number;
  /** busy time of the event loop in the window, ms */
  activeMs: number;
}

export const EventLoopStatsRequest = new RequestType<EventLoopStatsParams, EventLoopStats, void>(
  Methods.eventLoopStats,
);
