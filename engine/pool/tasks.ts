/**
 * The work a pool thread does on one chunk. Shared by the worker entry (worker.ts) and the
 * inline path (threads = 1), so both produce identical bytes. The task and reply messages are
 * protocol/pool.ts.
 */
import { createHash } from 'node:crypto';
import {
  decodeChunk,
  decodeChunkInto,
  decodeDeltaChunkInto,
  encodeChunk,
  encodeDeltaChunk,
  initCodec,
  CodecError,
} from '../codec/index';
import { CHUNK_CHECKSUM, chunkChecksum } from '../codec/checksum';
import type { ErrorAcc } from '../lossy/errorStats';
import type {
  DecodeBatchTask,
  DecodeReply,
  EncodeBatchReply,
  EncodeBatchTask,
  Task,
  TaskReply,
  WhatIfReply,
  WhatIfTask,
} from '../../protocol/pool';
import { lossyEncodeOptions } from '../lossy/encodeOptions';
import { roundChunk } from '../lossy/round';

/** A decode whose output does not match its checksum, or whose payload is not a valid chunk;
 *  `item`: which chunk of a batch task. */
export class ChunkCorrupt extends Error {
  constructor(
    message: string,
    readonly item?: number,
  ) {
    super(message);
  }
}

let ready: Promise<void> | undefined;
export function initTasks(): Promise<void> {
  return (ready ??= initCodec());
}

export function runTask(t: Task): TaskReply {
  if (t.op === 'whatif') return runWhatIf(t);
  if (t.op === 'encodeBatch') return runEncodeBatch(t);
  if (t.op === 'decodeBatch') return runDecodeBatch(t);
  if (t.op === 'encode') {
    const sum = t.sum ?? CHUNK_CHECKSUM;
    if (t.lossyBits !== undefined) {
      const lossy = roundChunk(t.data, t.dtype, t.lossyBits);
      const payload = owned(encodeChunk(t.data, t.dtype, lossyEncodeOptions(t.lossyBits), 0, t.out), t.out);
      return { payload, crc: chunkChecksum(sum, t.data), payloadCrc: chunkChecksum(sum, payload), data: t.data, lossy };
    }
    const payload = owned(
      t.base
        ? encodeDeltaChunk(t.data, t.base, t.dtype, undefined, t.phase, t.out)
        : encodeChunk(t.data, t.dtype, undefined, t.phase, t.out),
      t.out,
    );
    return { payload, crc: chunkChecksum(sum, t.data), payloadCrc: chunkChecksum(sum, payload), data: t.data };
  }
  // A payload in shared memory is copied once (aligned, a memmove) into this thread's memory: the
  // decoder's reads at arbitrary offsets out of shared memory would be copied byte by byte.
  const payload = t.payload.buffer instanceof SharedArrayBuffer ? local(t.payload) : t.payload;
  // The payload checksum is checked first, so corrupted bytes never reach the decoder.
  if (chunkChecksum(t.sum, payload) !== t.payloadCrc) throw new ChunkCorrupt('chunk payload checksum mismatch');
  let data: Uint8Array;
  try {
    if (t.base) {
      data = t.out && t.out.length >= t.rawLength ? t.out.subarray(0, t.rawLength) : new Uint8Array(t.rawLength);
      decodeDeltaChunkInto(t.payload, t.rawLength, t.base, data);
    } else if (t.out && t.out.length >= t.rawLength) {
      data = t.out.subarray(0, t.rawLength);
      decodeChunkInto(payload, t.dtype, t.rawLength, data);
    } else data = decodeChunk(payload, t.dtype, t.rawLength);
  } catch (e) {
    if (e instanceof CodecError) throw new ChunkCorrupt(`corrupted chunk data (${e.message})`);
    throw e;
  }
  if (data.length !== t.rawLength || (t.crc !== undefined && chunkChecksum(t.sum, data) !== t.crc))
    throw new ChunkCorrupt('chunk checksum mismatch');
  // a view on the caller's own buffer is sent back as it is; anything else must own its buffer
  return { data: t.out && data.buffer === t.out.buffer ? data : standalone(data) };
}

let localBuf = new Uint8Array(0);
/** `a` copied into this thread's reusable scratch memory (valid until the next call). */
function local(a: Uint8Array): Uint8Array {
  if (localBuf.length < a.length) localBuf = new Uint8Array(Math.max(a.length, 2 * localBuf.length));
  const v = localBuf.subarray(0, a.length);
  v.set(a);
  return v;
}

// Batches are coded in thread-local memory and copied in and out of the shared slots once, whole:
// their items start at arbitrary offsets, and V8 copies unaligned views of shared memory byte by byte.
let batchIn: Uint8Array = new Uint8Array(0);
let batchOut: Uint8Array = new Uint8Array(0);
function scratchOf(buf: Uint8Array, len: number): Uint8Array {
  return buf.length >= len ? buf : new Uint8Array(Math.max(len, 2 * buf.length));
}

function runEncodeBatch(t: EncodeBatchTask): EncodeBatchReply {
  const sum = t.sum ?? CHUNK_CHECKSUM;
  batchIn = scratchOf(batchIn, t.data.length);
  const data = batchIn.subarray(0, t.data.length);
  data.set(t.data);
  let room = 0;
  for (const it of t.items) room += it.length + 1;
  batchOut = scratchOf(batchOut, room);
  const payloads: Array<[number, number]> = [];
  const crcs: number[] = [];
  const payloadCrcs: number[] = [];
  let pos = 0;
  for (const it of t.items) {
    const chunk = data.subarray(it.at, it.at + it.length);
    const p = encodeChunk(chunk, it.dtype, undefined, it.phase ?? 0, batchOut.subarray(pos));
    if (p.buffer !== batchOut.buffer || p.byteOffset !== batchOut.byteOffset + pos) batchOut.set(p, pos);
    payloads.push([pos, p.length]);
    crcs.push(chunkChecksum(sum, chunk));
    payloadCrcs.push(chunkChecksum(sum, batchOut.subarray(pos, pos + p.length)));
    pos += p.length;
  }
  if (pos > t.out.length) throw new Error('encodeBatch: payloads do not fit the output slot');
  t.out.set(batchOut.subarray(0, pos));
  return { payloads, crcs, payloadCrcs };
}

function runDecodeBatch(t: DecodeBatchTask): DecodeReply {
  const payload = t.payload.buffer instanceof SharedArrayBuffer ? local(t.payload) : t.payload;
  let raw = 0;
  for (const it of t.items) raw += it.rawLength;
  if (raw > t.out.length) throw new Error('decodeBatch: chunks do not fit the output slot');
  batchOut = scratchOf(batchOut, raw);
  let at = 0;
  let o = 0;
  t.items.forEach((it, k) => {
    const p = payload.subarray(at, at + it.payloadLength);
    if (p.length !== it.payloadLength || chunkChecksum(t.sum, p) !== it.payloadCrc)
      throw new ChunkCorrupt('chunk payload checksum mismatch', k);
    const dst = batchOut.subarray(o, o + it.rawLength);
    try {
      decodeChunkInto(p, it.dtype, it.rawLength, dst);
    } catch (e) {
      if (e instanceof CodecError) throw new ChunkCorrupt(`corrupted chunk data (${e.message})`, k);
      throw e;
    }
    if (it.crc !== undefined && chunkChecksum(t.sum, dst) !== it.crc)
      throw new ChunkCorrupt('chunk checksum mismatch', k);
    at += it.payloadLength;
    o += it.rawLength;
  });
  t.out.set(batchOut.subarray(0, raw));
  return { data: t.out.subarray(0, raw) };
}

function runWhatIf(t: WhatIfTask): WhatIfReply {
  const sizes: number[] = [];
  const errors: Array<ErrorAcc | undefined> = [];
  const digests: string[] = [];
  const crcs: number[] = [];
  const payloadCrcs: number[] = [];
  const work = new Uint8Array(t.data.length);
  const sum = t.sum ?? CHUNK_CHECKSUM;
  for (const k of t.bits) {
    work.set(t.data);
    errors.push(k === undefined ? undefined : roundChunk(work, t.dtype, k));
    const payload =
      k === undefined
        ? encodeChunk(work, t.dtype, undefined, t.phase)
        : encodeChunk(work, t.dtype, lossyEncodeOptions(k));
    sizes.push(payload.length);
    payloadCrcs.push(chunkChecksum(sum, payload));
    crcs.push(chunkChecksum(sum, work));
    digests.push(createHash('sha1').update(work).digest('hex'));
  }
  return { sizes, errors, digests, crcs, payloadCrcs };
}

/** The payload as it can be posted back: a view of the caller's `out` as it is, anything else standalone. */
function owned(payload: Uint8Array, out: Uint8Array | undefined): Uint8Array {
  return out && payload.buffer === out.buffer ? payload : standalone(payload);
}

/** A copy that owns its whole ArrayBuffer, so it can be transferred without detaching codec memory. */
function standalone(a: Uint8Array): Uint8Array {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer ? a : a.slice();
}
