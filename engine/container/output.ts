/**
 * Safe output: refuse to overwrite unless forced, check free space first, write to a temp file in
 * the target folder (`tempPathFor`), rename on success, delete on failure or cancel.
 *
 * Temp names are `<out>.tmp-<host>-<pid>-<random>` (`host`: 8 hex digits of the host name's SHA-256),
 * so a temp file left by a killed run can be told apart from an output and from a live job's temp:
 * `findTempFiles` lists them, `removeStaleTemps` deletes the stale ones (what `tensorzip clean`,
 * batch jobs and every new output of the same name call).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, unlinkSync } from 'node:fs';
import { open, readdir, rename, stat, statfs, unlink, type FileHandle } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { TzError } from '../core/errors';

const HOST = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
/** `<out>.tmp-<host>-<pid>-<random>`, or `<out>.tmp-<pid>-<random>` as written before the host part (taken as this
 * host's) */
const TEMP_RE = /^(.+)\.tmp-(?:([0-9a-f]{8})-)?(\d+)-([0-9a-f]{8})$/;
/** A temp file of another host (shared file system) counts as stale once untouched this long: a live
 *  job writes its temp file continuously, and its pid cannot be checked from here. */
export const OTHER_HOST_STALE_MS = 15 * 60_000;

/** The temp file a job of this process writes for `out` (absolute or relative, as given). */
export function tempPathFor(out: string, pid = process.pid): string {
  return `${out}.tmp-${HOST}-${pid}-${randomBytes(4).toString('hex')}`;
}

/** Prefix of every temp file process `pid` of this host writes for `out`. */
export function tempPrefixFor(out: string, pid = process.pid): string {
  return `${out}.tmp-${HOST}-${pid}-`;
}

export interface TempFile {
  path: string;
  /** the output it was going to become */
  output: string;
  pid: number;
  /** written on this machine (so `pid` can be checked) */
  thisHost: boolean;
  bytes: number;
  mtimeMs: number;
  /** its writer is gone: on this host its pid no longer runs; elsewhere it has not changed for OTHER_HOST_STALE_MS */
  stale: boolean;
}

function processRuns(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** TensorZip temp files in `dir` (only those of `output` when given: a path in `dir`). */
export async function findTempFiles(dir: string, opts: { output?: string; now?: number } = {}): Promise<TempFile[]> {
  const only = opts.output !== undefined ? path.basename(opts.output) : undefined;
  const now = opts.now ?? Date.now();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return []; // folder gone or unreadable: nothing of ours to find
  }
  const found: TempFile[] = [];
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m || (only !== undefined && m[1] !== only)) continue;
    const p = path.join(dir, name);
    const st = await stat(p).catch(() => undefined);
    if (!st?.isFile()) continue;
    const pid = Number(m[3]);
    const thisHost = m[2] === undefined || m[2] === HOST;
    const stale = thisHost ? !processRuns(pid) : now - st.mtimeMs > OTHER_HOST_STALE_MS;
    found.push({ path: p, output: path.join(dir, m[1]!), pid, thisHost, bytes: st.size, mtimeMs: st.mtimeMs, stale });
  }
  return found;
}

/** Deletes the stale temp files of `dir` (of `output` only, when given); returns what it removed. */
export async function removeStaleTemps(dir: string, opts: { output?: string } = {}): Promise<TempFile[]> {
  const removed: TempFile[] = [];
  for (const t of await findTempFiles(dir, opts)) {
    if (!t.stale) continue;
    try {
      await unlink(t.path);
      removed.push(t);
    } catch {
      // already gone (another cleaner) or not ours to delete: leave it
    }
  }
  return removed;
}

/** Deletes the temp files process `pid` of this host left for `output` (a terminated job worker's). */
export async function removeTempsOf(output: string, pid = process.pid): Promise<string[]> {
  const prefix = path.basename(tempPrefixFor(output, pid));
  const removed: string[] = [];
  for (const t of await findTempFiles(path.dirname(output), { output })) {
    if (!path.basename(t.path).startsWith(prefix)) continue;
    if (
      await unlink(t.path).then(
        () => true,
        () => false,
      )
    )
      removed.push(t.path);
  }
  return removed;
}

export interface SafeOutput {
  path: string;
  tempPath: string;
  fh: FileHandle;
  /** closes (after an fsync when `durable`) and renames into place */
  commit(durable?: boolean): Promise<void>;
  /** closes and deletes the temp file (idempotent, never throws) */
  discard(): Promise<void>;
}

/** Temp files of this process not yet committed or discarded. */
const liveTemps = new Set<string>();

/**
 * Removes every temp output still open in this process, synchronously: for the edges (CLI, job
 * worker) when an operation ended without settling, where no `discard()` will ever run.
 */
export function removeLiveTempsSync(): string[] {
  const removed = [...liveTemps];
  for (const t of removed) {
    try {
      unlinkSync(t);
    } catch {
      /* already gone */
    }
  }
  liveTemps.clear();
  return removed;
}

export async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined; // statfs unsupported: do not block the job on it
  }
}

/**
 * The handle, with its OS errors naming `output`: a disk that fills up is the output's problem, not
 * the input's that the job is reading (the engine's error wrapper names an error's own path first).
 */
function namingWriteErrors(fh: FileHandle, output: string): FileHandle {
  const methods = ['write', 'writev', 'sync', 'datasync', 'truncate', 'close'] as const;
  const wrapped = fh as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const m of methods) {
    const original = wrapped[m]!.bind(fh);
    wrapped[m] = (...args: unknown[]) =>
      original(...args).catch((e: NodeJS.ErrnoException) => {
        if (e && typeof e === 'object' && typeof e.code === 'string' && !e.path) e.path = output;
        throw e;
      });
  }
  return fh;
}

export async function createSafeOutput(
  output: string,
  opts: { force?: boolean; input?: string; needBytes: number },
): Promise<SafeOutput> {
  const out = path.resolve(output);
  if (opts.input && path.resolve(opts.input) === out)
    throw new TzError('USAGE', output, 'output would overwrite the input');
  if (!opts.force && existsSync(out))
    throw new TzError('EXISTS', output, 'output already exists (use --force to overwrite)');
  const dir = path.dirname(out);
  // a run of the same output killed earlier left its temp file: it is never taken for the output,
  // and its space counts as free
  await removeStaleTemps(dir, { output: out });
  const free = await freeBytes(dir);
  if (free !== undefined && free < opts.needBytes) {
    throw new TzError(
      'NO_SPACE',
      output,
      `not enough free disk space (${(free / 1e6).toFixed(1)} MB free, need about ` +
        `${(opts.needBytes / 1e6).toFixed(1)} MB)`,
    );
  }
  const tempPath = tempPathFor(out);
  const fh = namingWriteErrors(await open(tempPath, 'wx'), output);
  liveTemps.add(tempPath);
  // Test hook of the edge guards (test/integration/edge-guard.test.ts): the job stalls for good with
  // its temp file open, as a lost reply deep in a pipeline would.
  if (process.env.TZ_TEST_STALL_AFTER_TEMP) await new Promise<never>(() => undefined);
  let done = false;
  return {
    path: out,
    tempPath,
    fh,
    async commit(durable = false) {
      if (durable) await fh.sync();
      await fh.close();
      done = true;
      if (!opts.force && existsSync(out)) {
        await unlink(tempPath).catch(() => undefined);
        liveTemps.delete(tempPath);
        throw new TzError('EXISTS', output, 'output appeared while the job ran; not overwritten (use --force)');
      }
      await rename(tempPath, out);
      liveTemps.delete(tempPath);
    },
    async discard() {
      if (!done) await fh.close().catch(() => undefined);
      done = true;
      await unlink(tempPath).catch(() => undefined);
      liveTemps.delete(tempPath);
    },
  };
}
