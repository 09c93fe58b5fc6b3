import { open, type FileHandle } from 'node:fs/promises';
import { badInput } from '../core/errors';

/** A read-only file with bounded, exact reads. All parsers read through this. */
export class InputFile {
  private constructor(
    readonly path: string,
    readonly fh: FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<InputFile> {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw badInput(path, 'not a regular file');
      return new InputFile(path, fh, st.size);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Reads exactly `length` bytes at `offset`, or throws a BAD_INPUT naming what was being read. */
  async readExact(offset: number, length: number, what = 'data', into?: Uint8Array): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw badInput(this.path, `invalid range for ${what}`);
    }
    if (offset + length > this.size) {
      throw badInput(
        this.path,
        `truncated: ${what} needs bytes ${offset}..${offset + length} but the file has ${this.size}`,
      );
    }
    const buf = into ? into.subarray(0, length) : new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw badInput(this.path, `truncated while reading ${what}`);
      done += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export async function withInput<T>(path: string, fn: (f: InputFile) => Promise<T>): Promise<T> {
  const f = await InputFile.open(path);
  try {
    return await fn(f);
  } finally {
    await f.close();
  }
}
