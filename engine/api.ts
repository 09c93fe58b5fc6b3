/**
 * The engine's public surface: what the CLI, the server and tests call. Everything here works on
 * absolute or relative file-system paths, streams in bounded chunks, honours an AbortSignal
 * (throwing TzError CANCELLED and leaving no partial output) and reports progress.
 *
 * Only re-exports: each operation owns its Options/Result types, so nothing below imports this file
 * (the import-rules test refuses a cycle). It is also the one engine module the client may import.
 */
export type { JobPhase, Progress, JobOptions } from './core/job';
export { TzError, badInput, describeError, type TzErrorCode } from './core/errors';
export type { FileAnalysis, TensorAnalysis, LayerAnalysis } from './analysis/types';
export { openModel } from './formats/index';
export type { ModelLayout } from './formats/types';
export type { LossyReport, LossyTensorReport, ErrorSummary } from './lossy/types';
export type { WhatIfOptions, WhatIfResult, WhatIfPoint, WhatIfGroup } from './container/whatif';
export { whatIf } from './container/whatif';
export { DEFAULT_LOSSLESS_GLOBS } from './lossy/select';
export { analyzeFile, type AnalyzeOptions } from './analysis/analyze';
export { extractTensors, exportOutputName, type ExtractOptions, type ExtractResult } from './container/extract';
export { openTensors, openTzip, type TensorSource, type TensorInfo, type TensorData } from './container/tensorReader';
export {
  poolTensor,
  type PooledView,
  type ViewParams,
  type PoolMode,
  type SampledRows,
  type ValueHistogram,
  type ValueStats,
  type ViewWindow,
} from './analysis/tensorView';
export { compressFile, type CompressOptions, type CompressResult } from './container/compress';
export {
  planChain,
  compressChainMember,
  stepOf,
  DEFAULT_KEYFRAME_EVERY,
  type ChainMember,
  type ChainMemberResult,
} from './container/chain';
export { removeLiveTempsSync } from './container/output';
export { defaultCodingThreads } from './pool/pool';
export {
  diffFiles,
  type DiffResult,
  type DiffOptions,
  type TensorDiff,
  type LayerDiff,
  type DiffSummary,
  type DiffStatus,
} from './diff/diff';
export {
  decompressFile,
  verifyFile,
  infoFile,
  type DecompressOptions,
  type DecompressResult,
  type VerifyOptions,
  type VerifyResult,
  type TzipInfo,
  type TzipRegionInfo,
} from './container/decompress';
export {
  checkIndex,
  parseIndex,
  shardNames,
  type IndexCheck,
  type IndexProblem,
  type IndexProblemCode,
  type IndexFix,
  type ShardHeader,
  type ShardSummary,
  type ShardState,
  type WeightMapEntry,
  type JsonRange,
} from './formats/indexCheck';
export { readShardStates, readShardState, readTensorList, type TensorList } from './container/shards';
