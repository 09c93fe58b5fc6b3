/**
 * Reading a .tzip: open (footer, index, validation), then decode chunks in order through the
 * pool. Used by decompress, verify and info. Every chunk's payload checksum is checked before
 * decoding and its raw checksum after; the whole output's SHA-256 is checked at the end.
 */
import { badInput, TzError } from '../errors';
import { InputFile } from '../io/read';
import { defaultThreads } from '../pool/pool';
import { OrderedHasher } from '../pool/hasher';
import { runOrdered } from '../pool/ordered';
import { ChunkCorrupt, type DecodeReply } from '../pool/tasks';
import { isDeltaPayload } from '../codec/index';
import { FLAG_LOSSY, FOOTER_BYTES, VERSION_DELTA_MAJOR, HEADER_BYTES, parseFooter, parseHeader, parseIndex, type ChunkRecord, type IndexJson, type RegionRecord } from './format';

export interface OpenContainer {
  file: InputFile;
  index: IndexJson;
  chunks: ChunkRecord[];
  flags: number;
  /** region owning each chunk */
  regionOfChunk(i: number): RegionRecord;
}

export async function openContainer(path: string): Promise<OpenContainer> {
  const file = await InputFile.open(path);
  try {
    if (file.size < HEADER_BYTES + FOOTER_BYTES) throw badInput(path, `too small for a .tzip file (${file.size} bytes)`);
    const { flags, major } = parseHeader(path, await file.readExact(0, HEADER_BYTES, 'header'));
    const footer = parseFooter(path, await file.readExact(file.size - FOOTER_BYTES, FOOTER_BYTES, 'footer'), file.size);
    const indexBytes = await file.readExact(footer.indexOffset, file.size - FOOTER_BYTES - footer.indexOffset, 'index');
    const { index, chunks } = parseIndex(path, footer, indexBytes);
    if (!!(flags & FLAG_LOSSY) !== !!index.lossy) throw badInput(path, 'corrupted .tzip: lossy flag disagrees with the index');
    if ((major === VERSION_DELTA_MAJOR) !== !!index.base) throw badInput(path, `corrupted .tzip: version ${major} ${index.base ? 'has' : 'lacks'} a base model record`);
    const owner = new Uint32Array(chunks.length);
    index.regions.forEach((r, ri) => owner.fill(ri, r.chunk, r.chunk + r.chunks));
    return { file, index, chunks, flags, regionOfChunk: (i) => index.regions[owner[i]!]! };
  } catch (e) {
    await file.close();
    throw e;
  }
}

function describeChunk(c: OpenContainer, i: number): string {
  const r = c.regionOfChunk(i);
  return r.kind === 'tensor' ? `chunk ${i} (tensor "${r.name}")` : `chunk ${i} (file structure at byte ${r.offset})`;
}

export interface DecodeOptions {
  threads?: number;
  signal?: AbortSignal;
  onChunk?: (done: number, total: number, region: RegionRecord) => void;
  /**
   * Also check each decoded chunk's CRC-32 (default). Decompress skips it: the SHA-256 of the whole
   * output, checked before the file is renamed into place, already catches any difference, and the
   * payload CRC is always checked before decoding.
   */
  checkChunkCrc?: boolean;
  /** delta files: reads the base's bytes at an offset in the base file (base.ts ByteSource.read) */
  readBase?: (offset: number, length: number) => Promise<Uint8Array>;
}

/**
 * Decodes every chunk in order, handing each to `sink` (which may write it; the buffer is reused
 * once the promise it returns resolves, and several sinks may be pending at once). Throws BAD_INPUT on
 * corruption and VERIFY_FAILED when the SHA-256 of the result differs from the stored one.
 */
export async function decodeAll(c: OpenContainer, sink: (data: Uint8Array, offset: number) => Promise<void>, opts: DecodeOptions = {}): Promise<string> {
  const path = c.file.path;
  const threads = Math.max(1, Math.floor(opts.threads ?? defaultThreads()));
  const sha = new OrderedHasher(threads > 1);
  const total = c.index.original.size;
  const sum = c.index.checksum ?? 'crc32';
  const baseBytes = new Map<number, Uint8Array>();
  let pos = 0;
  // Payloads are read into input slots ahead of decoding, chunks decoded into output slots, and
  // the sink (the output write) runs behind (runOrdered). A payload of our encoder fits its slot
  // (at most 1 + chunk bytes); a larger one gets its own buffer.
  let digest: string;
  try {
    await runOrdered<DecodeReply>({
      file: path, count: c.chunks.length, threads, ...(opts.signal ? { signal: opts.signal } : {}),
      readAhead: 4,
      inSlotBytes: c.index.chunkBytes + 64,
      outSlotBytes: c.index.chunkBytes,
      read: async (k, into) => {
        const ch = c.chunks[k]!;
        const payload = await c.file.readExact(ch.payloadOffset, ch.payloadLength, describeChunk(c, k), ch.payloadLength <= into.length ? into.subarray(0, ch.payloadLength) : undefined);
        const r = c.regionOfChunk(k);
        if (r.baseOffset !== undefined && isDeltaPayload(payload)) {
          if (!opts.readBase) throw new TzError('USAGE', path, `delta .tzip: decoding needs its base ${c.index.base?.name ?? ''}`);
          baseBytes.set(k, await opts.readBase(r.baseOffset + (k - r.chunk) * c.index.chunkBytes, ch.rawLength));
        }
        return payload;
      },
      task: (k, { input: payload, out }) => {
        const ch = c.chunks[k]!;
        const base = baseBytes.get(k);
        baseBytes.delete(k);
        return { op: 'decode', dtype: c.regionOfChunk(k).dtype, payload, rawLength: ch.rawLength, ...(opts.checkChunkCrc === false ? {} : { crc: ch.rawCrc }), payloadCrc: ch.payloadCrc, sum, out, ...(base ? { base } : {}) };
      },
      consume: (i, reply, slot) => {
        const data = reply.data;
        slot.behind(sha.update(data));
        slot.behind(sink(data, pos));
        pos += data.length;
        opts.onChunk?.(pos, total, c.regionOfChunk(i));
      },
      taskError: (i, e) => (e instanceof ChunkCorrupt ? badInput(path, `corrupted ${describeChunk(c, i)}: ${e.message}`) : e),
    });
    digest = await sha.digest();
  } finally {
    await sha.close();
  }
  if (digest !== c.index.original.sha256) throw new TzError('VERIFY_FAILED', path, `SHA-256 of the decoded data (${digest.slice(0, 12)}...) does not match the stored one (${c.index.original.sha256.slice(0, 12)}...)`);
  return digest;
}
