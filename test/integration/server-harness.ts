/**
 * Test harness for the bundled server: starts `node dist/server.js --stdio` as a child process and
 * speaks JSON-RPC to it with vscode-jsonrpc/node, like any editor would.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeSync } from 'node:fs';
import * as assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
  type ProgressToken,
} from 'vscode-jsonrpc/node';
import type { LangClientOptions } from '../../protocol/lang';
import {
  AnalyzePartialResultProgress,
  JobWorkDoneProgress,
  type AnalyzePartialResult,
  type JobProgress,
  type JobsResult,
  type ServerFeatures,
  type ServerSettings,
} from '../../protocol/server';

export const REQUEST_CANCELLED = -32800;
export const INVALID_PARAMS = -32602;

export const SERVER = path.resolve('dist/server.js');
export const CLI = path.resolve('dist/cli.js');
export const CORPUS = path.resolve(process.cwd(), '../shared/corpus');
export const HAVE_CORPUS = existsSync(CORPUS);
export const NO_BUILD = !existsSync(SERVER) && 'no dist/server.js (run `node esbuild.mjs` or `npm run build`)';

export interface Harness {
  conn: MessageConnection;
  /** `capabilities.experimental.tensorzip` of the initialize result */
  features: ServerFeatures | undefined;
  proc: ChildProcess;
  /** every tensorzip/jobsChanged notification */
  jobsChanged: JobsResult[];
  /** window/logMessage lines */
  logs: string[];
  /** anything the server wrote to stderr */
  stderr: string[];
  /** collects `$/progress` values sent on `token` */
  watchProgress(token: ProgressToken): JobProgress[];
  watchPartials(token: ProgressToken): AnalyzePartialResult[];
  stop(): Promise<void>;
}

export interface InitExtras {
  /** workspace folders (absolute paths) */
  folders?: string[];
  /** `initializationOptions.lang` */
  lang?: LangClientOptions;
  /** client capabilities merged over the default ones */
  capabilities?: Record<string, unknown>;
}

export async function startServer(
  opts: { settings?: ServerSettings; env?: NodeJS.ProcessEnv; init?: InitExtras } = {},
): Promise<Harness> {
  const proc = spawn(process.execPath, [SERVER, '--stdio'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  const stderr: string[] = [];
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
  const conn = createMessageConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
  const logs: string[] = [];
  conn.onNotification('window/logMessage', (p: { message: string }) => logs.push(p.message));
  const jobsChanged: JobsResult[] = [];
  conn.onNotification('tensorzip/jobsChanged', (r: JobsResult) => jobsChanged.push(r));
  conn.listen();
  const init = await conn.sendRequest<{ capabilities: { experimental?: { tensorzip?: ServerFeatures } } }>(
    'initialize',
    {
      processId: process.pid,
      rootUri: null,
      workspaceFolders:
        opts.init?.folders?.map((f) => ({ uri: pathToFileURL(f).href, name: path.basename(f) })) ?? null,
      capabilities: { window: { workDoneProgress: true }, ...opts.init?.capabilities },
      initializationOptions: { ...opts.settings, ...(opts.init?.lang ? { lang: opts.init.lang } : {}) },
    },
  );
  await conn.sendNotification('initialized', {});
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    conn,
    proc,
    features: init.capabilities.experimental?.tensorzip,
    jobsChanged,
    logs,
    stderr,
    watchProgress(token) {
      const values: JobProgress[] = [];
      conn.onProgress(JobWorkDoneProgress, token, (v) => values.push(v));
      return values;
    },
    watchPartials(token) {
      const values: AnalyzePartialResult[] = [];
      conn.onProgress(AnalyzePartialResultProgress, token, (v) => values.push(v));
      return values;
    },
    async stop() {
      if (proc.exitCode === null) {
        const timer = setTimeout(() => proc.kill(), 5000);
        try {
          await conn.sendRequest('shutdown');
          await conn.sendNotification('exit');
        } catch {
          proc.kill();
        }
        await exited;
        clearTimeout(timer);
      }
      conn.dispose();
    },
  };
}

/** `node dist/cli.js analyze --json <file>` → its FileAnalysis, or the one-line error it printed. */
export function cliAnalyze(file: string): { analysis?: unknown; error?: string } {
  const r = spawnSync(process.execPath, [CLI, 'analyze', '--json', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0)
    return {
      error: r.stderr
        .trim()
        .split('\n')[0]
        .replace(/^tensorzip: /, ''),
    };
  const report = JSON.parse(r.stdout) as { files: unknown[] };
  return { analysis: report.files[0] };
}

export interface RpcError {
  code: number;
  message: string;
  data?: { code: string; file?: string };
}

/** Awaits a request expected to fail and returns its JSON-RPC error. */
export async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    return e as RpcError;
  }
  throw new Error('request succeeded, expected an error');
}

/** BF16 bytes of the largest BF16 tensor of a corpus file, or synthetic normal-ish BF16 values. */
export function realBf16Sample(): Uint8Array {
  const file = path.join(CORPUS, 'human_faceres.bf16.safetensors');
  if (existsSync(file)) {
    const buf = readFileSync(file);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<
      string,
      { dtype?: string; data_offsets?: [number, number] }
    >;
    let best: [number, number] | undefined;
    for (const [k, v] of Object.entries(header)) {
      if (k === '__metadata__' || v.dtype !== 'BF16' || !v.data_offsets) continue;
      if (!best || v.data_offsets[1] - v.data_offsets[0] > best[1] - best[0]) best = v.data_offsets;
    }
    if (best) return new Uint8Array(buf.subarray(8 + n + best[0], 8 + n + best[1]));
  }
  // fallback: N(0, 0.05) via Box-Muller from a fixed LCG, truncated to BF16
  const count = 1 << 20;
  const out = new Uint8Array(count * 2);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) + 1) / 4294967297;
  for (let i = 0; i < count; i++) {
    f[0] = 0.05 * Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
    out[2 * i] = (u[0] >>> 16) & 0xff;
    out[2 * i + 1] = u[0] >>> 24;
  }
  return out;
}

/**
 * Writes a safetensors file of about `totalBytes` made of `tensors` BF16 tensors, each filled by
 * repeating a real BF16 tensor's bytes. Returns the file path.
 */
export function writeSyntheticSafetensors(file: string, totalBytes: number, tensors = 8): string {
  const sample = realBf16Sample();
  const per = Math.max(2, Math.floor(totalBytes / tensors / 2) * 2);
  const header: Record<string, unknown> = {};
  for (let i = 0; i < tensors; i++)
    header[`layers.${i}.weight`] = { dtype: 'BF16', shape: [per / 2], data_offsets: [i * per, (i + 1) * per] };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = openSync(file, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len);
    writeSync(fd, json);
    const block = Buffer.alloc(4 << 20);
    for (let o = 0; o < block.length; o += sample.length)
      Buffer.from(sample.buffer, sample.byteOffset, Math.min(sample.length, block.length - o)).copy(block, o);
    for (let left = per * tensors; left > 0; left -= block.length)
      writeSync(fd, block, 0, Math.min(block.length, left));
  } finally {
    closeSync(fd);
  }
  return file;
}

/** A fresh temp folder for one test. */
export function tempDir(prefix = 'tz-server-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Resolves once `values` holds an entry matching `pred` (polls; the server is a child process). */
export async function until<T>(values: T[], pred: (v: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 4000; i++) {
    const hit = values.find(pred);
    if (hit !== undefined) return hit;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export const isRunningWithBytes = (v: JobProgress) =>
  v.kind === 'report' && v.state === 'running' && (v.bytesDone ?? 0) > 0;

/** begin, reports with non-decreasing percentage and bytes, end. */
export function assertProgressInOrder(values: JobProgress[]): void {
  assert.ok(values.length >= 2, 'at least begin and end');
  assert.equal(values[0].kind, 'begin');
  assert.equal(values.at(-1)!.kind, 'end');
  let pct = 0;
  let bytes = 0;
  for (const v of values.slice(1, -1)) {
    assert.equal(v.kind, 'report');
    if (v.kind !== 'report') continue;
    assert.ok(v.percentage! >= pct && v.percentage! <= 100, `percentage ${v.percentage} after ${pct}`);
    assert.ok(v.bytesDone >= bytes, 'bytesDone non-decreasing');
    pct = v.percentage!;
    bytes = v.bytesDone;
  }
}
