/**
 * The bundled server (dist/server.js --stdio) driven over JSON-RPC: analysis results equal the
 * CLI's, progress order, partial results, typed errors, cancellation, the queue, crash recovery.
 */
import { test, describe, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import {
  AnalyzeRequest,
  CancelJobRequest,
  EventLoopStatsRequest,
  JOB_FAILED_ERROR,
  JobsRequest,
  type FileAnalysis,
  type ServerFeatures,
} from '../../protocol/server';
import {
  CORPUS,
  HAVE_CORPUS,
  INVALID_PARAMS,
  NO_BUILD,
  REQUEST_CANCELLED,
  assertProgressInOrder,
  cliAnalyze,
  isRunningWithBytes,
  rejection,
  startServer,
  tempDir,
  until,
  writeSyntheticSafetensors,
  type Harness,
} from './server-harness';

const NO_CORPUS = !HAVE_CORPUS && 'no ../shared/corpus';
const ONNX = path.resolve('node_modules/@ricky0123/vad-web/dist/silero_vad_v6.onnx');

describe('server: analyze', { skip: NO_BUILD }, () => {
  let h: Harness;
  let dir: string;
  before(async () => {
    h = await startServer();
    dir = tempDir();
  });
  after(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(h.stderr, [], 'the server writes nothing to stderr');
  });

  for (const name of ['stories260k.bf16.safetensors', 'human_faceres.f32.safetensors', 'stories260k.f16.gguf']) {
    test(`${name}: same JSON as \`analyze --json\``, { skip: NO_CORPUS }, async () => {
      const file = path.join(CORPUS, name);
      const cli = cliAnalyze(file);
      assert.equal(cli.error, undefined);
      const got = await h.conn.sendRequest(AnalyzeRequest, { path: file });
      assert.deepEqual(got, cli.analysis);
      assert.ok(got.tensors.length > 0 && got.tensors.some((t) => t.exponentEntropy !== null));
    });
  }

  test(
    'registry ONNX file: same JSON as `analyze --json`',
    { skip: !existsSync(ONNX) && 'no @ricky0123/vad-web in node_modules' },
    async () => {
      const cli = cliAnalyze(ONNX);
      assert.equal(cli.error, undefined);
      const got = await h.conn.sendRequest(AnalyzeRequest, { path: ONNX });
      assert.deepEqual(got, cli.analysis);
      assert.equal(got.format, 'onnx');
    },
  );

  test('progress arrives in order and partial results cover every tensor in file order', async () => {
    const file = writeSyntheticSafetensors(path.join(dir, 'progress.safetensors'), 24 << 20, 24);
    const progress = h.watchProgress('wd-progress');
    const partials = h.watchPartials('pr-progress');
    const result: FileAnalysis = await h.conn.sendRequest(AnalyzeRequest, {
      path: file,
      workDoneToken: 'wd-progress',
      partialResultToken: 'pr-progress',
    });
    assertProgressInOrder(progress);
    const begin = progress[0];
    assert.ok(begin.kind === 'begin' && begin.title.includes('progress.safetensors') && begin.cancellable);
    const last = progress.at(-2)!;
    assert.ok(
      last.kind === 'report' && last.bytesDone === last.bytesTotal && last.percentage === 100,
      'last report is complete',
    );
    const streamed = partials.flatMap((p) => p.tensors);
    assert.deepEqual(streamed, result.tensors);
    let next = 0;
    for (const p of partials) {
      assert.equal(p.index, next);
      assert.equal(p.total, result.tensors.length);
      next += p.tensors.length;
    }
  });

  test('a corrupted file answers the typed error with the CLI message', async () => {
    const file = writeSyntheticSafetensors(path.join(dir, 'corrupt.safetensors'), 1 << 20, 2);
    // lie about the header length
    const buf = Buffer.alloc(8);
    buf.writeBigUInt64LE(1n << 40n);
    writeFileSync(file, Buffer.concat([buf, Buffer.from('{"a":1}')]));
    const e = await rejection(h.conn.sendRequest(AnalyzeRequest, { path: file }));
    assert.equal(e.code, JOB_FAILED_ERROR);
    assert.equal(e.data?.code, 'BAD_INPUT');
    assert.ok(e.message.startsWith(file + ': ') && !e.message.includes('\n'), e.message);
    assert.equal(e.message, cliAnalyze(file).error);
  });

  test('a missing file is an IO error; a relative path is invalid params', async () => {
    const missing = path.join(dir, 'nope.safetensors');
    const e = await rejection(h.conn.sendRequest(AnalyzeRequest, { path: missing }));
    assert.equal(e.data?.code, 'IO');
    assert.ok(e.message.includes(missing), e.message);
    const rel = await rejection(h.conn.sendRequest(AnalyzeRequest, { path: 'model.safetensors' }));
    assert.equal(rel.code, INVALID_PARAMS);
    assert.equal(rel.data?.code, 'USAGE');
  });

  test('malformed params never crash the server: each gets a typed invalid-params error', async () => {
    const bad: unknown[] = [
      null,
      {},
      { path: 42 },
      { path: ['/a'] },
      { path: '' },
      { path: 'rel/x' },
      { path: '/abs', output: 7 },
      { path: '/abs', against: 'rel' },
      { path: '/abs', lossyBits: -1 },
      { path: '/abs', lossyBits: 'x' },
    ];
    for (const method of [
      'tensorzip/analyze',
      'tensorzip/compress',
      'tensorzip/decompress',
      'tensorzip/verify',
      'tensorzip/info',
    ]) {
      for (const params of bad) {
        const p = params as { path?: unknown; output?: unknown; against?: unknown; lossyBits?: unknown } | null;
        // params that are valid for this method (an absolute path it then fails to open) are skipped
        const relevant =
          !p ||
          typeof p.path !== 'string' ||
          !p.path.startsWith('/') ||
          (method === 'tensorzip/compress' && (p.output !== undefined || p.lossyBits !== undefined)) ||
          (method === 'tensorzip/decompress' && p.output !== undefined) ||
          (method === 'tensorzip/verify' && p.against !== undefined);
        if (!relevant) continue;
        const e = await rejection(h.conn.sendRequest(method, params));
        assert.equal(e.code, INVALID_PARAMS, `${method} ${JSON.stringify(params)}: ${e.message}`);
        assert.equal(e.data?.code, 'USAGE');
      }
    }
    assert.deepEqual((await h.conn.sendRequest(JobsRequest)).jobs, []);
  });

  test('$/cancelRequest stops a running analysis and answers RequestCancelled', async (t) => {
    const file = writeSyntheticSafetensors(path.join(dir, 'cancel.safetensors'), 96 << 20, 8);
    const progress = h.watchProgress('wd-cancel');
    const cts = new CancellationTokenSource();
    const pending = rejection(
      h.conn.sendRequest(AnalyzeRequest, { path: file, workDoneToken: 'wd-cancel' }, cts.token),
    );
    await until(progress, isRunningWithBytes, 'running progress');
    const t0 = performance.now();
    cts.cancel();
    const e = await pending;
    assert.equal(e.code, REQUEST_CANCELLED, e.message);
    t.diagnostic(`cancel answered after ${(performance.now() - t0).toFixed(1)} ms`);
    assert.equal(e.code, REQUEST_CANCELLED);
    assert.equal(e.data?.code, 'CANCELLED');
    assert.equal(progress.at(-1)!.kind, 'end');
    assert.deepEqual((await h.conn.sendRequest(JobsRequest)).jobs, []);
  });

  test('window/workDoneProgress/cancel stops the job holding that token', async () => {
    const file = path.join(dir, 'cancel2.safetensors');
    writeSyntheticSafetensors(file, 96 << 20, 8);
    const progress = h.watchProgress('wd-cancel2');
    const pending = rejection(h.conn.sendRequest(AnalyzeRequest, { path: file, workDoneToken: 'wd-cancel2' }));
    await until(progress, isRunningWithBytes, 'running progress');
    await h.conn.sendNotification('window/workDoneProgress/cancel', { token: 'wd-cancel2' });
    const e = await pending;
    assert.equal(e.code, REQUEST_CANCELLED);
  });

  test('no temp files are left in the folder of an analyzed file', () => {
    const left = readdirSync(dir).filter((n) => !n.endsWith('.safetensors'));
    assert.deepEqual(left, []);
  });

  test('event-loop stats are exposed for the bench', async () => {
    const s = await h.conn.sendRequest(EventLoopStatsRequest, { reset: true });
    assert.ok(s.count > 0 && s.maxMs >= s.p50Ms && s.resolutionMs > 0);
    assert.ok(s.utilization >= 0 && s.utilization <= 1 && s.activeMs >= 0);
  });
});

describe('server: queue', { skip: NO_BUILD }, () => {
  let h: Harness;
  let dir: string;
  let file: string;
  before(async () => {
    h = await startServer({ settings: { maxConcurrentJobs: 2 } });
    dir = tempDir();
    file = writeSyntheticSafetensors(path.join(dir, 'queue.safetensors'), 48 << 20, 6);
  });
  after(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('4 concurrent jobs with a limit of 2: two run, two queue, all finish with the same result', async () => {
    const progress = [0, 1, 2, 3].map((i) => h.watchProgress(`wd-q${i}`));
    const results = [0, 1, 2, 3].map((i) =>
      h.conn.sendRequest(AnalyzeRequest, { path: file, workDoneToken: `wd-q${i}` }),
    );
    const listed = await h.conn.sendRequest(JobsRequest);
    assert.equal(listed.maxConcurrentJobs, 2);
    assert.deepEqual(
      listed.jobs.map((j) => j.state),
      ['running', 'running', 'queued', 'queued'],
    );
    assert.ok(listed.jobs.every((j) => j.kind === 'analyze' && j.path === file));
    const all = await Promise.all(results);
    for (const r of all.slice(1)) assert.deepEqual(r, all[0]);
    // queued jobs said so first, then ran
    for (const i of [2, 3]) {
      const p = progress[i];
      assert.ok(p[0].kind === 'begin' && p[0].state === 'queued', `job ${i} began queued`);
      assert.ok(p.some((v) => v.kind === 'report' && v.state === 'running'));
      assertProgressInOrder(p);
    }
    assert.deepEqual((await h.conn.sendRequest(JobsRequest)).jobs, []);
    // tensorzip/jobsChanged followed along: all four listed at some point, then none
    assert.ok(h.jobsChanged.some((r) => r.jobs.length === 4));
    await until(h.jobsChanged, (r) => r === h.jobsChanged.at(-1) && r.jobs.length === 0, 'empty jobsChanged');
  });

  test(
    'a queued job can be cancelled (by request cancel or tensorzip/cancelJob) without touching the ' + 'others',
    async () => {
      const cts = new CancellationTokenSource();
      const a = h.conn.sendRequest(AnalyzeRequest, { path: file });
      const b = h.conn.sendRequest(AnalyzeRequest, { path: file });
      const c = rejection(h.conn.sendRequest(AnalyzeRequest, { path: file }, cts.token));
      const d = rejection(h.conn.sendRequest(AnalyzeRequest, { path: file }));
      const jobs = (await h.conn.sendRequest(JobsRequest)).jobs;
      assert.equal(jobs[2].state, 'queued');
      cts.cancel();
      assert.equal(await h.conn.sendRequest(CancelJobRequest, { id: jobs[3].id }), true);
      assert.equal((await c).code, REQUEST_CANCELLED);
      assert.equal((await d).code, REQUEST_CANCELLED);
      const [ra, rb] = await Promise.all([a, b]);
      assert.deepEqual(ra, rb);
      assert.equal(await h.conn.sendRequest(CancelJobRequest, { id: 999999 }), false);
    },
  );

  test('workspace/didChangeConfiguration changes the limit of a running server', async () => {
    await h.conn.sendNotification('workspace/didChangeConfiguration', {
      settings: { tensorzip: { server: { maxConcurrentJobs: 1 } } },
    });
    const a = h.conn.sendRequest(AnalyzeRequest, { path: file });
    const b = h.conn.sendRequest(AnalyzeRequest, { path: file });
    const listed = await h.conn.sendRequest(JobsRequest);
    assert.equal(listed.maxConcurrentJobs, 1);
    assert.deepEqual(
      listed.jobs.map((j) => j.state),
      ['running', 'queued'],
    );
    await Promise.all([a, b]);
    await h.conn.sendNotification('workspace/didChangeConfiguration', {
      settings: { tensorzip: { server: { maxConcurrentJobs: 2 } } },
    });
    assert.equal((await h.conn.sendRequest(JobsRequest)).maxConcurrentJobs, 2);
  });
});

describe('server: misbehaving job workers', { skip: NO_BUILD }, () => {
  test(
    'a job worker that ignores cancel is terminated after the grace period; the request answers ' + 'RequestCancelled',
    async (t) => {
      const h = await startServer({ env: { TZ_SERVER_TEST_HANG: 'hang-me' } });
      const dir = tempDir();
      try {
        const file = writeSyntheticSafetensors(path.join(dir, 'hang-me.safetensors'), 1 << 20, 2);
        const progress = h.watchProgress('wd-hang');
        const cts = new CancellationTokenSource();
        const pending = rejection(
          h.conn.sendRequest(AnalyzeRequest, { path: file, workDoneToken: 'wd-hang' }, cts.token),
        );
        await until(progress, isRunningWithBytes, 'running progress');
        const t0 = performance.now();
        cts.cancel();
        const e = await pending;
        t.diagnostic(`cancel of a hung worker answered after ${(performance.now() - t0).toFixed(1)} ms`);
        assert.equal(e.code, REQUEST_CANCELLED);
        assert.deepEqual((await h.conn.sendRequest(JobsRequest)).jobs, []);
        assert.ok(h.proc.exitCode === null, 'server still running');
      } finally {
        await h.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test('a crashing job worker fails only that job; the server keeps serving', async () => {
    const h = await startServer({ env: { TZ_SERVER_TEST_CRASH: 'crash-me' } });
    const dir = tempDir();
    try {
      const bad = writeSyntheticSafetensors(path.join(dir, 'crash-me.safetensors'), 1 << 20, 2);
      const good = writeSyntheticSafetensors(path.join(dir, 'fine.safetensors'), 1 << 20, 2);
      const [e, ok] = await Promise.all([
        rejection(h.conn.sendRequest(AnalyzeRequest, { path: bad })),
        h.conn.sendRequest(AnalyzeRequest, { path: good }),
      ]);
      assert.equal(e.code, JOB_FAILED_ERROR);
      assert.equal(e.data?.code, 'INTERNAL');
      assert.match(e.message, /crash-me\.safetensors: job worker crashed \(simulated job worker crash\)/);
      assert.equal(ok.tensors.length, 2);
      const again = await h.conn.sendRequest(AnalyzeRequest, { path: good });
      assert.deepEqual(again, ok);
      assert.ok(h.proc.exitCode === null, 'server still running');
    } finally {
      await h.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('server: transports', { skip: NO_BUILD }, () => {
  test('--node-ipc (how vscode-languageclient TransportKind.ipc starts it) serves requests', async () => {
    const { fork } = await import('node:child_process');
    const { createMessageConnection, IPCMessageReader, IPCMessageWriter } = await import('vscode-jsonrpc/node');
    const proc = fork(path.resolve('dist/server.js'), ['--node-ipc'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    const conn = createMessageConnection(new IPCMessageReader(proc), new IPCMessageWriter(proc));
    conn.onNotification('window/logMessage', () => {});
    conn.listen();
    const exited = new Promise((r) => proc.once('exit', r));
    try {
      const init = await conn.sendRequest<{
        serverInfo: { name: string };
        capabilities: { experimental: { tensorzip: ServerFeatures } };
      }>('initialize', {
        processId: process.pid,
        rootUri: null,
        capabilities: {},
        initializationOptions: { maxConcurrentJobs: 3 },
      });
      assert.equal(init.serverInfo.name, 'tensorzip-server');
      assert.equal(init.capabilities.experimental.tensorzip.analyze, true);
      await conn.sendNotification('initialized', {});
      assert.deepEqual(await conn.sendRequest(JobsRequest), { maxConcurrentJobs: 3, jobs: [] });
      await conn.sendRequest('shutdown');
      await conn.sendNotification('exit');
      await exited;
      assert.equal(proc.exitCode, 0);
      assert.equal(out, '', 'no console noise');
    } finally {
      if (proc.exitCode === null) proc.kill();
      conn.dispose();
    }
  });
});
