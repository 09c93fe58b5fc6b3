/**
 * The job queue: at most `limit` jobs run at once, the rest wait in arrival order. Light jobs
 * (header-only reads such as info) start at once and do not count against the limit.
 * A job whose output another active job reads or writes, or whose input another active job is
 * writing, is refused (BUSY) instead of queued.
 */
import type { JobInfo, JobKind, JobState } from '../protocol/server';
import { JobError } from './job-runner';

export interface Schedulable {
  readonly id: number;
  readonly kind: JobKind;
  readonly path: string;
  readonly output?: string;
  /** normalized absolute paths */
  readonly reads: readonly string[];
  readonly writes: readonly string[];
  readonly light: boolean;
  state: JobState;
  readonly queuedAt: number;
  startedAt?: number;
  bytesDone: number;
  bytesTotal: number;
  percentage: number;
  /** runs the job; resolves when it is over, whatever the outcome */
  start(): Promise<void>;
  queuePositionChanged?(position: number): void;
}

/** Why `job` may not be admitted next to `active` jobs, or undefined if it may. */
export function conflict(
  job: Pick<Schedulable, 'reads' | 'writes'>,
  active: Iterable<Schedulable>,
): string | undefined {
  for (const other of active) {
    for (const w of job.writes) {
      if (other.writes.includes(w)) return `${w}: already being written by job ${other.id} (${other.kind})`;
      if (other.reads.includes(w)) return `${w}: being read by job ${other.id} (${other.kind}), cannot write it now`;
    }
    for (const r of job.reads) {
      if (other.writes.includes(r)) return `${r}: being written by job ${other.id} (${other.kind}), cannot read it now`;
    }
  }
  return undefined;
}

export class JobQueue<J extends Schedulable> {
  private readonly waiting: J[] = [];
  private readonly running = new Set<J>();

  constructor(
    private limit: number,
    private readonly onChange: () => void = () => {},
  ) {}

  get maxConcurrentJobs(): number {
    return this.limit;
  }

  setLimit(n: number): void {
    this.limit = Math.max(1, Math.floor(n));
    this.pump();
  }

  /** Admits a job (throws JobError BUSY on a conflict); it starts now or when a slot frees. */
  add(job: J): void {
    const why = conflict(job, [...this.running, ...this.waiting]);
    if (why) throw new JobError('BUSY', why, job.writes[0] ?? job.path);
    job.state = 'queued';
    if (job.light) this.launch(job);
    else {
      this.waiting.push(job);
      this.pump();
      if (job.state === 'queued') job.queuePositionChanged?.(this.waiting.length - 1);
    }
    this.onChange();
  }

  /** Removes a job that has not started; false if it is not waiting. */
  removeQueued(id: number): boolean {
    const i = this.waiting.findIndex((j) => j.id === id);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    this.positionsChanged(i);
    this.onChange();
    return true;
  }

  get(id: number): J | undefined {
    return [...this.running, ...this.waiting].find((j) => j.id === id);
  }

  all(): J[] {
    return [...this.running, ...this.waiting];
  }

  list(): JobInfo[] {
    return this.all().map((j) => {
      const info: JobInfo = {
        id: j.id,
        kind: j.kind,
        path: j.path,
        state: j.state,
        queuedAt: j.queuedAt,
        bytesDone: j.bytesDone,
        bytesTotal: j.bytesTotal,
        percentage: j.percentage,
      };
      if (j.output !== undefined) info.output = j.output;
      if (j.startedAt !== undefined) info.startedAt = j.startedAt;
      return info;
    });
  }

  private heavyRunning(): number {
    let n = 0;
    for (const j of this.running) if (!j.light) n++;
    return n;
  }

  private pump(): void {
    let started = false;
    while (this.waiting.length > 0 && this.heavyRunning() < this.limit) {
      this.launch(this.waiting.shift()!);
      started = true;
    }
    if (started) this.positionsChanged(0);
  }

  private positionsChanged(from: number): void {
    for (let i = from; i < this.waiting.length; i++) this.waiting[i].queuePositionChanged?.(i);
  }

  private launch(job: J): void {
    job.state = 'running';
    job.startedAt = Date.now();
    this.running.add(job);
    void job.start().finally(() => {
      this.running.delete(job);
      this.pump();
      this.onChange();
    });
  }
}
