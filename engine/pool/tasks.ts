/**
 * The work a pool thread does on one chunk. Shared by the worker entry (worker.ts) and the
 * inline path (threads = 1), so both produce identical bytes.
 */
import { decodeChunk, encodeChunk, initCodec, CodecError } from '../codec/index';
import { crc32 } from '../container/crc32';

export interface EncodeTask { op: 'encode'; dtype: string; data: Uint8Array }
export interface EncodeReply { payload: Uint8Array; crc: number; payloadCrc: number; data: Uint8Array }
export interface DecodeTask { op: 'decode'; dtype: string; payload: Uint8Array; rawLength: number; crc: number; payloadCrc: number }
export interface DecodeReply { data: Uint8Array }
export type Task = EncodeTask | DecodeTask;

/** A decode whose output does not match its checksum, or whose payload is not a valid chunk. */
export class ChunkCorrupt extends Error {}

let ready: Promise<void> | undefined;
export function initTasks(): Promise<void> {
  return (ready ??= initCodec());
}

export function runTask(t: Task): EncodeReply | DecodeReply {
  if (t.op === 'encode') {
    const payload = standalone(encodeChunk(t.data, t.dtype));
    return { payload, crc: crc32(t.data), payloadCrc: crc32(payload), data: t.data };
  }
  // The payload checksum is checked first, so corrupted bytes never reach the decoder.
  if (crc32(t.payload) !== t.payloadCrc) throw new ChunkCorrupt('chunk payload checksum mismatch');
  let data: Uint8Array;
  try {
    data = decodeChunk(t.payload, t.dtype, t.rawLength);
  } catch (e) {
    if (e instanceof CodecError) throw new ChunkCorrupt(`corrupted chunk data (${e.message})`);
    throw e;
  }
  if (data.length !== t.rawLength || crc32(data) !== t.crc) throw new ChunkCorrupt('chunk checksum mismatch');
  return { data: standalone(data) };
}

/** A copy that owns its whole ArrayBuffer, so it can be transferred without detaching codec memory. */
function standalone(a: Uint8Array): Uint8Array {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer ? a : a.slice();
}
