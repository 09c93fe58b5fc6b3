/**
 * Tensor lists of model files (safetensors, GGUF, .tzip headers), cached by path and checked
 * against the file's mtime and size on every use, so a changed file is read again and an
 * unchanged one costs one stat. Failures are cached the same way (a corrupt shard is not re-read
 * on every keystroke). Shared by the index checks and workspace symbols.
 */
import { stat } from 'node:fs/promises';
import { readTensorList, type TensorList } from '../../engine/container/shards';

interface Entry {
  mtimeMs: number;
  size: number;
  value: Promise<TensorList>;
}

export class HeaderCache {
  private readonly entries = new Map<string, Entry>();
  /** header reads actually done (for tests: a warm query reads nothing) */
  reads = 0;

  /** The file's tensor list; rejects with the engine's TzError (or the fs error) like the reader. */
  async get(file: string): Promise<TensorList> {
    const st = await stat(file);
    const hit = this.entries.get(file);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.value;
    this.reads++;
    const value = readTensorList(file);
    value.catch(() => undefined); // a cached failure is reported to each caller, never unhandled
    this.entries.set(file, { mtimeMs: st.mtimeMs, size: st.size, value });
    return value;
  }

  /** Forgets a file (deleted, or changed within the mtime resolution). */
  forget(file: string): void {
    this.entries.delete(file);
  }

  get size(): number {
    return this.entries.size;
  }
}
