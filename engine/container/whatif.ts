/**
 * What-if table for lossy mode: for each k, the predicted .tzip size and the error figures,
 * per tensor, per layer and for the whole file, before anything is written. Sizes come from the
 * real codec on the real chunking (rounded chunks coded by the worker pool, the container framing
 * computed exactly), so the prediction is what compress produces:
 *  - exact: every chunk of every tensor, every k (dedupe included): equals compress's size;
 *  - quick (default): tensors up to 1 MiB in full, larger ones through one 1 MiB chunk made of 16
 *    evenly spaced windows, scaled to the tensor's size (figures marked as estimates).
 */
import type { JobOptions } from '../core/job';
import { chunkJobs, planRegions, type ChunkJob, type PlannedRegion } from './plan';
import { CHUNK_CHECKSUM } from '../codec/checksum';
import {
  buildIndex,
  CHUNK_FLAG_DUPLICATE,
  DEFAULT_CHUNK_BYTES,
  encodeIndex,
  HEADER_BYTES,
  type ChunkRecord,
} from './format';
import { dtypeInfo } from '../core/dtypes';
import { TzError, toTzError } from '../core/errors';
import { openModel } from '../formats/index';
import { InputFile } from '../io/read';
import { layerOf } from '../../shared/layers';
import { defaultThreads } from '../pool/pool';
import { runOrdered } from '../pool/ordered';
import type { WhatIfReply } from '../../protocol/pool';
import { measureBlock, valuesOf } from '../lossy/block';
import { mergeAcc, newAcc, scaleAcc, summarizeErrors, type ErrorAcc, type ErrorSummary } from '../lossy/errorStats';
import { BLOCK_MAX, BLOCK_MIN } from '../lossy/plan';
import { LOSSY_DTYPES } from '../lossy/round';
import { maxBitsFor, selectTensor } from '../lossy/select';

export interface WhatIfOptions extends JobOptions {
  /** code every chunk instead of a sample per tensor */
  exact?: boolean;
  /** the k values to evaluate (default: every k valid for the file's float tensors, up to 23) */
  bits?: number[];
  lossyInclude?: string[];
  lossyExclude?: string[];
  /** also measure NeuZip block normalisation with blocks of this many values (error only) */
  block?: number;
}

export interface WhatIfPoint {
  /** mantissa bits kept; null = lossless */
  bits: number | null;
  predictedBytes: number;
  /** predictedBytes / original bytes */
  ratio: number;
  /** null when nothing is rounded at this k */
  error: ErrorSummary | null;
  /** with options.block: the error with block normalisation, and a lower bound of its size (the
   *  plain size plus 1 byte per block; coding the normalised values costs more, docs/measurements.md) */
  block?: { bytesAtLeast: number; error: ErrorSummary };
}

export interface WhatIfGroup {
  name: string;
  dtype?: string;
  bytes: number;
  /** rounded at least at one k (false: kept lossless by the selection rules) */
  lossy: boolean;
  /** payload bytes only (no container framing), one per k, same order as WhatIfResult.points */
  points: WhatIfPoint[];
}

export interface WhatIfResult {
  path: string;
  bytes: number;
  estimate: boolean;
  /** file totals: first the lossless point (bits null), then one per k */
  points: WhatIfPoint[];
  tensors: WhatIfGroup[];
  layers: WhatIfGroup[];
}

const QUICK_WINDOWS = 16;

/** Every k up to 10, then every other one up to 23 (F32/F64 would otherwise mean 23-52 codings per chunk). */
export function defaultBits(max: number): number[] {
  const out: number[] = [];
  for (let k = 0; k <= Math.min(max, 23); k++) if (k <= 10 || k % 2 === 0 || k === max) out.push(k);
  return out;
}

/** A chunk to code for the prediction: a chunk of compress's own chunking (`job`, scale 1), or for
 *  a large tensor in quick mode one composite chunk of windows (`parts`) scaled to its size. */
interface Sample {
  region: number;
  offset: number;
  length: number;
  phase: number;
  parts?: Array<[number, number]>;
  scale: number;
  job?: number;
}

/** Chunks to code: every chunk (exact, or small tensors) or one composite chunk of windows. */
function samplesFor(
  jobs: ChunkJob[],
  r: PlannedRegion,
  ri: number,
  first: number,
  count: number,
  exact: boolean,
  chunkBytes: number,
): Sample[] {
  if (exact || r.length <= chunkBytes || r.kind !== 'tensor') {
    return Array.from({ length: count }, (_, c) => {
      const j = jobs[first + c]!;
      return { region: ri, offset: j.offset, length: j.length, phase: j.phase, scale: 1, job: first + c };
    });
  }
  const el = Math.max(1, dtypeInfo(r.dtype).size);
  const win = Math.floor(chunkBytes / QUICK_WINDOWS / el) * el;
  const parts: Array<[number, number]> = [];
  for (let k = 0; k < QUICK_WINDOWS; k++)
    parts.push([r.offset + Math.floor(((r.length - win) * k) / (QUICK_WINDOWS - 1) / el) * el, win]);
  const total = win * QUICK_WINDOWS;
  return [{ region: ri, offset: r.offset, length: total, phase: 0, parts, scale: r.length / total }];
}

export async function whatIf(file: string, opts: WhatIfOptions = {}): Promise<WhatIfResult> {
  const layout = await openModel(file);
  const inp = await InputFile.open(file);
  const threads = Math.max(1, Math.floor(opts.threads ?? defaultThreads()));
  const chunkBytes = DEFAULT_CHUNK_BYTES;
  const exact = !!opts.exact;
  try {
    if (
      opts.block !== undefined &&
      (!Number.isInteger(opts.block) || opts.block < BLOCK_MIN || opts.block > BLOCK_MAX)
    ) {
      throw new TzError(
        'USAGE',
        file,
        `lossy block must be an integer from ${BLOCK_MIN} to ${BLOCK_MAX}, got ${opts.block}`,
      );
    }
    const regions = planRegions(layout, inp.size);
    const floatDtypes = new Set(
      regions.filter((r) => r.kind === 'tensor' && LOSSY_DTYPES[r.dtype] !== undefined).map((r) => r.dtype),
    );
    const max = maxBitsFor(floatDtypes);
    const ks = (opts.bits ?? (max === undefined ? [] : defaultBits(max))).filter(
      (k) => max !== undefined && Number.isInteger(k) && k >= 0 && k <= max,
    );
    // bits per region per point (point 0 = lossless)
    const sel = (r: PlannedRegion, k: number): number | undefined =>
      r.kind === 'tensor' && LOSSY_DTYPES[r.dtype] !== undefined
        ? selectTensor(
            { name: r.name ?? '', dtype: r.dtype, ...(r.shape ? { shape: r.shape } : {}) },
            {
              bits: k,
              ...(opts.lossyInclude ? { include: opts.lossyInclude } : {}),
              ...(opts.lossyExclude ? { exclude: opts.lossyExclude } : {}),
            },
          ).bits
        : undefined;
    const regionBits: Array<Array<number | undefined>> = regions.map((r) => [undefined, ...ks.map((k) => sel(r, k))]);
    const P = ks.length + 1;
    const sizes = regions.map(() => new Float64Array(P));
    const errs: Array<Array<ErrorAcc | undefined>> = regions.map(() =>
      new Array<ErrorAcc | undefined>(P).fill(undefined),
    );
    const blockErrs: Array<Array<ErrorAcc | undefined>> = regions.map(() =>
      new Array<ErrorAcc | undefined>(P).fill(undefined),
    );
    const seen = Array.from({ length: P }, () => new Map<string, number>());
    // per point, the chunk records compress would write for exactly coded chunks (by chunk job)
    const records: Array<Map<number, ChunkRecord & { dupOf?: number }>> = Array.from({ length: P }, () => new Map());
    let estimate = false;

    const { jobs, regions: chunked } = chunkJobs(regions, chunkBytes);
    const samples = regions.flatMap((r, ri) =>
      samplesFor(jobs, r, ri, chunked[ri]!.chunk, chunked[ri]!.chunks, exact, chunkBytes),
    );
    const total = samples.reduce((a, s) => a + s.length, 0);
    let done = 0;
    // compress with one task per chunk coding every k, and no output
    await runOrdered<WhatIfReply>({
      file,
      count: samples.length,
      threads,
      ...(opts.signal ? { signal: opts.signal } : {}),
      inSlotBytes: chunkBytes,
      outSlotBytes: 0,
      read: async (k, into) => {
        const s = samples[k]!;
        const data = into.subarray(0, s.length);
        if (s.parts) {
          let o = 0;
          for (const [off, len] of s.parts) {
            await inp.readExact(off, len, 'tensor sample', data.subarray(o, o + len));
            o += len;
          }
        } else await inp.readExact(s.offset, s.length, 'input chunk', data);
        return data;
      },
      task: (k, { input: data }) => {
        const s = samples[k]!;
        const r = regions[s.region]!;
        const bits = regionBits[s.region]!;
        if (opts.block !== undefined && bits.some((b) => b !== undefined)) {
          const vals = valuesOf(data, r.dtype);
          bits.forEach((b, pi) => {
            if (b !== undefined)
              blockErrs[s.region]![pi] = mergeAcc(
                blockErrs[s.region]![pi] ?? newAcc(),
                scaleAcc(measureBlock(vals, r.dtype, b, opts.block!), s.scale),
              );
          });
        }
        // distinct roundings only: regions kept lossless at every k are coded once
        return { op: 'whatif', dtype: r.dtype, data, bits: [...new Set(bits)], ...(s.phase ? { phase: s.phase } : {}) };
      },
      consume: (i, reply) => {
        const s = samples[i]!;
        const bits = regionBits[s.region]!;
        const distinct = [...new Set(bits)];
        const at = bits.map((b) => distinct.indexOf(b));
        if (s.job === undefined) estimate = true;
        for (let pi = 0; pi < P; pi++) {
          const d = at[pi]!;
          const size = reply.sizes[d]!;
          const key = `${s.length}|${reply.digests[d]}`;
          const dupOf = s.job !== undefined ? seen[pi]!.get(key) : undefined;
          if (s.job !== undefined) {
            if (dupOf === undefined) seen[pi]!.set(key, s.job);
            records[pi]!.set(s.job, {
              payloadOffset: 0,
              payloadLength: size,
              rawLength: s.length,
              rawCrc: reply.crcs[d]!,
              payloadCrc: reply.payloadCrcs[d]!,
              flags: dupOf === undefined ? 0 : CHUNK_FLAG_DUPLICATE,
              ...(dupOf !== undefined ? { dupOf } : {}),
            });
          }
          if (dupOf === undefined) sizes[s.region]![pi] += size * s.scale;
          const e = reply.errors[d];
          if (e)
            errs[s.region]![pi] = mergeAcc(errs[s.region]![pi] ?? newAcc(), s.scale === 1 ? e : scaleAcc(e, s.scale));
        }
        done += s.length;
        opts.onProgress?.({
          phase: 'analyze',
          file,
          bytesDone: done,
          bytesTotal: total,
          ...(regions[s.region]!.name ? { tensor: regions[s.region]!.name! } : {}),
        });
      },
    });

    const point = (
      pi: number,
      bytes: number,
      payload: number,
      acc: ErrorAcc | undefined,
      block: ErrorAcc | undefined,
      blocks: number,
    ): WhatIfPoint => {
      const pt: WhatIfPoint = {
        bits: pi === 0 ? null : ks[pi - 1]!,
        predictedBytes: Math.round(payload),
        ratio: bytes ? Math.round(payload) / bytes : 0,
        error: acc ? summarizeErrors(acc) : null,
      };
      if (block) pt.block = { bytesAtLeast: Math.round(payload + blocks), error: summarizeErrors(block) };
      return pt;
    };
    const blocksOf = (r: PlannedRegion): number =>
      Math.ceil(r.length / Math.max(1, dtypeInfo(r.dtype).size) / (opts.block ?? 1));
    const tensors: WhatIfGroup[] = [];
    const layers = new Map<
      string,
      {
        g: WhatIfGroup;
        pay: Float64Array;
        acc: Array<ErrorAcc | undefined>;
        bacc: Array<ErrorAcc | undefined>;
        blocks: number[];
      }
    >();
    regions.forEach((r, ri) => {
      if (r.kind !== 'tensor') return;
      const lossy = regionBits[ri]!.some((b) => b !== undefined);
      const blocks = regionBits[ri]!.map((b) => (b !== undefined && opts.block ? blocksOf(r) : 0));
      tensors.push({
        name: r.name ?? '',
        dtype: r.dtype,
        bytes: r.length,
        lossy,
        points: Array.from({ length: P }, (_, pi) =>
          point(pi, r.length, sizes[ri]![pi]!, errs[ri]![pi], blockErrs[ri]![pi], blocks[pi]!),
        ),
      });
      const ln = layerOf(r.name ?? '');
      let l = layers.get(ln);
      if (!l) {
        l = {
          g: { name: ln, bytes: 0, lossy: false, points: [] },
          pay: new Float64Array(P),
          acc: new Array(P).fill(undefined),
          bacc: new Array(P).fill(undefined),
          blocks: new Array(P).fill(0),
        };
        layers.set(ln, l);
      }
      l.g.bytes += r.length;
      l.g.lossy ||= lossy;
      for (let pi = 0; pi < P; pi++) {
        l.pay[pi] += sizes[ri]![pi]!;
        if (errs[ri]![pi]) l.acc[pi] = mergeAcc(l.acc[pi] ?? newAcc(), errs[ri]![pi]!);
        if (blockErrs[ri]![pi]) l.bacc[pi] = mergeAcc(l.bacc[pi] ?? newAcc(), blockErrs[ri]![pi]!);
        l.blocks[pi] += blocks[pi]!;
      }
    });
    for (const l of layers.values())
      l.g.points = Array.from({ length: P }, (_, pi) =>
        point(pi, l.g.bytes, l.pay[pi]!, l.acc[pi], l.bacc[pi], l.blocks[pi]!),
      );

    // whole file: payloads + the exact container framing
    const points: WhatIfPoint[] = [];
    for (let pi = 0; pi < P; pi++) {
      let blocks = 0;
      let acc: ErrorAcc | undefined;
      let bacc: ErrorAcc | undefined;
      regions.forEach((r, ri) => {
        if (errs[ri]![pi]) acc = mergeAcc(acc ?? newAcc(), errs[ri]![pi]!);
        if (blockErrs[ri]![pi]) {
          bacc = mergeAcc(bacc ?? newAcc(), blockErrs[ri]![pi]!);
          blocks += blocksOf(r);
        }
      });
      const bytes = framedBytes(
        file,
        layout.format,
        inp.size,
        regions,
        regionBits.map((b) => b[pi]),
        pi === 0 ? undefined : ks[pi - 1]!,
        chunkBytes,
        records[pi]!,
        sizes.map((x) => x[pi]!),
      );
      const pt = point(pi, inp.size, bytes, acc, bacc, blocks);
      points.push(pt);
    }
    return { path: file, bytes: inp.size, estimate, points, tensors, layers: [...layers.values()].map((l) => l.g) };
  } catch (e) {
    throw toTzError(e, file);
  } finally {
    await inp.close();
  }
}

/**
 * The whole container's size: header, payloads, and the index exactly as compress encodes it
 * (JSON and chunk table, deflated). Exactly coded chunks bring their real records; chunks of a
 * sampled tensor get its scaled size spread evenly and stand-in checksums, and the SHA-256 fields
 * stand-in hex digits, which deflate alike (a few bytes of difference at most).
 */
function framedBytes(
  file: string,
  format: string,
  size: number,
  planned: PlannedRegion[],
  bits: Array<number | undefined>,
  k: number | undefined,
  chunkBytes: number,
  exactRecords: Map<number, ChunkRecord & { dupOf?: number }>,
  regionPayload: number[],
): number {
  let seed = 0x9e3779b9;
  const rand = (): number => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return seed;
  };
  const hex = (): string => Array.from({ length: 8 }, () => rand().toString(16).padStart(8, '0')).join('');
  const { jobs, regions } = chunkJobs(planned, chunkBytes, (ri) => bits[ri]);
  const records: ChunkRecord[] = [];
  let pos = HEADER_BYTES;
  jobs.forEach((j, c) => {
    const ex = exactRecords.get(c);
    let rec: ChunkRecord;
    if (ex && ex.dupOf !== undefined) {
      const d = records[ex.dupOf]!;
      rec = {
        payloadOffset: d.payloadOffset,
        payloadLength: d.payloadLength,
        rawLength: ex.rawLength,
        rawCrc: ex.rawCrc,
        payloadCrc: d.payloadCrc,
        flags: ex.flags,
      };
    } else {
      const plen = ex ? ex.payloadLength : Math.round(regionPayload[j.region]! / regions[j.region]!.chunks);
      rec = {
        payloadOffset: pos,
        payloadLength: plen,
        rawLength: j.length,
        rawCrc: ex ? ex.rawCrc : rand(),
        payloadCrc: ex ? ex.payloadCrc : rand(),
        flags: 0,
      };
      pos += plen;
    }
    records.push(rec);
  });
  const lossy = k !== undefined && bits.some((b) => b !== undefined);
  const index = buildIndex({
    name: file.split(/[\\/]/).pop()!,
    size,
    sha256: hex(),
    format,
    chunkBytes,
    regions,
    checksum: CHUNK_CHECKSUM,
    ...(lossy ? { lossy: { bits: k, inputSha256: hex() } } : {}),
  });
  const { stored, footer } = encodeIndex(index, records, pos);
  return pos + stored.length + footer.length;
}
