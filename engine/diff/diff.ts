/**
 * Model diff (`tensorzip diff A B`): tensors matched by name; for each pair with the same dtype and
 * shape, streamed in 1 MiB pieces from both files (A in its own order, B's partner at the same
 * position), the bit and value differences, ULP-distance and XOR-bit histograms, and the order-0
 * bounds of the three ways delta coding can code it (standalone planes, XOR planes, ULP planes).
 * Memory is bounded by two pieces plus per-tensor counters. Any readable file works: model
 * formats, sharded indexes, .tzip (delta .tzip too, its base found next to it).
 */
import { layerOf } from '../../shared/layers';
import { order0Bits } from '../codec/entropy';
import { layoutFor } from '../codec/layout';
import { splitRef } from '../codec/planes';
import { ulpForward, ulpWidth, xorInto } from '../codec/delta';
import { dtypeInfo, elementCount } from '../core/dtypes';
import { cancelled, TzError } from '../core/errors';
import { openModel } from '../formats/index';
import { InputFile } from '../io/read';
import { valuesOf } from '../lossy/block';
import { openTzipTensors } from '../container/base';
import type { Progress } from '../core/job';

export type { DiffStatus, TensorDiff, LayerDiff, DiffSummary, DiffResult } from './types';
import type { DiffStatus, TensorDiff, LayerDiff, DiffSummary, DiffResult } from './types';

export interface DiffOptions {
  signal?: AbortSignal;
  onProgress?: (p: Omit<Progress, 'phase'> & { phase: 'diff' }) => void;
  /** each tensor's result as it completes, in A's order (added tensors last) */
  onTensor?: (t: TensorDiff, index: number, total: number) => void;
}

interface SideTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}
interface Side {
  tensors: SideTensor[];
  close(): Promise<void>;
}

const PIECE = 1 << 20;

/** The tensors of any readable file with a reader of their bytes. */
async function openSide(file: string, signal?: AbortSignal): Promise<Side> {
  if (/\.tzip$/i.test(file)) {
    const t = await openTzipTensors(file, signal);
    return {
      tensors: t.tensors.map((r) => ({
        name: r.name,
        dtype: r.dtype,
        shape: r.shape,
        bytes: r.length,
        read: (o, n) => t.source.read(r.offset + o, n),
      })),
      close: () => t.source.close(),
    };
  }
  const layout = await openModel(file);
  const files = new Map<string, Promise<InputFile>>();
  const fileOf = (f: string): Promise<InputFile> => {
    let p = files.get(f);
    if (!p) {
      p = InputFile.open(f);
      files.set(f, p);
    }
    return p;
  };
  const seen = new Set<string>();
  const tensors: SideTensor[] = [];
  for (const t of layout.tensors) {
    if (seen.has(t.name)) continue;
    seen.add(t.name);
    const f = t.file ?? layout.path;
    tensors.push({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      bytes: t.bytes,
      read: async (o, n) => (await fileOf(f)).readExact(t.offset + o, n, `tensor "${t.name}"`),
    });
  }
  return {
    tensors,
    close: async () => {
      for (const p of files.values()) await (await p.catch(() => undefined))?.close();
    },
  };
}

/** Per-tensor accumulator. */
class Acc {
  changed = 0;
  maxAbs = 0;
  sumAbs = 0;
  finite = 0;
  sumSqDiff = 0;
  sumSqA = 0;
  sumSqB = 0;
  dot = 0;
  ulp: number[];
  xorBits: number[];
  planes: { std: Uint32Array[]; xor: Uint32Array[]; ulp: Uint32Array[] };
  constructor(readonly w: number) {
    this.ulp = new Array(8 * w + 1).fill(0);
    this.xorBits = new Array(8 * w).fill(0);
    const hs = () => Array.from({ length: w }, () => new Uint32Array(256));
    this.planes = { std: hs(), xor: hs(), ulp: hs() };
  }
}

function histPlanes(data: Uint8Array, dtype: string, w: number, raw: boolean, into: Uint32Array[]): void {
  const n = Math.floor(data.length / w);
  const planes = raw
    ? splitRef(data, n, { width: w as 1 | 2 | 4 | 8, transform: 0 })
    : splitRef(data, n, dtype === 'RAW' ? { width: 1, transform: 0 } : layoutFor(dtype));
  for (let p = 0; p < w; p++) {
    const h = into[p]!;
    for (let i = p * n; i < (p + 1) * n; i++) h[planes[i]!]!++;
  }
}

const bitLength32 = (x: number): number => (x === 0 ? 0 : 32 - Math.clz32(x));

/** Integer values of a chunk (integer dtypes up to 4 bytes), as doubles. */
function intValues(data: Uint8Array, dtype: string): Float64Array | undefined {
  const info = dtypeInfo(dtype);
  if (info.float || info.signed === undefined || info.size > 4 || info.size === 0) return undefined;
  const n = Math.floor(data.length / info.size);
  const a = data.slice(0, n * info.size);
  const arr =
    info.size === 1
      ? info.signed
        ? new Int8Array(a.buffer)
        : a
      : info.size === 2
        ? info.signed
          ? new Int16Array(a.buffer)
          : new Uint16Array(a.buffer)
        : info.signed
          ? new Int32Array(a.buffer)
          : new Uint32Array(a.buffer);
  return Float64Array.from(arr as ArrayLike<number>);
}

function accumulate(acc: Acc, a: Uint8Array, b: Uint8Array, dtype: string): void {
  const w = acc.w;
  const n = Math.floor(a.length / w);
  // bit-level: changed elements and which bits flip
  for (let i = 0; i < n; i++) {
    let diff = false;
    for (let k = 0; k < w; k++) {
      const x = a[i * w + k]! ^ b[i * w + k]!;
      if (x) {
        diff = true;
        for (let bit = 0; bit < 8; bit++) if (x & (1 << bit)) acc.xorBits[8 * k + bit]!++;
      }
    }
    if (diff) acc.changed++;
  }
  // values
  const info = dtypeInfo(dtype);
  const va = info.float && (w === 2 || w === 4 || w === 8) ? valuesOf(a, dtype) : intValues(a, dtype);
  const vb = info.float && (w === 2 || w === 4 || w === 8) ? valuesOf(b, dtype) : intValues(b, dtype);
  if (va && vb) {
    for (let i = 0; i < va.length; i++) {
      const x = va[i]!,
        y = vb[i]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      const d = Math.abs(x - y);
      if (d > acc.maxAbs) acc.maxAbs = d;
      acc.sumAbs += d;
      acc.finite++;
      acc.sumSqDiff += d * d;
      acc.sumSqA += x * x;
      acc.sumSqB += y * y;
      acc.dot += x * y;
    }
  }
  // ULP distances (float dtypes) or integer distances, bucketed by bit length; and the planes' histograms
  const residual = new Uint8Array(a.length);
  const uw = ulpWidth(dtype);
  if (uw) {
    ulpForward(b, a, uw, residual);
    if (uw === 2) {
      const z = new Uint16Array(residual.buffer, 0, n);
      for (let i = 0; i < n; i++) acc.ulp[bitLength32((z[i]! + 1) >>> 1)]!++; // |d| from zigzag
    } else if (uw === 4) {
      const z = new Uint32Array(residual.buffer, 0, n);
      for (let i = 0; i < n; i++) {
        const zz = z[i]!;
        acc.ulp[zz === 0xffffffff ? 32 : bitLength32(Math.floor((zz + 1) / 2))]!++;
      }
    } else {
      const z = new BigUint64Array(residual.buffer, 0, n);
      for (let i = 0; i < n; i++) {
        const d = (z[i]! + 1n) >> 1n;
        acc.ulp[d === 0n ? 0 : d.toString(2).length]!++;
      }
    }
    histPlanes(residual, dtype, uw, true, acc.planes.ulp);
  } else if (va && vb) {
    for (let i = 0; i < va.length; i++) {
      const d = Math.abs(va[i]! - vb[i]!);
      acc.ulp[d === 0 ? 0 : Math.min(8 * w, Math.floor(Math.log2(d)) + 1)]!++;
    }
  }
  xorInto(b, a, residual);
  histPlanes(residual, dtype, w, false, acc.planes.xor);
  histPlanes(b, dtype, w, false, acc.planes.std);
}

const planeBytes = (hs: Uint32Array[]): number => {
  let bits = 0;
  for (const h of hs) bits += order0Bits(h);
  return Math.ceil(bits / 8);
};

export async function diffFiles(fileA: string, fileB: string, opts: DiffOptions = {}): Promise<DiffResult> {
  const A = await openSide(fileA, opts.signal);
  let B: Side | undefined;
  try {
    B = await openSide(fileB, opts.signal);
    const byName = new Map(B.tensors.map((t) => [t.name, t]));
    const inA = new Set(A.tensors.map((t) => t.name));
    const total = A.tensors.reduce((s, t) => s + t.bytes, 0);
    const order = [
      ...A.tensors.map((t) => ({ a: t as SideTensor | undefined, b: byName.get(t.name) })),
      ...B.tensors.filter((t) => !inA.has(t.name)).map((t) => ({ a: undefined, b: t as SideTensor | undefined })),
    ];
    const tensors: TensorDiff[] = [];
    let done = 0;
    for (const [idx, { a, b }] of order.entries()) {
      if (opts.signal?.aborted) throw cancelled(fileA);
      const t = (a ?? b)!;
      const base = {
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
        elements: elementCount(t.shape),
        changedElements: null,
        maxAbsDiff: null,
        meanAbsDiff: null,
        relL2: null,
        cosine: null,
        ulpHistogram: null,
        xorBitHistogram: null,
        layer: layerOf(t.name),
        bytes: t.bytes,
      };
      let d: TensorDiff;
      if (!a) d = { ...base, status: 'added' };
      else if (!b) d = { ...base, status: 'removed' };
      else if (
        a.dtype !== b.dtype ||
        a.bytes !== b.bytes ||
        a.shape.length !== b.shape.length ||
        a.shape.some((x, i) => x !== b.shape[i])
      ) {
        d = {
          ...base,
          status: a.dtype !== b.dtype ? 'dtype-changed' : 'shape-changed',
          dtypeB: b.dtype,
          shapeB: b.shape,
        };
      } else {
        const size = dtypeInfo(a.dtype).size;
        const w = size === 2 || size === 4 || size === 8 ? size : 1;
        const acc = new Acc(w);
        const piece = PIECE - (PIECE % w);
        for (let o = 0; o < a.bytes; o += piece) {
          if (opts.signal?.aborted) throw cancelled(fileA);
          const len = Math.min(piece, a.bytes - o);
          const [x, y] = [await a.read(o, len), await b.read(o, len)];
          accumulate(acc, x, y, a.dtype);
          done += len;
          opts.onProgress?.({ phase: 'diff', file: fileA, bytesDone: done, bytesTotal: total, tensor: a.name });
        }
        const numeric = acc.finite > 0 || dtypeInfo(a.dtype).float !== undefined;
        const ulp = ulpWidth(a.dtype) ? planeBytes(acc.planes.ulp) : undefined;
        d = {
          ...base,
          status: acc.changed === 0 ? 'identical' : 'changed',
          elements: Number.isFinite(base.elements) ? base.elements : Math.floor(a.bytes / w),
          changedElements: acc.changed,
          maxAbsDiff: numeric ? acc.maxAbs : null,
          meanAbsDiff: numeric && acc.finite ? acc.sumAbs / acc.finite : null,
          relL2: numeric && acc.sumSqA > 0 ? Math.sqrt(acc.sumSqDiff) / Math.sqrt(acc.sumSqA) : null,
          cosine: numeric && acc.sumSqA > 0 && acc.sumSqB > 0 ? acc.dot / Math.sqrt(acc.sumSqA * acc.sumSqB) : null,
          ...(numeric ? { normA: Math.sqrt(acc.sumSqA) } : {}),
          ulpHistogram: acc.ulp,
          xorBitHistogram: acc.xorBits,
          bounds: {
            standalone: planeBytes(acc.planes.std),
            xor: planeBytes(acc.planes.xor),
            ...(ulp !== undefined ? { ulp } : {}),
          },
        };
        SQ.set(d, { d: acc.sumSqDiff, a: acc.sumSqA });
        if (d.status === 'identical')
          d.bounds = { standalone: d.bounds!.standalone, xor: 0, ...(ulp !== undefined ? { ulp: 0 } : {}) };
      }
      tensors.push(d);
      opts.onTensor?.(d, idx, order.length);
    }
    return { a: fileA, b: fileB, tensors, layers: layersOf(tensors), summary: summaryOf(tensors, A, B) };
  } catch (e) {
    if (e instanceof TzError) throw e;
    throw new TzError('IO', fileA, (e as Error).message);
  } finally {
    await B?.close();
    await A.close();
  }
}

interface Sums {
  tensors: number;
  changedTensors: number;
  elements: number;
  changed: number;
  sqDiff: number;
  sqA: number;
  maxAbs: number;
}

/** Adds a tensor's figures to a layer's or the file's totals. */
function sumsOf(t: TensorDiff, s: Sums): void {
  s.tensors++;
  if (t.status !== 'identical') s.changedTensors++;
  if (t.changedElements === null) return;
  s.elements += t.elements;
  s.changed += t.changedElements;
  const q = SQ.get(t);
  if (q) {
    s.sqDiff += q.d;
    s.sqA += q.a;
  }
  if (t.maxAbsDiff !== null && t.maxAbsDiff > s.maxAbs) s.maxAbs = t.maxAbsDiff;
}

/** ||a-b||² and ||a||² of each compared tensor, for the layer and file totals of relL2. */
const SQ = new WeakMap<TensorDiff, { d: number; a: number }>();

function layersOf(tensors: TensorDiff[]): LayerDiff[] {
  const by = new Map<string, Sums>();
  for (const t of tensors) {
    let s = by.get(t.layer);
    if (!s) {
      s = { tensors: 0, changedTensors: 0, elements: 0, changed: 0, sqDiff: 0, sqA: 0, maxAbs: 0 };
      by.set(t.layer, s);
    }
    sumsOf(t, s);
  }
  return [...by.entries()].map(([layer, s]) => ({
    layer,
    tensors: s.tensors,
    changedTensors: s.changedTensors,
    elements: s.elements,
    changedElements: s.changed,
    changedFraction: s.elements ? s.changed / s.elements : 0,
    relL2: s.sqA > 0 ? Math.sqrt(s.sqDiff / s.sqA) : null,
    maxAbsDiff: s.maxAbs,
  }));
}

function summaryOf(tensors: TensorDiff[], A: Side, B: Side): DiffSummary {
  const counts: Record<DiffStatus, number> = {
    added: 0,
    removed: 0,
    'dtype-changed': 0,
    'shape-changed': 0,
    identical: 0,
    changed: 0,
  };
  const s: Sums = { tensors: 0, changedTensors: 0, elements: 0, changed: 0, sqDiff: 0, sqA: 0, maxAbs: 0 };
  const bounds = { standalone: 0, xor: 0, ulp: 0, best: 0 };
  for (const t of tensors) {
    counts[t.status]++;
    sumsOf(t, s);
    if (t.bounds) {
      bounds.standalone += t.bounds.standalone;
      bounds.xor += t.bounds.xor;
      bounds.ulp += t.bounds.ulp ?? t.bounds.xor;
      bounds.best += Math.min(t.bounds.standalone, t.bounds.xor, t.bounds.ulp ?? Infinity);
    }
  }
  return {
    tensors: counts,
    elements: s.elements,
    changedElements: s.changed,
    changedFraction: s.elements ? s.changed / s.elements : 0,
    relL2: s.sqA > 0 ? Math.sqrt(s.sqDiff / s.sqA) : null,
    maxAbsDiff: s.maxAbs,
    bytesA: A.tensors.reduce((x, t) => x + t.bytes, 0),
    bytesB: B.tensors.reduce((x, t) => x + t.bytes, 0),
    bounds,
  };
}
