/**
 * Random access to the tensors of any model file the engine reads, .tzip included.
 *
 * `openTensors(path)` dispatches: a .tzip (by magic) gets `openTzip`, which decodes only the chunks
 * covering a requested byte range (each checked against its payload and raw checksums; the whole
 * file's SHA-256 is not involved, so a partial read never claims the file is intact); every other
 * format is a plain ranged read of the bytes its layout locates. Pieces are handed to the caller
 * one chunk at a time, so memory stays bounded whatever the tensor size.
 */
import { dtypeInfo, elementCount } from '../core/dtypes';
import { abortable, badInput, cancelled, TzError } from '../core/errors';
import { openModel, readHead } from '../formats/index';
import { ggmlTypeByName } from '../formats/ggml';
import { inflateMember } from '../formats/npz';
import type { ModelLayout, TensorEntry } from '../formats/types';
import { InputFile } from '../io/read';
import { ReadAhead } from '../io/readAhead';
import { inflightDepth, WorkerPool } from '../pool/pool';
import type { DecodeReply } from '../../protocol/pool';
import { ChunkCorrupt } from '../pool/tasks';
import { MAGIC, type RegionRecord } from './format';
import { openContainer, type OpenContainer } from './read';
import { isDeltaPayload } from '../codec/index';
import { openBaseFor, type ByteSource } from './base';

export interface TensorInfo {
  name: string;
  /** canonical dtype (engine/core/dtypes.ts), or a GGUF block type name ("Q8_0"), or an opaque name */
  dtype: string;
  /** as the format reports it (GGUF: ne0 first) */
  shape: number[];
  /** row-major (C order) shape: what safetensors/.npy output and the heatmap use */
  rowMajorShape: number[];
  bytes: number;
  /** element count (NaN if the shape does not give one) */
  elements: number;
  /** bytes per element, 0 for block and opaque types */
  elementBytes: number;
  /** GGUF block types: elements and bytes per block */
  block?: { elements: number; bytes: number };
  /** format facts (from the layout; absent for a .tzip) */
  extra?: Record<string, unknown>;
}

export interface ReadRange {
  /** first element (default 0) */
  start?: number;
  /** elements (default: to the end) */
  count?: number;
}

export interface TensorData {
  name: string;
  dtype: string;
  /** element range actually returned (block types: widened to whole blocks) */
  start: number;
  count: number;
  bytes: Uint8Array;
}

export interface ReadOptions {
  signal?: AbortSignal;
  /** bytes of the range delivered so far (for progress) */
  onBytes?: (done: number, total: number) => void;
}

export interface SourceStats {
  /** chunks decoded since the source was opened (.tzip only) */
  chunksDecoded: number;
  /** bytes read from the file */
  bytesRead: number;
}

/** readTensor refuses ranges larger than this (stream them with readBytes instead). */
export const MAX_READ_BYTES = 256 << 20;
const PIECE_BYTES = 4 << 20;

export interface TensorSource {
  readonly path: string;
  /** 'tzip' for a .tzip */
  readonly format: string;
  /** the original's format (a .tzip's stored one; else the same as `format`) */
  readonly originalFormat: string;
  readonly lossy: boolean;
  /** bytes of the model (a .tzip: of the original it holds) */
  readonly originalSize: number;
  readonly stats: SourceStats;
  readonly metadata?: Record<string, unknown>;
  tensors(): TensorInfo[];
  /** throws USAGE naming the file when there is no such tensor */
  tensor(name: string): TensorInfo;
  /**
   * Bytes [offset, offset + length) of a tensor's data, in order, in pieces (chunk-sized for a
   * .tzip). A piece is only valid until `sink`'s promise resolves.
   */
  readBytes(
    name: string,
    offset: number,
    length: number,
    sink: (piece: Uint8Array, at: number) => void | Promise<void>,
    opts?: ReadOptions,
  ): Promise<void>;
  /**
   * Bytes of the tensor that are decoded together (a .tzip: its chunk size), so a reader that samples
   * can read whole pieces; undefined or 0 when any byte range costs only its own bytes.
   */
  readGranule?(name: string): number;
  /** Elements [start, start + count) as raw bytes in one buffer (at most MAX_READ_BYTES). */
  readTensor(name: string, range?: ReadRange, opts?: ReadOptions): Promise<TensorData>;
  close(): Promise<void>;
}

function infoOf(
  e: { name: string; dtype: string; shape: number[]; bytes: number; extra?: Record<string, unknown> },
  gguf: boolean,
): TensorInfo {
  const size = dtypeInfo(e.dtype).size;
  const rowMajor = Array.isArray(e.extra?.rowMajorShape)
    ? (e.extra!.rowMajorShape as number[])
    : gguf
      ? [...e.shape].reverse()
      : e.shape;
  const t: TensorInfo = {
    name: e.name,
    dtype: e.dtype,
    shape: e.shape,
    rowMajorShape: rowMajor,
    bytes: e.bytes,
    elements: elementCount(e.shape),
    elementBytes: size,
  };
  if (!size && gguf) {
    const g = ggmlTypeByName(e.dtype);
    if (g && g.blockSize > 1) t.block = { elements: g.blockSize, bytes: g.typeSize };
  }
  if (e.extra) t.extra = e.extra;
  return t;
}

/** Byte range of elements [start, start+count) (block types: widened to whole blocks). */
export function byteRangeOf(
  t: TensorInfo,
  range: ReadRange = {},
): { offset: number; length: number; start: number; count: number } {
  const total = Number.isFinite(t.elements) ? t.elements : 0;
  const start = range.start ?? 0;
  const count = range.count ?? Math.max(0, total - start);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > total) {
    throw new TzError(
      'USAGE',
      undefined,
      `tensor "${t.name}": element range ${start}..${start + count} is outside its ${total} elements`,
    );
  }
  if (t.elementBytes) return { offset: start * t.elementBytes, length: count * t.elementBytes, start, count };
  if (t.block) {
    const b0 = Math.floor(start / t.block.elements);
    const b1 = Math.ceil((start + count) / t.block.elements);
    const s = b0 * t.block.elements;
    return {
      offset: b0 * t.block.bytes,
      length: (b1 - b0) * t.block.bytes,
      start: s,
      count: Math.min(total, b1 * t.block.elements) - s,
    };
  }
  if (start === 0 && count === total) return { offset: 0, length: t.bytes, start, count };
  throw new TzError(
    'UNSUPPORTED',
    undefined,
    `tensor "${t.name}" has dtype ${t.dtype}, whose elements cannot be located (only the whole tensor can be read)`,
  );
}

abstract class BaseSource implements TensorSource {
  abstract readonly path: string;
  abstract readonly format: string;
  abstract readonly originalFormat: string;
  abstract readonly originalSize: number;
  readonly lossy: boolean = false;
  readonly stats: SourceStats = { chunksDecoded: 0, bytesRead: 0 };
  protected list: TensorInfo[] = [];
  private byName = new Map<string, TensorInfo>();

  protected setList(list: TensorInfo[]): void {
    this.list = list;
    for (const t of list) if (!this.byName.has(t.name)) this.byName.set(t.name, t);
  }

  tensors(): TensorInfo[] {
    return this.list;
  }

  tensor(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new TzError('USAGE', this.path, `no tensor named "${name}"`);
    return t;
  }

  abstract readBytes(
    name: string,
    offset: number,
    length: number,
    sink: (piece: Uint8Array, at: number) => void | Promise<void>,
    opts?: ReadOptions,
  ): Promise<void>;

  protected checkRange(t: TensorInfo, offset: number, length: number): void {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > t.bytes
    ) {
      throw new TzError(
        'USAGE',
        this.path,
        `tensor "${t.name}": byte range ${offset}..${offset + length} is outside its ${t.bytes} bytes`,
      );
    }
  }

  async readTensor(name: string, range: ReadRange = {}, opts: ReadOptions = {}): Promise<TensorData> {
    const t = this.tensor(name);
    let r;
    try {
      r = byteRangeOf(t, range);
    } catch (e) {
      throw e instanceof TzError ? new TzError(e.code, this.path, e.message) : e;
    }
    if (r.length > MAX_READ_BYTES)
      throw new TzError(
        'USAGE',
        this.path,
        `tensor "${name}": ${r.length} bytes requested, more than one read returns (${MAX_READ_BYTES}); ` +
          `read it in pages`,
      );
    const bytes = new Uint8Array(r.length);
    await this.readBytes(
      name,
      r.offset,
      r.length,
      (piece, at) => {
        bytes.set(piece, at - r.offset);
      },
      opts,
    );
    return { name, dtype: t.dtype, start: r.start, count: r.count, bytes };
  }

  abstract close(): Promise<void>;
}

/** Any format but .tzip: the layout's byte ranges, read directly. */
class FileSource extends BaseSource {
  readonly format: string;
  readonly originalFormat: string;
  readonly originalSize: number;
  readonly metadata?: Record<string, unknown>;
  private files = new Map<string, InputFile>();
  private entries = new Map<string, TensorEntry>();
  private inflated = new Map<string, Uint8Array>();

  constructor(
    readonly path: string,
    private readonly layout: ModelLayout,
  ) {
    super();
    this.format = layout.format;
    this.originalFormat = layout.format;
    this.originalSize = layout.size;
    if (layout.metadata) this.metadata = layout.metadata;
    const gguf = layout.format === 'gguf';
    const list: TensorInfo[] = [];
    for (const e of layout.tensors) {
      if (this.entries.has(e.name)) continue;
      this.entries.set(e.name, e);
      // deflated .npz members: the tensor is the inflated .npy payload
      if (e.extra?.deflated && layout.format === 'npz' && typeof e.extra.innerDtype === 'string') {
        const bytes = Number(e.extra.uncompressedBytes) - Number(e.extra.npyHeaderBytes);
        list.push(infoOf({ ...e, dtype: e.extra.innerDtype, bytes }, false));
      } else list.push(infoOf(e, gguf));
    }
    this.setList(list);
  }

  private async file(p: string): Promise<InputFile> {
    let f = this.files.get(p);
    if (!f) {
      f = await InputFile.open(p);
      this.files.set(p, f);
    }
    return f;
  }

  async readBytes(
    name: string,
    offset: number,
    length: number,
    sink: (piece: Uint8Array, at: number) => void | Promise<void>,
    opts: ReadOptions = {},
  ): Promise<void> {
    const t = this.tensor(name);
    this.checkRange(t, offset, length);
    const e = this.entries.get(name)!;
    if (e.extra?.deflated) {
      if (this.layout.format !== 'npz')
        throw new TzError(
          'UNSUPPORTED',
          this.path,
          `tensor "${name}" is stored deflated (zip method ${String(e.extra.method)}); only .npz members are inflated`,
        );
      let data = this.inflated.get(name);
      if (!data) {
        data = await inflateMember(e.file ?? this.path, e);
        this.inflated.clear(); // keep one: bounded memory
        this.inflated.set(name, data);
      }
      this.stats.bytesRead += e.bytes;
      await sink(data.subarray(offset, offset + length), offset);
      opts.onBytes?.(length, length);
      return;
    }
    const f = await this.file(e.file ?? this.path);
    // two buffers: the next piece is read while the sink works on this one
    const size = Math.min(PIECE_BYTES, Math.max(1, length));
    const bufs = [new Uint8Array(size), length > size ? new Uint8Array(size) : undefined];
    const read = (done: number, k: number) => {
      const n = Math.min(size, length - done);
      this.stats.bytesRead += n;
      const r = f.readExact(e.offset + offset + done, n, `tensor "${name}"`, bufs[k & 1]);
      r.catch(() => undefined); // awaited below, or abandoned after a failure that is thrown instead
      return r;
    };
    let next: Promise<Uint8Array> | undefined = length > 0 ? read(0, 0) : undefined;
    for (let done = 0, k = 0; next; k++) {
      const piece = await next;
      if (opts.signal?.aborted) throw cancelled(this.path);
      next = done + piece.length < length ? read(done + piece.length, k + 1) : undefined;
      try {
        await sink(piece, offset + done);
      } catch (err) {
        await next?.catch(() => undefined); // no read into a buffer once the caller has moved on
        throw err;
      }
      done += piece.length;
      opts.onBytes?.(done, length);
    }
  }

  async close(): Promise<void> {
    for (const f of this.files.values()) await f.close().catch(() => undefined);
    this.files.clear();
    this.inflated.clear();
  }
}

/** A .tzip: tensor regions, decoded chunk by chunk. */
class TzipSource extends BaseSource {
  readonly format = 'tzip';
  readonly originalFormat: string;
  readonly originalSize: number;
  override readonly lossy: boolean;
  private regions = new Map<string, RegionRecord>();
  /** raw offset of each chunk inside its region */
  private chunkStart: Float64Array;
  private pool: WorkerPool | undefined;
  private cache: { chunk: number; data: Uint8Array } | undefined;

  /** a delta file's base (checked by size and SHA-256 when opened): its bytes complete delta chunks */
  constructor(
    readonly path: string,
    private readonly c: OpenContainer,
    private readonly threads: number,
    private readonly base?: ByteSource,
  ) {
    super();
    this.originalFormat = c.index.original.format;
    this.originalSize = c.index.original.size;
    this.lossy = !!c.index.lossy;
    const gguf = this.originalFormat === 'gguf';
    const list: TensorInfo[] = [];
    this.chunkStart = new Float64Array(c.chunks.length);
    for (const r of c.index.regions) {
      let pos = 0;
      for (let k = r.chunk; k < r.chunk + r.chunks; k++) {
        this.chunkStart[k] = pos;
        pos += c.chunks[k]!.rawLength;
      }
      if (r.kind !== 'tensor' || r.name === undefined || this.regions.has(r.name)) continue;
      this.regions.set(r.name, r);
      list.push(infoOf({ name: r.name, dtype: r.dtype, shape: r.shape ?? [r.length], bytes: r.length }, gguf));
    }
    this.setList(list);
  }

  /** Chunks [first, last] of region r covering its bytes [offset, offset + length). */
  coveringChunks(name: string, offset: number, length: number): [number, number] {
    const r = this.regions.get(name)!;
    const find = (pos: number) => {
      let lo = r.chunk,
        hi = r.chunk + r.chunks - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (this.chunkStart[mid]! <= pos) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    };
    return [find(offset), find(Math.max(offset, offset + length - 1))];
  }

  readGranule(name: string): number {
    const r = this.regions.get(name);
    return r && r.chunks > 0 ? this.c.chunks[r.chunk]!.rawLength : 0;
  }

  private describe(k: number, name: string): string {
    return `chunk ${k} (tensor "${name}")`;
  }

  async readBytes(
    name: string,
    offset: number,
    length: number,
    sink: (piece: Uint8Array, at: number) => void | Promise<void>,
    opts: ReadOptions = {},
  ): Promise<void> {
    const t = this.tensor(name);
    this.checkRange(t, offset, length);
    if (length === 0) return;
    const [first, last] = this.coveringChunks(name, offset, length);
    const r = this.regions.get(name)!;
    const n = last - first + 1;
    const c = this.c;
    const sum = c.index.checksum ?? 'crc32';
    // one or two chunks (a page of values, a zoomed window) decode on this thread, and the last one
    // is kept: paging through a tensor decodes each chunk once
    const useCache = n <= 2;
    const pool = useCache ? undefined : (this.pool ??= new WorkerPool(this.threads));
    const reads = new ReadAhead(n, 4, (j) => {
      const k = first + j;
      const ch = c.chunks[k]!;
      return c.file.readExact(ch.payloadOffset, ch.payloadLength, this.describe(k, name));
    });
    const decode = async (k: number, payload: Uint8Array): Promise<Uint8Array> => {
      const ch = c.chunks[k]!;
      const base =
        this.base && r.baseOffset !== undefined && isDeltaPayload(payload)
          ? await this.base.read(r.baseOffset + this.chunkStart[k]!, ch.rawLength)
          : undefined;
      const task = {
        op: 'decode' as const,
        dtype: r.dtype,
        payload,
        rawLength: ch.rawLength,
        crc: ch.rawCrc,
        payloadCrc: ch.payloadCrc,
        sum,
        ...(base ? { base } : {}),
      };
      try {
        const reply = pool
          ? await pool.run<DecodeReply>(task, [payload.buffer as ArrayBuffer])
          : await inlinePool().run<DecodeReply>(task);
        this.stats.chunksDecoded++;
        return reply.data;
      } catch (e) {
        if (e instanceof ChunkCorrupt) throw badInput(this.path, `corrupted ${this.describe(k, name)}: ${e.message}`);
        throw e;
      }
    };
    const queue: Array<Promise<Uint8Array>> = [];
    const depth = pool ? inflightDepth(this.threads) : 1;
    let next = 0;
    let done = 0;
    for (let j = 0; j < n; j++) {
      const k = first + j;
      while (next < n && next - j < depth) {
        if (opts.signal?.aborted) throw cancelled(this.path);
        const kk = first + next;
        if (this.cache?.chunk === kk) queue.push(Promise.resolve(this.cache.data));
        else {
          const p = abortable(reads.take(next), opts.signal, this.path).then((payload) => decode(kk, payload));
          p.catch(() => undefined);
          queue.push(p);
        }
        next++;
      }
      const data = await abortable(queue.shift()!, opts.signal, this.path);
      if (useCache) this.cache = { chunk: k, data };
      const cs = this.chunkStart[k]!;
      const from = Math.max(offset, cs) - cs;
      const to = Math.min(offset + length, cs + data.length) - cs;
      await sink(data.subarray(from, to), cs + from);
      done += to - from;
      this.stats.bytesRead += c.chunks[k]!.payloadLength;
      opts.onBytes?.(done, length);
    }
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
    this.cache = undefined;
    await this.base?.close();
    await this.c.file.close();
  }
}

let inline: WorkerPool | undefined;
/** A one-thread pool (runs tasks on this thread; never starts a worker). */
function inlinePool(): WorkerPool {
  return (inline ??= new WorkerPool(1));
}

export interface OpenOptions {
  /** decode threads for large .tzip reads (default 2, or fewer cores) */
  threads?: number;
  /** a delta .tzip's base when it is not next to it (as --base) */
  base?: string;
}

export async function openTzip(
  path: string,
  opts: OpenOptions = {},
): Promise<TensorSource & { coveringChunks(name: string, offset: number, length: number): [number, number] }> {
  const c = await openContainer(path);
  let base: ByteSource | undefined;
  try {
    if (c.index.base) base = await openBaseFor(path, c.index.base, opts.base);
  } catch (e) {
    await c.file.close();
    throw e;
  }
  return new TzipSource(path, c, Math.max(1, Math.floor(opts.threads ?? 2)), base);
}

export async function isTzipFile(path: string): Promise<boolean> {
  const head = await readHead(path, 4);
  return head.length === 4 && new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === MAGIC;
}

/** Opens any readable model file (a .tzip by its magic) for random access to its tensors. */
export async function openTensors(path: string, opts: OpenOptions = {}): Promise<TensorSource> {
  if (await isTzipFile(path)) return openTzip(path, opts);
  return new FileSource(path, await openModel(path));
}

export async function withTensors<T>(
  path: string,
  fn: (s: TensorSource) => Promise<T>,
  opts: OpenOptions = {},
): Promise<T> {
  const s = await openTensors(path, opts);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}
