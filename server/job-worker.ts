/**
 * Job worker (bundled to dist/job-worker.js): runs one job — one engine call — off the server's
 * main thread, then reports its result and is terminated by the main thread. The job comes in
 * workerData, or in a `start` message to a spare worker the server started ahead of time.
 *
 * Cancellation arrives two ways: a `cancel` message (handled whenever this thread's event loop
 * turns) and a shared Int32 flag that the AbortSignal's `aborted` getter reads, so an engine loop
 * that checks `signal.aborted` per chunk stops even while it never yields.
 */
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import * as api from '../engine/api';
import { TzError, cancelled, describeError, toTzError } from '../engine/core/errors';
import { tempPathFor } from '../engine/container/output';
import type {
  FromWorker,
  JobResults,
  JobSpec,
  JobSpecOf,
  JobWorkerData,
  StreamedTensor,
  ToWorker,
} from '../protocol/jobs';
import { withTensors } from '../engine/container/tensorReader';
import { READ_TENSOR_PAGE, type JobKind } from '../protocol/server';
import { pageToWire, viewToWire } from './tensorWire';

const PROGRESS_INTERVAL_MS = 50;
const TENSOR_BATCH_MS = 100;

/**
 * On Linux the nice value is per thread and inherited by threads created later, so lowering it here
 * puts this job and the engine's pool threads it starts below the server's main thread: JSON-RPC
 * stays responsive even when jobs saturate every core. (Elsewhere pid 0 means the whole process,
 * which would slow the main thread too, so it is Linux only.)
 */
const JOB_NICE = 10;
if (process.platform === 'linux') {
  try {
    os.setPriority(0, Math.max(os.getPriority(0), JOB_NICE));
  } catch {
    // not permitted: run at normal priority
  }
}

const port = parentPort!;
const data = workerData as JobWorkerData;
/** the job: from workerData, or for a spare worker from its `start` message */
let spec!: JobSpec;
const post = (m: FromWorker) => port.postMessage(m);

/** An AbortSignal whose `aborted` also reads the shared cancel flag (no event loop turn needed). */
function sharedFlagSignal(flag: Int32Array): { signal: AbortSignal; abort: () => void } {
  const ac = new AbortController();
  const signal = ac.signal;
  const nativeAborted = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')!.get!;
  const abort = () => {
    if (!nativeAborted.call(signal)) ac.abort(cancelled(spec.path));
  };
  Object.defineProperty(signal, 'aborted', {
    configurable: true,
    get() {
      if (Atomics.load(flag, 0) !== 0) abort();
      return nativeAborted.call(signal) as boolean;
    },
  });
  return { signal, abort };
}

const { signal, abort } = sharedFlagSignal(data.cancelFlag);
port.on('message', (m: ToWorker) => {
  if (m.type === 'cancel') abort();
  else if (m.type === 'start' && !spec) begin(m.spec);
});

function begin(s: JobSpec): void {
  spec = s;
  oomHook = !!process.env.TZ_SERVER_TEST_OOM && spec.path.includes(process.env.TZ_SERVER_TEST_OOM);
  // Once it has its job, the port must not keep this thread alive: if the engine's promise never
  // settles, the thread's event loop runs dry and it exits, which the server turns into INTERNAL
  // (job-runner.ts) instead of a job that hangs without an answer. Its temp outputs go with it.
  port.unref();
  void main();
}
let answered = false;
process.on('exit', () => {
  if (!answered) api.removeLiveTempsSync();
});

/**
 * Test hook (server environment): a job whose path contains TZ_SERVER_TEST_OOM runs its engine call
 * for real and, once it has coded 2 MiB (its temp output open and being written), fills this thread's
 * heap, which job-runner.ts caps small for that job: V8 ends the thread at its heap limit, as the OS
 * would kill a process; no catch, finally or exit handler of this thread runs after that.
 */
const OOM_AFTER_BYTES = 2 << 20;
let oomHook = false;
function exhaustHeap(): never {
  const hog: number[][] = [];
  for (;;) hog.push(new Array<number>(10_000).fill(0.5));
}

let lastProgress = 0;
function onProgress(p: api.Progress): void {
  if (oomHook && p.bytesDone >= OOM_AFTER_BYTES) exhaustHeap();
  const now = Date.now();
  if (now - lastProgress < PROGRESS_INTERVAL_MS && p.bytesDone < p.bytesTotal) return;
  lastProgress = now;
  post({ type: 'progress', bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, tensor: p.tensor });
}

let batch: StreamedTensor[] = [];
let batchIndex = 0;
let batchTotal = 0;
let batchTimer: NodeJS.Timeout | undefined;
function flushTensors(): void {
  if (batchTimer) clearTimeout(batchTimer);
  batchTimer = undefined;
  if (batch.length === 0) return;
  post({ type: 'tensors', index: batchIndex, total: batchTotal, tensors: batch });
  batch = [];
}
function onTensor(t: StreamedTensor, index: number, total: number): void {
  if (batch.length === 0) batchIndex = index;
  batch.push(t);
  batchTotal = total;
  batchTimer ??= setTimeout(flushTensors, TENSOR_BATCH_MS);
}

/** One handler per job kind: the spec of that kind in, the engine's answer of that kind out. */
type Handlers = { [K in JobKind]: (s: JobSpecOf<K>) => Promise<JobResults[K]> };

const handlers: Handlers = {
  analyze: (s) =>
    api.analyzeFile(s.path, {
      signal,
      onProgress,
      threads: s.threads,
      quick: s.quick,
      onTensor: s.wantTensors ? onTensor : undefined,
    }),
  compress: (s) => {
    const opts = { signal, onProgress, threads: s.threads, output: s.output, force: s.force, durable: s.durable };
    if (s.bases?.length) return api.compressChainMember({ input: s.path, keyframe: false, candidates: s.bases }, opts);
    return api.compressFile(s.path, { ...opts, lossyBits: s.lossyBits });
  },
  decompress: (s) =>
    api.decompressFile(s.path, { signal, onProgress, threads: s.threads, output: s.output, force: s.force }),
  verify: (s) => api.verifyFile(s.path, { signal, onProgress, threads: s.threads, against: s.against }),
  info: (s) => api.infoFile(s.path),
  whatIf: (s) =>
    api.whatIf(s.path, { signal, onProgress, threads: s.threads, exact: s.exact, ...(s.bits ? { bits: s.bits } : {}) }),
  diff: (s) =>
    api.diffFiles(s.path, s.pathB, {
      signal,
      onProgress: (p) => onProgress({ ...p, phase: 'analyze' }),
      onTensor: s.wantTensors ? onTensor : undefined,
    }),
  readTensor: (s) =>
    withTensors(
      s.path,
      async (src) => {
        const t = src.tensor(s.tensor);
        const start = s.start ?? 0;
        const count = Math.min(s.count ?? READ_TENSOR_PAGE, READ_TENSOR_PAGE, Math.max(0, t.elements - start));
        return pageToWire(t, await src.readTensor(t.name, { start, count }, { signal }), start + count);
      },
      { threads: 1 },
    ),
  tensorView: (s) =>
    withTensors(
      s.path,
      async (src) => {
        const v = await api.poolTensor(
          src,
          s.tensor,
          {
            rowAxis: s.rowAxis ?? 0,
            ...(s.window ? { window: s.window } : {}),
            gridRows: s.height,
            gridCols: s.width,
            histogramBins: s.histogramBins ?? 256,
            ...(s.sampleElements !== undefined ? { sampleElements: s.sampleElements } : {}),
          },
          {
            signal,
            onProgress: (done, total) =>
              onProgress({ phase: 'analyze', file: s.path, bytesDone: done, bytesTotal: total, tensor: s.tensor }),
          },
        );
        return viewToWire(v, s.pool);
      },
      s.threads !== undefined ? { threads: s.threads } : {},
    ),
};

function run<K extends JobKind>(s: JobSpecOf<K>): Promise<JobResults[K]> {
  const handler: (s: JobSpecOf<K>) => Promise<JobResults[K]> = handlers[s.kind];
  return handler(s);
}

/**
 * Test hooks (environment of the server process): a job whose path contains TZ_SERVER_TEST_CRASH
 * crashes this worker (uncaught error); one whose path contains TZ_SERVER_TEST_HANG spins without
 * ever looking at the cancel flag. They exercise crash recovery and the terminate-after-grace path.
 */
function maybeMisbehave(s: JobSpec): boolean {
  const crash = process.env.TZ_SERVER_TEST_CRASH;
  if (crash && s.path.includes(crash)) {
    setTimeout(() => {
      throw new Error('simulated job worker crash');
    }, 20);
    return true;
  }
  const hang = process.env.TZ_SERVER_TEST_HANG;
  if (hang && s.path.includes(hang)) {
    // like an engine stuck mid-write: a temp output exists (named as engine/container/output.ts does)
    if (s.kind === 'compress') writeFileSync(tempPathFor(s.output ?? `${s.path}.tzip`), 'partial');
    post({ type: 'progress', bytesDone: 1, bytesTotal: 2 });
    setTimeout(() => {
      for (;;);
    }, 20);
    return true;
  }
  return false;
}

async function main(): Promise<void> {
  if (maybeMisbehave(spec)) return;
  try {
    const result = await run(spec);
    flushTensors();
    // finished before a late cancel could stop it: the result is real, report it
    answered = true;
    post({ type: 'result', result });
  } catch (err) {
    answered = true;
    flushTensors();
    // A job aborted for cancellation may surface as a generic AbortError; report it as CANCELLED.
    const e =
      signal.aborted && !(err instanceof TzError && err.code !== 'CANCELLED')
        ? cancelled(spec.path)
        : toTzError(err, spec.path);
    post({
      type: 'error',
      code: e.code,
      message: e.message || describeError(err, spec.path),
      file: e.file ?? spec.path,
    });
  }
}

// a spare waits (its port keeps it alive) until the server posts `start`
if (data.spec) begin(data.spec);
