/**
 * Everything the model view shows, and how each host message changes it. Kept free of the DOM
 * so the message handling is unit-tested in Node; the view re-renders the parts `apply` reports
 * as changed.
 */
import type {
  AnalysisProgress,
  HostToWebview,
  JobView,
  LayerRow,
  LossyPoint,
  ModelInit,
  TensorRow,
  TzipFacts,
} from '../../protocol/webview';
import { fileEstimate, tensorEstimate } from '../../shared/estimate';
import { indexByName, mergeRows } from '../../shared/rows';
import { layersFromRows } from './chart';

export interface AnalysisSummary {
  parameters: number;
  bytesPerDtype: Record<string, number>;
  predictedBytes: number;
  boundBytes: number;
  estimate: boolean;
  bytes: number;
}

export interface ModelState {
  model: ModelInit | null;
  rows: TensorRow[];
  byName: Map<string, number>;
  /** layers sent by the server with the final analysis (authoritative), else derived from rows */
  serverLayers: LayerRow[] | null;
  analysis: AnalysisSummary | null;
  progress: AnalysisProgress | null;
  analysisError: string | null;
  analysisDone: boolean;
  tzip: TzipFacts | null;
  lossy: LossyPoint[] | null;
  lossyLossless: number | null;
  lossyEstimate: boolean;
  job: JobView | null;
  canWrite: boolean;
  canWriteReason: string | undefined;
  /** size of the .tzip made from this model, once one exists */
  achievedBytes: number | null;
}

export type Part = 'all' | 'summary' | 'rows' | 'progress' | 'job' | 'lossy' | 'actions' | 'damage';

export function emptyModelState(): ModelState {
  return {
    model: null,
    rows: [],
    byName: new Map(),
    serverLayers: null,
    analysis: null,
    progress: null,
    analysisError: null,
    analysisDone: false,
    tzip: null,
    lossy: null,
    lossyLossless: null,
    lossyEstimate: false,
    job: null,
    canWrite: false,
    canWriteReason: undefined,
    achievedBytes: null,
  };
}

/** Applies one host message; returns which parts of the view need re-rendering. */
export function applyMessage(st: ModelState, msg: HostToWebview): Set<Part> {
  const changed = new Set<Part>();
  switch (msg.type) {
    case 'init': {
      Object.assign(st, emptyModelState());
      st.model = msg.model;
      st.rows = msg.model.tensors.map((t) => ({ ...t }));
      st.byName = indexByName(st.rows);
      st.tzip = msg.model.tzip ?? null;
      st.canWrite = msg.model.canWrite;
      st.canWriteReason = msg.model.canWriteReason;
      st.achievedBytes = msg.model.achievedBytes ?? null;
      changed.add('all');
      if (st.tzip?.damagedTensors?.length) changed.add('damage');
      break;
    }
    case 'achieved':
      st.achievedBytes = msg.bytes;
      changed.add('summary');
      break;
    case 'tensors':
      mergeRows(st.rows, st.byName, msg.tensors);
      if (msg.progress) st.progress = msg.progress;
      changed.add('rows').add('progress').add('summary');
      break;
    case 'analysisProgress':
      st.progress = msg.progress;
      changed.add('progress');
      break;
    case 'analysis':
      if (msg.tensors) mergeRows(st.rows, st.byName, msg.tensors);
      st.analysis = { ...msg.analysis };
      st.serverLayers = msg.layers.length ? msg.layers : null;
      st.analysisDone = true;
      st.analysisError = null;
      if (st.progress) st.progress = { ...st.progress, done: st.progress.total, bytesDone: st.progress.bytesTotal };
      changed.add('rows').add('progress').add('summary');
      break;
    case 'analysisError':
      st.analysisError = msg.message;
      st.analysisDone = true;
      changed.add('progress').add('summary');
      break;
    case 'tzip': {
      const before = (st.tzip?.damagedTensors ?? []).join('\n');
      st.tzip = msg.tzip;
      changed.add('summary').add('actions');
      if ((msg.tzip.damagedTensors ?? []).join('\n') !== before) changed.add('damage');
      break;
    }
    case 'lossy':
      st.lossy = msg.points.length ? msg.points : null;
      st.lossyLossless = msg.losslessBytes ?? null;
      st.lossyEstimate = msg.estimate === true;
      changed.add('lossy');
      break;
    case 'job':
      st.job = msg.job;
      changed.add('job').add('actions');
      break;
    case 'canWrite':
      st.canWrite = msg.canWrite;
      st.canWriteReason = msg.reason;
      changed.add('actions');
      break;
    default:
      break;
  }
  return changed;
}

/** The layers the chart shows, from the rows (storage order; the same sums as the server's layers, plus the estimate).
 * */
export function currentLayers(st: ModelState): LayerRow[] {
  return layersFromRows(st.rows);
}

/** Sum of the rows' figures for the summary while the analysis is still streaming. */
export function rowTotals(rows: readonly TensorRow[]): {
  bytes: number;
  parameters: number;
  bytesPerDtype: Record<string, number>;
  analysed: number;
  boundBytes: number;
  estimateBytes: number;
} {
  let bytes = 0;
  let parameters = 0;
  let analysed = 0;
  let boundBytes = 0;
  let estimateBytes = 0;
  const bytesPerDtype: Record<string, number> = {};
  for (const r of rows) {
    bytes += r.bytes;
    let el = 1;
    for (const d of r.shape) el *= d;
    parameters += el;
    bytesPerDtype[r.dtype] = (bytesPerDtype[r.dtype] ?? 0) + r.bytes;
    if (r.boundBytes !== null) {
      analysed++;
      boundBytes += r.boundBytes;
      estimateBytes += tensorEstimate(r.boundBytes, r.bytes);
    }
  }
  return { bytes, parameters, bytesPerDtype, analysed, boundBytes, estimateBytes };
}

/**
 * The one estimate of the .tzip's size the view shows: the server's once its analysis is complete,
 * else the same formula over the rows when every row is analysed; null before.
 */
export function modelEstimate(st: ModelState): number | null {
  if (st.analysis) return st.analysis.predictedBytes;
  const t = rowTotals(st.rows);
  if (!st.model || !st.rows.length || t.analysed < st.rows.length) return null;
  return fileEstimate(t.estimateBytes, st.model.size - t.bytes);
}

/** Mantissa bits of the float dtypes (the lossy k runs below them). */
const MANTISSA_BITS: Record<string, number> = { F64: 52, F32: 23, F16: 10, BF16: 7, F8_E4M3: 3, F8_E5M2: 2 };

/**
 * The lossy curve's points, limited to the k that matter for this model: below the mantissa width
 * of the float dtype holding most float bytes (a BF16 model with F32 norms runs to k = 6, not 22).
 */
export function lossyPoints(st: ModelState): LossyPoint[] | null {
  if (!st.lossy) return null;
  const perDtype = st.analysis?.bytesPerDtype ?? rowTotals(st.rows).bytesPerDtype;
  let top: string | undefined;
  for (const [d, b] of Object.entries(perDtype))
    if (MANTISSA_BITS[d] !== undefined && (top === undefined || b > perDtype[top]!)) top = d;
  if (top === undefined) return st.lossy;
  const max = MANTISSA_BITS[top]!;
  const pts = st.lossy.filter((p) => p.bits < max);
  return pts.length ? pts : st.lossy;
}

/** Text shown under the job progress bar: "42.0% · 310 MB/s · ETA 12s · layer model.layers.3". */
export function jobLine(
  job: JobView,
  fmt: { percent: (r: number) => string; rate: (b: number | null) => string; eta: (s: number | null) => string },
): string {
  const verb = { compress: 'Compressing', decompress: 'Decompressing', verify: 'Verifying' }[job.kind];
  switch (job.state) {
    case 'queued':
      return `${verb}: waiting for a free job slot…`;
    case 'running': {
      const parts = [
        `${verb} ${fmt.percent(job.percent / 100)}`,
        fmt.rate(job.bytesPerSecond),
        `ETA ${fmt.eta(job.etaSeconds)}`,
      ];
      if (job.layer) parts.push(`layer ${job.layer}`);
      else if (job.tensor) parts.push(job.tensor);
      return parts.join(' · ');
    }
    case 'done':
      return job.message ?? `${{ compress: 'Compressed', decompress: 'Decompressed', verify: 'Verified' }[job.kind]} ✓`;
    case 'failed':
      return `Failed: ${job.message ?? 'unknown error'}`;
    case 'cancelled':
      return 'Cancelled';
  }
}
