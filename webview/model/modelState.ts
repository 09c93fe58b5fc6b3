/**
 * Everything the model view shows, and how each host message changes it. Kept free of the DOM
 * so the message handling is unit-tested in Node; the view re-renders the parts `apply` reports
 * as changed.
 */
import type { AnalysisProgress, HostToWebview, JobView, LayerRow, LossyPoint, ModelInit, TensorRow, TzipFacts } from '../../protocol/webview';
import { indexByName, mergeRows } from './table';
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
}

export type Part = 'all' | 'summary' | 'rows' | 'progress' | 'job' | 'lossy' | 'actions';

export function emptyModelState(): ModelState {
  return {
    model: null, rows: [], byName: new Map(), serverLayers: null, analysis: null, progress: null,
    analysisError: null, analysisDone: false, tzip: null, lossy: null, lossyLossless: null, lossyEstimate: false, job: null, canWrite: false, canWriteReason: undefined,
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
      changed.add('all');
      break;
    }
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
    case 'tzip':
      st.tzip = msg.tzip;
      changed.add('summary').add('actions');
      break;
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

/** The layers the chart shows: the server's when sent (with stored bytes from rows), else derived. */
export function currentLayers(st: ModelState): LayerRow[] {
  const derived = layersFromRows(st.rows);
  if (!st.serverLayers) return derived;
  const stored = new Map(derived.map((l) => [l.name, l.storedBytes]));
  return st.serverLayers.map((l) => {
    const s = l.storedBytes ?? stored.get(l.name);
    return s === undefined ? l : { ...l, storedBytes: s };
  });
}

/** Sum of the rows' figures for the summary while the analysis is still streaming. */
export function rowTotals(rows: readonly TensorRow[]): { bytes: number; parameters: number; bytesPerDtype: Record<string, number>; analysed: number; boundBytes: number } {
  let bytes = 0;
  let parameters = 0;
  let analysed = 0;
  let boundBytes = 0;
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
    }
  }
  return { bytes, parameters, bytesPerDtype, analysed, boundBytes };
}

/** Text shown under the job progress bar: "42.0% · 310 MB/s · ETA 12s · layer model.layers.3". */
export function jobLine(job: JobView, fmt: { percent: (r: number) => string; rate: (b: number | null) => string; eta: (s: number | null) => string }): string {
  const verb = { compress: 'Compressing', decompress: 'Decompressing', verify: 'Verifying' }[job.kind];
  switch (job.state) {
    case 'queued': return `${verb}: waiting for a free job slot…`;
    case 'running': {
      const parts = [`${verb} ${fmt.percent(job.percent / 100)}`, fmt.rate(job.bytesPerSecond), `ETA ${fmt.eta(job.etaSeconds)}`];
      if (job.layer) parts.push(`layer ${job.layer}`);
      else if (job.tensor) parts.push(job.tensor);
      return parts.join(' · ');
    }
    case 'done': return job.message ?? `${{ compress: 'Compressed', decompress: 'Decompressed', verify: 'Verified' }[job.kind]} ✓`;
    case 'failed': return `Failed: ${job.message ?? 'unknown error'}`;
    case 'cancelled': return 'Cancelled';
  }
}
