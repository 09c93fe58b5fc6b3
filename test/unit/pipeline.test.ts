// runOrdered (engine/pool/ordered.ts): items are consumed strictly in order whatever the thread
// count, a slot is not read into again while a write behind it is pending, and the first failure
// (a task, a write behind, the signal) ends the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { runOrdered } from '../../engine/pool/ordered';
import type { EncodeReply } from '../../engine/pool/tasks';
import { TzError } from '../../engine/errors';

const HAVE_WORKER = existsSync('dist/worker.js');
const N = 40;
const BYTES = 4096;

function fill(k: number, into: Uint8Array): Uint8Array {
  const v = into.subarray(0, BYTES);
  for (let i = 0; i < BYTES; i++) v[i] = (k * 31 + (i % 7 === 0 ? i : 0)) & 0xff;
  return v;
}

for (const threads of [1, 2]) {
  test(`${threads} thread(s): in order, slots held until their writes behind settle`, { skip: threads > 1 && !HAVE_WORKER && 'dist/worker.js not built' }, async () => {
    const order: number[] = [];
    const inUse = new Set<number>();
    let overlap = false;
    await runOrdered<EncodeReply>({
      file: 'test', count: N, threads, inSlotBytes: BYTES, outSlotBytes: BYTES + 64,
      read: async (k, into) => {
        // the slot's previous occupant must be completely done (its write behind settled)
        if (inUse.has(into.byteOffset)) overlap = true;
        inUse.add(into.byteOffset);
        return fill(k, into);
      },
      task: (_k, { input: data, out }) => ({ op: 'encode', dtype: 'U8', data, out }),
      consume: (k, reply, slot) => {
        order.push(k);
        assert.deepEqual([...reply.data.subarray(0, 8)], [...fill(k, new Uint8Array(BYTES)).subarray(0, 8)]);
        const at = slot.input.byteOffset;
        slot.behind(new Promise((res) => setTimeout(res, 2)).then(() => inUse.delete(at)));
      },
    });
    assert.deepEqual(order, Array.from({ length: N }, (_, i) => i));
    assert.equal(overlap, false, 'a slot was read into while its previous item was still being written');
  });
}

test('a failing write behind fails the run', async () => {
  await assert.rejects(runOrdered<EncodeReply>({
    file: 'test', count: N, threads: 1, inSlotBytes: BYTES, outSlotBytes: BYTES + 64,
    read: async (k, into) => fill(k, into),
    task: (_k, { input: data, out }) => ({ op: 'encode', dtype: 'U8', data, out }),
    consume: (k, _r, slot) => { slot.behind(k === 5 ? Promise.reject(new Error('disk full')) : Promise.resolve()); },
  }), /disk full/);
});

test('an aborted signal ends the run with CANCELLED; a task error goes through taskError', async () => {
  const ac = new AbortController();
  await assert.rejects(runOrdered<EncodeReply>({
    file: 'f', count: N, threads: 1, signal: ac.signal, inSlotBytes: BYTES, outSlotBytes: BYTES + 64,
    read: async (k, into) => fill(k, into),
    task: (_k, { input: data, out }) => ({ op: 'encode', dtype: 'U8', data, out }),
    consume: (k) => { if (k === 3) ac.abort(); },
  }), (e: unknown) => e instanceof TzError && e.code === 'CANCELLED');
  await assert.rejects(runOrdered({
    file: 'f', count: 3, threads: 1, inSlotBytes: BYTES, outSlotBytes: BYTES,
    read: async (k, into) => fill(k, into),
    task: (_k, { input: payload, out }) => ({ op: 'decode', dtype: 'U8', payload, rawLength: BYTES, payloadCrc: 0, sum: 'xxh32', out }),
    consume: () => undefined,
    taskError: (k, e) => new Error(`item ${k}: ${(e as Error).message}`),
  }), /item 0: chunk payload checksum mismatch/);
});

test('OrderedHasher: the hashing worker gives the SHA-256 of the chunks in call order, as inline hashing does', { skip: !HAVE_WORKER && 'dist/worker.js not built' }, async () => {
  const { OrderedHasher } = await import('../../engine/pool/hasher');
  const { createHash } = await import('node:crypto');
  const mem = new SharedArrayBuffer(64 * 1024);
  const view = new Uint8Array(mem);
  for (let i = 0; i < view.length; i++) view[i] = (i * 2654435761) >>> 24;
  const ref = createHash('sha256');
  const h = new OrderedHasher(true);
  try {
    const done: Array<Promise<void>> = [];
    for (let k = 0; k < 50; k++) {
      const part = view.subarray((k * 997) % 30000, (k * 997) % 30000 + 1 + k * 301);
      ref.update(part);
      done.push(h.update(part));
    }
    const plain = Uint8Array.from([1, 2, 3]); // not shared: copied, still in order
    ref.update(plain);
    done.push(h.update(plain));
    await Promise.all(done);
    assert.equal(await h.digest(), ref.digest('hex'));
  } finally {
    await h.close();
  }
});
