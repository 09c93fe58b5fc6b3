/**
 * Typed messages between the extension host (client/) and the webview (webview/).
 * Type-only plus one small runtime guard for messages coming *from* the webview: the host
 * never trusts their shape (a webview is a separate, script-running document).
 */
import type { FileAnalysis, LayerAnalysis, TensorAnalysis } from '../engine/analysis/types';
import type { DiffSummary, LayerDiff, TensorDiff } from '../engine/diff/types';
import type { PoolMode, TensorViewResult, ViewWindow } from './tensorView';

/** The jobs a model view runs on its file (the server's JobKind also names analysis and inspection jobs). */
export type FileJobKind = 'compress' | 'decompress' | 'verify';
export type FileJobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** One tensor row as the table shows it: header facts first, statistics when they arrive. */
export interface TensorRow {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  layer: string;
  /** multi-file models: the shard file holding the tensor (relative to the model's folder) */
  shard?: string;
  /** order-0 bound in bytes (null until analysed) */
  boundBytes: number | null;
  exponentEntropy: number | null;
  /** compressed bytes in a .tzip (null when not known) */
  storedBytes?: number | null;
  /** only inside the extension host; rows posted to the webview leave it out */
  exponentHistogram?: number[];
  estimate?: boolean;
  /** a failed verify found this tensor's data damaged (.tzip) */
  damaged?: boolean;
}

/** One file of a multi-file model and what became of it. */
export interface ShardView {
  /** relative to the model's folder */
  file: string;
  /** null when the file cannot be read */
  bytes: number | null;
  /** tensors the index maps to this file */
  tensors: number;
  state: 'present' | 'missing' | 'unreadable' | 'compressed';
  /** why the shard is missing or unreadable (one line), or the .tzip holding it */
  message?: string;
}

export interface LayerRow extends LayerAnalysis {
  /** compressed bytes actually stored in a .tzip, when known */
  storedBytes?: number;
  /** the estimate (engine/analysis/estimate.ts) summed over the layer's tensors; NaN until all are analysed */
  estimateBytes?: number;
}

/** "What if" point for the lossy curve; only sent when the server offers such data. */
export interface LossyPoint {
  bits: number;
  predictedBytes: number;
  rmse?: number;
  maxRelError?: number;
  snrDb?: number;
}

export interface TzipFacts {
  originalBytes: number;
  storedBytes: number;
  /** stored / original */
  ratio: number;
  lossy?: boolean;
  verify: 'unknown' | 'running' | 'ok' | 'failed';
  verifyProblems?: string[];
  /** tensors whose chunks failed their checks in the last verify */
  damagedTensors?: string[];
}

export interface JobView {
  id: string;
  kind: FileJobKind;
  state: FileJobState;
  file: string;
  bytesDone: number;
  bytesTotal: number;
  /** 0..100 */
  percent: number;
  bytesPerSecond: number | null;
  etaSeconds: number | null;
  layer?: string;
  tensor?: string;
  message?: string;
}

export interface ModelInit {
  view: 'model';
  /** display name (file name) and a full display path */
  name: string;
  displayPath: string;
  format: string;
  size: number;
  tensors: TensorRow[];
  /** header layout could not be read in the extension host; the table fills from the analysis */
  headerPending: boolean;
  isTzip: boolean;
  tzip?: TzipFacts;
  /** file writing is allowed (trusted workspace and a writable scheme) */
  canWrite: boolean;
  canWriteReason?: string;
  metadata?: Record<string, unknown>;
  /** multi-file models: every shard with its state (present, missing, unreadable, compressed) */
  shards?: ShardView[];
  /** facts the view must say about this format (e.g. GGUF's dimension order) */
  notes?: string[];
  /** size of the .tzip made from this file, when one exists (the achieved size beside the estimate) */
  achievedBytes?: number;
}

export interface AnalysisProgress {
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface WorkspaceModelRow {
  uri: string;
  path: string;
  format: string;
  size: number;
  predictedBytes: number | null;
  /** size of the matching .tzip when one exists (or the .tzip itself) */
  achievedBytes: number | null;
  status: 'pending' | 'analyzing' | 'done' | 'failed';
  error?: string;
}

// ---------------------------------------------------------------------------------------------
// The comparison view (two models, `tensorzip/diff` streamed)

/** One tensor of a comparison as the view gets it: the engine's TensorDiff without the XOR bit histogram. */
export type CompareRow = Omit<TensorDiff, 'xorBitHistogram'>;
export type { DiffSummary, LayerDiff };

export interface CompareSide {
  name: string;
  displayPath: string;
  size: number;
}

export interface CompareInit {
  view: 'compare';
  /** the reference model (A) and the one compared with it (B) */
  a: CompareSide;
  b: CompareSide;
}

export interface CompareProgress {
  /** tensors compared so far, of `total` (0 until the first batch says) */
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
}

export type CompareState = 'running' | 'done' | 'cancelled' | 'failed';

export function compareRowOf(t: TensorDiff): CompareRow {
  const { xorBitHistogram: _x, ...row } = t;
  void _x;
  return row;
}

export type HostToWebview =
  | { type: 'init'; model: ModelInit }
  | { type: 'tensors'; tensors: TensorRow[]; progress?: AnalysisProgress }
  | { type: 'analysisProgress'; progress: AnalysisProgress }
  | {
      type: 'analysis';
      analysis: Pick<
        FileAnalysis,
        'parameters' | 'bytesPerDtype' | 'predictedBytes' | 'boundBytes' | 'estimate' | 'bytes'
      >;
      layers: LayerRow[];
      tensors?: TensorRow[];
    }
  | { type: 'analysisError'; message: string }
  | { type: 'tzip'; tzip: TzipFacts }
  | { type: 'lossy'; points: LossyPoint[]; losslessBytes?: number; estimate?: boolean }
  | { type: 'job'; job: JobView }
  | { type: 'canWrite'; canWrite: boolean; reason?: string }
  | { type: 'achieved'; bytes: number | null }
  | { type: 'workspaceInit'; title: string; rows: WorkspaceModelRow[] }
  | { type: 'workspaceRow'; row: WorkspaceModelRow }
  | { type: 'workspaceJob'; job: JobView | null; summary?: string }
  /** answers the webview's `histogram` request with the same id */
  | { type: 'histogram'; id: number; hist: number[] | null; used: number; skipped: number }
  /** select and reveal a tensor (go to definition from an index, protocol/lang.ts tensorUri) */
  | { type: 'selectTensor'; name: string }
  /** the tensor inspector's pooled window (answers `inspect` with the same id) */
  | { type: 'inspectProgress'; id: number; bytesDone: number; bytesTotal: number; preview?: boolean }
  | { type: 'inspectResult'; id: number; view: TensorViewResult }
  | { type: 'inspectError'; id: number; message: string }
  /** comparison view: a (re)started comparison; rows stream in with `compareTensors` in the engine's order */
  | { type: 'compareInit'; compare: CompareInit }
  | { type: 'compareTensors'; index: number; tensors: CompareRow[]; progress: CompareProgress }
  | { type: 'compareProgress'; progress: CompareProgress }
  | { type: 'compareDone'; summary: DiffSummary; layers: LayerDiff[] }
  | { type: 'compareEnded'; state: 'cancelled' | 'failed'; message: string };

/** The inspector asks for one pooled window of a tensor, at most its canvas size in cells. */
export interface InspectRequest {
  id: number;
  name: string;
  rowAxis?: number;
  window?: ViewWindow;
  width: number;
  height: number;
  pool: PoolMode;
  histogramBins?: number;
}

/** Largest canvas side (cells) an inspect request may ask for; the server caps at the same. */
export const MAX_INSPECT_CELLS = 4096;

/** Histograms stay in the extension host (256 bins x 100,000 tensors is too much to post); the webview asks for the one
 * it shows. */
export type HistogramTarget = { kind: 'tensor' | 'layer'; name: string } | { kind: 'model' };

export type WebviewToHost =
  | { type: 'ready' }
  | { type: 'runJob'; kind: FileJobKind }
  | { type: 'cancelJob'; id: string }
  | { type: 'reanalyze'; quick: boolean }
  | { type: 'open'; uri: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  /** ids increase per view; the reply carries the id, so a late reply to an earlier request is recognised */
  | { type: 'histogram'; id: number; target: HistogramTarget }
  | { type: 'inspect'; req: InspectRequest }
  | { type: 'cancelInspect' }
  /** model view: pick another model to compare this one with */
  | { type: 'compareWith' }
  /** comparison view */
  | { type: 'cancelCompare' }
  | { type: 'rerunCompare' };

const JOB_KINDS: readonly string[] = ['compress', 'decompress', 'verify'];

/** The webview's own check that the histogram it holds is of what it now shows (replies match by id). */
export function sameHistogramTarget(a: HistogramTarget, b: HistogramTarget): boolean {
  return a.kind === b.kind && (a.kind === 'model' || a.name === (b as { name: string }).name);
}

/** Validates a message received from a webview; anything malformed yields undefined. */
export function parseWebviewMessage(raw: unknown): WebviewToHost | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const m = raw as Record<string, unknown>;
  switch (m.type) {
    case 'ready':
      return { type: 'ready' };
    case 'runJob':
      return typeof m.kind === 'string' && JOB_KINDS.includes(m.kind)
        ? { type: 'runJob', kind: m.kind as FileJobKind }
        : undefined;
    case 'cancelJob':
      return typeof m.id === 'string' && m.id.length < 200 ? { type: 'cancelJob', id: m.id } : undefined;
    case 'reanalyze':
      return { type: 'reanalyze', quick: m.quick === true };
    case 'open':
      return typeof m.uri === 'string' && m.uri.length < 4096 ? { type: 'open', uri: m.uri } : undefined;
    case 'histogram': {
      const t = m.target as Record<string, unknown> | undefined;
      if (!t || typeof t !== 'object' || !isIndex(m.id)) return undefined;
      if (t.kind === 'model') return { type: 'histogram', id: m.id, target: { kind: 'model' } };
      if ((t.kind === 'tensor' || t.kind === 'layer') && typeof t.name === 'string')
        return { type: 'histogram', id: m.id, target: { kind: t.kind, name: t.name } };
      return undefined;
    }
    case 'inspect':
      return parseInspect(m.req);
    case 'cancelInspect':
      return { type: 'cancelInspect' };
    case 'compareWith':
    case 'cancelCompare':
    case 'rerunCompare':
      return { type: m.type };
    case 'log': {
      const level = m.level === 'warn' || m.level === 'error' ? m.level : 'info';
      return typeof m.message === 'string' ? { type: 'log', level, message: m.message.slice(0, 2000) } : undefined;
    }
    default:
      return undefined;
  }
}

const isIndex = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number =>
  Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max;

function parseInspect(raw: unknown): WebviewToHost | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, unknown>;
  if (!isIndex(r.id) || typeof r.name !== 'string' || r.name.length === 0 || r.name.length > 4096) return undefined;
  if (!isIndex(r.width, MAX_INSPECT_CELLS) || !isIndex(r.height, MAX_INSPECT_CELLS) || r.width < 1 || r.height < 1)
    return undefined;
  if (r.pool !== 'mean' && r.pool !== 'maxabs' && r.pool !== 'std') return undefined;
  const req: InspectRequest = { id: r.id, name: r.name, width: r.width, height: r.height, pool: r.pool };
  if (r.rowAxis !== undefined) {
    if (!isIndex(r.rowAxis, 64)) return undefined;
    req.rowAxis = r.rowAxis;
  }
  if (r.histogramBins !== undefined) {
    if (!isIndex(r.histogramBins, 2048) || r.histogramBins < 1) return undefined;
    req.histogramBins = r.histogramBins;
  }
  if (r.window !== undefined) {
    const w = r.window as Record<string, unknown> | null;
    if (!w || typeof w !== 'object' || !isIndex(w.row0) || !isIndex(w.row1) || !isIndex(w.col0) || !isIndex(w.col1))
      return undefined;
    req.window = { row0: w.row0, row1: w.row1, col0: w.col0, col1: w.col1 };
  }
  return { type: 'inspect', req };
}

/** Converts a TensorAnalysis (server JSON) to a table row. */
export function tensorRowFromAnalysis(t: TensorAnalysis, withHistogram = false): TensorRow {
  const row: TensorRow = {
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    bytes: t.bytes,
    layer: t.layer,
    boundBytes: t.boundBytes,
    exponentEntropy: t.exponentEntropy,
  };
  if (t.shard) row.shard = t.shard;
  if (withHistogram && t.exponentHistogram) row.exponentHistogram = t.exponentHistogram;
  if (t.estimate) row.estimate = true;
  return row;
}
