/**
 * SHA-256 of a stream of chunks, in call order, off the calling thread: views of shared memory (the
 * pipeline's slots, engine/pool/ordered.ts) are hashed by a hashing worker that reads them in place,
 * so the whole-file hash no longer serialises the calling thread (see hashOffThread). With offThread
 * false everything is hashed inline. `update` resolves once the bytes are consumed, so the slot
 * may be reused after it (`slot.behind(hasher.update(view))`).
 */
import { createHash, type Hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { FromHasher, ToHasher } from '../../protocol/pool';
import { defaultThreads, workerScript } from './pool';

/** Below this many bytes one coding thread hashes inline: starting the worker costs more than the hash. */
export const OFF_THREAD_MIN_BYTES = 16 << 20;

/**
 * Whether a pipeline of `threads` coding threads over `bytes` bytes hashes on a hashing worker: always
 * with several coding threads; with one when the file is not small and this process may use a second
 * core (os.availableParallelism follows the CPU affinity, e.g. a Slurm allocation), so the hash runs
 * beside the coding instead of after it.
 */
export function hashOffThread(threads: number, bytes: number): boolean {
  if (threads > 1) return true;
  // one coding thread can always hash inline, and does without a worker build (the fuzz harness bundle)
  return bytes >= OFF_THREAD_MIN_BYTES && defaultThreads() > 1 && existsSync(workerScript().file);
}

export class OrderedHasher {
  private readonly inline: Hash = createHash('sha256');
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failed: Error | undefined;

  /** offThread: hash in a worker (pass views of shared memory: anything else is copied first) */
  constructor(private readonly offThread: boolean) {}

  update(data: Uint8Array): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (!this.offThread) {
      this.inline.update(data);
      return Promise.resolve();
    }
    if (!(data.buffer instanceof SharedArrayBuffer)) {
      // rare (a chunk that did not fit its slot): the stream stays in the worker, so copy it there
      const copy = new Uint8Array(new SharedArrayBuffer(data.length));
      copy.set(data);
      data = copy;
    }
    const w = this.start();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({
        hash: 'update',
        id,
        buf: data.buffer as SharedArrayBuffer,
        off: data.byteOffset,
        len: data.length,
      } satisfies ToHasher);
    });
  }

  async digest(): Promise<string> {
    if (!this.offThread) return this.inline.digest('hex');
    const w = this.start();
    const id = this.nextId++;
    const reply = new Promise<string>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as () => void, reject });
      w.postMessage({ hash: 'digest', id } satisfies ToHasher);
    });
    return reply;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const { file, execArgv } = workerScript();
    const w = new Worker(file, { ...(execArgv ? { execArgv } : {}), workerData: { role: 'hasher' } });
    const fail = (e: Error): void => {
      this.failed ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    w.on('message', (m: FromHasher) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      (p.resolve as (v?: string) => void)(m.digest);
    });
    w.on('error', (e) => fail(new Error(`worker thread crashed (hashing): ${e.message}`)));
    w.on('exit', (code) => {
      if (this.worker === w) fail(new Error(`worker thread exited (hashing, code ${code})`));
    });
    this.worker = w;
    return w;
  }
}
