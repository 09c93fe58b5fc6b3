/**
 * The one error type the engine throws for anything the user can fix or should know about
 * (bad input, refused output, cancellation). Its message is always one line:
 * `<file>: <problem>`, which the CLI prints verbatim and the server forwards as a typed error.
 */
export type TzErrorCode =
  | 'BAD_INPUT' // the file is malformed, truncated, lies about sizes, or is corrupted
  | 'UNSUPPORTED' // a valid file the engine cannot handle (legacy pickle, unknown version)
  | 'IO' // the OS refused (missing file, permissions, disk full)
  | 'EXISTS' // output exists and --force was not given
  | 'NO_SPACE' // not enough free disk space for the output
  | 'CHANGED' // the input changed (size, time stamps, content or the file at its path) while it was read
  | 'CANCELLED' // the job was cancelled
  | 'VERIFY_FAILED' // a round trip or checksum did not hold
  | 'INTERNAL' // a defect: an operation ended without an answer (see cli/main.ts, server/job-worker.ts)
  | 'USAGE'; // wrong arguments

export class TzError extends Error {
  readonly code: TzErrorCode;
  readonly file: string | undefined;
  /** the OS error code (EIO, ENOSPC, ...) when this wraps one: lets a caller tell retryable from permanent */
  errno?: string;
  constructor(code: TzErrorCode, file: string | undefined, problem: string) {
    const oneLine = problem.replace(/\s*\n\s*/g, ' ');
    super(file ? `${file}: ${oneLine}` : oneLine);
    this.name = 'TzError';
    this.code = code;
    this.file = file;
  }
}

export function badInput(file: string, problem: string): TzError {
  return new TzError('BAD_INPUT', file, problem);
}

export function cancelled(file?: string): TzError {
  return new TzError('CANCELLED', file, 'cancelled');
}

export function throwIfAborted(signal: AbortSignal | undefined, file?: string): void {
  if (signal?.aborted) throw cancelled(file);
}

const OS_PROBLEMS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'is a directory, expected a file',
  ENOSPC: 'no space left on device',
  EMFILE: 'too many open files',
  EROFS: 'read-only file system',
};

/** Where (the path an OS error names, else `file`) and what went wrong, in one line. */
function errorParts(err: unknown, file?: string): { where: string | undefined; problem: string } {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && typeof e.code === 'string' && typeof e.message === 'string') {
    return { where: e.path ?? file, problem: OS_PROBLEMS[e.code] ?? e.message.split('\n')[0]! };
  }
  const msg = err instanceof Error ? err.message : String(err);
  return { where: file, problem: msg.split('\n')[0]! };
}

/** Turns anything thrown into a one-line message naming the file (for CLI and server). */
export function describeError(err: unknown, file?: string): string {
  if (err instanceof TzError) return err.message;
  const { where, problem } = errorParts(err, file);
  return where ? `${where}: ${problem}` : problem;
}

/** The one error wrapper of the engine's operations: a TzError as it is, an OS error as IO (or
 *  NO_SPACE), a crashed or exited pool worker as IO, anything else as BAD_INPUT. The error names the
 *  path the OS error is about (see SafeOutput: write errors name the output), else `file`. */
export function toTzError(err: unknown, file?: string): TzError {
  if (err instanceof TzError) return err;
  const e = err as NodeJS.ErrnoException;
  const workerDied = err instanceof Error && err.message.startsWith('worker thread');
  const code: TzErrorCode =
    e && typeof e.code === 'string' && e.code === 'ENOSPC'
      ? 'NO_SPACE'
      : (e && typeof e.code === 'string') || workerDied
        ? 'IO'
        : 'BAD_INPUT';
  const { where, problem } = errorParts(err, file);
  const te = new TzError(code, where, problem);
  if (e && typeof e.code === 'string') te.errno = e.code;
  return te;
}

/** Resolves like `p`, but rejects with CANCELLED as soon as `signal` aborts (without waiting for `p`). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined, file?: string): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(cancelled(file));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled(file));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
