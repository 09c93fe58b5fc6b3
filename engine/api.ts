/**
 * The engine's public surface: what the CLI, the server and tests call. Everything here works on
 * absolute or relative file-system paths, streams in bounded chunks, honours an AbortSignal
 * (throwing TzError CANCELLED and leaving no partial output) and reports progress.
 */
import type { FileAnalysis, TensorAnalysis } from './analysis/types';
import type { LossyReport } from './lossy/types';

export type JobPhase = 'analyze' | 'compress' | 'decompress' | 'verify';

export interface Progress {
  phase: JobPhase;
  file: string;
  bytesDone: number;
  bytesTotal: number;
  /** tensor / layer currently being processed, when known */
  tensor?: string;
  layer?: string;
}

export interface JobOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** worker threads for coding (default: number of cores) */
  threads?: number;
}

export interface AnalyzeOptions extends JobOptions {
  /** sample instead of scanning everything; results are marked as estimates */
  quick?: boolean;
  /** called as each tensor's analysis completes, in file order */
  onTensor?: (t: TensorAnalysis, index: number, total: number) => void;
}

export interface CompressOptions extends JobOptions {
  /** output path (default `<input>.tzip`) */
  output?: string;
  force?: boolean;
  /**
   * fsync the .tzip before it is renamed into place, so it survives a power loss: for callers that
   * will delete the original afterwards. Off by default, like zstd and gzip (the input stays).
   */
  durable?: boolean;
  /** lossy mode: mantissa bits kept (issue 4); undefined = lossless */
  lossyBits?: number;
  /** lossy mode: tensor-name globs rounded even if the defaults keep them lossless (engine/lossy/select.ts) */
  lossyInclude?: string[];
  /** lossy mode: tensor-name globs always kept lossless */
  lossyExclude?: string[];
  /** lossy mode: NeuZip block normalisation; refused (UNSUPPORTED): measured in docs/measurements.md, "Lossy mode" */
  lossyBlock?: number;
  /** per-chunk checksum: XXH32 (default, format 2.0) or CRC-32 (as in 1.x files) */
  chunkChecksum?: 'crc32' | 'xxh32';
  /** delta coding (.tzip 3.0): code tensors against their partners (same name, dtype, shape) in
   *  this model file, .tzip of one, or sharded index */
  base?: string;
}

export interface CompressResult {
  output: string;
  bytes: number;
  originalBytes: number;
  sha256: string;
  seconds: number;
  /** lossy mode: the error report (per rounded tensor and the whole file) */
  lossy?: LossyReport;
  /** delta files: the base coded against, and how many tensors were matched in it */
  base?: { name: string; sha256: string; matchedTensors: number };
}

export interface DecompressOptions extends JobOptions {
  /** output path (default: the original name stored in the container, next to the .tzip) */
  output?: string;
  force?: boolean;
  /** fsync the output before it is renamed into place (as CompressOptions.durable) */
  durable?: boolean;
  /** delta files: the base model (default: found by name and SHA-256 next to the .tzip) */
  base?: string;
}

export interface DecompressResult {
  output: string;
  bytes: number;
  sha256: string;
  seconds: number;
}

export interface VerifyOptions extends JobOptions {
  /**
   * compare with this original file too: every byte for a lossless .tzip; for a lossy one (which
   * restores rounded values) its SHA-256 must be the stored input SHA-256 (the file it was made from)
   */
  against?: string;
  /** delta files: the base model (default: found by name and SHA-256 next to the .tzip) */
  base?: string;
}

export interface VerifyResult {
  ok: boolean;
  problems: string[];
  sha256?: string;
  /** a lossy .tzip: the mantissa bits kept and the SHA-256 of the file it was made from */
  lossy?: { bits: number; inputSha256: string };
  /** tensors (region names) with corrupted chunks */
  damaged?: string[];
}

export type { FileAnalysis, TensorAnalysis };
export type { LossyReport, LossyTensorReport, ErrorSummary } from './lossy/types';
export type { WhatIfOptions, WhatIfResult, WhatIfPoint, WhatIfGroup } from './lossy/whatif';
export { whatIf } from './lossy/whatif';
export { DEFAULT_LOSSLESS_GLOBS } from './lossy/select';
export { analyzeFile } from './analysis/analyze';
export { extractTensors, exportOutputName, type ExtractOptions, type ExtractResult } from './container/extract';
export { openTensors, openTzip, type TensorSource, type TensorInfo, type TensorData } from './container/tensorReader';
export { poolTensor, type PooledView, type ViewParams, type PoolMode } from './analysis/tensorView';
export { compressFile } from './container/compress';
export { planChain, compressChainMember, stepOf, DEFAULT_KEYFRAME_EVERY, type ChainMember, type ChainMemberResult } from './container/chain';
export { removeLiveTempsSync } from './container/output';
export { diffFiles, type DiffResult, type DiffOptions, type TensorDiff, type LayerDiff, type DiffSummary, type DiffStatus } from './diff/diff';
export { decompressFile, verifyFile, infoFile, type TzipInfo, type TzipRegionInfo } from './container/decompress';
export { checkIndex, parseIndex, shardNames, type IndexCheck, type IndexProblem, type IndexProblemCode, type IndexFix, type ShardHeader, type ShardSummary, type ShardState, type WeightMapEntry, type JsonRange } from './formats/indexCheck';
export { readShardStates, readShardState, readTensorList, type TensorList } from './container/shards';
