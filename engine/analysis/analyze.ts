/**
 * analyzeFile: opens any supported model, then streams every tensor's bytes through TensorStats
 * in bounded chunks (one reusable buffer per file; never a whole tensor or file in memory).
 */
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { JobOptions } from '../core/job';
import { dtypeInfo, elementCount } from '../core/dtypes';
import { throwIfAborted } from '../core/errors';
import { openModel } from '../formats/index';
import { isTzipFile, withTensors } from '../container/tensorReader';
import type { ModelLayout, TensorEntry } from '../formats/types';
import { InputFile } from '../io/read';
import { fileEstimate, tensorEstimate } from '../../shared/estimate';
import { layerOf } from '../../shared/layers';
import { summarizeStats, TensorStats } from './stats';
import type { FileAnalysis, LayerAnalysis, ShardAnalysis, TensorAnalysis } from './types';

export interface AnalyzeOptions extends JobOptions {
  /** sample instead of scanning everything; results are marked as estimates */
  quick?: boolean;
  /** called as each tensor's analysis completes, in file order */
  onTensor?: (t: TensorAnalysis, index: number, total: number) => void;
}

export const ANALYSIS_CHUNK = 4 << 20;
/** quick mode: tensors larger than this are sampled */
export const QUICK_SAMPLE_BYTES = 1 << 20;
const QUICK_WINDOWS = 16;

/** Byte ranges [start, length] to read for one tensor: all of it, or evenly spaced windows in quick mode. */
function rangesFor(t: TensorEntry, quick: boolean): Array<[number, number]> {
  if (!quick || t.bytes <= QUICK_SAMPLE_BYTES) return [[t.offset, t.bytes]];
  const el = Math.max(1, dtypeInfo(t.dtype).size);
  const win = Math.floor(QUICK_SAMPLE_BYTES / QUICK_WINDOWS / el) * el;
  const out: Array<[number, number]> = [];
  for (let k = 0; k < QUICK_WINDOWS; k++) {
    const pos = Math.floor(((t.bytes - win) * k) / (QUICK_WINDOWS - 1) / el) * el;
    out.push([t.offset + pos, win]);
  }
  return out;
}

/** Bytes covered by at least one tensor range (views may share storage). */
function coveredBytes(layout: ModelLayout): number {
  const byFile = new Map<string, Array<[number, number]>>();
  for (const t of layout.tensors) {
    const f = t.file ?? layout.path;
    const arr = byFile.get(f) ?? [];
    arr.push([t.offset, t.offset + t.bytes]);
    byFile.set(f, arr);
  }
  let covered = 0;
  for (const ranges of byFile.values()) {
    ranges.sort((a, b) => a[0] - b[0]);
    let end = -1;
    for (const [s, e] of ranges) {
      if (s >= end) {
        covered += e - s;
        end = e;
      } else if (e > end) {
        covered += e - end;
        end = e;
      }
    }
  }
  return covered;
}

/** Reads `length` bytes of tensor `t` at file offset `start` into `buf` (the default: from its file). */
export type TensorRangeReader = (t: TensorEntry, start: number, length: number, buf: Uint8Array) => Promise<Uint8Array>;

export async function analyzeLayout(
  layout: ModelLayout,
  opts: AnalyzeOptions = {},
  readRange?: TensorRangeReader,
): Promise<FileAnalysis> {
  const quick = !!opts.quick;
  // multi-file models (shards, external data): the model's size is that of every file
  let modelBytes = layout.size;
  const shardBytes = new Map<string, number>();
  for (const f of layout.files ?? []) {
    if (f === layout.path) continue;
    const size = (await stat(f)).size;
    shardBytes.set(f, size);
    modelBytes += size;
  }
  const dir = path.dirname(layout.path);
  const buf = new Uint8Array(new ArrayBuffer(ANALYSIS_CHUNK));
  const files = new Map<string, InputFile>();
  const totalBytes = layout.tensors.reduce((a, t) => a + t.bytes, 0);
  let done = 0;
  const tensors: TensorAnalysis[] = [];
  try {
    for (let ti = 0; ti < layout.tensors.length; ti++) {
      const t = layout.tensors[ti]!;
      throwIfAborted(opts.signal, layout.path);
      const fpath = t.file ?? layout.path;
      let f = readRange ? undefined : files.get(fpath);
      if (!f && !readRange) {
        f = await InputFile.open(fpath);
        files.set(fpath, f);
      }
      const st = new TensorStats(t.dtype);
      const ranges = rangesFor(t, quick);
      let sampled = 0;
      for (const [start, len] of ranges) {
        for (let off = 0; off < len; off += ANALYSIS_CHUNK) {
          throwIfAborted(opts.signal, layout.path);
          const n = Math.min(ANALYSIS_CHUNK, len - off);
          const chunk = readRange
            ? await readRange(t, start + off, n, buf)
            : await f!.readExact(start + off, n, `tensor "${t.name}"`, buf);
          st.add(chunk);
          sampled += n;
        }
      }
      done += t.bytes;
      const s = summarizeStats(st);
      const scale = sampled > 0 ? t.bytes / sampled : 1;
      const elements = dtypeInfo(t.dtype).size
        ? elementCount(t.shape)
        : Number.isFinite(elementCount(t.shape))
          ? elementCount(t.shape)
          : 0;
      const ta: TensorAnalysis = {
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
        bytes: t.bytes,
        exponentEntropy: s.exponentEntropy,
        boundBytes: Math.ceil((s.boundBits * scale) / 8),
        layer: layerOf(t.name),
        elements,
        planeEntropy: s.planeEntropy,
      };
      const optional: Array<keyof typeof s> = [
        'exponentHistogram',
        'signEntropy',
        'mantissaEntropy',
        'min',
        'max',
        'mean',
        'std',
        'zeros',
        'subnormals',
        'nans',
        'infs',
        'cleanLowBits',
        'distinctValues',
      ];
      for (const k of optional) if (s[k] !== undefined) (ta as unknown as Record<string, unknown>)[k] = s[k];
      if (scale !== 1) {
        ta.estimate = true;
        for (const k of ['zeros', 'subnormals', 'nans', 'infs'] as const)
          if (ta[k] !== undefined) ta[k] = Math.round(ta[k]! * scale);
        if (ta.exponentHistogram) ta.exponentHistogram = ta.exponentHistogram.map((c) => c * scale);
        delete ta.distinctValues;
      }
      if (t.extra) ta.extra = t.extra;
      if (t.file && shardBytes.has(t.file)) ta.shard = path.relative(dir, t.file);
      tensors.push(ta);
      opts.onTensor?.(ta, ti, layout.tensors.length);
      opts.onProgress?.({
        phase: 'analyze',
        file: layout.path,
        bytesDone: done,
        bytesTotal: totalBytes,
        tensor: t.name,
        layer: ta.layer,
      });
    }
  } finally {
    for (const f of files.values()) await f.close();
  }
  const fa = summarizeFile(layout, tensors, quick, modelBytes);
  if (layout.format === 'safetensors-index' && shardBytes.size) {
    const counts = new Map<string, number>();
    for (const t of tensors) if (t.shard) counts.set(t.shard, (counts.get(t.shard) ?? 0) + 1);
    fa.shards = [...shardBytes].map(([f, bytes]): ShardAnalysis => {
      const file = path.relative(dir, f);
      return { file, bytes, tensors: counts.get(file) ?? 0 };
    });
  }
  return fa;
}

export function summarizeFile(
  layout: ModelLayout,
  tensors: TensorAnalysis[],
  estimate: boolean,
  modelBytes = layout.size,
): FileAnalysis {
  const layers: LayerAnalysis[] = [];
  const byName = new Map<string, LayerAnalysis>();
  const bytesPerDtype: Record<string, number> = {};
  let parameters = 0;
  let bound = 0;
  let estimates = 0;
  for (const t of tensors) {
    let l = byName.get(t.layer);
    if (!l) {
      l = { name: t.layer, tensors: 0, bytes: 0, boundBytes: 0, elements: 0 };
      byName.set(t.layer, l);
      layers.push(l);
    }
    l.tensors++;
    l.bytes += t.bytes;
    l.boundBytes += t.boundBytes;
    l.elements += t.elements;
    parameters += t.elements;
    bytesPerDtype[t.dtype] = (bytesPerDtype[t.dtype] ?? 0) + t.bytes;
    bound += t.boundBytes;
    estimates += tensorEstimate(t.boundBytes, t.bytes);
  }
  const structure = modelBytes - coveredBytes(layout);
  const fa: FileAnalysis = {
    path: layout.path,
    format: layout.format,
    bytes: modelBytes,
    tensors,
    layers,
    parameters,
    bytesPerDtype,
    boundBytes: bound + Math.max(0, structure),
    predictedBytes: fileEstimate(estimates, structure),
    estimate,
  };
  if (layout.metadata) fa.metadata = layout.metadata;
  return fa;
}

export async function analyzeFile(file: string, opts: AnalyzeOptions = {}): Promise<FileAnalysis> {
  if (await isTzipFile(file)) return analyzeTzip(file, opts);
  const layout = await openModel(file);
  return analyzeLayout(layout, opts);
}

/**
 * A .tzip gets the analysis of the original it holds: every tensor region is decoded (only its own
 * chunks, checksums checked) and streamed through the same statistics, so exponent entropies and
 * bounds equal those of the original file. `bytes` is the original's size; `format` stays "tzip".
 */
async function analyzeTzip(file: string, opts: AnalyzeOptions): Promise<FileAnalysis> {
  return withTensors(
    file,
    async (src) => {
      const tensors: TensorEntry[] = [];
      let pos = 0;
      for (const t of src.tensors()) {
        // offsets here are positions in a virtual concatenation of the tensors (only differences matter)
        tensors.push({
          name: t.name,
          dtype: t.dtype,
          shape: t.shape,
          offset: pos,
          bytes: t.bytes,
          ...(t.block ? { extra: { block: t.block } } : {}),
        });
        pos += t.bytes;
      }
      const layout: ModelLayout = { path: file, format: 'tzip', size: src.originalSize, tensors };
      const read: TensorRangeReader = async (t, start, length, buf) => {
        const out = buf.subarray(0, length);
        await src.readBytes(
          t.name,
          start - t.offset,
          length,
          (piece, at) => {
            out.set(piece, at - (start - t.offset));
          },
          opts.signal ? { signal: opts.signal } : {},
        );
        return out;
      };
      return analyzeLayout(layout, opts, read);
    },
    opts.threads !== undefined ? { threads: opts.threads } : {},
  );
}
