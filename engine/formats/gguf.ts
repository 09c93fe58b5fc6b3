import * as path from 'node:path';
import { TzError } from '../core/errors';
import { elementCount } from '../core/dtypes';
import type { FormatReader, ModelLayout, TensorEntry } from './types';
import { FileWindow, withWindow, dv, u64, text } from './window';
import { GGML_TYPES } from './ggml';

/**
 * GGUF v2/v3 reader (llama.cpp, Ollama).
 *
 * Why not `@huggingface/gguf`: it materializes every metadata array as JS values (a 150,000-token
 * vocabulary becomes 150,000 strings plus score/type arrays, as bigints where 64-bit), it is built
 * around HTTP range fetches, and it reports offsets relative to the data section without the
 * per-type byte sizes we need. A bounded reader over the documented layout is ~250 lines and
 * summarizes big arrays while skipping over them (strings are stepped over by their length prefix,
 * never decoded beyond the first few).
 *
 * Shapes are reported in GGUF order (ne0 first, the fastest-varying dimension), as llama.cpp and
 * gguf-py print them; `extra.rowMajorShape` is the reversed (safetensors/PyTorch) order.
 */

/** GGUF metadata value types */
const V = {
  U8: 0,
  I8: 1,
  U16: 2,
  I16: 3,
  U32: 4,
  I32: 5,
  F32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  U64: 10,
  I64: 11,
  F64: 12,
} as const;
const V_NAMES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'];
const V_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

const MAX_TENSORS = 1_000_000;
const MAX_KV = 1_000_000;
const MAX_DIMS = 8; // GGML_MAX_DIMS is 4; be lenient
const MAX_KEY = 1 << 16;
const MAX_STRING_VALUE = 16 << 20; // a single metadata string (chat templates can be long)
const KEEP_STRING = 1024; // characters of a string value kept in the summary
const ARRAY_KEEP = 16; // arrays up to this many elements are kept whole; longer ones summarized
const ARRAY_PREVIEW = 8;
const MAX_NESTING = 8;

export interface ArraySummary {
  type: 'array';
  elementType: string;
  length: number;
  first: unknown[];
}

export const ggufReader: FormatReader = {
  format: 'gguf',
  detect(file, head) {
    return (
      (head.length >= 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) ||
      path.extname(file).toLowerCase() === '.gguf'
    );
  },
  async read(file) {
    return withWindow(file, (w) => readGguf(w));
  },
};

class Cursor {
  constructor(
    readonly w: FileWindow,
    public pos: number,
  ) {}
  async take(n: number, what: string): Promise<Uint8Array> {
    const b = await this.w.bytes(this.pos, n, what);
    this.pos += n;
    return b;
  }
  async u32(what: string): Promise<number> {
    return dv(await this.take(4, what)).getUint32(0, true);
  }
  async u64(what: string): Promise<number> {
    const b = await this.take(8, what);
    const v = u64(b, 0);
    if (Number.isNaN(v))
      throw new TzError('BAD_INPUT', this.w.file, `${what} at byte ${this.pos - 8} is larger than 2^53`);
    return v;
  }
  /** string: u64 length + bytes; decoded up to `keep` bytes, the rest skipped */
  async str(what: string, max: number, keep = max): Promise<string> {
    const at = this.pos;
    const n = await this.u64(`${what} length`);
    if (n > max) throw new TzError('BAD_INPUT', this.w.file, `${what} at byte ${at} claims ${n} bytes (limit ${max})`);
    if (this.pos + n > this.w.size) this.w.truncated(what, at);
    const s = text(await this.w.bytes(this.pos, Math.min(n, keep), what));
    this.pos += n;
    return n > keep ? s + '…' : s;
  }
}

async function readGguf(w: FileWindow): Promise<ModelLayout> {
  const file = w.file;
  const c = new Cursor(w, 0);
  if (w.size < 24) throw new TzError('BAD_INPUT', file, `too short for a GGUF header (${w.size} bytes)`);
  const magic = await c.take(4, 'magic');
  if (text(magic) !== 'GGUF') throw new TzError('BAD_INPUT', file, 'not a GGUF file (magic is not "GGUF")');
  const version = await c.u32('version');
  if (version !== 2 && version !== 3) {
    const swapped =
      ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
    if (swapped === 2 || swapped === 3)
      throw new TzError('UNSUPPORTED', file, `big-endian GGUF v${swapped} is not supported`);
    throw new TzError('UNSUPPORTED', file, `GGUF version ${version} is not supported (v2 and v3 are)`);
  }
  const tensorCount = await c.u64('tensor count');
  const kvCount = await c.u64('metadata count');
  if (tensorCount > MAX_TENSORS) throw new TzError('BAD_INPUT', file, `absurd tensor count ${tensorCount}`);
  if (kvCount > MAX_KV) throw new TzError('BAD_INPUT', file, `absurd metadata count ${kvCount}`);
  // every tensor info takes at least 8+4+8+4+8 bytes, every kv at least 8+4+1: reject lying counts early
  if (24 + tensorCount * 32 + kvCount * 13 > w.size) {
    throw new TzError(
      'BAD_INPUT',
      file,
      `header claims ${tensorCount} tensors and ${kvCount} metadata entries, more than fit in ${w.size} bytes`,
    );
  }

  const metadata: Record<string, unknown> = { version };
  const kv: Record<string, unknown> = {};
  let alignment = 32;
  for (let i = 0; i < kvCount; i++) {
    const key = await c.str('metadata key', MAX_KEY);
    const type = await c.u32(`type of "${key}"`);
    const value = await readValue(c, type, key, 0);
    if (key === 'general.alignment') {
      if (type !== V.U32 || typeof value !== 'number' || value === 0 || (value & (value - 1)) !== 0) {
        throw new TzError(
          'BAD_INPUT',
          file,
          `general.alignment must be a power of two u32, got ${JSON.stringify(value)}`,
        );
      }
      alignment = value;
    }
    kv[key] = value;
  }
  metadata.kv = kv;

  interface Info {
    name: string;
    ne: number[];
    type: number;
    rel: number;
  }
  const infos: Info[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = await c.str('tensor name', MAX_KEY);
    const nd = await c.u32(`dimension count of "${name}"`);
    if (nd > MAX_DIMS) throw new TzError('BAD_INPUT', file, `tensor "${name}" claims ${nd} dimensions`);
    const ne: number[] = [];
    for (let d = 0; d < nd; d++) ne.push(await c.u64(`dimension of "${name}"`));
    const type = await c.u32(`type of "${name}"`);
    const rel = await c.u64(`offset of "${name}"`);
    if (seen.has(name)) throw new TzError('BAD_INPUT', file, `duplicate tensor name "${name}"`);
    seen.add(name);
    infos.push({ name, ne, type, rel });
  }
  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  if (tensorCount > 0 && dataStart > w.size) w.truncated('tensor data section', dataStart);
  metadata.alignment = alignment;
  metadata.dataOffset = dataStart;
  metadata.tensorCount = tensorCount;

  const order = infos.map((_, i) => i).sort((a, b) => infos[a]!.rel - infos[b]!.rel);
  const tensors: TensorEntry[] = [];
  for (let k = 0; k < order.length; k++) {
    const t = infos[order[k]!]!;
    const offset = dataStart + t.rel;
    const count = elementCount(t.ne);
    if (Number.isNaN(count))
      throw new TzError('BAD_INPUT', file, `tensor "${t.name}" has an element count beyond 2^53`);
    const gt = GGML_TYPES[t.type];
    const extra: Record<string, unknown> = { ggmlType: t.type, rowMajorShape: [...t.ne].reverse() };
    let bytes: number;
    let dtype: string;
    if (gt) {
      dtype = gt.name;
      const ne0 = t.ne[0] ?? 1;
      if (ne0 % gt.blockSize !== 0)
        throw new TzError(
          'BAD_INPUT',
          file,
          `tensor "${t.name}": first dimension ${ne0} is not a multiple of the ${gt.name} block size ${gt.blockSize}`,
        );
      bytes = (count / gt.blockSize) * gt.typeSize;
      if (gt.blockSize > 1) {
        extra.block = { elements: gt.blockSize, bytes: gt.typeSize, ...(gt.fields ? { fields: gt.fields } : {}) };
        extra.bitsPerWeight = (gt.typeSize * 8) / gt.blockSize;
      }
    } else {
      // unknown type: opaque bytes up to the next tensor (or the end of the file)
      dtype = `GGML_TYPE_${t.type}`;
      const next = k + 1 < order.length ? dataStart + infos[order[k + 1]!]!.rel : w.size;
      bytes = Math.max(0, next - offset);
      extra.sizeInferred = true;
    }
    if (t.rel % alignment !== 0)
      throw new TzError(
        'BAD_INPUT',
        file,
        `tensor "${t.name}" offset ${t.rel} is not a multiple of the alignment ${alignment}`,
      );
    if (offset + bytes > w.size)
      throw new TzError(
        'BAD_INPUT',
        file,
        `tensor "${t.name}" [${offset}, ${offset + bytes}) runs past the end of the file (${w.size} bytes)`,
      );
    const prev = tensors[tensors.length - 1];
    if (prev && prev.offset + prev.bytes > offset)
      throw new TzError('BAD_INPUT', file, `tensors "${prev.name}" and "${t.name}" overlap`);
    tensors.push({ name: t.name, dtype, shape: t.ne, offset, bytes, extra });
  }
  return { path: file, format: 'gguf', size: w.size, tensors, metadata };
}

async function readValue(c: Cursor, type: number, key: string, depth: number): Promise<unknown> {
  const file = c.w.file;
  if (type === V.STRING) return c.str(`value of "${key}"`, MAX_STRING_VALUE, KEEP_STRING);
  if (type === V.ARRAY) {
    if (depth >= MAX_NESTING)
      throw new TzError('BAD_INPUT', file, `metadata "${key}" nests arrays deeper than ${MAX_NESTING}`);
    const et = await c.u32(`array type of "${key}"`);
    const n = await c.u64(`array length of "${key}"`);
    if (et > 12) throw new TzError('BAD_INPUT', file, `metadata "${key}" has unknown array element type ${et}`);
    const fixed = V_SIZE[et];
    // each element takes at least 1 byte (8 for strings, 12 for arrays): lying lengths fail here
    const minBytes = fixed ?? (et === V.STRING ? 8 : 12);
    if (n * minBytes > c.w.size - c.pos)
      throw new TzError('BAD_INPUT', file, `metadata "${key}" claims ${n} array elements, more than fit in the file`);
    const keep = n <= ARRAY_KEEP ? n : ARRAY_PREVIEW;
    const first: unknown[] = [];
    for (let i = 0; i < keep; i++) first.push(await readValue(c, et, key, depth + 1));
    if (n <= ARRAY_KEEP) return first;
    if (fixed !== undefined) {
      c.pos += (n - keep) * fixed;
      if (c.pos > c.w.size) c.w.truncated(`array "${key}"`, c.pos);
    } else if (et === V.STRING) {
      await skipStrings(c, n - keep, key);
    } else {
      for (let i = keep; i < n; i++) await skipValue(c, et, key, depth + 1);
    }
    const s: ArraySummary = { type: 'array', elementType: V_NAMES[et]!, length: n, first };
    return s;
  }
  const size = V_SIZE[type];
  if (size === undefined) throw new TzError('BAD_INPUT', file, `metadata "${key}" has unknown value type ${type}`);
  const b = await c.take(size, `value of "${key}"`);
  const d = dv(b);
  switch (type) {
    case V.U8:
      return d.getUint8(0);
    case V.I8:
      return d.getInt8(0);
    case V.U16:
      return d.getUint16(0, true);
    case V.I16:
      return d.getInt16(0, true);
    case V.U32:
      return d.getUint32(0, true);
    case V.I32:
      return d.getInt32(0, true);
    case V.F32:
      return d.getFloat32(0, true);
    case V.BOOL:
      return d.getUint8(0) !== 0;
    case V.U64: {
      const v = d.getBigUint64(0, true);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    }
    case V.I64: {
      const v = d.getBigInt64(0, true);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
    }
    default:
      return d.getFloat64(0, true);
  }
}

/** Steps over `n` strings by their length prefixes (synchronously while they are in the window). */
async function skipStrings(c: Cursor, n: number, key: string): Promise<void> {
  const w = c.w;
  let pos = c.pos;
  for (let i = 0; i < n; i++) {
    const b = w.peek(pos, 8) ?? (await w.bytes(pos, 8, `string length in "${key}"`));
    const len = u64(b, 0);
    if (Number.isNaN(len) || pos + 8 + len > w.size) w.truncated(`string in "${key}"`, pos);
    pos += 8 + len;
  }
  c.pos = pos;
}

/** Steps over a value without building it (strings by length prefix). */
async function skipValue(c: Cursor, type: number, key: string, depth: number): Promise<void> {
  if (type === V.STRING) {
    const at = c.pos;
    const n = await c.u64(`string length in "${key}"`);
    c.pos += n;
    if (c.pos > c.w.size) c.w.truncated(`string in "${key}"`, at);
    return;
  }
  if (type === V.ARRAY) {
    if (depth >= MAX_NESTING)
      throw new TzError('BAD_INPUT', c.w.file, `metadata "${key}" nests arrays deeper than ${MAX_NESTING}`);
    const et = await c.u32(`array type in "${key}"`);
    const n = await c.u64(`array length in "${key}"`);
    if (et > 12) throw new TzError('BAD_INPUT', c.w.file, `metadata "${key}" has unknown array element type ${et}`);
    const fixed = V_SIZE[et];
    if (n * (fixed ?? 8) > c.w.size - c.pos)
      throw new TzError(
        'BAD_INPUT',
        c.w.file,
        `metadata "${key}" claims ${n} array elements, more than fit in the file`,
      );
    if (fixed !== undefined) c.pos += n * fixed;
    else if (et === V.STRING) await skipStrings(c, n, key);
    else for (let i = 0; i < n; i++) await skipValue(c, et, key, depth + 1);
    if (c.pos > c.w.size) c.w.truncated(`array in "${key}"`, c.pos);
    return;
  }
  const size = V_SIZE[type];
  if (size === undefined) throw new TzError('BAD_INPUT', c.w.file, `metadata "${key}" has unknown value type ${type}`);
  c.pos += size;
}
