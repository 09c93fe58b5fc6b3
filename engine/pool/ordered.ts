/**
 * runOrdered: the one chunk pipeline of the engine (compress, decode/verify, lossy what-if).
 *
 * Items 0 .. count-1 flow through three stages, each in item order on the calling thread except
 * the coding, which runs on the pool:
 *
 *   read(k, into)            read ahead of coding (`readAhead` items), into item k's input slot
 *   task(k, slot)            builds the pool task for slot.input -> slot.out; called in item order
 *   consume(k, reply, slot)  in item order
 *
 * In task and consume, `slot.behind(p)` keeps the slot busy until p settles (a write or a hash
 * behind), so reads, coding, hashing and writes overlap.
 *
 * Item k lives in slot k mod S of two buffers (input and output slots; SharedArrayBuffers that the
 * workers see, plain memory with one thread), so nothing is allocated, copied or transferred per
 * item between threads and memory is fixed by the thread count: S = in-flight depth + read-ahead +
 * BEHIND. A slot is read into again only once everything `behind()` registered for it has settled.
 * The output does not depend on the thread count: replies are consumed strictly in order.
 *
 * Errors: the first failure of any stage (or the signal) ends the run; reads and replies still under
 * way are not awaited (their rejections are swallowed) and the pool is closed, so a cancel is prompt.
 */
import { abortable, cancelled, TzError } from '../core/errors';
import { ReadAhead } from '../io/readAhead';
import { inflightDepth, WorkerPool } from './pool';
import type { Task } from '../../protocol/pool';

/** Slots kept for writes behind the consumer. */
const BEHIND = 3;

export interface OrderedSlot {
  /** item k's input (what read() returned; a view of its input slot unless it did not fit) */
  input: Uint8Array;
  /** item k's output slot (outSlotBytes long) */
  out: Uint8Array;
  /** keep this slot from being reused until `p` settles; its rejection fails the run (checked when
   *  the slot is needed again, and at the end) */
  behind(p: Promise<unknown>): void;
}

export interface OrderedRun<R> {
  /** names the file in errors (CANCELLED) */
  file: string;
  count: number;
  threads: number;
  signal?: AbortSignal;
  /** items read ahead of the one handed to the pool (default 2) */
  readAhead?: number;
  /** slots in shared memory even with one thread (a hashing worker reads them in place) */
  shared?: boolean;
  /** bytes of each input / output slot */
  inSlotBytes: number;
  outSlotBytes: number;
  /** reads item k into `into` (its input slot); may return its own array when the item does not fit */
  read(k: number, into: Uint8Array): Promise<Uint8Array>;
  task(k: number, slot: OrderedSlot): Task;
  consume(k: number, reply: R, slot: OrderedSlot): Promise<void> | void;
  /** maps the error of item k's task (e.g. to name the chunk); default: as it is */
  taskError?(k: number, e: unknown): unknown;
}

/**
 * Slot memory of finished runs, kept for the next run of this thread (files of a sharded model or a
 * batch, one after the other): freed buffers wait for a garbage collection that may come late, so
 * each new run would add its slots to the peak. Only a run that succeeded gives its memory back: after
 * a failure a read or a coding worker may still be writing into it.
 */
const spareSlots: Array<ArrayBuffer | SharedArrayBuffer> = [];
const SPARE_SLOTS = 2;

function slotMemory(shared: boolean, bytes: number): ArrayBuffer | SharedArrayBuffer {
  const k = spareSlots.findIndex((b) => b instanceof SharedArrayBuffer === shared && b.byteLength === bytes);
  if (k >= 0) return spareSlots.splice(k, 1)[0]!;
  return shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
}

function giveBack(...bufs: Array<ArrayBuffer | SharedArrayBuffer>): void {
  for (const b of bufs) {
    spareSlots.unshift(b);
    if (spareSlots.length > SPARE_SLOTS) spareSlots.pop();
  }
}

export async function runOrdered<R>(run: OrderedRun<R>): Promise<void> {
  const { count, threads, signal, file } = run;
  const pool = new WorkerPool(threads);
  const depth = inflightDepth(threads);
  const ahead = run.readAhead ?? 2;
  const S = depth + ahead + BEHIND;
  // One thread needs no sharing (unless another thread reads the slots), and V8 copies plain memory
  // faster than shared memory.
  const shared = threads > 1 || !!run.shared;
  const inMem = slotMemory(shared, S * run.inSlotBytes);
  const outMem = slotMemory(shared, S * run.outSlotBytes);
  const held: Array<Promise<unknown>[]> = Array.from({ length: S }, () => []);
  const free = async (s: number): Promise<void> => {
    const h = held[s]!;
    held[s] = [];
    await Promise.all(h);
  };
  const reads = new ReadAhead(count, ahead, async (k) => {
    await free(k % S);
    return run.read(k, new Uint8Array(inMem, (k % S) * run.inSlotBytes, run.inSlotBytes));
  });
  const slotOf = (k: number, input: Uint8Array): OrderedSlot => {
    const s = k % S;
    return {
      input,
      out: new Uint8Array(outMem, s * run.outSlotBytes, run.outSlotBytes),
      behind: (b) => {
        b.catch(() => undefined);
        held[s]!.push(b);
      },
    };
  };
  const queue: Array<{ slot: OrderedSlot; p: Promise<R> }> = [];
  let next = 0;
  try {
    for (let i = 0; i < count; i++) {
      while (next < count && next - i < depth) {
        if (signal?.aborted) throw cancelled(file);
        const slot = slotOf(next, await abortable(reads.take(next), signal, file));
        const p = pool.run<R>(run.task(next, slot));
        p.catch(() => undefined); // rejections are handled where the queue is awaited
        queue.push({ slot, p });
        next++;
      }
      if (signal?.aborted) throw cancelled(file);
      const { slot, p } = queue.shift()!;
      let reply: R;
      try {
        reply = await abortable(p, signal, file);
      } catch (e) {
        throw run.taskError && !(e instanceof TzError) ? run.taskError(i, e) : e;
      }
      await run.consume(i, reply, slot);
    }
    for (let s = 0; s < S; s++) await free(s);
    // every read, task and write of the run has settled: nothing writes into the slots any more
    giveBack(inMem, outMem);
  } finally {
    // Terminating the workers does not wait for the item they are coding, so a cancel is prompt.
    await pool.close();
  }
}

/** most chunks in one shared task */
export const MAX_GROUP = 4096;

/**
 * Consecutive items grouped into pipeline items: runs of items (each `joinable` with the previous
 * one) share one item while they come to at most `maxBytes` in all; a full-size item is alone. Per
 * task and per read or write, a message and an awaited system call cost more than coding a small
 * chunk, and the shared tasks (encodeBatch/decodeBatch, tasks.ts) still code each chunk by itself.
 * Returns [first, end) ranges covering 0 .. count-1 in order.
 */
export function groupSmall(
  count: number,
  bytesOf: (k: number) => number,
  maxBytes: number,
  joinable: (k: number) => boolean = () => true,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let k = 0;
  while (k < count) {
    let end = k + 1;
    let bytes = bytesOf(k);
    while (end < count && end - k < MAX_GROUP && bytes + bytesOf(end) <= maxBytes && joinable(end))
      bytes += bytesOf(end++);
    out.push([k, end]);
    k = end;
  }
  return out;
}
