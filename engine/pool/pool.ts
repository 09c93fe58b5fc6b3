/**
 * A fixed-size pool of worker threads running codec tasks (engine/pool/tasks.ts). Results come
 * back as promises; callers keep order themselves. With size 1 the work runs inline on the
 * calling thread (no worker), which is what "--threads 1" means; with more, tasks also run inline
 * until the first worker has booted (Node takes a while to boot one), so the start of a job does
 * not leave the machine idle. A crashed worker fails its task and is replaced.
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FromCoder, Task, TaskMessage } from '../../protocol/pool';
import { ChunkCorrupt, initTasks, runTask } from './tasks';

export function defaultThreads(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

/**
 * Coding threads of a compress, decompress or verify that names none, for a process that may use
 * `cores` cores: one is left to the whole-file SHA-256, which runs on a thread of its own beside the
 * coders (hasher.ts). On 2 cores a second coding thread beside the hasher mostly slowed jobs down
 * (docs/measurements.md, "Threads").
 */
export function defaultCodingThreads(cores = defaultThreads()): number {
  return Math.max(1, cores - 1);
}

/** Chunks a pipeline keeps in flight: one with a single thread; otherwise deep enough that the
 *  workers never run dry while the calling thread (hashing, I/O) waits for a core. */
export function inflightDepth(threads: number): number {
  return threads === 1 ? 1 : Math.min(threads * 6, threads + 16);
}

/** Where the worker entry is: beside the bundle (dist/worker.js) or, from TypeScript sources, dist/ of the repo. */
export function workerScript(): { file: string; execArgv?: string[] } {
  const beside = path.join(__dirname, 'worker.js');
  if (existsSync(beside)) return { file: beside };
  const repoDist = path.resolve(__dirname, '../../dist/worker.js');
  if (existsSync(repoDist)) return { file: repoDist };
  return { file: path.join(__dirname, 'worker.ts'), execArgv: ['--import', 'tsx'] };
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}
interface Slot {
  worker: Worker;
  busy: Map<number, Pending>;
  ready: boolean;
}

/** Test knob (property tests of the threaded path): with more than one thread, tasks wait for a
 *  booted worker instead of starting inline, so every task really runs on a worker thread. */
const workersOnly = (): boolean => process.env.TZ_TEST_WORKERS_ONLY === '1';

export class WorkerPool {
  readonly size: number;
  private slots: Slot[] = [];
  private nextId = 1;
  private rr = 0;
  private closed = false;
  private inlineRuns = 0;
  private workerRuns = 0;
  private readyWaiters: Array<() => void> = [];

  constructor(size: number) {
    this.size = Math.max(1, Math.floor(size));
    if (this.size > 1) for (let i = 0; i < this.size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const { file, execArgv } = workerScript();
    const worker = new Worker(file, execArgv ? { execArgv } : {});
    const slot: Slot = { worker, busy: new Map(), ready: false };
    worker.on('message', (m: FromCoder) => {
      if ('ready' in m) {
        slot.ready = true;
        for (const w of this.readyWaiters.splice(0)) w();
        return;
      }
      const p = slot.busy.get(m.id);
      if (!p) return;
      slot.busy.delete(m.id);
      if ('error' in m)
        p.reject(m.error.corrupt ? new ChunkCorrupt(m.error.message, m.error.item) : new Error(m.error.message));
      else p.resolve(m.reply);
    });
    // Every way a worker can end settles the tasks it holds: a promise left pending would let the
    // caller's event loop run dry, and the process would end without an answer.
    const fail = (err: Error) => {
      for (const p of slot.busy.values()) p.reject(err);
      slot.busy.clear();
      if (!this.closed) {
        const i = this.slots.indexOf(slot);
        if (i >= 0) this.slots[i] = this.spawn();
      }
    };
    worker.on('error', (e) => fail(new Error(`worker thread crashed: ${e.message}`)));
    worker.on('exit', (code) =>
      fail(new Error(this.closed ? 'worker pool closed' : `worker thread exited (code ${code})`)),
    );
    worker.unref();
    return slot;
  }

  /** Runs a task; buffers in `transfer` move to the worker (do not reuse them until the reply). */
  async run<R>(task: Task, transfer: ArrayBuffer[] = []): Promise<R> {
    if (this.closed) throw new Error('pool is closed');
    if (this.size > 1 && workersOnly()) {
      while (!this.slots.some((s) => s.ready)) {
        // idle workers are unref'd: waiting on one must keep the process alive
        const booting = this.slots.map((s) => s.worker);
        for (const w of booting) w.ref();
        await new Promise<void>((r) => this.readyWaiters.push(r));
        for (const w of booting)
          if (!this.closed && !this.slots.some((s) => s.worker === w && s.busy.size > 0)) w.unref();
        if (this.closed) throw new Error('pool is closed');
      }
    }
    if (this.size === 1 || !this.slots.some((s) => s.ready)) {
      this.inlineRuns++;
      await initTasks();
      return runTask(task) as R;
    }
    this.workerRuns++;
    // least-busy slot, round robin among ties, so chunks spread evenly
    let best = this.slots[this.rr++ % this.slots.length]!;
    for (const s of this.slots) if (s.busy.size < best.busy.size) best = s;
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      best.busy.set(id, { resolve: resolve as (v: unknown) => void, reject });
      best.worker.ref();
      best.worker.postMessage({ id, task } satisfies TaskMessage, transfer);
    }).finally(() => {
      // An idle worker must not keep the process alive, but a closing one must until its 'exit'
      // event (close() awaits it): a reply arriving after terminate() must not unref it again.
      if (best.busy.size === 0 && !this.closed) best.worker.unref();
    });
  }

  /** Where tasks ran so far, and how many workers have booted (for tests and diagnostics). */
  stats(): { inline: number; workers: number; ready: number } {
    return { inline: this.inlineRuns, workers: this.workerRuns, ready: this.slots.filter((s) => s.ready).length };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.readyWaiters.splice(0)) w();
    const slots = this.slots;
    this.slots = [];
    // terminate() settles on the worker's 'exit' event, and an idle worker is unref'd: without ref()
    // the event loop can run dry before that event, ending the process mid-`await` (exit 0, no answer).
    await Promise.all(
      slots.map((s) => {
        s.worker.ref();
        return s.worker.terminate();
      }),
    );
  }
}
