/**
 * compressFile: one streaming pass over the input. The calling thread reads chunks in file order
 * and hashes them (SHA-256 of the whole file); the pool codes them in parallel; payloads are
 * written strictly in chunk order, so the output is identical whatever the thread count.
 * Memory: chunk slots of 2 MiB (input + payload), min(6 x threads, threads + 16) + 5 of them.
 *
 * Lossy mode (opts.lossyBits): the selected tensors' chunks are rounded by the coding thread in
 * their input slot (engine/lossy/round.ts), then coded losslessly. The calling thread hashes each input chunk
 * before sending it (lossy.inputSha256) and each rounded chunk as it comes back, in order
 * (original.sha256: what decompress produces and checks). Dedupe compares rounded bytes: an
 * earlier chunk is re-read and re-rounded before the byte-for-byte comparison.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { CompressOptions, CompressResult } from '../api';
import { abortable, cancelled, TzError, toTzError } from '../errors';
import { openModel } from '../formats/index';
import { InputFile } from '../io/read';
import { ReadAhead } from '../io/readAhead';
import { defaultThreads, inflightDepth, WorkerPool } from '../pool/pool';
import type { EncodeReply } from '../pool/tasks';
import { mergeAcc, newAcc, summarize, type ErrorAcc } from '../lossy/errorStats';
import { planLossy } from '../lossy/plan';
import { roundChunk } from '../lossy/round';
import type { LossyReport } from '../lossy/types';
import { blockBytesOf } from '../codec/index';
import {
  CHUNK_FLAG_DUPLICATE, DEFAULT_CHUNK_BYTES, encodeHeader, encodeIndex, FLAG_LOSSY, HEADER_BYTES,
  VERSION_MAJOR, VERSION_MINOR, type ChunkRecord, type IndexJson, type RegionRecord,
} from './format';
import { CHUNK_CHECKSUM } from './checksum';
import { createSafeOutput } from './output';
import { chunkLengths, planRegions } from './plan';

export const TOOL = 'tensorzip 0.1.0';
/** chunks read ahead of the one being handed to the coder */
const READ_AHEAD = 2;

interface ChunkJob { region: number; offset: number; length: number; dtype: string; lossyBits?: number }

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

export async function compressFile(input: string, opts: CompressOptions = {}): Promise<CompressResult> {
  const t0 = performance.now();
  if (/\.tzip$/i.test(input)) throw new TzError('USAGE', input, 'already a .tzip file (use decompress)');
  const layout = await openModel(input);
  const inp = await InputFile.open(input);
  const threads = Math.max(1, Math.floor(opts.threads ?? defaultThreads()));
  const chunkBytes = DEFAULT_CHUNK_BYTES;
  const sum = opts.chunkChecksum ?? CHUNK_CHECKSUM;
  const output = opts.output ?? `${input}.tzip`;
  let out: Awaited<ReturnType<typeof createSafeOutput>> | undefined;
  const pool = new WorkerPool(threads);
  try {
    out = await createSafeOutput(output, { force: !!opts.force, input, needBytes: inp.size + (1 << 20) });
    const planned = planRegions(layout, inp.size);
    const lossyPlan = opts.lossyBits !== undefined ? planLossy(input, planned, opts) : undefined;
    const jobs: ChunkJob[] = [];
    const regions: RegionRecord[] = planned.map((r, ri) => {
      const first = jobs.length;
      const bits = lossyPlan?.bits[ri];
      let off = r.offset;
      for (const len of chunkLengths(r.length, chunkBytes)) {
        jobs.push({ region: ri, offset: off, length: len, dtype: r.dtype, ...(bits !== undefined ? { lossyBits: bits } : {}) });
        off += len;
      }
      return { ...r, chunk: first, chunks: jobs.length - first, ...(bits !== undefined ? { lossyBits: bits } : {}) };
    });
    const lossy = !!lossyPlan && regions.some((r) => r.lossyBits !== undefined);
    const shaOut = lossy ? createHash('sha256') : undefined;
    const regionErrors = new Map<number, ErrorAcc>();

    await out.fh.write(encodeHeader(lossy ? FLAG_LOSSY : 0), 0, HEADER_BYTES, 0);
    let writePos = HEADER_BYTES;
    const sha = createHash('sha256');
    const records: ChunkRecord[] = [];
    const seen = new Map<string, number>();
    const queue: Array<Promise<EncodeReply>> = [];
    const maxInflight = inflightDepth(threads);
    let next = 0;
    let doneBytes = 0;

    // Chunk slots: chunk k is read into input slot k % SLOTS and coded into the output slot beside
    // it (SharedArrayBuffers the workers see; plain memory with one thread), so a chunk costs no
    // allocation, copy or transfer between threads. A slot is reused once its payload is written
    // (slotWritten[s]: the last write from slot s); reads run ahead of coding and writes behind it,
    // so the disk and the coder overlap even with one thread (the inline coder blocks the event
    // loop while the next read proceeds in libuv).
    const SLOTS = maxInflight + READ_AHEAD + 3;
    const outSlotBytes = chunkBytes + 64; // a payload is at most 1 + chunk bytes (STORED)
    // One thread needs no sharing, and V8 copies plain memory faster than shared memory.
    const Slots = threads === 1 ? ArrayBuffer : SharedArrayBuffer;
    const inSlots = new Slots(SLOTS * chunkBytes);
    const outSlots = new Slots(SLOTS * outSlotBytes);
    const slotWritten: Array<Promise<unknown> | undefined> = new Array(SLOTS);
    const reads = new ReadAhead(jobs.length, READ_AHEAD, async (k) => {
      const jk = jobs[k]!;
      await slotWritten[k % SLOTS];
      return inp.readExact(jk.offset, jk.length, 'input chunk', new Uint8Array(inSlots, (k % SLOTS) * chunkBytes, jk.length));
    });
    const write = (buf: Uint8Array, pos: number): Promise<unknown> => {
      const w = out!.fh.write(buf, 0, buf.length, pos);
      w.catch(() => undefined); // awaited through slotWritten: by the read that reuses the slot, or at the end
      return w;
    };

    for (let i = 0; i < jobs.length; i++) {
      while (next < jobs.length && next - i < maxInflight) {
        if (opts.signal?.aborted) throw cancelled(input);
        const j = jobs[next]!;
        const data = await abortable(reads.take(next), opts.signal, input);
        sha.update(data);
        // GGUF block types: where in its block the chunk starts (chunks are 1 MiB, blocks e.g. 34 bytes)
        const bb = blockBytesOf(j.dtype);
        const phase = bb > 0 ? (j.offset - regions[j.region]!.offset) % bb : 0;
        const outSlot = new Uint8Array(outSlots, (next % SLOTS) * outSlotBytes, outSlotBytes);
        const p = pool.run<EncodeReply>({ op: 'encode', dtype: j.dtype, data, out: outSlot, sum, ...(j.lossyBits !== undefined ? { lossyBits: j.lossyBits } : {}), ...(phase ? { phase } : {}) });
        p.catch(() => undefined); // rejections are handled where the queue is awaited
        queue.push(p);
        next++;
      }
      if (opts.signal?.aborted) throw cancelled(input);
      const reply = await abortable(queue.shift()!, opts.signal, input);
      const j = jobs[i]!;
      shaOut?.update(reply.data);
      if (reply.lossy) {
        const acc = regionErrors.get(j.region);
        if (acc) mergeAcc(acc, reply.lossy);
        else regionErrors.set(j.region, reply.lossy);
      }
      const key = `${j.dtype}|${j.length}|${reply.crc}`;
      const prev = seen.get(key);
      let rec: ChunkRecord | undefined;
      if (prev !== undefined) {
        // Same checksum: confirm byte for byte against the earlier chunk (re-read from the input).
        const pj = jobs[prev]!;
        const earlier = await inp.readExact(pj.offset, pj.length, 'input chunk');
        if (pj.lossyBits !== undefined) roundChunk(earlier, pj.dtype, pj.lossyBits);
        if (equalBytes(earlier, reply.data)) {
          const pr = records[prev]!;
          rec = { payloadOffset: pr.payloadOffset, payloadLength: pr.payloadLength, rawLength: j.length, rawCrc: reply.crc, payloadCrc: pr.payloadCrc, flags: CHUNK_FLAG_DUPLICATE };
        }
      }
      if (!rec) {
        slotWritten[i % SLOTS] = write(reply.payload, writePos);
        rec = { payloadOffset: writePos, payloadLength: reply.payload.length, rawLength: j.length, rawCrc: reply.crc, payloadCrc: reply.payloadCrc, flags: 0 };
        writePos += reply.payload.length;
        if (prev === undefined) seen.set(key, i);
      }
      records.push(rec);
      doneBytes += j.length;
      const r = regions[j.region]!;
      opts.onProgress?.({ phase: 'compress', file: input, bytesDone: doneBytes, bytesTotal: inp.size, ...(r.name ? { tensor: r.name } : {}) });
    }

    const inputSha256 = sha.digest('hex');
    const sha256 = shaOut ? shaOut.digest('hex') : inputSha256;
    const index: IndexJson = {
      format: 'tzip',
      version: `${VERSION_MAJOR}.${VERSION_MINOR}`,
      tool: TOOL,
      original: { name: path.basename(input), size: inp.size, sha256, format: layout.format },
      chunkBytes,
      regions,
      // absent means CRC-32 (as in 1.x files)
      ...(sum !== 'crc32' ? { checksum: sum } : {}),
    };
    if (lossy) index.lossy = { bits: opts.lossyBits!, inputSha256 };
    await Promise.all(slotWritten);
    const { stored, footer } = encodeIndex(index, records, writePos);
    await out.fh.write(stored, 0, stored.length, writePos);
    await out.fh.write(footer, 0, footer.length, writePos + stored.length);
    const bytes = writePos + stored.length + footer.length;
    if (opts.signal?.aborted) throw cancelled(input);
    await out.commit(!!opts.durable);
    const result: CompressResult = { output: out.path, bytes, originalBytes: inp.size, sha256, seconds: (performance.now() - t0) / 1000 };
    if (lossyPlan) result.lossy = lossyReport(opts.lossyBits!, inputSha256, regions, regionErrors, lossyPlan.losslessFloat);
    return result;
  } catch (e) {
    await out?.discard();
    if (e instanceof TzError) throw e;
    if ((e as Error).message?.startsWith('worker thread')) throw new TzError('IO', input, (e as Error).message);
    throw toTzError(e, input);
  } finally {
    // Terminating the workers does not wait for the chunk they are coding, so a cancel is prompt.
    await pool.close();
    await inp.close();
  }
}

function lossyReport(bits: number, inputSha256: string, regions: RegionRecord[], errors: Map<number, ErrorAcc>, losslessTensors: number): LossyReport {
  const total = newAcc();
  const tensors = [];
  for (const [ri, r] of regions.entries()) {
    if (r.lossyBits === undefined) continue;
    const acc = errors.get(ri) ?? newAcc();
    mergeAcc(total, acc);
    tensors.push({ name: r.name ?? `region ${ri}`, dtype: r.dtype, bits: r.lossyBits, bytes: r.length, error: summarize(acc) });
  }
  return { bits, inputSha256, tensors, losslessTensors, total: summarize(total) };
}
