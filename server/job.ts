/**
 * One request's job: its queue bookkeeping, progress reporting and worker run. `result` settles
 * with the engine's result or a JobError (CANCELLED when cancelled, queued or running).
 */
import * as path from 'node:path';
import type { StreamedTensor } from '../protocol/jobs';
import { removeTempsOf } from '../engine/container/output';
import type { JobKind, JobProgress, JobState } from '../protocol/server';
import type { JobSpec } from '../protocol/jobs';
import type { Schedulable } from './job-queue';
import { JobError, JobRun, type RunnerEvents } from './job-runner';
import { JobProgressReporter } from './progress';

export interface JobHooks {
  /** `$/progress` sender for the request's workDoneToken, if it has one */
  sendProgress?: (value: JobProgress) => void;
  onTensors?: (index: number, total: number, tensors: StreamedTensor[]) => void;
  log?: (line: string) => void;
  /** called when the job is over (removed from the queue or finished) */
  onEnd?: (job: Job) => void;
  graceMs?: number;
  workerScript?: string;
}

const TITLES: Record<JobKind, string> = {
  analyze: 'Analyzing',
  compress: 'Compressing',
  decompress: 'Decompressing',
  verify: 'Verifying',
  info: 'Reading',
  whatIf: 'Estimating lossy sizes of',
  readTensor: 'Reading a tensor of',
  tensorView: 'Pooling a tensor of',
  diff: 'Comparing',
};

/** Files a job reads and writes, for the queue's conflict check (normalized absolute paths). */
export function jobFiles(spec: JobSpec): { reads: string[]; writes: string[]; output?: string } {
  const p = path.resolve(spec.path);
  const reads = [p];
  if (spec.kind === 'verify' && spec.against) reads.push(path.resolve(spec.against));
  if (spec.kind === 'diff') reads.push(path.resolve(spec.pathB));
  if (spec.kind === 'compress') {
    const output = path.resolve(spec.output ?? `${p}.tzip`);
    return { reads, writes: [output], output };
  }
  if (spec.kind === 'decompress') {
    // the real default comes from the container; the name without `.tzip` is what it normally is
    const output = path.resolve(spec.output ?? p.replace(/\.tzip$/i, ''));
    return { reads, writes: [output], output };
  }
  return { reads, writes: [] };
}

/**
 * Deletes the temp files (engine/container/output.ts) a job worker of this process left for
 * `output` when it was terminated or crashed. Other processes' temp files are left alone, and the
 * queue guarantees only one active job of this process writes `output`.
 */
export async function removeTempOutputs(output: string, log?: (line: string) => void): Promise<void> {
  for (const p of await removeTempsOf(output)) log?.(`removed temp file ${p} left by a stopped job worker`);
}

export class Job implements Schedulable {
  readonly kind: JobKind;
  readonly path: string;
  readonly output?: string;
  readonly reads: string[];
  readonly writes: string[];
  readonly light: boolean;
  state: JobState = 'queued';
  readonly queuedAt = Date.now();
  startedAt?: number;
  bytesDone = 0;
  bytesTotal = 0;
  percentage = 0;
  readonly result: Promise<unknown>;
  private resolve!: (v: unknown) => void;
  private reject!: (e: JobError) => void;
  private run: JobRun | undefined;
  private cancelled = false;
  private readonly reporter: JobProgressReporter | undefined;
  private began = false;

  constructor(
    readonly id: number,
    readonly spec: JobSpec,
    private readonly hooks: JobHooks = {},
    /** removes this job from the queue if it is still waiting */
    private readonly dequeue: (id: number) => boolean = () => false,
  ) {
    this.kind = spec.kind;
    this.path = spec.path;
    const files = jobFiles(spec);
    this.reads = files.reads;
    this.writes = files.writes;
    if (files.output !== undefined) this.output = files.output;
    // reading a page or a view is interactive: it never waits behind compress jobs
    this.light = spec.kind === 'info' || spec.kind === 'readTensor' || spec.kind === 'tensorView';
    this.result = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // callers await `result`; make sure an early rejection is never reported as unhandled
    this.result.catch(() => {});
    if (hooks.sendProgress)
      this.reporter = new JobProgressReporter(
        hooks.sendProgress,
        `${TITLES[this.kind]} ${path.basename(spec.path)}`,
        id,
      );
  }

  queuePositionChanged(position: number): void {
    if (!this.reporter) return;
    if (!this.began) {
      this.began = true;
      this.reporter.begin('queued', position);
    } else this.reporter.queued(position);
  }

  async start(): Promise<void> {
    if (this.reporter) {
      if (!this.began) this.reporter.begin('running');
      else this.reporter.running();
      this.began = true;
    }
    if (this.cancelled)
      return this.finish(() => this.reject(new JobError('CANCELLED', 'cancelled', this.path)), 'cancelled');
    const events: RunnerEvents = {
      onProgress: (done, total, tensor) => {
        this.bytesDone = done;
        this.bytesTotal = total;
        if (total > 0) this.percentage = Math.max(this.percentage, Math.floor((100 * Math.min(done, total)) / total));
        this.reporter?.update(done, total, tensor);
      },
      onTensors: this.hooks.onTensors,
      onLog: (line, stream) => this.hooks.log?.(`job ${this.id} ${stream}: ${line}`),
    };
    try {
      this.run = new JobRun(this.spec, events, this.hooks.graceMs, this.hooks.workerScript);
      const value = await this.run.done;
      this.finish(() => this.resolve(value), 'done');
    } catch (err) {
      const e =
        err instanceof JobError
          ? err
          : new JobError(
              'INTERNAL',
              `${this.path}: ${String((err as Error)?.message ?? err).split('\n')[0]}`,
              this.path,
            );
      if (this.run?.forced) this.hooks.log?.(`job ${this.id}: worker did not stop within the grace period; terminated`);
      // a terminated or crashed worker could not delete its temp output: do it before answering
      if (this.output && (this.run?.forced || e.code === 'INTERNAL'))
        await removeTempOutputs(this.output, this.hooks.log);
      this.finish(() => this.reject(e), e.code === 'CANCELLED' ? 'cancelled' : 'failed');
    }
  }

  /** Cancels the job: a queued one ends at once, a running one once its worker stops. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    if (this.dequeue(this.id)) {
      this.finish(() => this.reject(new JobError('CANCELLED', 'cancelled', this.path)), 'cancelled');
      return;
    }
    this.run?.cancel();
  }

  private finish(settle: () => void, how: string): void {
    if (this.reporter && !this.began) {
      this.began = true;
      this.reporter.begin(this.state);
    }
    this.reporter?.end(how);
    settle();
    this.hooks.onEnd?.(this);
  }
}
