/**
 * The comparison view's model: the rows streamed from `tensorzip/diff`, the per-layer figures and the
 * totals computed from them as they arrive (the engine's own layers and summary replace them at the
 * end), the table's filter and sort, and the ULP-distance histogram's buckets. No DOM: tested in Node.
 */
import type {
  CompareInit,
  CompareProgress,
  CompareRow,
  CompareState,
  DiffSummary,
  HostToWebview,
  LayerDiff,
} from '../../protocol/webview';
import { naturalKey } from './table';

export interface CompareModel {
  init: CompareInit | null;
  /** in the engine's order (A's tensors, then those only B has); holes until streamed */
  rows: CompareRow[];
  progress: CompareProgress;
  state: CompareState;
  message: string;
  /** the engine's figures once the comparison is complete */
  summary: DiffSummary | null;
  layers: LayerDiff[] | null;
}

export type ComparePart = 'all' | 'rows' | 'progress' | 'state';

export function emptyCompare(): CompareModel {
  return {
    init: null,
    rows: [],
    progress: { done: 0, total: 0, bytesDone: 0, bytesTotal: 0 },
    state: 'running',
    message: '',
    summary: null,
    layers: null,
  };
}

/** Applies a host message; returns what must be redrawn (empty: not a comparison message). */
export function applyCompareMessage(m: CompareModel, msg: HostToWebview): Set<ComparePart> {
  switch (msg.type) {
    case 'compareInit':
      Object.assign(m, emptyCompare(), { init: msg.compare });
      return new Set(['all']);
    case 'compareTensors':
      msg.tensors.forEach((t, i) => (m.rows[msg.index + i] = t));
      m.progress = msg.progress;
      return new Set(['rows', 'progress']);
    case 'compareProgress':
      m.progress = msg.progress;
      return new Set(['progress']);
    case 'compareDone':
      m.summary = msg.summary;
      m.layers = msg.layers;
      m.state = 'done';
      m.progress = { ...m.progress, done: m.rows.length, total: m.rows.length };
      return new Set(['rows', 'progress', 'state']);
    case 'compareEnded':
      m.state = msg.state;
      m.message = msg.message;
      return new Set(['progress', 'state']);
    default:
      return new Set();
  }
}

/** The rows streamed so far (no holes: batches arrive in order). */
export function streamedRows(m: CompareModel): CompareRow[] {
  return m.rows.filter(Boolean);
}

/** Per-layer figures: the engine's once complete, else computed from the streamed rows the same way. */
export function compareLayers(m: CompareModel): LayerDiff[] {
  if (m.layers) return m.layers;
  const by = new Map<string, LayerDiff & { sqDiff: number; sqA: number }>();
  for (const t of streamedRows(m)) {
    let l = by.get(t.layer);
    if (!l) {
      l = {
        layer: t.layer,
        tensors: 0,
        changedTensors: 0,
        elements: 0,
        changedElements: 0,
        changedFraction: 0,
        relL2: null,
        maxAbsDiff: 0,
        sqDiff: 0,
        sqA: 0,
      };
      by.set(t.layer, l);
    }
    l.tensors++;
    if (t.status !== 'identical') l.changedTensors++;
    if (t.changedElements === null) continue;
    l.elements += t.elements;
    l.changedElements += t.changedElements;
    if (t.normA !== undefined && t.relL2 !== null) {
      l.sqA += t.normA * t.normA;
      l.sqDiff += (t.relL2 * t.normA) ** 2;
    }
    if (t.maxAbsDiff !== null && t.maxAbsDiff > l.maxAbsDiff) l.maxAbsDiff = t.maxAbsDiff;
  }
  return [...by.values()].map(({ sqDiff, sqA, ...l }) => ({
    ...l,
    changedFraction: l.elements ? l.changedElements / l.elements : 0,
    relL2: sqA > 0 ? Math.sqrt(sqDiff / sqA) : null,
  }));
}

export interface CompareTotals {
  compared: number;
  elements: number;
  changedElements: number;
  /** order-0 bound of coding B's compared tensors alone */
  standalone: number;
  /** order-0 bound of coding them against A: per tensor the best of standalone, XOR and ULP planes */
  delta: number;
  /** status counts */
  statuses: Record<CompareRow['status'], number>;
}

/** The per-tensor best bound a delta coder could reach (what the summary's `best` adds up). */
export function deltaBound(t: CompareRow): number | null {
  const b = t.bounds;
  return b ? Math.min(b.standalone, b.xor, b.ulp ?? Infinity) : null;
}

export function compareTotals(m: CompareModel): CompareTotals {
  const statuses = { added: 0, removed: 0, 'dtype-changed': 0, 'shape-changed': 0, identical: 0, changed: 0 };
  const t: CompareTotals = { compared: 0, elements: 0, changedElements: 0, standalone: 0, delta: 0, statuses };
  for (const r of streamedRows(m)) {
    statuses[r.status]++;
    if (r.changedElements !== null) {
      t.compared++;
      t.elements += r.elements;
      t.changedElements += r.changedElements;
    }
    if (r.bounds) {
      t.standalone += r.bounds.standalone;
      t.delta += deltaBound(r)!;
    }
  }
  if (m.summary) {
    t.standalone = m.summary.bounds.standalone;
    t.delta = m.summary.bounds.best;
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Table

export type CompareSortKey =
  | 'index'
  | 'name'
  | 'status'
  | 'dtype'
  | 'changed'
  | 'fraction'
  | 'relL2'
  | 'maxAbs'
  | 'cosine'
  | 'standalone'
  | 'delta';

export interface CompareSort {
  key: CompareSortKey;
  dir: 'asc' | 'desc';
}

export const DEFAULT_COMPARE_SORT: CompareSort = { key: 'index', dir: 'asc' };

export const fractionChanged = (r: CompareRow): number | null =>
  r.changedElements === null || r.elements === 0 ? null : r.changedElements / r.elements;

function numeric(r: CompareRow, i: number, key: CompareSortKey): number | null {
  switch (key) {
    case 'index':
      return i;
    case 'changed':
      return r.changedElements;
    case 'fraction':
      return fractionChanged(r);
    case 'relL2':
      return r.relL2;
    case 'maxAbs':
      return r.maxAbsDiff;
    case 'cosine':
      return r.cosine;
    case 'standalone':
      return r.bounds?.standalone ?? null;
    case 'delta':
      return deltaBound(r);
    default:
      return null;
  }
}

/**
 * Indices of the rows that match every name term, in sort order; missing figures (not comparable)
 * sort last in both directions, ties keep the engine's order.
 */
export function compareView(rows: readonly (CompareRow | undefined)[], filter: string, sort: CompareSort): number[] {
  const terms = filter.toLowerCase().split(/\s+/).filter(Boolean);
  const out: number[] = [];
  rows.forEach((r, i) => {
    if (!r) return;
    const name = r.name.toLowerCase();
    if (terms.every((t) => name.includes(t))) out.push(i);
  });
  const sign = sort.dir === 'asc' ? 1 : -1;
  if (sort.key === 'name' || sort.key === 'status' || sort.key === 'dtype') {
    const k = (i: number) => naturalKey(rows[i]![sort.key as 'name' | 'status' | 'dtype']);
    const keys = new Map(out.map((i) => [i, k(i)]));
    return out.sort((a, b) => {
      const x = keys.get(a)!;
      const y = keys.get(b)!;
      return x < y ? -sign : x > y ? sign : a - b;
    });
  }
  const keys = new Map(out.map((i) => [i, numeric(rows[i]!, i, sort.key)]));
  return out.sort((a, b) => {
    const x = keys.get(a)!;
    const y = keys.get(b)!;
    if (x === null || y === null) return x === null && y === null ? a - b : x === null ? 1 : -1;
    return x !== y ? (x - y) * sign : a - b;
  });
}

/** A header click: the same key flips the direction; figures start with the largest first. */
export function nextCompareSort(cur: CompareSort, key: CompareSortKey): CompareSort {
  if (cur.key === key) return { key, dir: cur.dir === 'asc' ? 'desc' : 'asc' };
  return { key, dir: key === 'index' || key === 'name' || key === 'status' || key === 'dtype' ? 'asc' : 'desc' };
}

/** The first changed tensor (what the histogram shows before anything is selected), else the first row. */
export function defaultSelection(m: CompareModel): string | null {
  const rows = streamedRows(m);
  return (rows.find((r) => r.status === 'changed') ?? rows[0])?.name ?? null;
}

// ---------------------------------------------------------------------------------------------
// ULP-distance histogram

export interface UlpBucket {
  /** "0", "1", "2–3", "4–7", ... */
  label: string;
  count: number;
}

/** Buckets of the engine's histogram (bucket 0: distance 0, k >= 1: [2^(k-1), 2^k)), up to the last non-empty one. */
export function ulpBuckets(hist: readonly number[] | null): UlpBucket[] {
  if (!hist) return [];
  let last = hist.length - 1;
  while (last > 0 && !hist[last]) last--;
  return hist.slice(0, last + 1).map((count, k) => ({
    label: k === 0 ? '0' : k === 1 ? '1' : `${2 ** (k - 1)}–${2 ** k - 1}`,
    count,
  }));
}
