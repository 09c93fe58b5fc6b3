/**
 * compressFile: one streaming pass over the input. The calling thread reads chunks in file order
 * and hashes them (SHA-256 of the whole file); the pool codes them in parallel; payloads are
 * written strictly in chunk order, so the output is identical whatever the thread count.
 * The read-ahead / coding / write-behind loop is runOrdered (engine/pool/ordered.ts).
 *
 * Lossy mode (opts.lossyBits): the selected tensors' chunks are rounded by the coding thread in
 * their input slot (engine/lossy/round.ts), then coded losslessly. The calling thread hashes each input chunk
 * before sending it (lossy.inputSha256) and each rounded chunk as it comes back, in order
 * (original.sha256: what decompress produces and checks). Dedupe compares rounded bytes: an
 * earlier chunk is re-read and re-rounded before the byte-for-byte comparison.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { JobOptions } from '../core/job';
import { cancelled, TzError, toTzError } from '../core/errors';
import { openModel } from '../formats/index';
import { InputFile } from '../io/read';
import { InputGuard } from '../io/unchanged';
import { defaultCodingThreads } from '../pool/pool';
import { hashOffThread, OrderedHasher } from '../pool/hasher';
import { groupSmall, MAX_GROUP, runOrdered } from '../pool/ordered';
import type { EncodeBatchReply, EncodeReply } from '../../protocol/pool';
import { mergeAcc, newAcc, summarizeErrors, type ErrorAcc } from '../lossy/errorStats';
import { planLossy } from '../lossy/plan';
import { roundChunk } from '../lossy/round';
import type { LossyReport } from '../lossy/types';
import {
  buildIndex,
  CHUNK_FLAG_DUPLICATE,
  DEFAULT_CHUNK_BYTES,
  encodeHeader,
  encodeIndex,
  FLAG_LOSSY,
  HEADER_BYTES,
  VERSION_DELTA_MAJOR,
  VERSION_MAJOR,
  type ChunkRecord,
  type RegionRecord,
} from './format';
import { isDeltaPayload } from '../codec/index';
import { planBase, type BasePlan } from './base';
import { CHUNK_CHECKSUM } from '../codec/checksum';
import { createSafeOutput } from './output';
import { chunkJobs, planRegions } from './plan';

export interface CompressOptions extends JobOptions {
  /** output path (default `<input>.tzip`) */
  output?: string;
  force?: boolean;
  /**
   * fsync the .tzip before it is renamed into place, so it survives a power loss: for callers that
   * will delete the original afterwards. Off by default, like zstd and gzip (the input stays).
   */
  durable?: boolean;
  /** lossy mode: mantissa bits kept (issue 4); undefined = lossless */
  lossyBits?: number;
  /** lossy mode: tensor-name globs rounded even if the defaults keep them lossless (engine/lossy/select.ts) */
  lossyInclude?: string[];
  /** lossy mode: tensor-name globs always kept lossless */
  lossyExclude?: string[];
  /** lossy mode: NeuZip block normalisation; refused (UNSUPPORTED): measured in docs/measurements.md, "Lossy mode" */
  lossyBlock?: number;
  /** per-chunk checksum: XXH32 (default, format 2.0) or CRC-32 (as in 1.x files) */
  chunkChecksum?: 'crc32' | 'xxh32';
  /** delta coding (.tzip 3.0): code tensors against their partners (same name, dtype, shape) in
   *  this model file, .tzip of one, or sharded index */
  base?: string;
}

export interface CompressResult {
  output: string;
  bytes: number;
  originalBytes: number;
  sha256: string;
  seconds: number;
  /** lossy mode: the error report (per rounded tensor and the whole file) */
  lossy?: LossyReport;
  /** delta files: the base coded against, and how many tensors were matched in it */
  base?: { name: string; sha256: string; matchedTensors: number };
}

/** groups read between two checks that the input is unchanged (one fstat each; a group is at most ~1 MiB) */
const CHECK_EVERY_GROUPS = 64;

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

export async function compressFile(input: string, opts: CompressOptions = {}): Promise<CompressResult> {
  const t0 = performance.now();
  if (/\.tzip$/i.test(input)) throw new TzError('USAGE', input, 'already a .tzip file (use decompress)');
  // opened (and its fstat taken) before anything is read, so a change from here on is seen
  const inp = await InputFile.open(input);
  const threads = Math.max(1, Math.floor(opts.threads ?? defaultCodingThreads()));
  const chunkBytes = DEFAULT_CHUNK_BYTES;
  const sum = opts.chunkChecksum ?? CHUNK_CHECKSUM;
  const output = opts.output ?? `${input}.tzip`;
  let out: Awaited<ReturnType<typeof createSafeOutput>> | undefined;
  let base: BasePlan | undefined;
  let sha: OrderedHasher | undefined;
  let guard: InputGuard | undefined;
  try {
    guard = await InputGuard.start(inp, 'compressed');
    const layout = await openModel(input);
    out = await createSafeOutput(output, { force: !!opts.force, input, needBytes: inp.size + (1 << 20) });
    const fh = out.fh;
    const planned = planRegions(layout, inp.size);
    const lossyPlan = opts.lossyBits !== undefined ? planLossy(input, planned, opts) : undefined;
    const { jobs, regions } = chunkJobs(planned, chunkBytes, (ri) => lossyPlan?.bits[ri]);
    if (opts.base) {
      base = await planBase(input, planned, opts.base, opts.signal);
      for (const [ri, bo] of base.offsets) regions[ri]!.baseOffset = bo;
    }
    // delta coding: each chunk's partner bytes in the base, read beside the chunk and handed to its task
    const baseBytes = new Map<number, Uint8Array>();
    const lossy = !!lossyPlan && regions.some((r) => r.lossyBits !== undefined);
    const shaOut = lossy ? createHash('sha256') : undefined;
    const regionErrors = new Map<number, ErrorAcc>();

    await fh.write(
      encodeHeader(lossy ? FLAG_LOSSY : 0, base ? VERSION_DELTA_MAJOR : VERSION_MAJOR),
      0,
      HEADER_BYTES,
      0,
    );
    let writePos = HEADER_BYTES;
    // lossless: hashed off this thread, in place in the slots; lossy: here, before the coder rounds the chunk in place
    const offThread = hashOffThread(threads, inp.size) && !lossy;
    sha = new OrderedHasher(offThread);
    const hasher = sha;
    const records: ChunkRecord[] = [];
    const seen = new Map<string, number>();
    let doneBytes = 0;

    // Small chunks (small tensors) share a read, a task and a write; lossy and delta chunks are coded alone.
    const alone = (j: (typeof jobs)[number]): boolean =>
      j.lossyBits !== undefined || regions[j.region]!.baseOffset !== undefined;
    const groups = groupSmall(
      jobs.length,
      (k) => jobs[k]!.length,
      chunkBytes,
      (k) => !alone(jobs[k]!) && !alone(jobs[k - 1]!),
    );
    const addRecord = async (
      i: number,
      crc: number,
      payloadLength: number,
      payloadCrc: number,
      data: Uint8Array,
      delta = false,
    ): Promise<boolean> => {
      const j = jobs[i]!;
      const key = `${j.dtype}|${j.length}|${crc}`;
      const prev = seen.get(key);
      let rec: ChunkRecord | undefined;
      if (prev !== undefined) {
        // Same checksum: confirm byte for byte against the earlier chunk (re-read from the input).
        const pj = jobs[prev]!;
        const earlier = await inp.readExact(pj.offset, pj.length, 'input chunk');
        if (pj.lossyBits !== undefined) roundChunk(earlier, pj.dtype, pj.lossyBits);
        if (equalBytes(earlier, data)) {
          const pr = records[prev]!;
          rec = {
            payloadOffset: pr.payloadOffset,
            payloadLength: pr.payloadLength,
            rawLength: j.length,
            rawCrc: crc,
            payloadCrc: pr.payloadCrc,
            flags: CHUNK_FLAG_DUPLICATE,
          };
        }
      }
      const written = !rec;
      if (!rec) {
        rec = { payloadOffset: writePos, payloadLength, rawLength: j.length, rawCrc: crc, payloadCrc, flags: 0 };
        writePos += payloadLength;
        // a delta payload decodes against its own base bytes: never the target of a duplicate
        if (prev === undefined && !delta) seen.set(key, i);
      }
      records.push(rec);
      doneBytes += j.length;
      const r = regions[j.region]!;
      opts.onProgress?.({
        phase: 'compress',
        file: input,
        bytesDone: doneBytes,
        bytesTotal: inp.size,
        ...(r.name ? { tensor: r.name } : {}),
      });
      return written;
    };

    await runOrdered<EncodeReply | EncodeBatchReply>({
      file: input,
      count: groups.length,
      threads,
      shared: offThread,
      ...(opts.signal ? { signal: opts.signal } : {}),
      inSlotBytes: chunkBytes,
      outSlotBytes: chunkBytes + MAX_GROUP + 64, // a payload is at most 1 + chunk bytes (STORED)
      read: async (g, into) => {
        const [a, b] = groups[g]!;
        // a writer still at work on the input: stop early rather than after the whole file
        if (g > 0 && g % CHECK_EVERY_GROUPS === 0) await guard!.check();
        const first = jobs[a]!,
          last = jobs[b - 1]!;
        const len = last.offset + last.length - first.offset;
        const bo = regions[first.region]!.baseOffset;
        // delta chunks are never grouped
        if (base && bo !== undefined && first.lossyBits === undefined)
          baseBytes.set(g, await base.source.read(bo + first.offset - regions[first.region]!.offset, first.length));
        return inp.readExact(first.offset, len, 'input chunk', into.subarray(0, len));
      },
      task: (g, slot) => {
        const { input: data, out: outSlot } = slot;
        const [a, b] = groups[g]!;
        slot.behind(hasher.update(data));
        if (b - a > 1) {
          const at0 = jobs[a]!.offset;
          return {
            op: 'encodeBatch',
            data,
            out: outSlot,
            sum,
            items: jobs.slice(a, b).map((j) => ({
              dtype: j.dtype,
              at: j.offset - at0,
              length: j.length,
              ...(j.phase ? { phase: j.phase } : {}),
            })),
          };
        }
        const j = jobs[a]!;
        const bb = baseBytes.get(g);
        baseBytes.delete(g);
        return {
          op: 'encode',
          dtype: j.dtype,
          data,
          out: outSlot,
          sum,
          ...(j.lossyBits !== undefined ? { lossyBits: j.lossyBits } : {}),
          ...(j.phase ? { phase: j.phase } : {}),
          ...(bb ? { base: bb } : {}),
        };
      },
      consume: async (g, reply, slot) => {
        const [a, b] = groups[g]!;
        if ('payloads' in reply) {
          shaOut?.update(slot.input); // lossless chunks of a lossy file: their bytes as they are
          // payloads lie back to back in the slot: each run of written (not duplicate) ones is one write
          const base = jobs[a]!.offset;
          let runStart = -1,
            runEnd = -1,
            runPos = 0;
          const flush = (): void => {
            if (runEnd > runStart) slot.behind(fh.write(slot.out, runStart, runEnd - runStart, runPos));
            runStart = runEnd = -1;
          };
          for (let i = a; i < b; i++) {
            const j = jobs[i]!;
            const [at, len] = reply.payloads[i - a]!;
            const pos = writePos;
            if (
              await addRecord(
                i,
                reply.crcs[i - a]!,
                len,
                reply.payloadCrcs[i - a]!,
                slot.input.subarray(j.offset - base, j.offset - base + j.length),
              )
            ) {
              if (runStart < 0) {
                runStart = at;
                runPos = pos;
              }
              runEnd = at + len;
            } else flush();
          }
          flush();
          return;
        }
        const j = jobs[a]!;
        shaOut?.update(reply.data);
        if (reply.lossy) {
          const acc = regionErrors.get(j.region);
          if (acc) mergeAcc(acc, reply.lossy);
          else regionErrors.set(j.region, reply.lossy);
        }
        const pos = writePos;
        // written behind: the slot is read into again only once this write is done
        if (
          await addRecord(
            a,
            reply.crc,
            reply.payload.length,
            reply.payloadCrc,
            reply.data,
            isDeltaPayload(reply.payload),
          )
        )
          slot.behind(fh.write(reply.payload, 0, reply.payload.length, pos));
      },
    });

    const inputSha256 = await hasher.digest();
    const sha256 = shaOut ? shaOut.digest('hex') : inputSha256;
    const index = buildIndex({
      name: path.basename(input),
      size: inp.size,
      sha256,
      format: layout.format,
      chunkBytes,
      regions,
      checksum: sum,
      ...(lossy ? { lossy: { bits: opts.lossyBits!, inputSha256 } } : {}),
      ...(base ? { base: base.source.record } : {}),
    });
    const { stored, footer } = encodeIndex(index, records, writePos);
    await fh.write(stored, 0, stored.length, writePos);
    await fh.write(footer, 0, footer.length, writePos + stored.length);
    const bytes = writePos + stored.length + footer.length;
    if (opts.signal?.aborted) throw cancelled(input);
    // what was read is what the file holds now: else the .tzip would be of no version of it
    await guard.final(inputSha256);
    await out.commit(!!opts.durable);
    const result: CompressResult = {
      output: out.path,
      bytes,
      originalBytes: inp.size,
      sha256,
      seconds: (performance.now() - t0) / 1000,
    };
    if (base)
      result.base = {
        name: base.source.record.name,
        sha256: base.source.record.sha256,
        matchedTensors: base.offsets.size,
      };
    if (lossyPlan)
      result.lossy = lossyReport(opts.lossyBits!, inputSha256, regions, regionErrors, lossyPlan.losslessFloat);
    return result;
  } catch (e) {
    await out?.discard();
    // a read that failed because the file shrank or grew under it (truncated, bad header) is the change
    if (guard && !(e instanceof TzError && (e.code === 'CANCELLED' || e.code === 'CHANGED'))) {
      if (await guard.changed().catch(() => false)) throw guard.error();
    }
    throw toTzError(e, input);
  } finally {
    await sha?.close();
    await inp.close();
    await base?.source.close();
  }
}

function lossyReport(
  bits: number,
  inputSha256: string,
  regions: RegionRecord[],
  errors: Map<number, ErrorAcc>,
  losslessTensors: number,
): LossyReport {
  const total = newAcc();
  const tensors = [];
  for (const [ri, r] of regions.entries()) {
    if (r.lossyBits === undefined) continue;
    const acc = errors.get(ri) ?? newAcc();
    mergeAcc(total, acc);
    tensors.push({
      name: r.name ?? `region ${ri}`,
      dtype: r.dtype,
      bits: r.lossyBits,
      bytes: r.length,
      error: summarizeErrors(acc),
    });
  }
  return { bits, inputSha256, tensors, losslessTensors, total: summarizeErrors(total) };
}
