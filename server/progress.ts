/**
 * `$/progress` for one job on the client's workDoneToken: begin at once (the job may be queued),
 * reports throttled to one per `intervalMs` (the latest value is sent when the window closes, so
 * nothing final is lost), a non-decreasing integer percentage, bytes, MB/s and ETA, then end.
 */
import type { JobProgress, JobProgressFields, JobState } from '../protocol/server';
import { formatBytes } from '../shared/format';

export const PROGRESS_INTERVAL_MS = 100;

export class JobProgressReporter {
  private state: JobState = 'queued';
  private queuePosition: number | undefined;
  private startedAt = 0;
  private bytesDone = 0;
  private bytesTotal = 0;
  private tensor: string | undefined;
  private percentage = 0;
  private lastSent = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly send: (value: JobProgress) => void,
    private readonly title: string,
    private readonly jobId: number,
    private readonly intervalMs = PROGRESS_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  begin(state: JobState, queuePosition?: number): void {
    this.state = state;
    this.queuePosition = queuePosition;
    if (state === 'running') this.startedAt = this.now();
    this.lastSent = this.now();
    this.send({
      kind: 'begin',
      title: this.title,
      cancellable: true,
      percentage: 0,
      message: this.message(),
      ...this.fields(),
    });
  }

  /** queue position changed (sent at once: these are rare) */
  queued(position: number): void {
    this.queuePosition = position;
    this.flush();
  }

  running(): void {
    this.state = 'running';
    this.queuePosition = undefined;
    this.startedAt = this.now();
    this.flush();
  }

  update(bytesDone: number, bytesTotal: number, tensor?: string): void {
    if (this.ended) return;
    this.bytesDone = bytesDone;
    this.bytesTotal = bytesTotal;
    if (tensor !== undefined) this.tensor = tensor;
    if (bytesTotal > 0) {
      const pct = Math.floor((100 * Math.min(bytesDone, bytesTotal)) / bytesTotal);
      this.percentage = Math.max(this.percentage, pct);
    }
    const wait = this.lastSent + this.intervalMs - this.now();
    if (wait <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), wait);
  }

  end(message: string): void {
    if (this.ended) return;
    // the last throttled value still pending goes out first, so reports end at the true figure
    if (this.timer) this.flush();
    this.ended = true;
    this.send({ kind: 'end', message, ...this.fields() });
  }

  private flush(): void {
    this.clearTimer();
    if (this.ended) return;
    this.lastSent = this.now();
    this.send({
      kind: 'report',
      cancellable: true,
      percentage: this.percentage,
      message: this.message(),
      ...this.fields(),
    });
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fields(): JobProgressFields {
    const f: JobProgressFields = {
      jobId: this.jobId,
      state: this.state,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
    };
    if (this.queuePosition !== undefined) f.queuePosition = this.queuePosition;
    if (this.tensor !== undefined) f.tensor = this.tensor;
    const seconds = (this.now() - this.startedAt) / 1000;
    if (this.state === 'running' && seconds > 0.05 && this.bytesDone > 0) {
      const rate = this.bytesDone / seconds;
      f.mbPerSecond = Math.round((rate / 1e6) * 10) / 10;
      f.etaSeconds = Math.max(0, Math.round(((this.bytesTotal - this.bytesDone) / rate) * 10) / 10);
    }
    return f;
  }

  private message(): string {
    if (this.state === 'queued') return this.queuePosition ? `queued (${this.queuePosition} ahead)` : 'queued';
    const f = this.fields();
    const parts = [this.bytesTotal ? `${formatBytes(this.bytesDone)} / ${formatBytes(this.bytesTotal)}` : 'starting'];
    if (f.mbPerSecond !== undefined) parts.push(`${f.mbPerSecond} MB/s`);
    if (f.etaSeconds !== undefined) parts.push(`${Math.ceil(f.etaSeconds)} s left`);
    return parts.join(' · ');
  }
}
