import { TzError } from '../core/errors';
import type { FileWindow } from './window';

/**
 * A minimal protobuf wire-format walker that yields every field of a message with its absolute
 * byte range in the file.
 *
 * Why not protobufjs (or onnx's generated classes): a decoder materializes every `bytes` field,
 * so opening a 2 GB ONNX model would copy all its `raw_data` into memory, and it forgets where
 * each field was. The compressor needs the opposite: the exact absolute offsets of `raw_data`
 * (and packed float fields) so that it can code them in place and keep every other byte verbatim.
 * Walking the wire format over bounded reads gives both, in about a hundred lines, and lets
 * skipped fields (tensor payloads) cost nothing.
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_SGROUP = 3;
export const WIRE_EGROUP = 4;
export const WIRE_I32 = 5;

export interface ProtoField {
  /** field number */
  no: number;
  wire: number;
  /** varint value (NaN when it does not fit in 2^53, e.g. a negative int64) */
  value: number;
  /** absolute range of the payload: LEN payload, or the 4/8 fixed bytes, or the varint bytes */
  start: number;
  end: number;
}

/** Decodes a varint at `at` in `b`; returns [value (NaN if > 2^53), byte length] or null if incomplete. */
export function readVarint(b: Uint8Array, at: number): [number, number] | null {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (at + i >= b.length) return null;
    const byte = b[at + i]!;
    value += (byte & 0x7f) * mul;
    mul *= 128;
    if ((byte & 0x80) === 0) return [Number.isSafeInteger(value) ? value : NaN, i + 1];
  }
  return [NaN, 11]; // over-long varint: callers reject it
}

const MAX_FIELDS = 10_000_000;

/**
 * Lists the fields of the message occupying [start, end) of the file (payloads are not read).
 * Throws BAD_INPUT on malformed wire data (bad wire type, field running past the message end).
 * A list rather than an async generator: most keys are in the read-ahead window, so the loop
 * stays synchronous and a misparse of megabytes of float data as tiny fields stays fast.
 */
export async function protoFields(w: FileWindow, start: number, end: number, what: string): Promise<ProtoField[]> {
  const out: ProtoField[] = [];
  let pos = start;
  while (pos < end) {
    if (out.length >= MAX_FIELDS) bad(w, what, pos, `more than ${MAX_FIELDS} fields`);
    const want = Math.min(20, end - pos, w.size - pos);
    const head = w.peek(pos, want) ?? (await w.upTo(pos, want));
    const key = readVarint(head, 0);
    if (!key || key[1] > 10 || !Number.isFinite(key[0])) bad(w, what, pos, 'malformed field key');
    const [k, kl] = key;
    const no = Math.floor(k / 8);
    const wire = k % 8;
    if (no === 0) bad(w, what, pos, 'field number 0');
    let p = pos + kl;
    let f: ProtoField;
    switch (wire) {
      case WIRE_VARINT: {
        const v = readVarint(head, kl);
        if (!v || v[1] > 10) bad(w, what, pos, 'malformed varint');
        f = { no, wire, value: v[0], start: p, end: p + v[1] };
        break;
      }
      case WIRE_I64:
        f = { no, wire, value: NaN, start: p, end: p + 8 };
        break;
      case WIRE_I32:
        f = { no, wire, value: NaN, start: p, end: p + 4 };
        break;
      case WIRE_LEN: {
        const v = readVarint(head, kl);
        if (!v || v[1] > 10 || !Number.isFinite(v[0])) bad(w, what, pos, 'malformed length');
        p += v[1];
        f = { no, wire, value: v[0], start: p, end: p + v[0] };
        break;
      }
      default:
        // groups (3/4) are deprecated and never used by ONNX; 6/7 do not exist
        bad(w, what, pos, `unsupported wire type ${wire}`);
    }
    if (f.end > end) {
      if (f.end > w.size) w.truncated(`${what} field ${no}`, pos);
      bad(w, what, pos, `field ${no} (${f.end - f.start} bytes) runs past the end of its message`);
    }
    out.push(f);
    pos = f.end;
  }
  return out;
}

/** Decodes all fields of a small in-memory message (e.g. a key/value entry) synchronously. */
export function protoFieldsSync(b: Uint8Array, base: number): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  while (pos < b.length) {
    const key = readVarint(b, pos);
    if (!key || key[1] > 10 || !Number.isFinite(key[0])) throw new Error(`malformed field key at byte ${base + pos}`);
    const no = Math.floor(key[0] / 8);
    const wire = key[0] % 8;
    let p = pos + key[1];
    let f: ProtoField;
    if (wire === WIRE_VARINT) {
      const v = readVarint(b, p);
      if (!v || v[1] > 10) throw new Error(`malformed varint at byte ${base + p}`);
      f = { no, wire, value: v[0], start: base + p, end: base + p + v[1] };
    } else if (wire === WIRE_I64) f = { no, wire, value: NaN, start: base + p, end: base + p + 8 };
    else if (wire === WIRE_I32) f = { no, wire, value: NaN, start: base + p, end: base + p + 4 };
    else if (wire === WIRE_LEN) {
      const v = readVarint(b, p);
      if (!v || v[1] > 10 || !Number.isFinite(v[0])) throw new Error(`malformed length at byte ${base + p}`);
      p += v[1];
      f = { no, wire, value: v[0], start: base + p, end: base + p + v[0] };
    } else throw new Error(`unsupported wire type ${wire} at byte ${base + pos}`);
    if (f.end - base > b.length) throw new Error(`field ${no} at byte ${base + pos} runs past the end of its message`);
    out.push(f);
    pos = f.end - base;
  }
  return out;
}

/** Decodes a packed run of varints (e.g. packed int64 dims); NaN for values beyond 2^53. */
export function packedVarints(b: Uint8Array, limit: number): number[] {
  const out: number[] = [];
  let pos = 0;
  while (pos < b.length) {
    if (out.length >= limit) throw new Error(`more than ${limit} packed values`);
    const v = readVarint(b, pos);
    if (!v || v[1] > 10) throw new Error('malformed packed varint');
    out.push(v[0]);
    pos += v[1];
  }
  return out;
}

function bad(w: FileWindow, what: string, pos: number, problem: string): never {
  throw new TzError('BAD_INPUT', w.file, `malformed protobuf in ${what} at byte ${pos}: ${problem}`);
}
