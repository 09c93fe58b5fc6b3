/**
 * Reading a .tzip: open (footer, index, validation), then decode chunks in order through the
 * pool. Used by decompress, verify and info. Every chunk's payload checksum is checked before
 * decoding and its raw checksum after; the whole output's SHA-256 is checked at the end.
 */
import { badInput, TzError } from '../core/errors';
import { InputFile } from '../io/read';
import { defaultCodingThreads } from '../pool/pool';
import { hashOffThread, OrderedHasher } from '../pool/hasher';
import { groupSmall, MAX_GROUP, runOrdered } from '../pool/ordered';
import type { DecodeReply } from '../../protocol/pool';
import { ChunkCorrupt } from '../pool/tasks';
import { isDeltaPayload } from '../codec/index';
import {
  CHUNK_FLAG_DUPLICATE,
  FLAG_LOSSY,
  FOOTER_BYTES,
  VERSION_DELTA_MAJOR,
  HEADER_BYTES,
  parseFooter,
  parseHeader,
  parseIndex,
  type ChunkRecord,
  type IndexJson,
  type RegionRecord,
} from './format';

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
    if (file.size < HEADER_BYTES + FOOTER_BYTES)
      throw badInput(path, `too small for a .tzip file (${file.size} bytes)`);
    const header = parseHeader(path, await file.readExact(0, HEADER_BYTES, 'header'));
    const { flags, major } = header;
    const footer = parseFooter(path, await file.readExact(file.size - FOOTER_BYTES, FOOTER_BYTES, 'footer'), file.size);
    const indexBytes = await file.readExact(footer.indexOffset, file.size - FOOTER_BYTES - footer.indexOffset, 'index');
    const { index, chunks } = parseIndex(path, footer, indexBytes);
    if (!!(flags & FLAG_LOSSY) !== !!index.lossy)
      throw badInput(path, 'corrupted .tzip: lossy flag disagrees with the index');
    if ((major === VERSION_DELTA_MAJOR) !== !!index.base)
      throw badInput(path, `corrupted .tzip: version ${major} ${index.base ? 'has' : 'lacks'} a base model record`);
    // the header is not checksummed: the index (CRC-32) repeats its version, so a flipped minor version is caught too
    const { minor } = header;
    if (index.version !== `${major}.${minor}`)
      throw badInput(
        path,
        `corrupted .tzip: header version ${major}.${minor} disagrees with the index's ${String(index.version)}`,
      );
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
   * Also check each decoded chunk's raw checksum (default; XXH32, or CRC-32 in 1.x files). Decompress
   * skips it: the SHA-256 of the whole output, checked before the file is renamed into place, already
   * catches any difference, and the payload checksum is always checked before decoding.
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
export async function decodeAll(
  c: OpenContainer,
  sink: (data: Uint8Array, offset: number) => Promise<void>,
  opts: DecodeOptions = {},
): Promise<string> {
  const path = c.file.path;
  const threads = Math.max(1, Math.floor(opts.threads ?? defaultCodingThreads()));
  const offThread = hashOffThread(threads, c.index.original.size);
  const sha = new OrderedHasher(offThread);
  const total = c.index.original.size;
  const sum = c.index.checksum ?? 'crc32';
  const baseBytes = new Map<number, Uint8Array>();
  let pos = 0;
  // Payloads are read into input slots ahead of decoding, chunks decoded into output slots, and
  // the sink (the output write) runs behind (runOrdered). A payload of our encoder fits its slot
  // (at most 1 + chunk bytes); a larger one gets its own buffer.
  // Small chunks whose payloads lie back to back share a read, a task and a write (decodeBatch).
  const chunkBytes = c.index.chunkBytes;
  const inSlotBytes = chunkBytes + MAX_GROUP + 64;
  const groups = groupSmall(
    c.chunks.length,
    (k) => c.chunks[k]!.rawLength,
    chunkBytes,
    (k) => {
      const ch = c.chunks[k]!,
        prev = c.chunks[k - 1]!;
      const delta = c.regionOfChunk(k).baseOffset !== undefined || c.regionOfChunk(k - 1).baseOffset !== undefined;
      return (
        !delta &&
        !(ch.flags & CHUNK_FLAG_DUPLICATE) &&
        !(prev.flags & CHUNK_FLAG_DUPLICATE) &&
        ch.payloadOffset === prev.payloadOffset + prev.payloadLength &&
        ch.payloadLength <= 65536 + ch.rawLength
      );
    },
  );
  const payloadBytes = (g: number): number => {
    const [a, b] = groups[g]!;
    const last = c.chunks[b - 1]!;
    return b - a > 1 ? last.payloadOffset + last.payloadLength - c.chunks[a]!.payloadOffset : last.payloadLength;
  };
  let digest: string;
  try {
    await runOrdered<DecodeReply>({
      file: path,
      count: groups.length,
      threads,
      shared: offThread,
      ...(opts.signal ? { signal: opts.signal } : {}),
      readAhead: 4,
      inSlotBytes,
      outSlotBytes: chunkBytes,
      read: async (g, into) => {
        const k = groups[g]![0];
        const ch = c.chunks[k]!;
        const len = payloadBytes(g);
        // a payload of our encoder fits its slot (at most 1 + chunk bytes); a larger one gets its own buffer
        const payload = await c.file.readExact(
          ch.payloadOffset,
          len,
          describeChunk(c, k),
          len <= into.length ? into.subarray(0, len) : undefined,
        );
        const r = c.regionOfChunk(k);
        // delta chunks are never grouped
        if (r.baseOffset !== undefined && isDeltaPayload(payload)) {
          if (!opts.readBase)
            throw new TzError('USAGE', path, `delta .tzip: decoding needs its base ${c.index.base?.name ?? ''}`);
          baseBytes.set(g, await opts.readBase(r.baseOffset + (k - r.chunk) * c.index.chunkBytes, ch.rawLength));
        }
        return payload;
      },
      task: (g, { input: payload, out }) => {
        const [a, b] = groups[g]!;
        const crcOf = (ch: ChunkRecord) => (opts.checkChunkCrc === false ? {} : { crc: ch.rawCrc });
        if (b - a > 1) {
          return {
            op: 'decodeBatch',
            payload,
            out,
            sum,
            items: c.chunks.slice(a, b).map((ch, i) => ({
              dtype: c.regionOfChunk(a + i).dtype,
              payloadLength: ch.payloadLength,
              rawLength: ch.rawLength,
              payloadCrc: ch.payloadCrc,
              ...crcOf(ch),
            })),
          };
        }
        const ch = c.chunks[a]!;
        const base = baseBytes.get(g);
        baseBytes.delete(g);
        return {
          op: 'decode',
          dtype: c.regionOfChunk(a).dtype,
          payload,
          rawLength: ch.rawLength,
          ...crcOf(ch),
          payloadCrc: ch.payloadCrc,
          sum,
          out,
          ...(base ? { base } : {}),
        };
      },
      consume: (g, reply, slot) => {
        const [a, b] = groups[g]!;
        const data = reply.data;
        slot.behind(sha.update(data));
        slot.behind(sink(data, pos));
        for (let k = a; k < b; k++) {
          pos += c.chunks[k]!.rawLength;
          opts.onChunk?.(pos, total, c.regionOfChunk(k));
        }
      },
      taskError: (g, e) =>
        e instanceof ChunkCorrupt
          ? badInput(path, `corrupted ${describeChunk(c, groups[g]![0] + (e.item ?? 0))}: ${e.message}`)
          : e,
    });
    digest = await sha.digest();
  } finally {
    await sha.close();
  }
  if (digest !== c.index.original.sha256)
    throw new TzError(
      'VERIFY_FAILED',
      path,
      `SHA-256 of the decoded data (${digest.slice(0, 12)}...) does not match the stored one (` +
        `${c.index.original.sha256.slice(0, 12)}...)`,
    );
  return digest;
}
