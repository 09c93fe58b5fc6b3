import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import { zipSync } from 'fflate';
import { pytorchReader } from '../../engine/formats/pytorch';
import { readPickle, walkTensors, PickleError } from '../../engine/formats/pickle';
import { crc32 } from '../../engine/core/crc32';
import { openModel } from '../../engine/formats/index';
import { TzError } from '../../engine/core/errors';
import type { TensorEntry } from '../../engine/formats/types';
import {
  CORPUS,
  HAS_CORPUS,
  FIXTURES,
  checkLayout,
  ensureFixtures,
  fuzzFile,
  rng,
  sha256,
  tempFile,
} from './formats-helpers';

const fixtureSkip = ensureFixtures();
const JIT = path.join(CORPUS, 'originals', 'silero_vad.jit');

interface Expect {
  dtype: string;
  shape: number[];
  stride?: number[];
  storageOffset?: number;
  storageBytes?: number;
  storageSha256?: string;
  storagePtr?: number;
}
const expected = (): Record<string, Record<string, Expect>> =>
  JSON.parse(readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8'));

/** name → entry holding it (as the entry name or as one of its views) */
function viewIndex(
  tensors: TensorEntry[],
): Map<string, { entry: TensorEntry; view: { shape: number[]; stride: number[]; storageOffset: number } }> {
  const m = new Map();
  for (const t of tensors)
    for (const v of (t.extra?.views ?? []) as {
      name: string;
      shape: number[];
      stride: number[];
      storageOffset: number;
    }[])
      m.set(v.name, { entry: t, view: v });
  return m;
}

test(
  'state_dict.pt: every tensor torch saved is found with its dtype, shape, stride, offset and storage bytes',
  { skip: fixtureSkip },
  async () => {
    const file = path.join(FIXTURES, 'state_dict.pt');
    const l = await openModel(file);
    assert.equal(l.format, 'pytorch');
    checkLayout(l);
    const exp = expected()['state_dict.pt']!;
    const views = viewIndex(l.tensors);
    const data = readFileSync(file);
    for (const [name, e] of Object.entries(exp)) {
      const v = views.get(name);
      assert.ok(v, `missing ${name}`);
      assert.equal(v.entry.dtype, e.dtype, `${name} dtype`);
      assert.deepEqual(v.view.shape, e.shape, `${name} shape`);
      assert.deepEqual(v.view.stride, e.stride, `${name} stride`);
      assert.equal(v.view.storageOffset, e.storageOffset, `${name} storage offset`);
      assert.equal(v.entry.bytes, e.storageBytes, `${name} storage bytes`);
      assert.equal(
        sha256(data.subarray(v.entry.offset, v.entry.offset + v.entry.bytes)),
        e.storageSha256,
        `${name} storage content`,
      );
    }
    // shared storages are reported once: one entry per distinct storage
    const distinct = new Set(Object.values(exp).map((e) => e.storagePtr)).size;
    assert.equal(l.tensors.length, distinct);
    const lin = l.tensors.find((t) => t.name === 'model.linear.weight')!;
    assert.deepEqual(
      (lin.extra!.views as { name: string }[]).map((v) => v.name),
      ['model.linear.weight', 'model.linear.weight_t', 'model.linear.rows'],
    );
    assert.deepEqual(lin.shape, [48]); // several views: the storage as 1-D
    const tied = l.tensors.find((t) => t.name === 'model.embed.weight')!;
    assert.deepEqual(
      (tied.extra!.views as { name: string }[]).map((v) => v.name),
      ['model.embed.weight', 'model.head.weight'],
    );
    assert.deepEqual(l.tensors.find((t) => t.name === 'model.half')!.shape, [3, 5]);
  },
);

test('small.jit (TorchScript): parameters and buffers match torch', { skip: fixtureSkip }, async () => {
  const l = await pytorchReader.read(path.join(FIXTURES, 'small.jit'));
  checkLayout(l);
  assert.equal(l.metadata?.torchscript, true);
  const exp = expected()['small.jit']!;
  const byName = new Map(l.tensors.map((t) => [t.name, t]));
  for (const [name, e] of Object.entries(exp)) {
    assert.equal(byName.get(name)?.dtype, e.dtype, name);
    assert.deepEqual(byName.get(name)?.shape, e.shape, name);
  }
});

test(
  'silero_vad.jit (corpus TorchScript) matches torch.jit.load state_dict',
  { skip: (!HAS_CORPUS && 'no ../shared/corpus') || fixtureSkip },
  async () => {
    const l = await openModel(JIT);
    assert.equal(l.format, 'pytorch');
    checkLayout(l);
    const exp = expected()['silero_vad.jit']!;
    const data = readFileSync(JIT);
    const byName = new Map(l.tensors.map((t) => [t.name, t]));
    assert.ok(Object.keys(exp).length >= 30);
    for (const [name, e] of Object.entries(exp)) {
      const t = byName.get(name);
      assert.ok(t, `missing ${name}`);
      assert.equal(t.dtype, e.dtype);
      assert.deepEqual(t.shape, e.shape, name);
      assert.equal(sha256(data.subarray(t.offset, t.offset + t.bytes)), e.storageSha256, `${name} bytes`);
    }
    const f32 = l.tensors.reduce((s, t) => s + t.bytes, 0);
    assert.ok(f32 > 0.95 * 2_185_044, `${f32} tensor bytes`);
  },
);

test(
  'silero_vad.jit structure (no python needed): 31 storages + constants, names from module attributes',
  { skip: !HAS_CORPUS && 'no ../shared/corpus' },
  async () => {
    const l = await pytorchReader.read(JIT);
    assert.equal(l.tensors.length, 33);
    const w = l.tensors.find((t) => t.name === '_model.decoder.rnn.weight_ih')!;
    assert.deepEqual([w.dtype, w.shape, w.bytes], ['F32', [512, 128], 262144]);
    assert.ok(l.tensors.some((t) => t.name === 'constants.0'));
  },
);

test('legacy (non-zip) torch.save is refused with an explanation', { skip: fixtureSkip }, async () => {
  const file = path.join(FIXTURES, 'legacy.pt');
  await assert.rejects(openModel(file), (e: unknown) => {
    assert.ok(e instanceof TzError);
    assert.equal(e.code, 'UNSUPPORTED');
    assert.match(e.message, /legacy .*unpickling.*torch\.save/);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
});

test('pickle reader never executes: os.system REDUCE is an inert record', () => {
  // cos\nsystem\n(S'echo pwned'\ntR.
  const p = Buffer.from("cos\nsystem\n(S'echo pwned'\ntR.", 'latin1');
  const v = readPickle(p);
  assert.deepEqual(v, {
    kind: 'call',
    fn: { kind: 'global', module: 'os', name: 'system' },
    args: { kind: 'tuple', items: ['echo pwned'] },
  });
});

test('pickle bombs: deep nesting, self-reference, memo misuse, huge lengths fail fast and cleanly', () => {
  // 100k nested lists: parsing is iterative; walking refuses the depth
  const deep = Buffer.concat([
    Buffer.from([0x80, 2]),
    Buffer.alloc(100_000, 0x5d),
    Buffer.alloc(99_999, 0x61),
    Buffer.from('.'),
  ]);
  const root = readPickle(deep);
  assert.throws(
    () => walkTensors(root),
    (e: unknown) => e instanceof PickleError && /deeper than/.test(e.message),
  );
  // a list that contains itself (via memo) walks fine
  const self = Buffer.from([0x80, 2, 0x5d, 0x71, 0, 0x68, 0, 0x61, 0x2e]);
  assert.deepEqual(walkTensors(readPickle(self)), []);
  for (const [label, bytes, re] of [
    ['memo miss', Buffer.from([0x80, 2, 0x68, 5, 0x2e]), /memo key 5/],
    ['huge BINUNICODE', Buffer.from([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f]), /truncated/],
    ['huge LONG4', Buffer.from([0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0x0f]), /integer of/],
    ['no STOP', Buffer.from([0x80, 2, 0x4e]), /truncated/],
    ['unknown opcode', Buffer.from([0x80, 2, 0xff]), /unknown opcode/],
    ['underflow', Buffer.from([0x80, 2, 0x61]), /underflow/],
  ] as const) {
    assert.throws(
      () => readPickle(bytes),
      (e: unknown) => e instanceof PickleError && re.test(e.message),
      label,
    );
  }
});

/** Builds a torch-like zip: archive/data.pkl + archive/data/<key> members. */
function fakeCheckpoint(
  pkl: Buffer,
  members: Record<string, Uint8Array>,
  names?: Record<string, Uint8Array>,
): Uint8Array {
  const files: Record<string, [Uint8Array, { level: 0 }]> = { 'archive/data.pkl': [pkl, { level: 0 }] };
  for (const [k, v] of Object.entries(members)) files[`archive/data/${k}`] = [v, { level: 0 }];
  for (const [k, v] of Object.entries(names ?? {})) files[k] = [v, { level: 0 }];
  return zipSync(files);
}

/** pickle of {'w': _rebuild_tensor_v2(('storage', torch.FloatStorage, '0', 'cpu', numel), 0, shape, stride, False,
 * OrderedDict())} */
function tensorPickle(numel: number, shape: number[], stride: number[], key = '0'): Buffer {
  const ints = (xs: number[]) =>
    Buffer.concat([
      Buffer.from('('),
      ...xs.map((x) => Buffer.from([0x4a, x & 0xff, (x >> 8) & 0xff, (x >> 16) & 0xff, (x >>> 24) & 0xff])),
      Buffer.from('t'),
    ]);
  return Buffer.concat([
    Buffer.from([0x80, 2]),
    Buffer.from('}(X'),
    Buffer.from([1, 0, 0, 0]),
    Buffer.from('w'),
    Buffer.from('ctorch._utils\n_rebuild_tensor_v2\n('),
    Buffer.from('(X'),
    Buffer.from([7, 0, 0, 0]),
    Buffer.from('storage'),
    Buffer.from('ctorch\nFloatStorage\n'),
    Buffer.from('X'),
    Buffer.from([key.length, 0, 0, 0]),
    Buffer.from(key),
    Buffer.from('X'),
    Buffer.from([3, 0, 0, 0]),
    Buffer.from('cpu'),
    Buffer.from([0x4a, numel & 0xff, (numel >> 8) & 0xff, (numel >> 16) & 0xff, (numel >>> 24) & 0xff]),
    Buffer.from('tQ'),
    Buffer.from([0x4b, 0]),
    ints(shape),
    ints(stride),
    Buffer.from([0x89]),
    Buffer.from('ccollections\nOrderedDict\n)R'),
    Buffer.from('tR'),
    Buffer.from('u.'),
  ]);
}

test(
  'synthetic checkpoints: good one reads; lying sizes, missing storages, out-of-range views, zip tricks ' + 'refused',
  async () => {
    const good = fakeCheckpoint(tensorPickle(6, [2, 3], [3, 1]), { '0': new Uint8Array(24) });
    const g = tempFile('good.pt', good);
    try {
      const l = await pytorchReader.read(g.file);
      assert.deepEqual(
        l.tensors.map((t) => [t.name, t.dtype, t.shape, t.bytes]),
        [['w', 'F32', [2, 3], 24]],
      );
      checkLayout(l);
    } finally {
      g.done();
    }
    const cases: [string, Uint8Array, RegExp][] = [
      [
        'storage smaller than numel',
        fakeCheckpoint(tensorPickle(6, [2, 3], [3, 1]), { '0': new Uint8Array(20) }),
        /holds 20 bytes, expected 6 × 4/,
      ],
      [
        'missing storage member',
        fakeCheckpoint(tensorPickle(6, [2, 3], [3, 1], '7'), { '0': new Uint8Array(24) }),
        /member "archive\/data\/7" is missing/,
      ],
      [
        'view beyond storage',
        fakeCheckpoint(tensorPickle(6, [3, 3], [3, 1]), { '0': new Uint8Array(24) }),
        /reaches element 8 of a storage of 6/,
      ],
      [
        '../ member name',
        fakeCheckpoint(tensorPickle(6, [2, 3], [3, 1]), { '0': new Uint8Array(24) }, { '../evil': new Uint8Array(1) }),
        /unsafe/,
      ],
      [
        'absolute member name',
        fakeCheckpoint(tensorPickle(6, [2, 3], [3, 1]), { '0': new Uint8Array(24) }, { '/etc/x': new Uint8Array(1) }),
        /unsafe/,
      ],
      ['no data.pkl', zipSync({ 'archive/other': new Uint8Array(3) }), /no data\.pkl/],
      ['garbage pickle', fakeCheckpoint(Buffer.from([0x80, 2, 0xfe]), {}), /malformed pickle/],
    ];
    for (const [label, bytes, re] of cases) {
      const t = tempFile('h.pt', bytes);
      try {
        await assert.rejects(pytorchReader.read(t.file), (e: unknown) => {
          assert.ok(e instanceof TzError, `${label}: ${e}`);
          assert.match(e.message, re, label);
          assert.ok(!e.message.includes('\n'), label);
          return true;
        });
      } finally {
        t.done();
      }
    }
  },
);

test('hostile zips: truncations throw, flips never crash', { skip: fixtureSkip }, async () => {
  const src = path.join(FIXTURES, 'state_dict.pt');
  const r = await fuzzFile(pytorchReader, src, {
    headerBytes: readFileSync(src).length,
    truncations: 40,
    flips: 60,
    seed: 11,
  });
  assert.equal(r.truncErrors, 40);
});

test(
  'pickle fuzz: truncated or flipped data.pkl gives a value or a PickleError, nothing else',
  { skip: fixtureSkip },
  async () => {
    const { unzipSync } = await import('fflate');
    const pkl = unzipSync(readFileSync(path.join(FIXTURES, 'state_dict.pt')))['state_dict/data.pkl']!;
    assert.ok(pkl && pkl.length > 100);
    const r = rng(5);
    let errors = 0;
    for (let i = 0; i < 400; i++) {
      let b: Uint8Array;
      if (i % 2 === 0) b = pkl.subarray(0, Math.floor(r() * pkl.length));
      else {
        b = pkl.slice();
        for (let k = 0; k < 1 + Math.floor(r() * 3); k++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
      }
      try {
        walkTensors(readPickle(b));
      } catch (e) {
        assert.ok(e instanceof PickleError, `input #${i}: ${(e as Error).stack}`);
        errors++;
      }
    }
    assert.ok(errors >= 200, `${errors} errors`);
  },
);

/** A zip written the way ZIP64 writers do for >4 GiB archives: saturated 32-bit fields + ZIP64 extras and end records.
 * */
function zip64(files: Record<string, Uint8Array>): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const n = Buffer.from(name);
    const crc = crc32(data);
    const lh = Buffer.alloc(30 + n.length + 20);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(45, 4);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(0xffffffff, 18);
    lh.writeUInt32LE(0xffffffff, 22);
    lh.writeUInt16LE(n.length, 26);
    lh.writeUInt16LE(20, 28);
    n.copy(lh, 30);
    lh.writeUInt16LE(1, 30 + n.length);
    lh.writeUInt16LE(16, 32 + n.length);
    lh.writeBigUInt64LE(BigInt(data.length), 34 + n.length);
    lh.writeBigUInt64LE(BigInt(data.length), 42 + n.length);
    const ch = Buffer.alloc(46 + n.length + 28);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(45, 4);
    ch.writeUInt16LE(45, 6);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(0xffffffff, 20);
    ch.writeUInt32LE(0xffffffff, 24);
    ch.writeUInt16LE(n.length, 28);
    ch.writeUInt16LE(28, 30);
    ch.writeUInt32LE(0xffffffff, 42);
    n.copy(ch, 46);
    ch.writeUInt16LE(1, 46 + n.length);
    ch.writeUInt16LE(24, 48 + n.length);
    ch.writeBigUInt64LE(BigInt(data.length), 50 + n.length);
    ch.writeBigUInt64LE(BigInt(data.length), 58 + n.length);
    ch.writeBigUInt64LE(BigInt(offset), 66 + n.length);
    locals.push(lh, Buffer.from(data));
    central.push(ch);
    offset += lh.length + data.length;
  }
  const cd = Buffer.concat(central);
  const count = Object.keys(files).length;
  const z = Buffer.alloc(56 + 20 + 22);
  z.writeUInt32LE(0x06064b50, 0);
  z.writeBigUInt64LE(44n, 4);
  z.writeUInt16LE(45, 12);
  z.writeUInt16LE(45, 14);
  z.writeBigUInt64LE(BigInt(count), 24);
  z.writeBigUInt64LE(BigInt(count), 32);
  z.writeBigUInt64LE(BigInt(cd.length), 40);
  z.writeBigUInt64LE(BigInt(offset), 48);
  z.writeUInt32LE(0x07064b50, 56);
  z.writeBigUInt64LE(BigInt(offset + cd.length), 64);
  z.writeUInt32LE(1, 72);
  z.writeUInt32LE(0x06054b50, 76);
  z.writeUInt16LE(0xffff, 84);
  z.writeUInt16LE(0xffff, 86);
  z.writeUInt32LE(0xffffffff, 88);
  z.writeUInt32LE(0xffffffff, 92);
  return Buffer.concat([...locals, cd, z]);
}

test('ZIP64 archives (saturated fields, ZIP64 extras and end records) are read', async () => {
  const weights = new Uint8Array(Float32Array.from([1, 2, 3, 4, 5, 6]).buffer);
  const bytes = zip64({ 'archive/data.pkl': tensorPickle(6, [2, 3], [3, 1]), 'archive/data/0': weights });
  const t = tempFile('z64.pt', bytes);
  try {
    const l = await pytorchReader.read(t.file);
    assert.equal(l.tensors.length, 1);
    const w = l.tensors[0]!;
    assert.deepEqual([w.name, w.dtype, w.shape, w.bytes], ['w', 'F32', [2, 3], 24]);
    assert.ok(bytes.subarray(w.offset, w.offset + w.bytes).equals(Buffer.from(weights)));
  } finally {
    t.done();
  }
});
