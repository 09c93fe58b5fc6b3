// runOrdered (engine/pool/ordered.ts): items are consumed strictly in order whatever the thread
// count, a slot is not read into again while a write behind it is pending, and the first failure
// (a task, a write behind, the signal) ends the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { runOrdered } from '../../engine/pool/ordered';
import type { EncodeReply } from '../../protocol/pool';
import { TzError } from '../../engine/core/errors';

const HAVE_WORKER = existsSync('dist/worker.js');
const N = 40;
const BYTES = 4096;

function fill(k: number, into: Uint8Array): Uint8Array {
  const v = into.subarray(0, BYTES);
  for (let i = 0; i < BYTES; i++) v[i] = (k * 31 + (i % 7 === 0 ? i : 0)) & 0xff;
  return v;
}

for (const threads of [1, 2]) {
  test(
    `${threads} thread(s): in order, slots held until their writes behind settle`,
    { skip: threads > 1 && !HAVE_WORKER && 'dist/worker.js not built' },
    async () => {
      const order: number[] = [];
      const inUse = new Set<number>();
      let overlap = false;
      await runOrdered<EncodeReply>({
        file: 'test',
        count: N,
        threads,
        inSlotBytes: BYTES,
        outSlotBytes: BYTES + 64,
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
      assert.deepEqual(
        order,
        Array.from({ length: N }, (_, i) => i),
      );
      assert.equal(overlap, false, 'a slot was read into while its previous item was still being written');
    },
  );
}

test('a failing write behind fails the run', async () => {
  await assert.rejects(
    runOrdered<EncodeReply>({
      file: 'test',
      count: N,
      threads: 1,
      inSlotBytes: BYTES,
      outSlotBytes: BYTES + 64,
      read: async (k, into) => fill(k, into),
      task: (_k, { input: data, out }) => ({ op: 'encode', dtype: 'U8', data, out }),
      consume: (k, _r, slot) => {
        slot.behind(k === 5 ? Promise.reject(new Error('disk full')) : Promise.resolve());
      },
    }),
    /disk full/,
  );
});

test('an aborted signal ends the run with CANCELLED; a task error goes through taskError', async () => {
  const ac = new AbortController();
  await assert.rejects(
    runOrdered<EncodeReply>({
      file: 'f',
      count: N,
      threads: 1,
      signal: ac.signal,
      inSlotBytes: BYTES,
      outSlotBytes: BYTES + 64,
      read: async (k, into) => fill(k, into),
      task: (_k, { input: data, out }) => ({ op: 'encode', dtype: 'U8', data, out }),
      consume: (k) => {
        if (k === 3) ac.abort();
      },
    }),
    (e: unknown) => e instanceof TzError && e.code === 'CANCELLED',
  );
  await assert.rejects(
    runOrdered({
      file: 'f',
      count: 3,
      threads: 1,
      inSlotBytes: BYTES,
      outSlotBytes: BYTES,
      read: async (k, into) => fill(k, into),
      task: (_k, { input: payload, out }) => ({
        op: 'decode',
        dtype: 'U8',
        payload,
        rawLength: BYTES,
        payloadCrc: 0,
        sum: 'xxh32',
        out,
      }),
      consume: () => undefined,
      taskError: (k, e) => new Error(`item ${k}: ${(e as Error).message}`),
    }),
    /item 0: chunk payload checksum mismatch/,
  );
});

test(
  'OrderedHasher: the hashing worker gives the SHA-256 of the chunks in call order, as inline hashing does',
  { skip: !HAVE_WORKER && 'dist/worker.js not built' },
  async () => {
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
        const part = view.subarray((k * 997) % 30000, ((k * 997) % 30000) + 1 + k * 301);
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
  },
);

test(
  'small tensors share tasks: same .tzip with 1 and 2 threads, bit-exact back, a corrupted one named',
  { skip: !HAVE_WORKER && 'dist/worker.js not built' },
  async () => {
    const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { safetensorsBytes } = await import('../helpers/safetensors');
    const { compressFile, decompressFile, infoFile } = await import('../../engine/api');
    const { mulberry32 } = await import('../helpers/random');
    const dir = mkdtempSync(path.join(tmpdir(), 'tz-small-'));
    try {
      const r = mulberry32(7);
      // 600 tensors of 4-400 bytes (and one of 100 KiB in the middle): many small-chunk groups
      const tensors = Array.from({ length: 600 }, (_, i) => {
        const n = i === 300 ? 25600 : 1 + Math.floor(r() * 100);
        const f = new Float32Array(n).map(() => (r() - 0.5) * 0.1);
        return { name: `t${i}`, dtype: 'F32', shape: [n], data: new Uint8Array(f.buffer) };
      });
      const file = path.join(dir, 'small.safetensors');
      const bytes = safetensorsBytes(tensors);
      writeFileSync(file, bytes);
      await compressFile(file, { output: `${file}.1.tzip`, threads: 1 });
      await compressFile(file, { output: `${file}.2.tzip`, threads: 2 });
      const tz = readFileSync(`${file}.1.tzip`);
      assert.ok(tz.equals(readFileSync(`${file}.2.tzip`)), '.tzip differs between 1 and 2 threads');
      for (const threads of [1, 2]) {
        await decompressFile(`${file}.1.tzip`, { output: `${file}.${threads}.back`, threads });
        assert.ok(
          readFileSync(`${file}.${threads}.back`).equals(Buffer.from(bytes)),
          `round trip with ${threads} threads`,
        );
      }
      // corrupt one payload byte of tensor t123 (a chunk inside a group)
      const info = await infoFile(`${file}.1.tzip`);
      assert.ok(info.regions.some((x) => x.name === 't123'));
      const { openContainer } = await import('../../engine/container/read');
      const c = await openContainer(`${file}.1.tzip`);
      const ri = c.index.regions.findIndex((x) => x.name === 't123');
      const ch = c.chunks[c.index.regions[ri]!.chunk]!;
      await c.file.close();
      const bad = Buffer.from(tz);
      bad[ch.payloadOffset + ch.payloadLength - 1] ^= 0x55;
      writeFileSync(`${file}.bad.tzip`, bad);
      for (const threads of [1, 2]) {
        await assert.rejects(
          decompressFile(`${file}.bad.tzip`, { output: `${file}.bad.back`, threads, force: true }),
          (e: unknown) => e instanceof TzError && e.code === 'BAD_INPUT' && /tensor "t123"/.test(e.message),
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('slot memory: a run that succeeded lends its buffers to the next; a failed run never does', async () => {
  // distinct sizes from the other tests of this file, so their spare buffers are not the ones seen here
  const bytes = 3 * 1024 + 16;
  const run = (fail: boolean) => {
    const seen = new Set<ArrayBufferLike>();
    const p = runOrdered<EncodeReply>({
      file: 'test',
      count: 8,
      threads: 1,
      inSlotBytes: bytes,
      outSlotBytes: bytes + 64,
      read: async (k, into) => {
        seen.add(into.buffer);
        return fill(k, into).subarray(0, bytes);
      },
      task: (_k, { input: data, out }) => {
        seen.add(out.buffer);
        return { op: 'encode', dtype: 'U8', data, out };
      },
      consume: (k) => {
        if (fail && k === 5) throw new Error('write failed');
      },
    });
    return { seen, p };
  };
  const a = run(false);
  await a.p;
  const b = run(false);
  await b.p;
  assert.equal(a.seen.size, 2);
  // identity, not contents
  const sameBuffers = (x: Set<ArrayBufferLike>, y: Set<ArrayBufferLike>) =>
    x.size === y.size && [...x].every((buf) => y.has(buf));
  assert.ok(sameBuffers(b.seen, a.seen), 'the second run used the first run’s buffers');
  const c = run(true);
  await assert.rejects(c.p, /write failed/);
  assert.ok(sameBuffers(c.seen, a.seen), 'the failing run took the spare buffers');
  const d = run(false);
  await d.p;
  assert.equal(d.seen.size, 2);
  for (const buf of d.seen) assert.ok(!c.seen.has(buf), 'a buffer of the failed run was lent again');
});

test(
  'one coding thread, a file of 16 MiB or more: hashed beside the coding where a second core is usable; ' +
    'bit-exact back, a corrupted byte caught',
  { skip: !HAVE_WORKER && 'dist/worker.js not built' },
  async () => {
    const { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } =
      await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { hashOffThread, OFF_THREAD_MIN_BYTES } = await import('../../engine/pool/hasher');
    const { defaultThreads } = await import('../../engine/pool/pool');
    const { safetensorsBytes } = await import('../helpers/safetensors');
    const { compressFile, decompressFile, verifyFile } = await import('../../engine/api');
    const { mulberry32 } = await import('../helpers/random');
    const dir = mkdtempSync(path.join(tmpdir(), 'tz-hash1-'));
    try {
      const r = mulberry32(3);
      // BF16 weights-like values: sign and mantissa random, exponents narrow
      const n = (OFF_THREAD_MIN_BYTES >> 1) + 4096;
      const u16 = new Uint16Array(n).map(
        () => (r() < 0.5 ? 0x8000 : 0) | ((118 + ((r() * 8) | 0)) << 7) | ((r() * 128) | 0),
      );
      const file = path.join(dir, 'w.safetensors');
      writeFileSync(
        file,
        safetensorsBytes([{ name: 'w', dtype: 'BF16', shape: [n], data: new Uint8Array(u16.buffer) }]),
      );
      const size = readFileSync(file).length;
      // the rule this test exercises, stated for this machine
      assert.equal(hashOffThread(1, size), defaultThreads() > 1);
      assert.equal(hashOffThread(1, OFF_THREAD_MIN_BYTES - 1), false);
      assert.equal(hashOffThread(2, 1), true);
      const tz = `${file}.tzip`;
      await compressFile(file, { output: tz, threads: 1 });
      const back = path.join(dir, 'back.safetensors');
      await decompressFile(tz, { output: back, threads: 1 });
      assert.ok(readFileSync(back).equals(readFileSync(file)), 'round trip differs');
      assert.equal((await verifyFile(tz, { threads: 1 })).ok, true);
      // one flipped byte in the middle of the file (payloads fill it): verify and decompress fail,
      // nothing is written
      const at = Math.floor(readFileSync(tz).length / 2);
      const fd = openSync(tz, 'r+');
      const b = Buffer.alloc(1);
      b[0] = readFileSync(tz)[at]! ^ 0x10;
      writeSync(fd, b, 0, 1, at);
      closeSync(fd);
      const v = await verifyFile(tz, { threads: 1 });
      assert.equal(v.ok, false, 'a corrupted file passed verify');
      assert.ok(v.problems.length > 0);
      rmSync(back);
      await assert.rejects(decompressFile(tz, { output: back, threads: 1 }));
      assert.throws(() => readFileSync(back));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('default coding threads: the cores less one (the whole-file hash has its own thread), at least one', async () => {
  const { defaultCodingThreads, defaultThreads } = await import('../../engine/pool/pool');
  assert.deepEqual(
    [1, 2, 3, 8, 64].map((c) => defaultCodingThreads(c)),
    [1, 1, 2, 7, 63],
  );
  assert.equal(defaultCodingThreads(), Math.max(1, defaultThreads() - 1));
});

test('groupSmall: neighbours share an item up to maxBytes, a full chunk alone, not past unjoinable ones', async () => {
  const { groupSmall, MAX_GROUP } = await import('../../engine/pool/ordered');
  const sizes = [10, 20, 300, 300, 300, 1000, 5, 5, 400, 700, 1000, 1];
  assert.deepEqual(
    groupSmall(
      sizes.length,
      (k) => sizes[k]!,
      1000,
      (k) => k !== 7,
    ),
    [
      [0, 5],
      [5, 6],
      [6, 7],
      [7, 9],
      [9, 10],
      [10, 11],
      [11, 12],
    ],
  );
  // at most MAX_GROUP chunks per item
  assert.deepEqual(
    groupSmall(MAX_GROUP + 10, () => 1, 1 << 20),
    [
      [0, MAX_GROUP],
      [MAX_GROUP, MAX_GROUP + 10],
    ],
  );
});

test('tiny and mid-sized tensors share tasks: one .tzip for 1 and 2 threads, exact back, damage named', async () => {
  const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { safetensorsBytes } = await import('../helpers/safetensors');
  const { compressFile, decompressFile } = await import('../../engine/api');
  const { mulberry32 } = await import('../helpers/random');
  const dir = mkdtempSync(path.join(tmpdir(), 'tz-groups-'));
  try {
    const r = mulberry32(11);
    const f32 = (n: number): Uint8Array => {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = (r() - 0.5) * 0.02;
      return new Uint8Array(a.buffer);
    };
    // runs of tiny tensors between 300 KB ones (three of which fit one 1 MiB item), and one over 1 MiB
    const tensors = [];
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 40; j++)
        tensors.push({ name: `b${i}.p${j}`, dtype: 'F32', shape: [1 + j], data: f32(1 + j) });
      tensors.push({ name: `b${i}.w`, dtype: 'F32', shape: [76800], data: f32(76800) });
    }
    tensors.push({ name: 'head', dtype: 'F32', shape: [300000], data: f32(300000) });
    const file = path.join(dir, 'm.safetensors');
    writeFileSync(file, safetensorsBytes(tensors));
    const t1 = path.join(dir, 't1.tzip'),
      t2 = path.join(dir, 't2.tzip');
    await compressFile(file, { output: t1, threads: 1 });
    await compressFile(file, { output: t2, threads: 2 });
    assert.ok(readFileSync(t1).equals(readFileSync(t2)), '.tzip differs between 1 and 2 threads');
    for (const threads of [1, 2]) {
      const back = path.join(dir, `back${threads}.safetensors`);
      await decompressFile(t1, { output: back, threads });
      assert.ok(readFileSync(back).equals(readFileSync(file)), `round trip differs (${threads} threads)`);
    }
    // one byte in the middle of the payloads: the 300 KB tensors hold most of them
    const bad = readFileSync(t1);
    bad[bad.length >> 1]! ^= 0x10;
    const badFile = path.join(dir, 'bad.tzip');
    writeFileSync(badFile, bad);
    for (const threads of [1, 2])
      await assert.rejects(
        decompressFile(badFile, { output: path.join(dir, 'never.safetensors'), threads }),
        (e: Error) => /corrupted chunk \d+ \(tensor "(b\d\.w|head)"\)/.test(e.message),
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
