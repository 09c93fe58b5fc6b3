/**
 * Safe output: refuse to overwrite unless forced, check free space first, write to
 * `<out>.tmp-<random>` in the target folder, rename on success, delete on failure or cancel.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, rename, statfs, unlink, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { TzError } from '../errors';

export interface SafeOutput {
  path: string;
  tempPath: string;
  fh: FileHandle;
  /** closes (after an fsync when `durable`) and renames into place */
  commit(durable?: boolean): Promise<void>;
  /** closes and deletes the temp file (idempotent, never throws) */
  discard(): Promise<void>;
}

export async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined; // statfs unsupported: do not block the job on it
  }
}

export async function createSafeOutput(output: string, opts: { force?: boolean; input?: string; needBytes: number }): Promise<SafeOutput> {
  const out = path.resolve(output);
  if (opts.input && path.resolve(opts.input) === out) throw new TzError('USAGE', output, 'output would overwrite the input');
  if (!opts.force && existsSync(out)) throw new TzError('EXISTS', output, 'output already exists (use --force to overwrite)');
  const dir = path.dirname(out);
  const free = await freeBytes(dir);
  if (free !== undefined && free < opts.needBytes) {
    throw new TzError('NO_SPACE', output, `not enough free disk space (${(free / 1e6).toFixed(1)} MB free, need about ${(opts.needBytes / 1e6).toFixed(1)} MB)`);
  }
  const tempPath = `${out}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tempPath, 'wx');
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
        throw new TzError('EXISTS', output, 'output appeared while the job ran; not overwritten (use --force)');
      }
      await rename(tempPath, out);
    },
    async discard() {
      if (!done) await fh.close().catch(() => undefined);
      done = true;
      await unlink(tempPath).catch(() => undefined);
    },
  };
}
