import { TzError } from '../core/errors';
import { InputFile } from '../io/read';

const SMALL_WINDOW = 4096;

/**
 * Bounded random-access reads over a file for the header parsers (ONNX, GGUF, zip, npy): a small
 * read-ahead window, so walking many small fields costs few syscalls, and skipping a large field
 * (tensor data) costs nothing. Nothing here ever allocates more than the window or an explicitly
 * bounded `bytes()` request. The file is opened and read through io/read.ts InputFile.
 */
export class FileWindow {
  private win = new Uint8Array(0);
  private winStart = 0;
  readonly file: string;
  readonly size: number;
  private constructor(
    private readonly input: InputFile,
    private readonly windowSize: number,
  ) {
    this.file = input.path;
    this.size = input.size;
  }

  static async open(file: string, windowSize = 64 * 1024): Promise<FileWindow> {
    return new FileWindow(await InputFile.open(file), windowSize);
  }

  async close(): Promise<void> {
    await this.input.close();
  }

  /** Fails with a one-line BAD_INPUT error naming what was being read. */
  truncated(what: string, pos: number): never {
    throw new TzError(
      'BAD_INPUT',
      this.file,
      `truncated: ${what} at byte ${pos} runs past the end of the file (${this.size} bytes)`,
    );
  }

  /**
   * Returns `len` bytes at `pos` (a view into the window when it fits; a fresh buffer otherwise).
   * `len` must be bounded by the caller; reading past the end is a truncation error.
   */
  async bytes(pos: number, len: number, what = 'field'): Promise<Uint8Array> {
    if (!Number.isSafeInteger(pos) || !Number.isSafeInteger(len) || pos < 0 || len < 0 || pos + len > this.size)
      this.truncated(what, pos);
    if (pos >= this.winStart && pos + len <= this.winStart + this.win.length) {
      return this.win.subarray(pos - this.winStart, pos - this.winStart + len);
    }
    if (len > this.windowSize) {
      const buf = new Uint8Array(len);
      await this.readFully(buf, pos);
      return buf;
    }
    // sequential reading (headers) gets the full read-ahead; a jump (after skipping tensor data)
    // reads a small window first, so walking a model with many large tensors reads little data
    const sequential = pos >= this.winStart && pos <= this.winStart + this.win.length + SMALL_WINDOW;
    const n = Math.min(Math.max(len, sequential ? this.windowSize : SMALL_WINDOW), this.size - pos);
    const buf = new Uint8Array(n);
    await this.readFully(buf, pos);
    this.win = buf;
    this.winStart = pos;
    return buf.subarray(0, len);
  }

  /** Synchronous fast path: the bytes at [pos, pos+len) if the window already holds them. */
  peek(pos: number, len: number): Uint8Array | undefined {
    if (pos >= this.winStart && pos + len <= this.winStart + this.win.length) {
      return this.win.subarray(pos - this.winStart, pos - this.winStart + len);
    }
    return undefined;
  }

  /** Up to `len` bytes at `pos`, fewer near the end of the file (for varint/key lookahead). */
  async upTo(pos: number, len: number): Promise<Uint8Array> {
    return this.bytes(pos, Math.max(0, Math.min(len, this.size - pos)));
  }

  private async readFully(buf: Uint8Array, pos: number): Promise<void> {
    await this.input.readExact(pos, buf.length, 'read', buf);
  }
}

/** Runs `fn` with an open window and always closes it; non-TzErrors keep their one-line message. */
export async function withWindow<T>(file: string, fn: (w: FileWindow) => Promise<T>): Promise<T> {
  const w = await FileWindow.open(file);
  try {
    return await fn(w);
  } finally {
    await w.close();
  }
}

export function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Reads a little-endian u64 as a JS number, or NaN when it exceeds 2^53 (callers reject NaN). */
export function u64(b: Uint8Array, at: number): number {
  const d = dv(b);
  const lo = d.getUint32(at, true);
  const hi = d.getUint32(at + 4, true);
  if (hi > 0x1fffff) return NaN;
  return hi * 0x100000000 + lo;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
export function text(b: Uint8Array): string {
  return utf8.decode(b);
}
