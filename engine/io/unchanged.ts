/**
 * Detects an input that changes while an operation reads it (issue 12: never a false success).
 *
 * `InputGuard.start` takes an fstat of the open handle (device, inode, size, mtime and ctime in
 * nanoseconds) before anything is read; `check()` compares a new fstat of the same handle with it and
 * `final(sha256)` also checks that the path still names that file (not replaced by a rename).
 *
 * Metadata alone cannot be trusted for a file modified just before it was opened: file systems stamp
 * times from a coarse clock (a kernel tick on Linux, 2 s on FAT), so a write in the same tick as the
 * last one leaves mtime and ctime as they were. Such a *racy* file (a time stamp less than
 * `RACY_MS` before the open, or in the future) is instead read again at the end and its SHA-256
 * compared with the hash of the bytes the operation read: a second read only for files written in
 * the last seconds, which are almost always still in the page cache. Its size is checked all the same.
 *
 * Not covered (documented in docs/architecture.md): writes through a shared memory mapping of a page
 * that is already dirty, and network file systems whose cached attributes lag behind the server.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { TzError } from '../core/errors';
import type { InputFile } from './read';

/** a time stamp this close to the open (or later) cannot prove that the content is unchanged */
export const RACY_MS = 3000;
const REHASH_BYTES = 4 << 20;

interface Snapshot {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

function snapshot(st: BigIntStats): Snapshot {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

export class InputGuard {
  private constructor(
    private readonly inp: InputFile,
    private readonly before: Snapshot,
    /** its time stamps are too recent to prove anything: the content is hashed again at the end */
    readonly racy: boolean,
    private readonly verb: string,
  ) {}

  /** `verb`: what the operation is doing, for the message ("compressed"). */
  static async start(inp: InputFile, verb: string): Promise<InputGuard> {
    const before = snapshot(await inp.fh.stat({ bigint: true }));
    const newest = before.mtimeNs > before.ctimeNs ? before.mtimeNs : before.ctimeNs;
    const racy = newest > BigInt(Date.now() - RACY_MS) * 1_000_000n;
    return new InputGuard(inp, before, racy, verb);
  }

  error(): TzError {
    return new TzError('CHANGED', this.inp.path, `changed while being ${this.verb}; nothing written`);
  }

  /** Whether the open file differs from the snapshot (size; time stamps unless racy). One fstat. */
  async changed(): Promise<boolean> {
    const now = snapshot(await this.inp.fh.stat({ bigint: true }));
    if (now.size !== this.before.size) return true;
    if (this.racy) return false;
    return now.mtimeNs !== this.before.mtimeNs || now.ctimeNs !== this.before.ctimeNs;
  }

  /** Throws CHANGED if `changed()`. */
  async check(): Promise<void> {
    if (await this.changed()) throw this.error();
  }

  /**
   * The last check before the output is committed: the handle as in `check()`, the path still names
   * the same file, and for a racy file the content hashes to `sha256` (hex) of what was read.
   */
  async final(sha256: string): Promise<void> {
    await this.check();
    const atPath = await stat(this.inp.path, { bigint: true }).catch(() => undefined);
    if (!atPath || atPath.dev !== this.before.dev || atPath.ino !== this.before.ino) throw this.error();
    if (!this.racy) return;
    const h = createHash('sha256');
    const size = Number(this.before.size);
    const buf = new Uint8Array(Math.min(REHASH_BYTES, Math.max(1, size)));
    for (let at = 0; at < size;) {
      const { bytesRead } = await this.inp.fh.read(buf, 0, Math.min(buf.length, size - at), at);
      if (bytesRead === 0) throw this.error();
      h.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    if (h.digest('hex') !== sha256) throw this.error();
    await this.check();
  }
}
