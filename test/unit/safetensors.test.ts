import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { DTYPES } from '../../engine/core/dtypes';
import { TzError } from '../../engine/core/errors';
import { openModel } from '../../engine/formats/index';
import { topLevelKeys } from '../../engine/formats/safetensors';
import { CORPUS, NO_CORPUS, rng, safetensorsBytes, tempDir, writeFile, type RawTensor } from '../helpers/safetensors';

const tmp = tempDir();
after(() => tmp.cleanup());

const f32 = (n: number): RawTensor['data'] => new Uint8Array(new Float32Array(n).fill(0.5).buffer);
const good: RawTensor[] = [
  { name: 'a.weight', dtype: 'F32', shape: [2, 3], data: f32(6) },
  { name: 'b.bias', dtype: 'F32', shape: [3], data: f32(3) },
];

async function expectBad(name: string, bytes: Uint8Array | string, pattern: RegExp): Promise<void> {
  const p = writeFile(tmp.dir, name, bytes);
  await assert.rejects(openModel(p), (e: unknown) => {
    assert.ok(e instanceof TzError, `expected TzError, got ${String(e)}`);
    assert.equal(e.code, 'BAD_INPUT');
    assert.ok(e.message.includes(p), `message names the file: ${e.message}`);
    assert.ok(!e.message.includes('\n'), 'one line');
    assert.match(e.message, pattern);
    return true;
  });
}

describe('safetensors reader', () => {
  test('reads a valid file with exact absolute offsets', async () => {
    const bytes = safetensorsBytes(good, { metadata: { format: 'pt' } });
    const p = writeFile(tmp.dir, 'good.safetensors', bytes);
    const m = await openModel(p);
    assert.equal(m.format, 'safetensors');
    assert.equal(m.tensors.length, 2);
    const hdr = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.deepEqual(
      m.tensors.map((t) => [t.name, t.offset, t.bytes]),
      [
        ['a.weight', 8 + hdr, 24],
        ['b.bias', 8 + hdr + 24, 12],
      ],
    );
    assert.deepEqual(m.metadata, { format: 'pt' });
  });

  test('every safetensors dtype is accepted', async () => {
    const r = rng(3);
    const tensors: RawTensor[] = Object.values(DTYPES).map((d) => {
      const data = new Uint8Array(d.size * 5);
      for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
      return { name: `t_${d.name}`, dtype: d.name, shape: [5], data };
    });
    const p = writeFile(tmp.dir, 'dtypes.safetensors', safetensorsBytes(tensors));
    const m = await openModel(p);
    assert.deepEqual(m.tensors.map((t) => t.dtype).sort(), Object.keys(DTYPES).sort());
  });

  test('header length beyond the file', () =>
    expectBad('len.safetensors', safetensorsBytes(good, { lengthOverride: 1_000_000n }), /larger than the file/));
  test('header length above 100 MB is refused before allocating', () =>
    expectBad('huge.safetensors', safetensorsBytes(good, { lengthOverride: 1n << 60n }), /100 MB/));
  test('file shorter than 8 bytes', () => expectBad('tiny.safetensors', new Uint8Array(5), /too small/));
  test('non-UTF-8 header', async () => {
    const b = safetensorsBytes(good);
    b[9] = 0xff;
    b[10] = 0xfe;
    await expectBad('utf8.safetensors', b, /UTF-8/);
  });
  test('invalid JSON', () =>
    expectBad('json.safetensors', safetensorsBytes(good, { headerOverride: '{"a": [1, 2' }), /not valid JSON/));
  test('header not an object', () =>
    expectBad('arr.safetensors', safetensorsBytes(good, { headerOverride: '[1,2,3]' }), /must be a JSON object/));
  test('missing dtype', () =>
    expectBad(
      'nodtype.safetensors',
      safetensorsBytes([], { headerOverride: '{"x":{"shape":[1],"data_offsets":[0,4]}}' }),
      /missing a string "dtype"/,
    ));
  test('unknown dtype', () =>
    expectBad(
      'baddtype.safetensors',
      safetensorsBytes([], { headerOverride: '{"x":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}' }),
      /unknown dtype "F17"/,
    ));
  test('a dtype named like an Object property ("toString", "__proto__", "constructor") is unknown', async () => {
    for (const d of ['toString', '__proto__', 'constructor'])
      await expectBad(
        `proto-${d}.safetensors`,
        safetensorsBytes([], { headerOverride: `{"x":{"dtype":"${d}","shape":[1],"data_offsets":[0,4]}}` }),
        new RegExp(`unknown dtype "${d}"`),
      );
  });
  test('unknown field', () =>
    expectBad(
      'field.safetensors',
      safetensorsBytes([], { headerOverride: '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"evil":1}}' }),
      /unknown field "evil"/,
    ));
  test('missing data_offsets', () =>
    expectBad(
      'nooff.safetensors',
      safetensorsBytes([], { headerOverride: '{"x":{"dtype":"F32","shape":[1]}}' }),
      /data_offsets/,
    ));
  test('offsets out of range', () =>
    expectBad(
      'range.safetensors',
      safetensorsBytes([], { headerOverride: '{"x":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}' }),
      /out of range/,
    ));
  test('begin after end', () =>
    expectBad(
      'rev.safetensors',
      safetensorsBytes(good, { headerOverride: '{"x":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}' }),
      /begin after end/,
    ));
  test('overlapping tensors', () =>
    expectBad(
      'overlap.safetensors',
      safetensorsBytes(good, {
        headerOverride:
          '{"x":{"dtype":"F32","shape":[6],"data_offsets":[0,24]},"y":{"dtype":"F32","shape":[3],' +
          '"data_offsets":[12,24]}}',
      }),
      /overlap/,
    ));
  test('bytes != shape x dtype size', () =>
    expectBad(
      'size.safetensors',
      safetensorsBytes(good, { headerOverride: '{"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,24]}}' }),
      /needs 16 bytes/,
    ));
  test('absurd shape', () =>
    expectBad(
      'absurd.safetensors',
      safetensorsBytes(good, {
        headerOverride: '{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,24]}}',
      }),
      /absurd/,
    ));
  test('duplicate names', () =>
    expectBad(
      'dup.safetensors',
      safetensorsBytes(good, {
        headerOverride:
          '{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"x":{"dtype":"F32","shape":[3],' +
          '"data_offsets":[12,24]}}',
      }),
      /duplicate tensor name "x"/,
    ));
  test('metadata values must be strings', () =>
    expectBad(
      'meta.safetensors',
      safetensorsBytes(good, { headerOverride: '{"__metadata__":{"a":1}}' }),
      /must be a string/,
    ));

  test('topLevelKeys ignores nested keys and escaped quotes', () => {
    assert.deepEqual(topLevelKeys('{"a\\"b":{"a":1,"c":[{"a":2}]},"c":"x:y"}'), ['a"b', 'c']);
  });

  test('random truncations and byte flips never escape as anything but TzError', async () => {
    const base = safetensorsBytes(good);
    const r = rng(99);
    for (let k = 0; k < 200; k++) {
      const b = k % 2 ? base.slice(0, Math.floor(r() * base.length)) : base.slice();
      if (k % 2 === 0) b[Math.floor(r() * Math.min(b.length, 80))] = Math.floor(r() * 256);
      const p = writeFile(tmp.dir, `fuzz${k}.safetensors`, b);
      try {
        const m = await openModel(p);
        for (const t of m.tensors) assert.ok(t.offset + t.bytes <= m.size);
      } catch (e) {
        assert.ok(e instanceof TzError, `fuzz case ${k}: ${String(e)}`);
        assert.ok(!e.message.includes('\n'));
      }
    }
  });
});

describe('sharded safetensors', () => {
  test('index resolves every shard and tensor', async () => {
    const d = path.join(tmp.dir, 'sharded');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(d);
    writeFile(d, 'model-00001-of-00002.safetensors', safetensorsBytes([good[0]!]));
    writeFile(d, 'model-00002-of-00002.safetensors', safetensorsBytes([good[1]!]));
    const idx = writeFile(
      d,
      'model.safetensors.index.json',
      JSON.stringify({
        metadata: { total_size: 36 },
        weight_map: { 'a.weight': 'model-00001-of-00002.safetensors', 'b.bias': 'model-00002-of-00002.safetensors' },
      }),
    );
    const m = await openModel(idx);
    assert.equal(m.format, 'safetensors-index');
    assert.equal(m.files?.length, 2);
    assert.deepEqual(
      m.tensors.map((t) => [t.name, path.basename(t.file!)]),
      [
        ['a.weight', 'model-00001-of-00002.safetensors'],
        ['b.bias', 'model-00002-of-00002.safetensors'],
      ],
    );
  });

  test('missing shard', async () => {
    const idx = writeFile(
      tmp.dir,
      'missing.safetensors.index.json',
      JSON.stringify({ weight_map: { a: 'nope.safetensors' } }),
    );
    await assert.rejects(openModel(idx), /missing shard "nope.safetensors"/);
  });

  test('shard outside the model folder', async () => {
    const idx = writeFile(
      tmp.dir,
      'escape.safetensors.index.json',
      JSON.stringify({ weight_map: { a: '../../etc/passwd' } }),
    );
    await assert.rejects(openModel(idx), /outside the model folder/);
  });

  test('tensor mapped to a shard that lacks it', async () => {
    writeFile(tmp.dir, 'only-a.safetensors', safetensorsBytes([good[0]!]));
    const idx = writeFile(
      tmp.dir,
      'lack.safetensors.index.json',
      JSON.stringify({ weight_map: { zzz: 'only-a.safetensors' } }),
    );
    await assert.rejects(openModel(idx), /does not contain it/);
  });
});

describe('corpus safetensors', { skip: NO_CORPUS }, () => {
  test('every corpus file opens and its ranges tile the data section', async () => {
    const files = readdirSync(CORPUS).filter((f) => f.endsWith('.safetensors'));
    assert.ok(files.length >= 5);
    for (const f of files) {
      const p = path.join(CORPUS, f);
      const m = await openModel(p);
      const hdr = Number(new DataView(readFileSync(p).buffer.slice(0, 8)).getBigUint64(0, true));
      let pos = 8 + hdr;
      for (const t of m.tensors) {
        assert.equal(t.offset, pos, `${f} ${t.name}`);
        pos += t.bytes;
      }
      assert.equal(pos, m.size, f);
    }
  });
});
