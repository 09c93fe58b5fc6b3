/**
 * Reading a .tzip: open (footer, index, validation), then decode chunks in order through the
 * pool. Used by decompress, verify and info. Every chunk's payload checksum is checked before
 * decoding and its raw checksum after; the whole output's SHA-256 is checked at the end.
 */
import { createHash } from 'node:crypto';
import { abortable, badInput, cancelled, TzError } from '../errors';
import { InputFile } from '../io/read';
import { ReadAhead } from '../io/readAhead';
import { defaultThreads, inflightDepth, WorkerPool } from '../pool/pool';
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
  /**
   * Also check each decoded chunk's CRC-32 (default). Decompress skips it: the SHA-256 of the whole
   * output, checked before the file is renamed into place, already catches any difference, and the
   * payload CRC is always checked before decoding.
   */
  checkChunkCrc?: boolean;
}

/**
 * Decodes every chunk in order, handing each to `sink` (which may write it; the buffer is reused
 * once the promise it returns resolves, and several sinks may be pending at once). Throws BAD_INPUT on
 * corruption and VERIFY_FAILED when the SHA-256 of the result differs from the stored one.
 */
export async function decodeAll(c: OpenContainer, sink: (data: Uint8Array, offset: number) => Promise<void>, opts: DecodeOptions = {}): Promise<string> {
  const path = c.file.path;
  const threads = Math.max(1, Math.floor(opts.threads ?? defaultThreads()));
  const pool = new WorkerPool(threads);
  const sha = createHash('sha256');
  const queue: Array<Promise<DecodeReply>> = [];
  const maxInflight = inflightDepth(threads);
  const total = c.index.original.size;
  const chunkBytes = c.index.chunkBytes;
  let next = 0;
  let pos = 0;
  // Payload reads run ahead of decoding and the sink (the output write) runs behind it; decoded
  // buffers come back to `outFree` once the sink is done with them and are decoded into again, and
  // payload buffers come back with the decoded chunk (a fresh 1 MiB allocation per chunk costs page
  // faults and zeroing on this thread).
  const sum = c.index.checksum ?? 'crc32';
  const payloadSlot = chunkBytes + 64; // any payload of our encoder fits (at most 1 + chunk bytes)
  const payloadFree: ArrayBuffer[] = [];
  const reads = new ReadAhead(c.chunks.length, 4, (k) => {
    const ch = c.chunks[k]!;
    const into = ch.payloadLength <= payloadSlot ? new Uint8Array(payloadFree.pop() ?? new ArrayBuffer(payloadSlot)) : undefined;
    return c.file.readExact(ch.payloadOffset, ch.payloadLength, describeChunk(c, k), into);
  });
  const outFree: ArrayBuffer[] = [];
  const sinks: Array<Promise<void>> = [];
  try {
    for (let i = 0; i < c.chunks.length; i++) {
      while (next < c.chunks.length && next - i < maxInflight) {
        if (opts.signal?.aborted) throw cancelled(path);
        const ch = c.chunks[next]!;
        const payload = await abortable(reads.take(next), opts.signal, path);
        const out = new Uint8Array(outFree.pop() ?? new ArrayBuffer(chunkBytes));
        const p = pool.run<DecodeReply>({ op: 'decode', dtype: c.regionOfChunk(next).dtype, payload, rawLength: ch.rawLength, ...(opts.checkChunkCrc === false ? {} : { crc: ch.rawCrc }), payloadCrc: ch.payloadCrc, sum, out }, [payload.buffer as ArrayBuffer, out.buffer as ArrayBuffer]);
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
      const data = reply.data;
      if (reply.payload?.buffer.byteLength === payloadSlot) payloadFree.push(reply.payload.buffer as ArrayBuffer);
      sha.update(data);
      const done = sink(data, pos).then(() => { if (data.buffer.byteLength === chunkBytes) outFree.push(data.buffer as ArrayBuffer); });
      done.catch(() => undefined);
      sinks.push(done);
      if (sinks.length > 16) await sinks.shift();
      pos += data.length;
      opts.onChunk?.(pos, total, c.regionOfChunk(i));
    }
    await Promise.all(sinks);
  } finally {
    await pool.close();
  }
  const digest = sha.digest('hex');
  if (digest !== c.index.original.sha256) throw new TzError('VERIFY_FAILED', path, `SHA-256 of the decoded data (${digest.slice(0, 12)}...) does not match the stored one (${c.index.original.sha256.slice(0, 12)}...)`);
  return digest;
}
