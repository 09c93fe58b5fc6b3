/**
 * The tensor table's view model: rows in model order, a filter (name terms, dtype, layer) and a
 * sort, producing the list of row indices to show. No DOM, so it is tested in Node; the view
 * only renders the window of indices that is on screen.
 */
import type { TensorRow } from '../../protocol/webview';
import { tensorEstimate } from '../../shared/estimate';

export type SortKey =
  'index' | 'name' | 'dtype' | 'shape' | 'bytes' | 'estimate' | 'ratio' | 'entropy' | 'layer' | 'stored' | 'shard';
export type SortDir = 'asc' | 'desc';

export interface TableFilter {
  /** whitespace-separated terms; every term must occur in the name (case-insensitive) */
  text: string;
  /** exact dtype, or '' for all */
  dtype: string;
  /** exact layer, or '' for all */
  layer: string;
}

export interface TableSort {
  key: SortKey;
  dir: SortDir;
}

export const EMPTY_FILTER: TableFilter = { text: '', dtype: '', layer: '' };
export const DEFAULT_SORT: TableSort = { key: 'index', dir: 'asc' };

export function elementsOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The tensor's estimated stored size (engine/analysis/estimate.ts), or null until analysed. */
export function rowEstimate(r: TensorRow): number | null {
  return r.boundBytes === null ? null : tensorEstimate(r.boundBytes, r.bytes);
}

/** estimate / bytes, or null when the tensor is not analysed yet (or empty). */
export function rowRatio(r: TensorRow): number | null {
  const e = rowEstimate(r);
  return e === null || r.bytes === 0 ? null : e / r.bytes;
}

function numericKey(r: TensorRow, i: number, key: SortKey): number {
  switch (key) {
    case 'index':
      return i;
    case 'shape':
      return elementsOf(r.shape);
    case 'bytes':
      return r.bytes;
    case 'estimate':
      return rowEstimate(r) ?? NaN;
    case 'ratio':
      return rowRatio(r) ?? NaN;
    case 'entropy':
      return r.exponentEntropy ?? NaN;
    case 'stored':
      return r.storedBytes ?? NaN;
    default:
      return NaN;
  }
}

/**
 * A string sort key that orders digit runs by value ("layers.2" before "layers.10") under plain
 * `<` comparison, which is much faster than Intl.Collator on large name lists.
 */
export function naturalKey(s: string): string {
  return s.toLowerCase().replace(/\d+/g, (d) => d.replace(/^0+(?=\d)/, '').padStart(12, '0'));
}

function stringKey(r: TensorRow, key: SortKey): string {
  return naturalKey(key === 'name' ? r.name : key === 'dtype' ? r.dtype : key === 'shard' ? (r.shard ?? '') : r.layer);
}

/**
 * Returns indices into `rows` that pass the filter, in sort order. Missing values (not yet
 * analysed) always sort last whatever the direction, and ties keep model order (stable).
 */
export function viewIndices(rows: readonly TensorRow[], filter: TableFilter, sort: TableSort): number[] {
  const terms = filter.text.toLowerCase().split(/\s+/).filter(Boolean);
  const out: number[] = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (filter.dtype && r.dtype !== filter.dtype) continue;
    if (filter.layer && r.layer !== filter.layer) continue;
    if (terms.length) {
      const name = r.name.toLowerCase();
      if (!terms.every((t) => name.includes(t))) continue;
    }
    out.push(i);
  }
  if (sort.key === 'index') {
    if (sort.dir === 'desc') out.reverse();
    return out;
  }
  const sign = sort.dir === 'asc' ? 1 : -1;
  if (sort.key === 'name' || sort.key === 'dtype' || sort.key === 'layer' || sort.key === 'shard') {
    const keys = new Array<string>(rows.length);
    for (const i of out) keys[i] = stringKey(rows[i]!, sort.key);
    out.sort((a, b) => {
      const ka = keys[a]!;
      const kb = keys[b]!;
      return ka < kb ? -sign : ka > kb ? sign : a - b;
    });
    return out;
  }
  const keys = new Float64Array(rows.length);
  for (const i of out) keys[i] = numericKey(rows[i]!, i, sort.key);
  out.sort((a, b) => {
    const ka = keys[a]!;
    const kb = keys[b]!;
    const na = Number.isNaN(ka);
    const nb = Number.isNaN(kb);
    if (na || nb) return na && nb ? a - b : na ? 1 : -1;
    return ka !== kb ? (ka - kb) * sign : a - b;
  });
  return out;
}

/** Clicking a column header: same key flips the direction, a new key starts with a natural one. */
export function nextSort(current: TableSort, key: SortKey): TableSort {
  if (current.key === key) return { key, dir: current.dir === 'asc' ? 'desc' : 'asc' };
  const descFirst: SortKey[] = ['bytes', 'estimate', 'ratio', 'entropy', 'shape', 'stored'];
  return { key, dir: descFirst.includes(key) ? 'desc' : 'asc' };
}

export function dtypesOf(rows: readonly TensorRow[]): string[] {
  return [...new Set(rows.map((r) => r.dtype))].sort((a, b) =>
    naturalKey(a) < naturalKey(b) ? -1 : naturalKey(a) > naturalKey(b) ? 1 : 0,
  );
}
