/**
 * TensorZip background server (bundled to dist/server.js). A vscode-languageserver process:
 * started by the client over IPC (`--node-ipc`) or standalone with `--stdio`.
 *
 * The main thread only speaks JSON-RPC and runs the job queue; every job runs in its own worker
 * thread (server/job-worker.ts → dist/job-worker.js) that calls the engine, whose own chunk pool
 * does the coding. Logs go to window/logMessage only: in stdio mode stdout is the JSON-RPC channel.
 */
import * as path from 'node:path';
import {
  createConnection,
  ErrorCodes,
  LSPErrorCodes,
  ProposedFeatures,
  ResponseError,
  WorkDoneProgressCancelNotification,
  DidChangeConfigurationNotification,
  type CancellationToken,
  type ProgressToken,
} from 'vscode-languageserver/node';
import {
  AnalyzePartialResultProgress,
  AnalyzeRequest,
  CancelJobRequest,
  CompressRequest,
  DecompressRequest,
  DiffPartialResultProgress,
  DiffRequest,
  EventLoopStatsRequest,
  InfoRequest,
  READ_TENSOR_PAGE,
  ReadTensorRequest,
  TensorViewRequest,
  WhatIfRequest,
  JOB_FAILED_ERROR,
  JobsChangedNotification,
  JobsRequest,
  JobWorkDoneProgress,
  VerifyRequest,
  type FileAnalysis,
  type JobKind,
  type ServerFeatures,
  type TensorAnalysis,
  type TensorDiff,
  type TzErrorData,
  type VerifyResult,
} from '../protocol/server';
import { VERSION } from '../engine/core/version';
import { EventLoopMonitor } from './event-loop';
import { Job } from './job';
import type { JobResults, JobSpec, JobSpecOf } from '../protocol/jobs';
import { JobQueue } from './job-queue';
import { JobError, keepSpareWorker } from './job-runner';
import { registerLanguageFeatures } from './lang/index';
import { applySettings, DEFAULTS, serverSection, type EffectiveSettings } from './settings';

// Standalone start without a transport flag means stdio (vscode-languageclient always passes one).
if (
  !process.argv.some((a) => a === '--stdio' || a === '--node-ipc' || a.startsWith('--socket') || a.startsWith('--pipe'))
) {
  process.argv.push('--stdio');
}

const connection = createConnection(ProposedFeatures.all);
const log = (line: string) => connection.console.log(line);
// A bug in one handler must not take every job down with the process: log it and carry on.
process.on('uncaughtException', (err) => connection.console.error(`uncaught: ${err?.stack ?? err}`));
process.on('unhandledRejection', (err) =>
  connection.console.error(`unhandled rejection: ${(err as Error)?.stack ?? err}`),
);
const eventLoop = new EventLoopMonitor();
const lang = registerLanguageFeatures(connection, log);
let settings: EffectiveSettings = DEFAULTS;
let nextJobId = 1;

let jobsChangedPending = false;
const queue = new JobQueue<Job>(settings.maxConcurrentJobs, () => {
  // coalesce bursts (a job ending and the next one starting) into one notification
  if (jobsChangedPending) return;
  jobsChangedPending = true;
  setImmediate(() => {
    jobsChangedPending = false;
    void connection.sendNotification(JobsChangedNotification, {
      maxConcurrentJobs: queue.maxConcurrentJobs,
      jobs: queue.list(),
    });
  });
});
/** jobs by the workDoneToken of their request, for window/workDoneProgress/cancel */
const jobsByToken = new Map<ProgressToken, Job>();

function invalidParams(message: string): ResponseError<TzErrorData> {
  return new ResponseError(ErrorCodes.InvalidParams, message, { code: 'USAGE' });
}

function requireAbsolute(method: string, name: string, value: unknown, optional = false): string | undefined {
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || !path.isAbsolute(value))
    throw invalidParams(`${method}: "${name}" must be an absolute file-system path`);
  return value;
}

function toResponseError(err: unknown): ResponseError<TzErrorData> {
  if (err instanceof ResponseError) return err;
  if (err instanceof JobError) {
    const data: TzErrorData = { code: err.code };
    if (err.file) data.file = err.file;
    if (err.code === 'CANCELLED') return new ResponseError(LSPErrorCodes.RequestCancelled, err.message, data);
    return new ResponseError(JOB_FAILED_ERROR, err.message, data);
  }
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new ResponseError(JOB_FAILED_ERROR, message, { code: 'INTERNAL' });
}

interface RequestExtras {
  workDoneToken?: ProgressToken;
  partialResultToken?: ProgressToken;
}

/** Queues a job for a request, wires progress and cancellation, and answers its result. */
async function runJob<K extends JobKind>(
  spec: JobSpecOf<K>,
  extras: RequestExtras,
  token: CancellationToken,
): Promise<JobResults[K]> {
  const id = nextJobId++;
  const { workDoneToken, partialResultToken } = extras;
  const s: JobSpec = spec;
  if ((s.kind === 'analyze' || s.kind === 'diff') && partialResultToken !== undefined) s.wantTensors = true;
  const job = new Job(
    id,
    spec,
    {
      sendProgress:
        workDoneToken !== undefined
          ? (v) => void connection.sendProgress(JobWorkDoneProgress, workDoneToken, v)
          : undefined,
      onTensors:
        partialResultToken !== undefined
          ? (index, total, tensors) =>
              s.kind === 'diff'
                ? void connection.sendProgress(DiffPartialResultProgress, partialResultToken, {
                    a: s.path,
                    b: s.pathB,
                    index,
                    total,
                    tensors: tensors as TensorDiff[],
                  })
                : void connection.sendProgress(AnalyzePartialResultProgress, partialResultToken, {
                    path: spec.path,
                    index,
                    total,
                    tensors: tensors as TensorAnalysis[],
                  })
          : undefined,
      log,
      onEnd: () => {
        if (workDoneToken !== undefined) jobsByToken.delete(workDoneToken);
      },
    },
    (jobId) => queue.removeQueued(jobId),
  );
  const started = Date.now();
  queue.add(job); // throws BUSY on an output conflict
  if (workDoneToken !== undefined) jobsByToken.set(workDoneToken, job);
  const sub = token.onCancellationRequested(() => {
    log(`job ${id}: cancel requested`);
    job.cancel();
  });
  log(`job ${id}: ${spec.kind} ${spec.path}${job.output ? ` -> ${job.output}` : ''} (${job.state})`);
  try {
    // the worker answered this spec's kind (protocol/jobs.ts JobResults)
    const result = (await job.result) as JobResults[K];
    log(`job ${id}: done in ${((Date.now() - started) / 1000).toFixed(2)} s`);
    // hovers show what the jobs found (exponent entropy, estimated size, verify state)
    if (s.kind === 'analyze') lang.facts.recordAnalysis(s.path, result as FileAnalysis);
    else if (s.kind === 'verify') lang.facts.recordVerify(s.path, result as VerifyResult);
    return result;
  } catch (err) {
    log(`job ${id}: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  } finally {
    sub.dispose();
  }
}

/** Wraps a request handler so every failure becomes a typed ResponseError. */
function handle<P, R>(fn: (params: P, token: CancellationToken) => Promise<R>) {
  return async (params: P, token: CancellationToken): Promise<R | ResponseError<TzErrorData>> => {
    try {
      return await fn(params ?? ({} as P), token);
    } catch (err) {
      return toResponseError(err);
    }
  };
}

connection.onInitialize((params) => {
  settings = applySettings(settings, params.initializationOptions);
  queue.setLimit(settings.maxConcurrentJobs);
  // Registered here, after the library's own progress feature, so this handler is the one used:
  // it cancels the job started with that token (client-created tokens included).
  connection.onNotification(WorkDoneProgressCancelNotification.type, (p) => jobsByToken.get(p.token)?.cancel());
  return {
    capabilities: { ...lang.initialize(params), experimental: { tensorzip: FEATURES } },
    serverInfo: { name: 'tensorzip-server', version: VERSION },
  };
});

/** What this build does (every operation is in engine/api.ts; compress honours `lossyBits`). */
const FEATURES: ServerFeatures = {
  analyze: true,
  compress: true,
  decompress: true,
  verify: true,
  info: true,
  lossy: true,
  lossyWhatIf: true,
  diff: true,
};

connection.onInitialized(() => {
  // the first job (often the first model view's header) need not wait for a worker to load the engine
  keepSpareWorker();
  lang.initialized();
  log(
    `TensorZip server ready (pid ${process.pid}, up to ${settings.maxConcurrentJobs} concurrent jobs` +
      `${settings.threads ? `, ${settings.threads} threads each` : ''})`,
  );
});

connection.onNotification(DidChangeConfigurationNotification.type, (p) => {
  settings = applySettings(settings, serverSection(p));
  queue.setLimit(settings.maxConcurrentJobs);
});

connection.onRequest(
  AnalyzeRequest,
  handle(async (p, token) => {
    const file = requireAbsolute(AnalyzeRequest.method, 'path', p.path)!;
    return runJob({ kind: 'analyze', path: file, quick: p.quick === true, threads: settings.threads }, p, token);
  }),
);

connection.onRequest(
  CompressRequest,
  handle(async (p, token) => {
    const file = requireAbsolute(CompressRequest.method, 'path', p.path)!;
    const output = requireAbsolute(CompressRequest.method, 'output', p.output, true);
    if (
      p.lossyBits !== undefined &&
      (typeof p.lossyBits !== 'number' || !Number.isInteger(p.lossyBits) || p.lossyBits < 0)
    ) {
      throw invalidParams(`${CompressRequest.method}: "lossyBits" must be a non-negative integer`);
    }
    if (p.bases !== undefined && (!Array.isArray(p.bases) || p.bases.some((b) => typeof b !== 'string')))
      throw invalidParams(`${CompressRequest.method}: "bases" must be an array of paths`);
    const bases = (p.bases ?? []).map((b) => requireAbsolute(CompressRequest.method, 'bases', b)!);
    if (bases.length && p.lossyBits !== undefined)
      throw invalidParams(`${CompressRequest.method}: "bases" and "lossyBits" do not go together`);
    return runJob(
      {
        kind: 'compress',
        path: file,
        output,
        force: p.force === true,
        lossyBits: p.lossyBits,
        durable: p.durable === true,
        threads: settings.threads,
        ...(bases.length ? { bases } : {}),
      },
      p,
      token,
    );
  }),
);

connection.onRequest(
  DecompressRequest,
  handle(async (p, token) => {
    const file = requireAbsolute(DecompressRequest.method, 'path', p.path)!;
    const output = requireAbsolute(DecompressRequest.method, 'output', p.output, true);
    return runJob(
      { kind: 'decompress', path: file, output, force: p.force === true, threads: settings.threads },
      p,
      token,
    );
  }),
);

connection.onRequest(
  VerifyRequest,
  handle(async (p, token) => {
    const file = requireAbsolute(VerifyRequest.method, 'path', p.path)!;
    const against = requireAbsolute(VerifyRequest.method, 'against', p.against, true);
    return runJob({ kind: 'verify', path: file, against, threads: settings.threads }, p, token);
  }),
);

connection.onRequest(
  InfoRequest,
  handle(async (p, token) => {
    const file = requireAbsolute(InfoRequest.method, 'path', p.path)!;
    return runJob({ kind: 'info', path: file }, {}, token);
  }),
);

connection.onRequest(
  WhatIfRequest,
  handle(async (p, token) => {
    const file = requireAbsolute(WhatIfRequest.method, 'path', p.path)!;
    if (
      p.bits !== undefined &&
      (!Array.isArray(p.bits) || !p.bits.every((b) => Number.isInteger(b) && b >= 0 && b <= 52))
    ) {
      throw invalidParams(`${WhatIfRequest.method}: "bits" must be an array of integers from 0 to 52`);
    }
    return runJob(
      {
        kind: 'whatIf',
        path: file,
        exact: p.exact === true,
        ...(p.bits ? { bits: p.bits } : {}),
        threads: settings.threads,
      },
      p,
      token,
    );
  }),
);

connection.onRequest(
  DiffRequest,
  handle(async (p, token) => {
    const a = requireAbsolute(DiffRequest.method, 'a', p.a)!;
    const b = requireAbsolute(DiffRequest.method, 'b', p.b)!;
    return runJob({ kind: 'diff', path: a, pathB: b, threads: settings.threads }, p, token);
  }),
);

function requireName(method: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096)
    throw invalidParams(`${method}: "name" must be a tensor name`);
  return value;
}
const isCount = (v: unknown, max = Number.MAX_SAFE_INTEGER) =>
  Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max;

connection.onRequest(
  ReadTensorRequest,
  handle(async (p, token) => {
    const file = requireAbsolute(ReadTensorRequest.method, 'path', p.path)!;
    const name = requireName(ReadTensorRequest.method, p.name);
    if ((p.start !== undefined && !isCount(p.start)) || (p.count !== undefined && !isCount(p.count, READ_TENSOR_PAGE)))
      throw invalidParams(
        `${ReadTensorRequest.method}: "start" must be a non-negative integer and "count" one up to ${READ_TENSOR_PAGE}`,
      );
    return runJob(
      {
        kind: 'readTensor',
        path: file,
        tensor: name,
        ...(p.start !== undefined ? { start: p.start } : {}),
        ...(p.count !== undefined ? { count: p.count } : {}),
      },
      {},
      token,
    );
  }),
);

connection.onRequest(
  TensorViewRequest,
  handle(async (p, token) => {
    const m = TensorViewRequest.method;
    const file = requireAbsolute(m, 'path', p.path)!;
    const name = requireName(m, p.name);
    if (!isCount(p.width, 4096) || !isCount(p.height, 4096) || p.width < 1 || p.height < 1)
      throw invalidParams(`${m}: "width" and "height" must be integers from 1 to 4096`);
    if (p.pool !== 'mean' && p.pool !== 'maxabs' && p.pool !== 'std')
      throw invalidParams(`${m}: "pool" must be "mean", "maxabs" or "std"`);
    if (p.rowAxis !== undefined && !isCount(p.rowAxis, 64))
      throw invalidParams(`${m}: "rowAxis" must be an axis index`);
    const w = p.window;
    if (
      w !== undefined &&
      (typeof w !== 'object' || w === null || ![w.row0, w.row1, w.col0, w.col1].every((x) => isCount(x)))
    )
      throw invalidParams(`${m}: "window" must have non-negative integer row0, row1, col0, col1`);
    if (p.histogramBins !== undefined && (!isCount(p.histogramBins, 2048) || p.histogramBins < 1))
      throw invalidParams(`${m}: "histogramBins" must be an integer from 1 to 2048`);
    if (p.sampleElements !== undefined && (!isCount(p.sampleElements) || p.sampleElements < 1))
      throw invalidParams(`${m}: "sampleElements" must be a positive integer`);
    return runJob(
      {
        kind: 'tensorView',
        path: file,
        tensor: name,
        width: p.width,
        height: p.height,
        pool: p.pool,
        ...(p.rowAxis !== undefined ? { rowAxis: p.rowAxis } : {}),
        ...(w ? { window: { row0: w.row0, row1: w.row1, col0: w.col0, col1: w.col1 } } : {}),
        ...(p.histogramBins !== undefined ? { histogramBins: p.histogramBins } : {}),
        ...(p.sampleElements !== undefined ? { sampleElements: p.sampleElements } : {}),
        threads: settings.threads,
      },
      p,
      token,
    );
  }),
);

connection.onRequest(JobsRequest, () => ({ maxConcurrentJobs: queue.maxConcurrentJobs, jobs: queue.list() }));

connection.onRequest(CancelJobRequest, (p) => {
  const job = queue.get(p?.id);
  job?.cancel();
  return job !== undefined;
});

connection.onRequest(EventLoopStatsRequest, (p) => eventLoop.stats(p?.reset === true));

connection.onShutdown(async () => {
  const jobs = queue.all();
  for (const j of jobs) j.cancel();
  await Promise.allSettled(jobs.map((j) => j.result));
  eventLoop.dispose();
});

connection.listen();
