/**
 * Reading a .tzip: open (footer, index, validation), then decode chunks in order through the
 * pool. Used by decompress, verify and info. Every chunk's payload checksum is checked before
 * decoding and its raw checksum after; the whole output's SHA-256 is checked at the end.
 */
import { createHash } from 'node:crypto';
import { abortable, badInput, cancelled, TzError } from '../errors';
import { InputFile } from '../io/read';
import { defaultThreads, WorkerPool } from '../pool/pool';
import { ChunkCorrupt, type DecodeReply } from '../pool/tasks';
import { FLAG_LOSSY, FOOTER_BYTES, HEADER_BYTES, parseFooter, parseHeader, parseIndex, type ChunkRecord, type IndexJson, type RegionRecord } from './format';

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
    const { flags } = parseHeader(path, await file.readExact(0, HEADER_BYTES, 'header'));
    const footer = parseFooter(path, await file.readExact(file.size - FOOTER_BYTES, FOOTER_BYTES, 'footer'), file.size);
    const indexBytes = await file.readExact(footer.indexOffset, file.size - FOOTER_BYTES - footer.indexOffset, 'index');
    const { index, chunks } = parseIndex(path, footer, indexBytes);
    if (!!(flags & FLAG_LOSSY) !== !!index.lossy) throw badInput(path, 'corrupted .tzip: lossy flag disagrees with the index');
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
}

/**
 * Decodes every chunk in order, handing each to `sink` (which may write it). Throws BAD_INPUT on
 * corruption and VERIFY_FAILED when the SHA-256 of the result differs from the stored one.
 */
export async function decodeAll(c: OpenContainer, sink: (data: Uint8Array, offset: number) => Promise<void>, opts: DecodeOptions = {}): Promise<string> {
  const path = c.file.path;
  const threads = Math.max(1, Math.floor(opts.threads ?? defaultThreads()));
  const pool = new WorkerPool(threads);
  const sha = createHash('sha256');
  const queue: Array<Promise<DecodeReply>> = [];
  const maxInflight = threads === 1 ? 1 : threads * 3;
  const total = c.index.original.size;
  let next = 0;
  let pos = 0;
  try {
    for (let i = 0; i < c.chunks.length; i++) {
      while (next < c.chunks.length && next - i < maxInflight) {
        if (opts.signal?.aborted) throw cancelled(path);
        const ch = c.chunks[next]!;
        const payload = await c.file.readExact(ch.payloadOffset, ch.payloadLength, describeChunk(c, next));
        const p = pool.run<DecodeReply>({ op: 'decode', dtype: c.regionOfChunk(next).dtype, payload, rawLength: ch.rawLength, crc: ch.rawCrc, payloadCrc: ch.payloadCrc }, [payload.buffer as ArrayBuffer]);
        p.catch(() => undefined);
        queue.push(p);
        next++;
      }
      if (opts.signal?.aborted) throw cancelled(path);
      let reply: DecodeReply;
      try {
        reply = await abortable(queue.shift()!, opts.signal, path);
      } catch (e) {
        if (e instanceof ChunkCorrupt) throw badInput(path, `corrupted ${describeChunk(c, i)}: ${e.message}`);
        throw e;
      }
      sha.update(reply.data);
      await sink(reply.data, pos);
      pos += reply.data.length;
      opts.onChunk?.(pos, total, c.regionOfChunk(i));
    }
  } finally {
    await pool.close();
  }
  const digest = sha.digest('hex');
  if (digest !== c.index.original.sha256) throw new TzError('VERIFY_FAILED', path, `SHA-256 of the decoded data (${digest.slice(0, 12)}...) does not match the stored one (${c.index.original.sha256.slice(0, 12)}...)`);
  return digest;
}
