/**
 * Everything the extension host knows about one opened model (one CustomDocument), shared by all
 * of its webview panels: the header-first tensor list, the streaming analysis, the .tzip facts and
 * the document's current job. A webview that is hidden and shown again is rebuilt from here
 * (`replay`), so no panel needs retainContextWhenHidden.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { TENSOR_VIEW_PREVIEW_ELEMENTS, type FileAnalysis } from '../protocol/server';
import {
  tensorRowFromAnalysis,
  type AnalysisProgress,
  type HistogramTarget,
  type HostToWebview,
  type InspectRequest,
  type JobView,
  type ModelInit,
  type TensorRow,
  type TzipFacts,
} from '../protocol/webview';
import { indexByName, mergeHistograms, mergeRows, stripRows } from '../shared/rows';
import { readHeader, type HeaderView } from './header';
import { localFile, type LocalFile } from './localCopy';
import { isTzipPath } from '../shared/modelFiles';
import { toJobError, type TzServer } from './serverClient';
import { tzipSummary } from './tzipInfo';
import { losslessPredicted, lossyCurve } from './lossyPick';
import { writeBlocker } from './jobs';

type HistogramReply = Omit<Extract<HostToWebview, { type: 'histogram' }>, 'type' | 'id'>;

export class ModelSession implements vscode.Disposable {
  readonly isTzip: boolean;
  private header: HeaderView | undefined;
  private headerError: string | undefined;
  private rows: TensorRow[] = [];
  private byName = new Map<string, number>();
  private analysis: FileAnalysis | undefined;
  private analysisError: string | undefined;
  private progress: AnalysisProgress | undefined;
  private tzip: TzipFacts | undefined;
  private tzipFormat: string | undefined;
  private lossy: Extract<HostToWebview, { type: 'lossy' }> | undefined;
  private size = 0;
  job: JobView | null = null;
  private readonly listeners = new Set<(m: HostToWebview) => void>();
  private readonly cts = new vscode.CancellationTokenSource();
  private local: LocalFile | undefined;
  private headerDone: Promise<void>;
  private tzipResolve!: (loaded: boolean) => void;
  /** resolves once a .tzip's container index is read (true) or could not be (false) */
  readonly tzipLoaded = new Promise<boolean>((r) => (this.tzipResolve = r));

  constructor(
    readonly uri: vscode.Uri,
    private readonly server: TzServer,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.isTzip = isTzipPath(uri.path);
    this.headerDone = this.readHeaderFirst();
    void this.headerDone.then(() => this.startAnalysis());
  }

  get displayPath(): string {
    return this.uri.scheme === 'file' ? this.uri.fsPath : this.uri.toString(true);
  }

  get shardFiles(): string[] | undefined {
    return this.header?.files;
  }

  /** A sharded model's index problems (checkIndex, as the language server publishes them), once the header is read. */
  async indexProblems(): Promise<HeaderView['index']> {
    await this.headerDone;
    return this.header?.index;
  }

  /** Files whose jobs this view shows: the file itself and, for a sharded model, every shard. */
  ownsFile(file: string): boolean {
    return (this.uri.scheme === 'file' && file === this.uri.fsPath) || (this.header?.files?.includes(file) ?? false);
  }

  /** The shards this model lacks (missing or unreadable), as one phrase, or undefined. */
  private shardProblem(): string | undefined {
    const bad = this.header?.shards?.filter((x) => x.state === 'missing' || x.state === 'unreadable') ?? [];
    if (!bad.length) return undefined;
    return (
      `${bad.length} shard${bad.length === 1 ? ' is' : 's are'} ` +
      `${bad.every((x) => x.state === 'missing') ? 'missing' : 'missing or unreadable'} (` +
      `${bad.map((x) => x.file).join(', ')})`
    );
  }

  /** Why Compress/Decompress cannot run on this model now (a missing or unreadable shard), or undefined. */
  private shardBlocker(): string | undefined {
    const p = this.shardProblem();
    return p && `${p}: Compress and Decompress need every shard.`;
  }

  private achieved: number | null = null;

  /** The .tzip next to this model (when one exists): the achieved size beside the estimate. */
  private async readAchieved(): Promise<void> {
    if (this.isTzip || this.uri.scheme !== 'file') return;
    const shards = this.header?.files;
    const inputs = shards?.length ? shards : [this.uri.fsPath];
    let total = 0;
    for (const f of inputs) {
      const st = await vscode.workspace.fs.stat(vscode.Uri.file(`${f}.tzip`)).then(
        (x) => x,
        () => undefined,
      );
      if (!st) return;
      total += st.size;
    }
    this.achieved = total;
  }

  /** A job on one of this view's files finished: the achieved size changes. */
  jobFinished(job: JobView): void {
    if (job.kind !== 'compress' || job.state !== 'done') return;
    void this.readAchieved().then(() => this.post({ type: 'achieved', bytes: this.achieved }));
  }

  subscribe(fn: (m: HostToWebview) => void): vscode.Disposable {
    this.listeners.add(fn);
    return new vscode.Disposable(() => this.listeners.delete(fn));
  }

  private post(m: HostToWebview): void {
    for (const l of this.listeners) l(m);
  }

  private async readHeaderFirst(): Promise<void> {
    try {
      this.size = (await vscode.workspace.fs.stat(this.uri)).size;
      if (!this.isTzip) this.header = await readHeader(this.uri);
      if (this.header) {
        this.rows = this.header.rows;
        this.byName = indexByName(this.rows);
        this.size = this.header.size || this.size;
      }
      await this.readAchieved();
    } catch (e) {
      // the server will say the same with more context; the table fills from its analysis
      this.headerError = e instanceof Error ? e.message.split('\n')[0] : String(e);
      this.log.warn(`header: ${this.headerError}`);
    }
  }

  initMessage(): ModelInit {
    const blocker = writeBlocker(this.uri) ?? this.shardBlocker();
    const format = this.isTzip
      ? this.tzipFormat
        ? `tzip (${this.tzipFormat})`
        : 'tzip'
      : (this.header?.format ?? (path.extname(this.uri.path).slice(1) || 'unknown'));
    const init: ModelInit = {
      view: 'model',
      name: path.posix.basename(this.uri.path),
      displayPath: this.displayPath,
      format,
      size: this.size,
      tensors: stripRows(this.rows),
      headerPending: !this.header,
      isTzip: this.isTzip,
      canWrite: blocker === undefined,
      metadata: this.header?.metadata,
    };
    if (this.header?.shards) init.shards = this.header.shards;
    if (this.header?.notes) init.notes = this.header.notes;
    if (this.achieved !== null) init.achievedBytes = this.achieved;
    if (blocker) init.canWriteReason = blocker;
    if (this.tzip) init.tzip = this.tzip;
    return init;
  }

  /** Everything a fresh webview needs, in order. */
  async replay(send: (m: HostToWebview) => void): Promise<void> {
    await this.headerDone;
    send({ type: 'init', model: this.initMessage() });
    if (this.progress) send({ type: 'analysisProgress', progress: this.progress });
    if (this.analysis) send(this.analysisMessage(this.analysis));
    else if (this.analysisError) send({ type: 'analysisError', message: this.analysisError });
    if (this.job) send({ type: 'job', job: this.job });
    if (this.lossy) send(this.lossy);
  }

  private analysisMessage(a: FileAnalysis): HostToWebview {
    return {
      type: 'analysis',
      analysis: {
        parameters: a.parameters,
        bytesPerDtype: a.bytesPerDtype,
        predictedBytes: a.predictedBytes,
        boundBytes: a.boundBytes,
        estimate: a.estimate,
        bytes: a.bytes,
      },
      layers: a.layers,
      tensors: stripRows(this.rows),
    };
  }

  /** merged histograms, valid until rows change (a whole-model merge of 100,000 tensors is not free) */
  private histCache = new Map<string, HistogramReply>();
  private histRows: TensorRow[] | undefined;
  private histCount = -1;

  /** The `histogram` answer to the webview's request `id` for `target`. */
  histogram(id: number, target: HistogramTarget): HostToWebview {
    return { type: 'histogram', id, ...this.mergedHistogram(target) };
  }

  private mergedHistogram(target: HistogramTarget): HistogramReply {
    const analysed = this.progress?.done ?? 0;
    if (this.histRows !== this.rows || this.histCount !== analysed || !this.analysis) {
      this.histCache.clear();
      this.histRows = this.rows;
      this.histCount = analysed;
    }
    const key = target.kind === 'model' ? 'model' : `${target.kind}:${target.name}`;
    const hit = this.histCache.get(key);
    if (hit) return hit;
    let rows: TensorRow[];
    if (target.kind === 'tensor') {
      const i = this.byName.get(target.name);
      rows = i === undefined ? [] : [this.rows[i]!];
    } else if (target.kind === 'layer') rows = this.rows.filter((r) => r.layer === target.name);
    else rows = this.rows;
    const m = mergeHistograms(rows);
    const reply: HistogramReply = { hist: m.hist, used: m.used, skipped: m.skipped };
    if (this.analysis) this.histCache.set(key, reply); // cache only once the analysis is complete
    return reply;
  }

  /**
   * One pooled window for a panel's tensor inspector; answers with the request's id. A large window
   * is first answered by a sampled preview (`view.sampled`), then by the exact view with the same id.
   */
  async inspect(req: InspectRequest, post: (m: HostToWebview) => void, token: vscode.CancellationToken): Promise<void> {
    const { id, ...params } = req;
    try {
      await this.headerDone;
      this.local ??= await localFile(this.uri);
      const ask = (sampleElements?: number) =>
        this.server.tensorView(
          { path: this.local!.path, ...params, ...(sampleElements ? { sampleElements } : {}) },
          {
            onProgress: (p) => {
              if (p.kind !== 'end' && p.bytesTotal !== undefined)
                post({
                  type: 'inspectProgress',
                  id,
                  bytesDone: p.bytesDone ?? 0,
                  bytesTotal: p.bytesTotal,
                  ...(sampleElements ? { preview: true } : {}),
                });
            },
          },
          token,
        );
      let view = await ask(TENSOR_VIEW_PREVIEW_ELEMENTS);
      if (view.sampled && !token.isCancellationRequested) {
        post({ type: 'inspectResult', id, view });
        view = await ask();
      }
      if (!token.isCancellationRequested) post({ type: 'inspectResult', id, view });
    } catch (e) {
      const err = toJobError(e);
      if (err.code === 'CANCELLED' || token.isCancellationRequested) return;
      post({ type: 'inspectError', id, message: err.message });
    }
  }

  setJob(job: JobView): void {
    this.job = job;
    this.post({ type: 'job', job });
  }

  setTzipVerify(state: TzipFacts['verify'], problems?: string[], damaged?: string[]): void {
    if (!this.tzip) return;
    this.tzip = { ...this.tzip, verify: state, verifyProblems: problems };
    if (damaged?.length) this.tzip.damagedTensors = damaged;
    for (const r of this.rows) r.damaged = damaged?.includes(r.name) || undefined;
    this.post({ type: 'tzip', tzip: this.tzip });
  }

  canWriteChanged(): void {
    const b = writeBlocker(this.uri) ?? this.shardBlocker();
    this.post({ type: 'canWrite', canWrite: b === undefined, reason: b });
  }

  /** Re-runs the analysis (after a job rewrote the file, or on request). */
  reanalyze(quick = false): void {
    this.analysis = undefined;
    this.analysisError = undefined;
    this.histCache.clear();
    void this.startAnalysis(quick);
  }

  private async startAnalysis(quick = false): Promise<void> {
    const token = this.cts.token;
    try {
      // the whole-model statistics need every shard: the present ones stay listed from their headers
      const lacking = this.shardProblem();
      if (lacking) {
        this.analysisError =
          `Statistics and the estimate need every shard: ${lacking}. The present shards ` +
          `are listed from their headers.`;
        this.post({ type: 'analysisError', message: this.analysisError });
        return;
      }
      this.local ??= await localFile(this.uri);
      if (this.isTzip) {
        await this.loadTzip(this.local.path, token);
        this.tzipResolve(true);
        // the original's analysis follows, decoded from the container
      }
      const a = await this.server.analyze(
        this.local.path,
        {
          quick,
          onPartial: (p) => {
            const incoming = p.tensors.map((t) => tensorRowFromAnalysis(t, true));
            mergeRows(this.rows, this.byName, incoming);
            this.progress = {
              done: p.index + p.tensors.length,
              total: p.total,
              bytesDone: this.progress?.bytesDone ?? 0,
              bytesTotal: this.progress?.bytesTotal ?? 0,
            };
            this.post({ type: 'tensors', tensors: stripRows(incoming), progress: this.progress });
          },
          onProgress: (p) => {
            if (p.kind === 'end' || p.bytesTotal === undefined) return;
            this.progress = {
              done: this.progress?.done ?? 0,
              total: this.progress?.total ?? this.rows.length,
              bytesDone: p.bytesDone ?? 0,
              bytesTotal: p.bytesTotal,
            };
            this.post({ type: 'analysisProgress', progress: this.progress });
          },
        },
        token,
      );
      mergeRows(
        this.rows,
        this.byName,
        a.tensors.map((t) => tensorRowFromAnalysis(t, true)),
      );
      this.analysis = a;
      this.size = this.size || a.bytes;
      this.post(this.analysisMessage(a));
      if (!this.isTzip) void this.loadLossyCurve(this.local.path, token);
    } catch (e) {
      const err = toJobError(e);
      this.tzipResolve(false);
      if (err.code === 'CANCELLED') return;
      if (this.isTzip && this.tzip) {
        // the container's facts stand without the original's statistics (e.g. a delta .tzip whose base is absent)
        this.log.warn(`analyze ${this.displayPath}: ${err.message}`);
        this.post(this.analysisMessage(this.tzipPlaceholder()));
        return;
      }
      this.analysisError = err.message;
      this.log.error(`analyze: ${err.message}`);
      this.post({ type: 'analysisError', message: err.message });
    }
  }

  /** The lossy size-vs-k curve, only when the server offers the what-if table (never faked). */
  private async loadLossyCurve(file: string, token: vscode.CancellationToken): Promise<void> {
    try {
      if (!(await this.server.features()).lossyWhatIf) return;
      const r = await this.server.whatIf({ path: file }, {}, token);
      const points = lossyCurve(r);
      if (!points.length) return;
      this.lossy = { type: 'lossy', points, losslessBytes: losslessPredicted(r), estimate: r.estimate };
      this.post(this.lossy);
    } catch (e) {
      const err = toJobError(e);
      if (err.code !== 'CANCELLED') this.log.warn(`what-if: ${err.message}`);
    }
  }

  private async loadTzip(file: string, token: vscode.CancellationToken): Promise<void> {
    const info = tzipSummary(await this.server.info(file, token));
    const original = info.originalBytes;
    const stored = info.storedBytes;
    this.tzip = {
      originalBytes: original,
      storedBytes: stored,
      ratio: original > 0 ? stored / original : NaN,
      lossy: info.lossy,
      verify: this.tzip?.verify ?? 'unknown',
    };
    this.rows = info.tensors;
    this.tzipFormat = info.originalFormat;
    this.byName = indexByName(this.rows);
    this.post({ type: 'init', model: this.initMessage() });
    // the original's analysis follows (startAnalysis: random-access decoding on the server, streamed)
  }

  /** What the container's index alone says (when the original's analysis cannot be had). */
  private tzipPlaceholder(): FileAnalysis {
    const bytesPerDtype: Record<string, number> = {};
    let parameters = 0;
    for (const r of this.rows) {
      bytesPerDtype[r.dtype] = (bytesPerDtype[r.dtype] ?? 0) + r.bytes;
      parameters += r.shape.reduce((a, b) => a * b, 1);
    }
    const stored = this.tzip?.storedBytes ?? this.size;
    this.analysis = {
      path: this.displayPath,
      format: 'tzip',
      bytes: this.tzip?.originalBytes ?? 0,
      tensors: [],
      layers: [],
      parameters,
      bytesPerDtype,
      predictedBytes: stored,
      boundBytes: stored,
      estimate: false,
    };
    return this.analysis;
  }

  /** stored bytes of the open .tzip (0 before it is read) */
  get fileSize(): number {
    return this.size;
  }

  dispose(): void {
    this.tzipResolve(false);
    this.cts.cancel();
    this.cts.dispose();
    this.listeners.clear();
    void this.local?.dispose();
  }
}
