/**
 * Runs one job in its own worker thread (dist/job-worker.js) and turns everything that can happen
 * to it — result, engine error, cancellation, crash — into a settled promise. Each job gets a fresh
 * thread (never reused: a job's state and its engine pool die with it), taken from a spare started
 * ahead of time when one is waiting.
 *
 * Cancel: sets the shared flag and posts `cancel`; the engine then throws CANCELLED after removing
 * its temp files. If the worker has not answered within `graceMs`, it is terminated (its engine
 * pool threads die with it) and the job settles as cancelled anyway.
 */
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import type { StreamedTensor } from '../protocol/jobs';
import type { ServerErrorCode } from '../protocol/server';
import type { FromWorker, JobSpec, JobWorkerData, ToWorker } from '../protocol/jobs';

export class JobError extends Error {
  constructor(
    readonly code: ServerErrorCode,
    message: string,
    readonly file?: string,
  ) {
    super(message);
    this.name = 'JobError';
  }
}

export interface RunnerEvents {
  onProgress?: (bytesDone: number, bytesTotal: number, tensor?: string) => void;
  onTensors?: (index: number, total: number, tensors: StreamedTensor[]) => void;
  /** worker stdout/stderr lines (never written to the server's stdout) */
  onLog?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export const DEFAULT_GRACE_MS = 150;

/** dist/job-worker.js sits next to dist/server.js (both bundles are CommonJS). */
export function defaultWorkerScript(): string {
  return path.join(__dirname, 'job-worker.js');
}

/** A worker started ahead of its job, waiting for `start` (it has loaded the engine by then). */
interface Spare {
  worker: Worker;
  flag: Int32Array;
  exited: boolean;
}
const spares = new Map<string, Spare>();

function spawn(script: string, data: JobWorkerData, limits = {}): Worker {
  // stdout/stderr: true keeps worker output off the process stdout (the JSON-RPC channel).
  return new Worker(script, { workerData: data, stdout: true, stderr: true, ...limits });
}

/**
 * Starts a spare job worker for `script` unless one is waiting: the next job skips the worker's start
 * (loading the bundle and the engine). Unreferenced, so an idle spare never keeps the server alive.
 */
export function keepSpareWorker(script = defaultWorkerScript()): void {
  if (spares.has(script)) return;
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const spare: Spare = { worker: spawn(script, { cancelFlag: flag }), flag, exited: false };
  spare.worker.unref();
  // a spare that dies before its job (it never should) is dropped; the next job starts its own worker
  spare.worker.once('exit', () => {
    spare.exited = true;
    if (spares.get(script) === spare) spares.delete(script);
  });
  spare.worker.on('error', () => undefined);
  spares.set(script, spare);
}

/** whether a live spare is waiting for `script` (a spare that died is gone once its exit is seen) */
export function hasSpareWorker(script = defaultWorkerScript()): boolean {
  const s = spares.get(script);
  return !!s && !s.exited;
}

function takeSpare(script: string): Spare | undefined {
  const s = spares.get(script);
  spares.delete(script);
  return s && !s.exited ? s : undefined;
}

export class JobRun {
  readonly done: Promise<unknown>;
  private readonly worker: Worker;
  private readonly flag: Int32Array;
  private settled = false;
  /** true when the worker had to be terminated (it did not stop within the grace period) */
  forced = false;
  /** the job went to a spare worker started ahead of it */
  readonly fromSpare: boolean;
  private cancelTimer: NodeJS.Timeout | undefined;
  private resolve!: (v: unknown) => void;
  private reject!: (e: JobError) => void;

  constructor(
    spec: JobSpec,
    events: RunnerEvents = {},
    private readonly graceMs = DEFAULT_GRACE_MS,
    script = defaultWorkerScript(),
  ) {
    this.done = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // Test hook (TZ_SERVER_TEST_OOM, job-worker.ts): that job's worker gets a small heap, so filling it is quick.
    const oom = process.env.TZ_SERVER_TEST_OOM;
    const limited = !!oom && spec.path.includes(oom);
    const spare = limited ? undefined : takeSpare(script);
    this.fromSpare = !!spare;
    if (spare) {
      // listeners are attached below in this same turn, so no event of the spare's is missed
      this.worker = spare.worker;
      this.flag = spare.flag;
      this.worker.ref();
      this.worker.postMessage({ type: 'start', spec } satisfies ToWorker);
    } else {
      this.flag = new Int32Array(new SharedArrayBuffer(4));
      const limits = limited ? { resourceLimits: { maxOldGenerationSizeMb: 64 } } : {};
      this.worker = spawn(script, { spec, cancelFlag: this.flag }, limits);
    }
    keepSpareWorker(script);
    for (const stream of ['stdout', 'stderr'] as const) {
      let pending = '';
      this.worker[stream].setEncoding('utf8');
      this.worker[stream].on('data', (chunk: string) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const l of lines) if (l.trim()) events.onLog?.(l, stream);
      });
    }
    this.worker.on('message', (m: FromWorker) => {
      if (this.settled) return;
      switch (m.type) {
        case 'progress':
          events.onProgress?.(m.bytesDone, m.bytesTotal, m.tensor);
          break;
        case 'tensors':
          events.onTensors?.(m.index, m.total, m.tensors);
          break;
        case 'result':
          this.settle(() => this.resolve(m.result));
          break;
        case 'error':
          this.settle(() => this.reject(new JobError(m.code, m.message, m.file)));
          break;
      }
    });
    this.worker.on('error', (err) => {
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      this.settle(() => this.reject(new JobError('INTERNAL', `${spec.path}: job worker crashed (${why})`, spec.path)));
    });
    this.worker.on('exit', (code) => {
      this.settle(() =>
        this.reject(
          new JobError(
            'INTERNAL',
            code === 0
              ? `${spec.path}: internal error: the job ended without an answer`
              : `${spec.path}: job worker exited unexpectedly (exit code ${code})`,
            spec.path,
          ),
        ),
      );
    });
  }

  get cancelRequested(): boolean {
    return Atomics.load(this.flag, 0) !== 0;
  }

  cancel(): void {
    if (this.settled || this.cancelRequested) return;
    Atomics.store(this.flag, 0, 1);
    this.worker.postMessage({ type: 'cancel' } satisfies ToWorker);
    this.cancelTimer = setTimeout(() => {
      this.forced = true;
      this.settle(() => this.reject(new JobError('CANCELLED', 'cancelled')));
    }, this.graceMs);
  }

  /** Settles once; the worker is always terminated (it and its engine pool go away). */
  private settle(fn: () => void): void {
    if (this.settled) return;
    this.settled = true;
    if (this.cancelTimer) clearTimeout(this.cancelTimer);
    fn();
    void this.worker.terminate();
  }
}
