/**
 * What the extension host keeps of one comparison (no vscode import, unit-tested): the server's
 * streamed `tensorzip/diff` results turned into the comparison view's messages, and the replay a
 * reloaded webview needs (a hidden panel is destroyed without retainContextWhenHidden).
 */
import type { DiffPartialResult, DiffResult, JobProgress } from '../protocol/server';
import {
  compareRowOf,
  type CompareInit,
  type CompareProgress,
  type CompareRow,
  type CompareState,
  type HostToWebview,
} from '../protocol/webview';

export class CompareFeed {
  private rows: CompareRow[] = [];
  private progress: CompareProgress = { done: 0, total: 0, bytesDone: 0, bytesTotal: 0 };
  private result: DiffResult | undefined;
  private ended: { state: 'cancelled' | 'failed'; message: string } | undefined;

  constructor(
    readonly init: CompareInit,
    private readonly post: (m: HostToWebview) => void,
  ) {}

  get state(): CompareState {
    return this.result ? 'done' : (this.ended?.state ?? 'running');
  }

  /** A (re)started comparison: the view starts empty. */
  start(): void {
    this.rows = [];
    this.progress = { done: 0, total: 0, bytesDone: 0, bytesTotal: 0 };
    this.result = undefined;
    this.ended = undefined;
    this.post({ type: 'compareInit', compare: this.init });
  }

  partial(p: DiffPartialResult): void {
    const tensors = p.tensors.map(compareRowOf);
    tensors.forEach((t, i) => (this.rows[p.index + i] = t));
    this.progress = { ...this.progress, done: p.index + tensors.length, total: p.total };
    this.post({ type: 'compareTensors', index: p.index, tensors, progress: this.progress });
  }

  workDone(p: JobProgress): void {
    if (p.kind === 'end' || p.bytesTotal === undefined) return;
    this.progress = { ...this.progress, bytesDone: p.bytesDone ?? 0, bytesTotal: p.bytesTotal };
    this.post({ type: 'compareProgress', progress: this.progress });
  }

  /** The complete answer: any tensor the partials missed is posted, then the engine's layers and summary. */
  done(r: DiffResult): void {
    const missing = r.tensors.findIndex((t, i) => this.rows[i]?.name !== t.name);
    if (missing >= 0) {
      this.rows = r.tensors.map(compareRowOf);
      this.progress = { ...this.progress, done: r.tensors.length, total: r.tensors.length };
      this.post({
        type: 'compareTensors',
        index: missing,
        tensors: this.rows.slice(missing),
        progress: this.progress,
      });
    }
    this.result = r;
    this.post(this.doneMessage(r));
  }

  end(state: 'cancelled' | 'failed', message: string): void {
    if (this.result) return;
    this.ended = { state, message };
    this.post({ type: 'compareEnded', ...this.ended });
  }

  private doneMessage(r: DiffResult): HostToWebview {
    return { type: 'compareDone', summary: r.summary, layers: r.layers };
  }

  /** Everything a fresh webview needs, in order. */
  replay(send: (m: HostToWebview) => void): void {
    send({ type: 'compareInit', compare: this.init });
    if (this.rows.length) send({ type: 'compareTensors', index: 0, tensors: this.rows, progress: this.progress });
    else send({ type: 'compareProgress', progress: this.progress });
    if (this.result) send(this.doneMessage(this.result));
    else if (this.ended) send({ type: 'compareEnded', ...this.ended });
  }
}
