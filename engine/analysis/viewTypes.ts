/**
 * The inspector's vocabulary for a pooled tensor view (window, histogram, statistics): types only, no runtime
 * code, so the webview's TypeScript project (DOM, no node) can read them.
 */

export type PoolMode = 'mean' | 'maxabs' | 'std';

export interface ViewWindow {
  row0: number;
  row1: number;
  col0: number;
  col1: number;
}

/** Which rows a sampled view read (absent: every row of the window). */
export interface SampledRows {
  /** rows of the window pooled */
  rows: number;
  /** rows of the window */
  ofRows: number;
  /** elements pooled and elements in the window */
  elements: number;
  ofElements: number;
}

export interface ValueHistogram {
  /** bin i covers [edges[i], edges[i + 1]) (the last bin includes its upper edge) */
  edges: number[];
  counts: number[];
  /** each bin is one exact value (then edges[i] is that value) */
  exact: boolean;
}

export interface ValueStats {
  count: number;
  finite: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  zeros: number;
  subnormals: number;
  nans: number;
  posInfs: number;
  negInfs: number;
  /** distinct values (exact-key dtypes) or distinct histogram bins */
  distinct: number;
}
