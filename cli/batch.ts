/**
 * `tensorzip batch`: one shard of a manifest (or a folder walk) on a scheduler's array task
 * (Slurm job arrays, Kubernetes Indexed Jobs). Idempotent: an item whose output exists and
 * verifies is skipped; stale temp files of killed runs are removed; one fsync'd JSON line per item in
 * a report per task. Exit 0 all done and checked, 1 permanent failure, 75 retryable (docs/scale.md).
 *
 * The command runs as a small supervisor and one worker process doing the items: a worker killed
 * by a signal (the OOM killer, kill -9, a V8 heap abort) still ends the task with 75.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { compressFile, decompressFile, defaultCodingThreads, infoFile, verifyFile } from '../engine/api';
import { checkLossyOptions } from '../engine/lossy/plan';
import { removeStaleTemps } from '../engine/container/output';
import { describeError, TzError } from '../engine/core/errors';
import { BATCH_MODEL_EXTENSIONS, isModelPath, isTzipPath } from '../shared/modelFiles';
import { threadsOpt, type Command } from './options';

export const EXIT_OK = 0;
export const EXIT_PERMANENT = 1;
/** EX_TEMPFAIL (sysexits.h): what a scheduler should retry */
export const EXIT_RETRY = 75;

const WORKER_ENV = 'TENSORZIP_BATCH_WORKER';
/** below this, an item runs on one thread: booting worker threads costs more than they save */
const SMALL_ITEM_BYTES = 16 << 20;

type Op = 'compress' | 'decompress' | 'verify';
const OPS: Op[] = ['compress', 'decompress', 'verify'];

export interface BatchItem {
  index: number;
  op: Op;
  input: string;
  /** known before the run (manifest, --output-dir or `<input>.tzip`); decompress without one reads the container's name
   * */
  output?: string;
  threads?: number;
  lossyBits?: number;
  lossyInclude?: string[];
  lossyExclude?: string[];
}

export interface ReportLine {
  item: number;
  op: Op;
  input: string;
  output?: string;
  status: 'ok' | 'skipped' | 'failed' | 'missing';
  /** how a skipped item was checked: decoded ('verify', 'sha256') or trusted from the report ('report') */
  checked?: 'verify' | 'sha256' | 'report';
  inputBytes?: number;
  bytes?: number;
  ratio?: number;
  seconds?: number;
  /** CPU time of the item, all threads (wall time on a busy machine says little) */
  cpuSeconds?: number;
  sha256?: string;
  error?: string;
  retryable?: boolean;
  /** size and mtime of what the item produced (verify: its input), for --resume */
  size?: number;
  mtimeMs?: number;
  shard: string;
  host: string;
  pid: number;
  rssKb: number;
  t: number;
}

export const BATCH_HELP = `usage: tensorzip batch <manifest|dir> --op compress|decompress|verify [options]

Runs one shard of a list of files, as a Slurm array task or a Kubernetes Indexed Job pod.
  <manifest>   one path per line (# comments), or JSON lines with per-item options:
               {"input": "a.safetensors", "output": "out/a.tzip", "op": "compress",
                "threads": 2, "lossyBits": 3, "lossyInclude": [...], "lossyExclude": [...]}
               relative paths are resolved against the manifest's folder
  <dir>        walked recursively (sorted): ${BATCH_MODEL_EXTENSIONS.join(' ')} to compress, .tzip otherwise
options:
  --op OP            compress, decompress or verify (a manifest line's "op" overrides it)
  --output-dir D     outputs under D, at the input's path relative to the dir (or the manifest's folder;
                     absolute paths outside it are repeated under D); default: next to the input
  --shard i/n        items i, i+n, i+2n, ... (0 <= i < n); default SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT,
                     or JOB_COMPLETION_INDEX with --shard-count
  --shard-count n    the number of shards, with SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX as the index
  --report R         append one JSON line per item to R (R.<i>of<n> when sharded), fsync'd
  --resume           trust the report: skip items it lists as done whose output has the same size and
                     mtime, without decoding them again (default: decode and check every existing output)
  --force            replace an existing output that does not verify (default: fail the item)
  --threads n        coding threads per item (default SLURM_CPUS_PER_TASK less one, else the cores less one:
                     the whole-file hash runs beside them)
  --merge            do no work: print one merged JSON line per item from R and R.* (missing ones too)
  --base-chain DIR   refused: a chain is one ordered job; use tensorzip compress --base-chain DIR
Idempotent: an item whose output exists and verifies is skipped ("skipped"); a compressed output is
decoded and checked before the item counts as done. Temp files <out>.tmp-<host>-<pid>-<hex> of killed runs
are removed: this host's when their process is gone, another host's when untouched for 15 minutes.
Exit codes: 0 every item done or skipped, all checked; 1 a permanent failure (bad input, corrupt file,
usage); 75 retryable (I/O error such as EIO/ENOSPC/EAGAIN, out of memory, killed, cancelled by
SIGTERM, an input still being written): retrying the same command redoes only what is missing. 2: wrong arguments.`;

function usage(msg: string): TzError {
  return new TzError('USAGE', undefined, msg);
}

function intIn(name: string, x: string, lo: number, hi: number): number {
  const n = Number(x);
  if (!/^\d+$/.test(x.trim()) || !Number.isSafeInteger(n) || n < lo || n > hi)
    throw usage(`${name} must be an integer from ${lo} to ${hi}, got "${x}"`);
  return n;
}

/** The shard this task runs: --shard, else the scheduler's environment, else all items. */
export function shardOf(
  v: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): { index: number; count: number; sharded: boolean } {
  const countOpt = typeof v['shard-count'] === 'string' ? intIn('--shard-count', v['shard-count'], 1, 1e9) : undefined;
  if (typeof v.shard === 'string') {
    if (countOpt !== undefined) throw usage('give either --shard i/n or --shard-count n');
    const m = /^(\d+)\/(\d+)$/.exec(v.shard.trim());
    if (!m) throw usage(`--shard must be i/n (e.g. 0/4), got "${v.shard}"`);
    const count = intIn('--shard n', m[2]!, 1, 1e9);
    return { index: intIn('--shard i', m[1]!, 0, count - 1), count, sharded: true };
  }
  const slurmId = env.SLURM_ARRAY_TASK_ID;
  if (slurmId !== undefined && slurmId !== '') {
    if (countOpt !== undefined)
      return { index: intIn('SLURM_ARRAY_TASK_ID', slurmId, 0, countOpt - 1), count: countOpt, sharded: true };
    // --array=a-b[:s]: the task's position in the array (tasks need not start at 0)
    const count = intIn('SLURM_ARRAY_TASK_COUNT', env.SLURM_ARRAY_TASK_COUNT ?? '', 1, 1e9);
    const min = env.SLURM_ARRAY_TASK_MIN ? Number(env.SLURM_ARRAY_TASK_MIN) : 0;
    const step = env.SLURM_ARRAY_TASK_STEP ? Number(env.SLURM_ARRAY_TASK_STEP) : 1;
    const index = (Number(slurmId) - min) / step;
    if (!Number.isInteger(index) || index < 0 || index >= count)
      throw usage(
        `SLURM_ARRAY_TASK_ID ${slurmId} is not a position in an array of ${count} (use ` +
          `--array=0-` +
          `${count - 1} or give ` +
          `--shard-count)`,
      );
    return { index, count, sharded: true };
  }
  const k8s = env.JOB_COMPLETION_INDEX;
  if (k8s !== undefined && k8s !== '') {
    if (countOpt === undefined)
      throw usage("JOB_COMPLETION_INDEX is set: give --shard-count n (the Job's completions)");
    return { index: intIn('JOB_COMPLETION_INDEX', k8s, 0, countOpt - 1), count: countOpt, sharded: true };
  }
  if (countOpt !== undefined)
    throw usage(
      '--shard-count needs SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX in the environment (or use --shard i/n)',
    );
  return { index: 0, count: 1, sharded: false };
}

export function inShard<T>(items: T[], s: { index: number; count: number }): T[] {
  return items.filter((_, k) => k % s.count === s.index);
}

/** Where `input` goes under `outDir`: its path relative to `root`, or its whole absolute path when outside it. */
function underDir(outDir: string, root: string, input: string, rename: (b: string) => string): string {
  let rel = path.relative(root, input);
  if (rel.startsWith('..') || path.isAbsolute(rel)) rel = input.replace(/^[/\\]+/, '').replace(/^[A-Za-z]:[/\\]*/, '');
  return path.join(outDir, path.dirname(rel), rename(path.basename(rel)));
}

function defaultOutput(op: Op, input: string, root: string, outDir: string | undefined): string | undefined {
  if (op === 'verify') return undefined;
  const rename = op === 'compress' ? (b: string) => `${b}.tzip` : (b: string) => b.replace(/\.tzip$/i, '');
  if (outDir) return underDir(outDir, root, input, rename);
  return op === 'compress' ? `${input}.tzip` : undefined;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile() || (e.isSymbolicLink() && (await stat(p).catch(() => undefined))?.isFile())) out.push(p);
  }
  return out;
}

const ITEM_KEYS = new Set(['input', 'output', 'op', 'threads', 'lossyBits', 'lossyInclude', 'lossyExclude']);

/** Every item of the manifest or folder, in order (the same list in every task). Bad manifest: BAD_INPUT naming the
 * line. */
export async function loadItems(source: string, op: Op, outDir: string | undefined): Promise<BatchItem[]> {
  const src = path.resolve(source);
  const st = await stat(src);
  const items: BatchItem[] = [];
  if (st.isDirectory()) {
    const want = (f: string) => (op === 'compress' ? isModelPath(f, BATCH_MODEL_EXTENSIONS) : isTzipPath(f));
    for (const f of (await walk(src)).filter(want)) {
      const output = defaultOutput(op, f, src, outDir);
      items.push({ index: items.length, op, input: f, ...(output ? { output } : {}) });
    }
    return items;
  }
  const root = path.dirname(src);
  const lines = (await readFile(src, 'utf8')).split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (!line || line.startsWith('#')) continue;
    const where = `${source}:${n + 1}`;
    const bad = (problem: string) => new TzError('BAD_INPUT', where, problem);
    let item: BatchItem;
    if (line.startsWith('{')) {
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(line);
      } catch (e) {
        throw bad(`not valid JSON (${(e as Error).message})`);
      }
      for (const k of Object.keys(j))
        if (!ITEM_KEYS.has(k)) throw bad(`unknown key "${k}" (known: ${[...ITEM_KEYS].join(', ')})`);
      if (typeof j.input !== 'string' || !j.input) throw bad('"input" must be a path');
      const itemOp = j.op === undefined ? op : (j.op as Op);
      if (!OPS.includes(itemOp)) throw bad(`"op" must be one of ${OPS.join(', ')}`);
      const input = path.resolve(root, j.input);
      if (j.output !== undefined && (typeof j.output !== 'string' || !j.output)) throw bad('"output" must be a path');
      if (j.output !== undefined && itemOp === 'verify') throw bad('verify writes no output');
      const output =
        typeof j.output === 'string' ? path.resolve(root, j.output) : defaultOutput(itemOp, input, root, outDir);
      item = { index: items.length, op: itemOp, input, ...(output ? { output } : {}) };
      if (j.threads !== undefined) {
        if (!Number.isInteger(j.threads) || (j.threads as number) < 1 || (j.threads as number) > 256)
          throw bad('"threads" must be an integer from 1 to 256');
        item.threads = j.threads as number;
      }
      if (j.lossyBits !== undefined) {
        if (itemOp !== 'compress') throw bad('"lossyBits" goes with compress');
        if (!Number.isInteger(j.lossyBits)) throw bad('"lossyBits" must be an integer');
        item.lossyBits = j.lossyBits as number;
      }
      for (const k of ['lossyInclude', 'lossyExclude'] as const) {
        if (j[k] === undefined) continue;
        if (!Array.isArray(j[k]) || !(j[k] as unknown[]).every((g) => typeof g === 'string'))
          throw bad(`"${k}" must be a list of globs`);
        item[k] = j[k] as string[];
      }
      try {
        checkLossyOptions(where, item);
      } catch (e) {
        throw bad((e as Error).message.replace(`${where}: `, ''));
      }
    } else {
      const input = path.resolve(root, line);
      const output = defaultOutput(op, input, root, outDir);
      item = { index: items.length, op, input, ...(output ? { output } : {}) };
    }
    items.push(item);
  }
  const writers = new Map<string, number>();
  const inputs = new Set(items.map((i) => i.input));
  for (const it of items) {
    if (!it.output) continue;
    const prev = writers.get(it.output);
    if (prev !== undefined)
      throw new TzError('BAD_INPUT', source, `items ${prev + 1} and ${it.index + 1} both write ${it.output}`);
    if (inputs.has(it.output))
      throw new TzError('BAD_INPUT', source, `item ${it.index + 1} would write ${it.output}, which is an input`);
    writers.set(it.output, it.index);
  }
  return items;
}

/** The report file of shard i of n: R itself when unsharded, else R.<i>of<n>. */
export function reportPathFor(report: string, s: { index: number; count: number; sharded: boolean }): string {
  return s.sharded ? `${report}.${s.index}of${s.count}` : report;
}

/** Every line of R and of its per-shard siblings R.<i>of<n> (unparsable lines, e.g. torn by a crash, skipped). */
export async function readReports(report: string): Promise<ReportLine[]> {
  const dir = path.dirname(path.resolve(report));
  const base = path.basename(report);
  const names = (await readdir(dir).catch(() => [] as string[])).filter(
    (n) => n === base || (n.startsWith(`${base}.`) && /^\d+of\d+$/.test(n.slice(base.length + 1))),
  );
  const lines: ReportLine[] = [];
  for (const n of names.sort()) {
    for (const l of (await readFile(path.join(dir, n), 'utf8')).split('\n')) {
      if (!l.trim()) continue;
      try {
        lines.push(JSON.parse(l) as ReportLine);
      } catch {
        /* a line torn by a crash */
      }
    }
  }
  return lines;
}

/** The latest report line of each item (matched by op, input and, when known in advance, output). */
export function latestLines(items: BatchItem[], lines: ReportLine[]): (ReportLine | undefined)[] {
  const byKey = new Map<string, ReportLine[]>();
  for (const l of lines) {
    const k = `${l.op}\n${l.input}`;
    const list = byKey.get(k);
    if (list) list.push(l);
    else byKey.set(k, [l]);
  }
  return items.map((it) => {
    let best: ReportLine | undefined;
    for (const l of byKey.get(`${it.op}\n${it.input}`) ?? []) {
      if (it.output && l.output !== it.output) continue;
      if (!best || l.t >= best.t) best = l;
    }
    return best;
  });
}

/** Appends whole lines, each fsync'd before the next item starts (one file per task: no interleaving). */
class Report {
  private fd: number;
  constructor(readonly file: string) {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.fd = openSync(file, 'a');
  }
  append(line: ReportLine): void {
    const buf = Buffer.from(JSON.stringify(line) + '\n');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    fsyncSync(this.fd);
  }
  close(): void {
    closeSync(this.fd);
  }
}

const PERMANENT_ERRNO = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EISDIR',
  'ENOTDIR',
  'EROFS',
  'ENAMETOOLONG',
  'ELOOP',
  'EINVAL',
  'EFBIG',
  'EEXIST',
]);

/** Whether a scheduler should retry an item that failed with `e`: I/O trouble, no memory, cancelled. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof TzError) {
    // CHANGED: a writer was still at work on the input; once it is done the same item succeeds
    if (e.code === 'NO_SPACE' || e.code === 'CANCELLED' || e.code === 'CHANGED') return true;
    if (e.code === 'IO') return !(e.errno && PERMANENT_ERRNO.has(e.errno));
    return false; // BAD_INPUT, UNSUPPORTED, USAGE, EXISTS, VERIFY_FAILED: the same again would fail the same way
  }
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string')
    return err.code === 'ERR_WORKER_OUT_OF_MEMORY' || (/^E[A-Z]+$/.test(err.code) && !PERMANENT_ERRNO.has(err.code));
  return e instanceof RangeError && /allocation failed|out of memory/i.test(e.message);
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const b of createReadStream(file)) h.update(b as Buffer);
  return h.digest('hex');
}

interface Ctx {
  shard: string;
  threads: number | undefined;
  force: boolean;
  signal: AbortSignal;
  /** --resume: the latest report line of each item */
  previous: Map<number, ReportLine | undefined> | undefined;
  log: (s: string) => void;
}

type Outcome = Omit<ReportLine, 'shard' | 'host' | 'pid' | 'rssKb' | 't' | 'item' | 'op' | 'input'>;

/** The item's product (output, or the input for verify) still has the size and mtime its report line recorded. */
async function reportStillHolds(prev: ReportLine | undefined, file: string): Promise<Outcome | undefined> {
  if (!prev || (prev.status !== 'ok' && prev.status !== 'skipped') || prev.size === undefined) return undefined;
  const st = await stat(file).catch(() => undefined);
  if (!st || st.size !== prev.size || st.mtimeMs !== prev.mtimeMs) return undefined;
  const {
    status: _s,
    checked: _c,
    seconds: _sec,
    cpuSeconds: _cpu,
    error: _e,
    retryable: _r,
    shard: _sh,
    host: _h,
    pid: _p,
    rssKb: _k,
    t: _t,
    item: _i,
    op: _o,
    input: _in,
    ...kept
  } = prev;
  return { ...kept, status: 'skipped', checked: 'report' };
}

const stamp = async (file: string) => {
  const st = await stat(file);
  return { size: st.size, mtimeMs: st.mtimeMs };
};

async function runItem(it: BatchItem, ctx: Ctx): Promise<Outcome> {
  const small = (await stat(it.input)).size < SMALL_ITEM_BYTES;
  const threads = it.threads ?? (small ? 1 : ctx.threads);
  const common = { signal: ctx.signal, ...(threads !== undefined ? { threads } : {}) };
  const prev = ctx.previous?.get(it.index);
  if (it.op === 'verify') {
    const trusted = await reportStillHolds(prev, it.input);
    if (trusted) return trusted;
    const r = await verifyFile(it.input, common);
    if (!r.ok) throw new TzError('VERIFY_FAILED', undefined, r.problems[0] ?? `${it.input}: does not verify`);
    const info = await infoFile(it.input);
    return {
      status: 'ok',
      inputBytes: info.bytes,
      bytes: info.original.size,
      ratio: info.bytes / Math.max(1, info.original.size),
      ...(r.sha256 ? { sha256: r.sha256 } : {}),
      ...(await stamp(it.input)),
    };
  }
  let output = it.output;
  let expected: { size: number; sha256: string } | undefined;
  if (it.op === 'decompress') {
    const info = await infoFile(it.input);
    output ??= path.join(path.dirname(it.input), info.original.name);
    expected = { size: info.original.size, sha256: info.original.sha256 };
  }
  output = path.resolve(output!);
  await mkdir(path.dirname(output), { recursive: true });
  for (const t of await removeStaleTemps(path.dirname(output), { output }))
    ctx.log(
      `removed stale temp file ${t.path} (its writer, pid ${t.pid}${t.thisHost ? '' : ' on another host'}, is gone)`,
    );
  if (existsSync(output)) {
    const trusted = await reportStillHolds(prev, output);
    if (trusted) return { ...trusted, output };
    const inputBytes = (await stat(it.input)).size;
    let problem: string | undefined;
    if (it.op === 'compress') {
      const r = await verifyFile(output, common);
      if (r.ok) {
        const bytes = (await stat(output)).size;
        return {
          output,
          status: 'skipped',
          checked: 'verify',
          inputBytes,
          bytes,
          ratio: bytes / Math.max(1, inputBytes),
          ...(r.sha256 ? { sha256: r.sha256 } : {}),
          ...(await stamp(output)),
        };
      }
      problem = r.problems[0];
    } else {
      const st = await stat(output);
      const sha = st.size === expected!.size ? await sha256File(output) : undefined;
      if (sha === expected!.sha256)
        return {
          output,
          status: 'skipped',
          checked: 'sha256',
          inputBytes,
          bytes: st.size,
          ratio: inputBytes / Math.max(1, st.size),
          sha256: sha,
          ...(await stamp(output)),
        };
      problem = sha
        ? 'its SHA-256 differs from the one stored in the .tzip'
        : `its size ${st.size} differs from the original's ${expected!.size}`;
    }
    if (!ctx.force)
      throw new TzError('EXISTS', output, `exists but does not verify (${problem}); remove it or use --force`);
  }
  if (it.op === 'compress') {
    const lossy = {
      ...(it.lossyBits !== undefined ? { lossyBits: it.lossyBits } : {}),
      ...(it.lossyInclude ? { lossyInclude: it.lossyInclude } : {}),
      ...(it.lossyExclude ? { lossyExclude: it.lossyExclude } : {}),
    };
    const r = await compressFile(it.input, { ...common, ...lossy, output, force: ctx.force, durable: true });
    // done means checked: decode what was written before reporting it
    const v = await verifyFile(r.output, common);
    if (!v.ok) {
      await unlink(r.output).catch(() => undefined);
      throw new TzError(
        'VERIFY_FAILED',
        r.output,
        `the new .tzip does not verify (${v.problems[0] ?? 'unknown'}); removed`,
      );
    }
    return {
      output: r.output,
      status: 'ok',
      inputBytes: r.originalBytes,
      bytes: r.bytes,
      ratio: r.bytes / Math.max(1, r.originalBytes),
      sha256: r.sha256,
      ...(await stamp(r.output)),
    };
  }
  const r = await decompressFile(it.input, { ...common, output, force: ctx.force, durable: true });
  const inputBytes = (await stat(it.input)).size;
  return {
    output: r.output,
    status: 'ok',
    inputBytes,
    bytes: r.bytes,
    ratio: inputBytes / Math.max(1, r.bytes),
    sha256: r.sha256,
    ...(await stamp(r.output)),
  };
}

/** Supervisor: runs the worker and turns its death by a signal (OOM killer, kill -9, heap abort) into 75. */
async function supervise(): Promise<number> {
  // glibc keeps the heap that each item's terminated worker threads freed: without a trim threshold the
  // worker's RSS grows with every item (docs/scale.md, "Memory")
  const env = { MALLOC_TRIM_THRESHOLD_: String(4 << 20), ...process.env, [WORKER_ENV]: '1' };
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env,
  });
  let forwarded: NodeJS.Signals | undefined;
  const forward = (s: NodeJS.Signals) => {
    forwarded = s;
    child.kill(s);
  };
  const sigs: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
  for (const s of sigs) process.on(s, forward);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.on('error', (e) => {
        process.stderr.write(`tensorzip batch: cannot start the worker: ${describeError(e)}\n`);
        resolve([EXIT_RETRY, null]);
      });
      child.on('exit', (c, s) => resolve([c, s]));
    });
    if (signal) {
      process.stderr.write(
        `tensorzip batch: worker ${child.pid} ended by ${signal}` +
          `${forwarded ? '' : ' (killed, or out of memory)'}; exit ${EXIT_RETRY}, retry to finish\n`,
      );
      return EXIT_RETRY;
    }
    return code ?? EXIT_RETRY;
  } finally {
    for (const s of sigs) process.off(s, forward);
  }
}

async function merge(items: BatchItem[], report: string): Promise<number> {
  const latest = latestLines(items, await readReports(report));
  const counts = { ok: 0, skipped: 0, failed: 0, missing: 0, retryable: 0 };
  for (const [k, it] of items.entries()) {
    const l = latest[k] ?? {
      item: it.index,
      op: it.op,
      input: it.input,
      ...(it.output ? { output: it.output } : {}),
      status: 'missing' as const,
    };
    counts[l.status]++;
    if (l.status === 'failed' && l.retryable) counts.retryable++;
    process.stdout.write(JSON.stringify({ ...l, item: it.index }) + '\n');
  }
  process.stderr.write(
    `tensorzip batch --merge: ${items.length} items: ${counts.ok} ok, ${counts.skipped} skipped, ` +
      `${counts.failed} ` +
      `failed (` +
      `${counts.retryable} retryable), ${counts.missing} missing\n`,
  );
  if (counts.missing || counts.retryable) return EXIT_RETRY;
  return counts.failed ? EXIT_PERMANENT : EXIT_OK;
}

export const batch: Command = {
  name: 'batch',
  usage: 'batch <manifest|dir> --op OP [--shard i/n] [--report r] [--resume]',
  summary:
    'one shard of a manifest or folder, idempotent (Slurm arrays, Kubernetes Indexed ' +
    'Jobs); ' +
    'exit 75 = ' +
    'retry; batch --help',
  options: {
    op: { type: 'string' },
    'output-dir': { type: 'string' },
    shard: { type: 'string' },
    'shard-count': { type: 'string' },
    report: { type: 'string' },
    resume: { type: 'boolean' },
    force: { type: 'boolean' },
    threads: { type: 'string' },
    merge: { type: 'boolean' },
    'base-chain': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  async run(v, positionals) {
    if (v.help) {
      process.stdout.write(BATCH_HELP + '\n');
      return EXIT_OK;
    }
    if (v['base-chain'] !== undefined)
      throw usage(
        '--base-chain is not a batch option: batch items are independent and each is checked on its own, ' +
          'while a chain ' +
          'picks each ' +
          "member's base from its neighbours; run `tensorzip compress --base-chain DIR` (one process per chain folder)",
      );
    if (positionals.length !== 1) throw usage('give one manifest file or folder');
    const op = v.op as Op;
    if (!OPS.includes(op)) throw usage(`--op must be one of ${OPS.join(', ')}`);
    const shard = shardOf(v, process.env);
    const threads =
      threadsOpt(v) ??
      (process.env.SLURM_CPUS_PER_TASK
        ? defaultCodingThreads(intIn('SLURM_CPUS_PER_TASK', process.env.SLURM_CPUS_PER_TASK, 1, 256))
        : undefined);
    if ((v.merge || v.resume) && typeof v.report !== 'string')
      throw usage(`--${v.merge ? 'merge' : 'resume'} needs --report`);
    if (!v.merge && !process.env[WORKER_ENV]) return supervise();

    const outDir = typeof v['output-dir'] === 'string' ? path.resolve(v['output-dir']) : undefined;
    const items = await loadItems(positionals[0]!, op, outDir);
    if (v.merge) return merge(items, v.report as string);
    try {
      return await runShard(items, shard, v, threads);
    } catch (e) {
      // outside any item (the report cannot be written, ...): the same classification
      if (e instanceof TzError && e.code === 'USAGE') throw e;
      process.stderr.write(`tensorzip: ${describeError(e)}\n`);
      return isRetryable(e) ? EXIT_RETRY : EXIT_PERMANENT;
    }
  },
};

async function runShard(
  items: BatchItem[],
  shard: { index: number; count: number; sharded: boolean },
  v: Record<string, string | boolean | undefined>,
  threads: number | undefined,
): Promise<number> {
  const mine = inShard(items, shard);
  const shardName = `${shard.index}/${shard.count}`;
  const runStart = Date.now();
  const ac = new AbortController();
  let stopSignal: string | undefined;
  const onSignal = (s: NodeJS.Signals) => {
    stopSignal ??= s;
    ac.abort();
  };
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, onSignal);
  const previous = v.resume
    ? new Map(latestLines(mine, await readReports(v.report as string)).map((l, k) => [mine[k]!.index, l]))
    : undefined;
  const report = typeof v.report === 'string' ? new Report(reportPathFor(v.report, shard)) : undefined;
  const log = (s: string) => process.stderr.write(`tensorzip batch: ${s}\n`);
  const ctx: Ctx = { shard: shardName, threads, force: !!v.force, signal: ac.signal, previous, log };
  const counts = { ok: 0, skipped: 0, failed: 0, retryable: 0 };
  const host = hostname();
  try {
    for (const it of mine) {
      if (ac.signal.aborted) break;
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      let outcome: Outcome;
      try {
        outcome = await runItem(it, ctx);
      } catch (e) {
        const retryable = ac.signal.aborted || isRetryable(e);
        outcome = {
          ...(it.output ? { output: it.output } : {}),
          status: 'failed',
          error: describeError(e, it.input).slice(0, 1000),
          retryable,
        };
      }
      const cpu = process.cpuUsage(cpu0);
      outcome.seconds = Number(((performance.now() - t0) / 1000).toFixed(3));
      outcome.cpuSeconds = Number(((cpu.user + cpu.system) / 1e6).toFixed(3));
      const line: ReportLine = {
        item: it.index,
        op: it.op,
        input: it.input,
        ...outcome,
        shard: shardName,
        host,
        pid: process.pid,
        rssKb: process.resourceUsage().maxRSS,
        t: Date.now(),
      };
      report?.append(line);
      counts[line.status as 'ok' | 'skipped' | 'failed']++;
      if (line.status === 'failed') {
        if (line.retryable) counts.retryable++;
        process.stderr.write(`tensorzip: ${line.error}${line.retryable ? ' (retryable)' : ''}\n`);
      } else {
        const ratio = line.ratio !== undefined ? ` ${(100 * line.ratio).toFixed(2)}%` : '';
        process.stdout.write(
          `${line.status.padEnd(7)} ${it.input}${line.output ? ` -> ${line.output}` : ''}` +
            `${ratio} ` +
            `${line.seconds}s` +
            `${line.checked ? ` (${line.checked})` : ''}\n`,
        );
      }
    }
  } finally {
    report?.close();
  }
  const done = counts.ok + counts.skipped + counts.failed;
  process.stdout.write(
    `batch shard ${shardName}: ${mine.length} of ${items.length} items: ${counts.ok} ok, ${counts.skipped} ` +
      `skipped, ${counts.failed} ` +
      `failed (${counts.retryable} retryable)` +
      `${done < mine.length ? `, ${mine.length - done} not started` : ''}, ` +
      `${((Date.now() - runStart) / 1000).toFixed(1)} s\n`,
  );
  if (stopSignal) {
    log(`stopped by ${stopSignal}; exit ${EXIT_RETRY}, retry to finish`);
    return EXIT_RETRY;
  }
  if (counts.retryable) return EXIT_RETRY;
  return counts.failed ? EXIT_PERMANENT : EXIT_OK;
}
