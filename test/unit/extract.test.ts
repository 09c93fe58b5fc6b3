import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compressFile } from '../../engine/api';
import { extractTensors } from '../../engine/container/extract';
import { TzError } from '../../engine/core/errors';
import { openModel } from '../../engine/formats/index';
import {
  CORPUS,
  HAVE_CORPUS,
  REGISTRY_ONNX,
  gaussianF32,
  safetensorsBytes,
  tempDir,
  toBF16Bytes,
  writeFile,
} from '../helpers/safetensors';
import { ensureFixtures, FIXTURES } from './formats-helpers';
import { buildQuantGguf } from './quant-helpers';

const tmp = tempDir('tz-extract-');
after(() => tmp.cleanup());
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Tensors of a written .safetensors, parsed here (not by the engine's reader). */
function readSafetensors(file: string): Map<string, { dtype: string; shape: number[]; sha: string }> {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, { dtype: string; shape: number[]; sha: string }>();
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    out.set(k, {
      dtype: v.dtype,
      shape: v.shape,
      sha: sha(b.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1])),
    });
  }
  return out;
}

/** name -> SHA-256 of the tensor's bytes, from the layout's byte ranges in the original file. */
async function layoutShas(file: string): Promise<Map<string, string>> {
  const l = await openModel(file);
  const m = new Map<string, string>();
  for (const t of l.tensors) {
    if (t.extra?.deflated || m.has(t.name)) continue;
    m.set(t.name, sha(readFileSync(t.file ?? l.path).subarray(t.offset, t.offset + t.bytes)));
  }
  return m;
}

const inputs: Array<{ file: string; expected: () => Promise<Map<string, string>> }> = [];
let fixtureSkip: string | false = false;

before(async () => {
  // synthetic safetensors and a two-shard model with its index
  const a = gaussianF32(3000, 0.02, 1),
    b = gaussianF32(5000, 0.5, 2);
  const t1 = [
    { name: 'a.weight', dtype: 'BF16', shape: [30, 100], data: toBF16Bytes(a) },
    { name: 'b.weight', dtype: 'F32', shape: [50, 100], data: new Uint8Array(b.buffer) },
  ];
  const st = writeFile(tmp.dir, 'syn.safetensors', safetensorsBytes(t1));
  inputs.push({ file: st, expected: () => layoutShas(st) });
  const s1 = writeFile(tmp.dir, 'sh-00001-of-00002.safetensors', safetensorsBytes([t1[0]!]));
  const s2 = writeFile(tmp.dir, 'sh-00002-of-00002.safetensors', safetensorsBytes([t1[1]!]));
  const idx = writeFile(
    tmp.dir,
    'sh.safetensors.index.json',
    JSON.stringify({ metadata: {}, weight_map: { 'a.weight': path.basename(s1), 'b.weight': path.basename(s2) } }),
  );
  inputs.push({ file: idx, expected: () => layoutShas(idx) });
  const q = writeFile(
    tmp.dir,
    'q.gguf',
    buildQuantGguf(
      [
        { name: 'w', data: gaussianF32(2048, 0.03, 4) },
        { name: 'v', data: gaussianF32(512, 0.03, 5) },
      ],
      'Q4_K',
    ),
  );
  inputs.push({ file: q, expected: () => layoutShas(q) });
  inputs.push({ file: REGISTRY_ONNX, expected: () => layoutShas(REGISTRY_ONNX) });
  if (HAVE_CORPUS)
    for (const f of ['stories260k.f32.gguf', 'stories260k.bf16.safetensors'])
      inputs.push({ file: path.join(CORPUS, f), expected: () => layoutShas(path.join(CORPUS, f)) });
  fixtureSkip = ensureFixtures();
  if (!fixtureSkip) {
    const exp = JSON.parse(readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8'));
    const fromExpected = (group: Record<string, { sha256?: string; storageSha256?: string }>) => async () =>
      new Map(Object.entries(group).map(([k, v]) => [k, (v.sha256 ?? v.storageSha256)!]));
    for (const f of ['stored.npz', 'deflated.npz'])
      inputs.push({ file: path.join(FIXTURES, f), expected: fromExpected(exp.npz) });
    for (const f of ['f32.npy', 'f16.npy', 'i64.npy', 'u8.npy', 'bool.npy', 'scalar.npy']) {
      const e = exp.npy[f.replace('.npy', '')];
      inputs.push({
        file: path.join(FIXTURES, f),
        expected: async () => new Map([[(await openModel(path.join(FIXTURES, f))).tensors[0]!.name, e.sha256]]),
      });
    }
    // a state_dict: one tensor per storage, named by its first view (engine/formats/pytorch.ts)
    inputs.push({
      file: path.join(FIXTURES, 'state_dict.pt'),
      expected: () => layoutShas(path.join(FIXTURES, 'state_dict.pt')),
    });
  }
});

describe('extract', () => {
  test('every tensor, bit-exact, from every format and from its .tzip', async (t) => {
    if (fixtureSkip) t.diagnostic(`fixtures skipped: ${fixtureSkip}`);
    for (const inp of inputs) {
      const expected = await inp.expected();
      const z = path.join(tmp.dir, `${path.basename(inp.file)}.tzip`);
      // a sharded model is compressed shard by shard; its tensors are read from the shards' .tzip
      const sources = inp.file.endsWith('.index.json') ? [inp.file] : [inp.file, z];
      if (sources.length === 2) await compressFile(inp.file, { output: z, threads: 1 });
      for (const src of sources) {
        const out = path.join(tmp.dir, `${path.basename(src)}.x.safetensors`);
        if (src.endsWith('deflated.npz.tzip')) {
          // the members' bytes are deflate streams inside the .tzip: refused, with the way out named
          await assert.rejects(
            extractTensors(src, { all: true, output: out }),
            (e: unknown) => e instanceof TzError && e.code === 'UNSUPPORTED' && /decompress the \.tzip/.test(e.message),
          );
          continue;
        }
        const r = await extractTensors(src, { all: true, output: out });
        const got = readSafetensors(out);
        assert.equal(got.size, r.tensors.length);
        // left out only what safetensors cannot hold (ONNX varint-packed ints), and said so
        for (const s of r.skipped) {
          assert.match(s.reason, /cannot hold/);
          expected.delete(s.name);
        }
        for (const n of r.tensors) assert.ok(!r.skipped.some((s) => s.name === n));
        if (!r.skipped.length) assert.ok(![...expected.keys()].some((n) => !got.has(n)));
        for (const [name, s] of expected) {
          assert.ok(got.has(name), `${src}: ${name} extracted`);
          assert.equal(got.get(name)!.sha, s, `${src}: ${name} bytes`);
        }
        assert.equal(got.size, expected.size, `${src}: tensor count`);
      }
    }
  });

  test('one tensor to .npy, read back by NumPy rules; globs; refusals leave no file', async () => {
    const st = inputs[0]!.file;
    const out = path.join(tmp.dir, 'one.npy');
    await extractTensors(st, { names: ['b.weight'], output: out });
    const b = readFileSync(out);
    assert.equal(b.subarray(0, 6).toString('latin1'), '\x93NUMPY');
    const hl = b.readUInt16LE(8);
    assert.equal((10 + hl) % 64, 0);
    assert.match(
      b.subarray(10, 10 + hl).toString('latin1'),
      /'descr': '<f4', 'fortran_order': False, 'shape': \(50, 100\)/,
    );
    assert.equal(sha(b.subarray(10 + hl)), (await layoutShas(st)).get('b.weight'));
    const g = path.join(tmp.dir, 'glob.safetensors');
    const r = await extractTensors(st, { globs: ['a.*'], output: g });
    assert.deepEqual(r.tensors, ['a.weight']);
    // refusals: BF16 has no NumPy type, two tensors do not fit a .npy, an existing output is kept
    await assert.rejects(
      extractTensors(st, { names: ['a.weight'], output: path.join(tmp.dir, 'bf.npy') }),
      (e: unknown) => e instanceof TzError && e.code === 'UNSUPPORTED',
    );
    await assert.rejects(
      extractTensors(st, { all: true, output: path.join(tmp.dir, 'two.npy') }),
      (e: unknown) => e instanceof TzError && e.code === 'USAGE',
    );
    await assert.rejects(
      extractTensors(st, { names: ['b.weight'], output: out }),
      (e: unknown) => e instanceof TzError && e.code === 'EXISTS',
    );
    await assert.rejects(
      extractTensors(st, { globs: ['zzz*'], output: path.join(tmp.dir, 'none.safetensors') }),
      (e: unknown) => e instanceof TzError && e.code === 'USAGE',
    );
    if (!fixtureSkip) {
      await assert.rejects(
        extractTensors(path.join(FIXTURES, 'bigendian.npy'), {
          all: true,
          output: path.join(tmp.dir, 'be.safetensors'),
        }),
        (e: unknown) => e instanceof TzError && e.code === 'UNSUPPORTED' && /big-endian/.test(e.message),
      );
      await assert.rejects(
        extractTensors(path.join(FIXTURES, 'fortran.npy'), { all: true, output: path.join(tmp.dir, 'fo.safetensors') }),
        (e: unknown) => e instanceof TzError && /Fortran/.test(e.message),
      );
      const fo = path.join(tmp.dir, 'fo.npy');
      await extractTensors(path.join(FIXTURES, 'fortran.npy'), { all: true, output: fo });
      const orig = readFileSync(path.join(FIXTURES, 'fortran.npy')),
        mine = readFileSync(fo);
      assert.ok(orig.subarray(10 + orig.readUInt16LE(8)).equals(mine.subarray(10 + mine.readUInt16LE(8))));
      assert.match(mine.subarray(10, 10 + mine.readUInt16LE(8)).toString('latin1'), /'fortran_order': True/);
    }
    assert.deepEqual(
      readdirSync(tmp.dir).filter((f) => f.includes('.tmp-')),
      [],
    );
    for (const f of ['bf.npy', 'two.npy', 'none.safetensors', 'be.safetensors', 'fo.safetensors'])
      assert.ok(!existsSync(path.join(tmp.dir, f)), f);
  });

  test(
    'CLI: extract and export (exit codes, output)',
    { skip: existsSync('dist/cli.js') ? false : 'dist/cli.js not built (npm run build)' },
    async () => {
      const cli = (...args: string[]) =>
        spawnSync(process.execPath, ['dist/cli.js', ...args], { encoding: 'utf8', timeout: 60_000 });
      const st = inputs[0]!.file;
      const z = `${st}.tzip`;
      const r = cli(
        'extract',
        z,
        '--tensor',
        'a.weight',
        '--match',
        'b.*',
        '-o',
        path.join(tmp.dir, 'cli.safetensors'),
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /2 tensor\(s\)/);
      assert.equal(
        readSafetensors(path.join(tmp.dir, 'cli.safetensors')).get('a.weight')!.sha,
        (await layoutShas(st)).get('a.weight'),
      );
      const e = cli('export', z, '--to', 'safetensors', '-o', path.join(tmp.dir, 'exp.safetensors'));
      assert.equal(e.status, 0, e.stderr);
      assert.equal(readSafetensors(path.join(tmp.dir, 'exp.safetensors')).size, 2);
      const bad = cli('extract', z, '--tensor', 'nope', '-o', path.join(tmp.dir, 'nope.safetensors'));
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /no tensor named "nope"/);
      const corrupt = cli('export', path.join(tmp.dir, 'missing.tzip'), '--to', 'safetensors');
      assert.equal(corrupt.status, 1);
      assert.equal(corrupt.stderr.trim().split('\n').length, 1);
    },
  );
});
