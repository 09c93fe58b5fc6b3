import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import { zipSync } from 'fflate';
import { npyReader } from '../../engine/formats/npy';
import { npzReader, inflateMember } from '../../engine/formats/npz';
import { openModel } from '../../engine/formats/index';
import { TzError } from '../../engine/core/errors';
import { FIXTURES, checkLayout, ensureFixtures, fuzzFile, sha256, tempFile } from './formats-helpers';

const fixtureSkip = ensureFixtures();
interface NpyExpect {
  descr: string;
  shape: number[];
  fortran?: boolean;
  bytes: number;
  sha256: string;
}
const expected = (): { npy: Record<string, NpyExpect>; npz: Record<string, NpyExpect> } =>
  JSON.parse(readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8'));
const CANON: Record<string, string> = {
  '<f4': 'F32',
  '<f2': 'F16',
  '<f8': 'F64',
  '<i8': 'I64',
  '|u1': 'U8',
  '|b1': 'BOOL',
};

test('.npy fixtures: dtype, shape, fortran order and exact data bytes match numpy', { skip: fixtureSkip }, async () => {
  const exp = expected().npy;
  assert.ok(Object.keys(exp).length >= 10);
  for (const [name, e] of Object.entries(exp)) {
    const file = path.join(FIXTURES, `${name}.npy`);
    const l = await openModel(file);
    assert.equal(l.format, 'npy', name);
    checkLayout(l);
    const t = l.tensors[0]!;
    assert.equal(t.name, name);
    assert.deepEqual(t.shape, e.shape, name);
    assert.equal(t.dtype, CANON[e.descr] ?? e.descr, name);
    assert.equal(t.bytes, e.bytes, name);
    assert.equal(t.offset + t.bytes, l.size, name);
    assert.equal(sha256(readFileSync(file).subarray(t.offset)), e.sha256, `${name} bytes`);
    assert.equal(!!t.extra?.fortranOrder, !!e.fortran, `${name} fortran`);
    if (e.descr.startsWith('>')) assert.equal(t.extra?.bigEndian, true);
  }
});

test(".npz stored: members are tensor ranges with numpy's bytes", { skip: fixtureSkip }, async () => {
  const file = path.join(FIXTURES, 'stored.npz');
  const l = await openModel(file);
  assert.equal(l.format, 'npz');
  checkLayout(l);
  const data = readFileSync(file);
  const exp = expected().npz;
  assert.equal(l.tensors.length, Object.keys(exp).length);
  for (const t of l.tensors) {
    const e = exp[t.name]!;
    assert.equal(t.dtype, CANON[e.descr]);
    assert.deepEqual(t.shape, e.shape);
    assert.equal(sha256(data.subarray(t.offset, t.offset + t.bytes)), e.sha256, t.name);
  }
});

test(
  ".npz deflated: reported as DEFLATE ranges; inflateMember gives numpy's bytes",
  { skip: fixtureSkip },
  async () => {
    const file = path.join(FIXTURES, 'deflated.npz');
    const l = await npzReader.read(file);
    checkLayout(l);
    const exp = expected().npz;
    for (const t of l.tensors) {
      const e = exp[t.name]!;
      assert.equal(t.dtype, 'DEFLATE');
      assert.equal(t.extra?.deflated, true);
      assert.equal(t.extra?.innerDtype, CANON[e.descr]);
      assert.deepEqual(t.shape, e.shape);
      const inner = await inflateMember(file, t);
      assert.equal(inner.length, e.bytes);
      assert.equal(sha256(inner), e.sha256, t.name);
    }
    const zeros = l.tensors.find((t) => t.name === 'zeros')!;
    assert.ok(zeros.bytes < 200, 'zeros compress well');
    await assert.rejects(inflateMember(file, zeros, { maxBytes: 1000 }), /more than the 1000-byte limit/);
  },
);

function npy(header: string, data: Uint8Array, version = 1): Buffer {
  const pre = version === 1 ? 10 : 12;
  let h = header;
  while ((pre + h.length + 1) % 64) h += ' ';
  h += '\n';
  const head = Buffer.alloc(pre);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head);
  if (version === 1) head.writeUInt16LE(h.length, 8);
  else head.writeUInt32LE(h.length, 8);
  return Buffer.concat([head, Buffer.from(h, 'latin1'), data]);
}

test('synthetic .npy: header literal parsing and hostile headers', async () => {
  const ok = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", new Uint8Array(24));
  let t = tempFile('a.npy', ok);
  try {
    const l = await npyReader.read(t.file);
    assert.deepEqual(
      [l.tensors[0]!.dtype, l.tensors[0]!.shape, l.tensors[0]!.offset, l.tensors[0]!.bytes],
      ['F32', [2, 3], ok.length - 24, 24],
    );
  } finally {
    t.done();
  }
  const cases: [string, Buffer, RegExp, string?][] = [
    [
      'short data',
      npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", new Uint8Array(20)),
      /needs 24 bytes but only 20/,
    ],
    [
      'object dtype',
      npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(16)),
      /never unpickles/,
      'UNSUPPORTED',
    ],
    [
      'structured dtype',
      npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", new Uint8Array(8)),
      /structured/,
      'UNSUPPORTED',
    ],
    [
      'absurd shape',
      npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", new Uint8Array(8)),
      /2\^53|needs/,
    ],
    [
      'negative dim',
      npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", new Uint8Array(8)),
      /non-negative/,
    ],
    ['code in header', npy("__import__('os').system('x')", new Uint8Array(8)), /malformed .npy header/],
    [
      'deep nesting',
      npy(`{'descr': '<f4', 'fortran_order': False, 'shape': ${'('.repeat(40)}${')'.repeat(40)}}`, new Uint8Array(8)),
      /nested too deep/,
    ],
    [
      'unknown version',
      Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 9, 0, 0, 0, 0, 0]),
      /version 9\.0/,
      'UNSUPPORTED',
    ],
    [
      'lying v2 header length',
      Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0xff, 0xff, 0xff, 0x7f])]),
      /claims/,
    ],
  ];
  for (const [label, bytes, re, code] of cases) {
    t = tempFile('h.npy', bytes);
    try {
      await assert.rejects(npyReader.read(t.file), (e: unknown) => {
        assert.ok(e instanceof TzError, `${label}: ${e}`);
        assert.match(e.message, re, label);
        if (code) assert.equal(e.code, code, label);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
    } finally {
      t.done();
    }
  }
});

test('hostile .npz: zip path tricks, deflate bombs, lying sizes; fuzzing', { skip: fixtureSkip }, async () => {
  const member = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", new Uint8Array(16));
  const cases: [string, Uint8Array, RegExp][] = [
    ['../ name', zipSync({ '../x.npy': [member, { level: 0 }] }), /unsafe/],
    ['absolute name', zipSync({ '/abs.npy': [member, { level: 0 }] }), /unsafe/],
  ];
  // a deflated member whose declared size claims a 100000:1 ratio
  const bomb = Buffer.from(zipSync({ 'b.npy': [member, { level: 9 }] }));
  const cd = bomb.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  bomb.writeUInt32LE(2_000_000_000, cd + 24);
  cases.push(['ratio bomb', bomb, /impossible/]);
  // central directory claims more members than fit
  const many = Buffer.from(zipSync({ 'a.npy': [member, { level: 0 }] }));
  const eocd = many.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  many.writeUInt16LE(60000, eocd + 10);
  cases.push(['lying member count', many, /claims 60000 members/]);
  for (const [label, bytes, re] of cases) {
    const t = tempFile('h.npz', bytes);
    try {
      await assert.rejects(npzReader.read(t.file), (e: unknown) => {
        assert.ok(e instanceof TzError, `${label}: ${e}`);
        assert.match(e.message, re, label);
        return true;
      });
    } finally {
      t.done();
    }
  }
  for (const f of ['stored.npz', 'deflated.npz']) {
    const src = path.join(FIXTURES, f);
    const r = await fuzzFile(npzReader, src, {
      headerBytes: readFileSync(src).length,
      truncations: 30,
      flips: 40,
      seed: 21,
    });
    assert.equal(r.truncErrors, 30, f);
  }
  const r = await fuzzFile(npyReader, path.join(FIXTURES, 'f32.npy'), {
    headerBytes: 128,
    truncations: 20,
    flips: 40,
    seed: 2,
    truncationsMustThrow: false,
  });
  assert.ok(r.truncErrors >= 15);
});
