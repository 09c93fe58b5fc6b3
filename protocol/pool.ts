/**
 * Messages of the engine's worker pool (engine/pool/): the codec tasks the calling thread posts to
 * a pool thread and their replies (run by engine/pool/tasks.ts, on a worker or inline), the coder
 * worker's port messages (pool.ts <-> worker.ts) and the hashing worker's (hasher.ts <-> worker.ts).
 * Types only; the engine imports this file type-only (test/unit/import-rules.test.ts).
 */
import type { ChunkChecksum } from '../engine/codec/checksum';
import type { ErrorAcc } from '../engine/lossy/errorStats';

/** lossyBits: round the chunk in place to that many mantissa bits first (lossy mode); `data` in
 *  the reply is then the rounded chunk and `crc` its checksum. */
export interface EncodeTask {
  op: 'encode';
  dtype: string;
  data: Uint8Array;
  lossyBits?: number;
  /** GGUF block types: the chunk's offset in the tensor mod the block size (encodeChunk) */
  phase?: number;
  /** where to write the payload (data.length + 1 bytes fit any payload); typically a slot of a
   *  SharedArrayBuffer, so nothing is allocated or transferred per chunk. The reply's payload is then a view of it. */
  out?: Uint8Array;
  /** checksum algorithm of `crc`/`payloadCrc` in the reply (default CHUNK_CHECKSUM) */
  sum?: ChunkChecksum;
  /** delta coding (.tzip 3.0): the partner tensor's same bytes in the base model */
  base?: Uint8Array;
}
/** crc / payloadCrc: checksums of the raw chunk and of the payload (algorithm: the task's `sum`). */
export interface EncodeReply {
  payload: Uint8Array;
  crc: number;
  payloadCrc: number;
  data: Uint8Array;
  lossy?: ErrorAcc;
}
/** Lossy what-if: for each entry of `bits` (undefined = lossless), the coded size of the chunk
 *  rounded that way, the error statistics, and a digest of the rounded bytes (for dedupe). */
export interface WhatIfTask {
  op: 'whatif';
  dtype: string;
  data: Uint8Array;
  bits: Array<number | undefined>;
  phase?: number;
  sum?: ChunkChecksum;
}
export interface WhatIfReply {
  sizes: number[];
  errors: Array<ErrorAcc | undefined>;
  digests: string[];
  crcs: number[];
  payloadCrcs: number[];
}
export interface DecodeTask {
  op: 'decode';
  dtype: string;
  payload: Uint8Array;
  rawLength: number;
  payloadCrc: number;
  /** the container's checksum algorithm (index "checksum") for payloadCrc and crc */
  sum: ChunkChecksum;
  /** checksum the decoded bytes must have; omitted when the caller checks a SHA-256 of everything anyway */
  crc?: number;
  /** where to decode to (a slot of the pipeline's output buffer), sparing a 1 MiB allocation per chunk */
  out?: Uint8Array;
  /** delta files: the base bytes of this chunk (delta payload modes need them) */
  base?: Uint8Array;
}
export interface DecodeReply {
  data: Uint8Array;
}
/**
 * Many small chunks in one task (small tensors): `data` holds them back to back (item k at
 * items[k].at), each coded on its own exactly as an EncodeTask would, the payloads placed back to
 * back in `out` (payloads[k] = [start, length] in out).
 */
export interface EncodeBatchTask {
  op: 'encodeBatch';
  data: Uint8Array;
  out: Uint8Array;
  sum?: ChunkChecksum;
  items: Array<{ dtype: string; at: number; length: number; phase?: number }>;
}
export interface EncodeBatchReply {
  payloads: Array<[number, number]>;
  crcs: number[];
  payloadCrcs: number[];
}
/** Many small chunks whose payloads lie back to back in `payload`, decoded back to back into `out`. */
export interface DecodeBatchTask {
  op: 'decodeBatch';
  payload: Uint8Array;
  out: Uint8Array;
  sum: ChunkChecksum;
  items: Array<{ dtype: string; payloadLength: number; rawLength: number; payloadCrc: number; crc?: number }>;
}
export type Task = EncodeTask | DecodeTask | WhatIfTask | EncodeBatchTask | DecodeBatchTask;

/** What runTask answers for any task (DecodeReply for decode and decodeBatch). */
export type TaskReply = EncodeReply | DecodeReply | WhatIfReply | EncodeBatchReply;

// ---------------------------------------------------------------------------------------------
// Port messages (worker_threads)

/** pool.ts -> coder worker: run one task. */
export interface TaskMessage {
  id: number;
  task: Task;
}

/** Why a task failed on a worker; `corrupt` rebuilds a ChunkCorrupt (with `item` of a batch) on the caller's side. */
export interface TaskFailure {
  message: string;
  corrupt: boolean;
  item?: number;
}

/** coder worker -> pool.ts: booted (takes work from now on), or the answer to a TaskMessage. */
export type FromCoder = { ready: true } | { id: number; reply: TaskReply } | { id: number; error: TaskFailure };

/** hasher.ts -> hashing worker: feed a view of shared memory (in order), or finish with the digest. */
export type ToHasher =
  { hash: 'update'; id: number; buf: SharedArrayBuffer; off: number; len: number } | { hash: 'digest'; id: number };

/** hashing worker -> hasher.ts: the message `id` is done (`digest`: the SHA-256, hex, for a digest). */
export interface FromHasher {
  id: number;
  digest?: string;
}
