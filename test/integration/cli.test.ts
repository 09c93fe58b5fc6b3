import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  CORPUS,
  NO_CORPUS,
  REGISTRY_ONNX,
  gaussianF32,
  safetensorsBytes,
  tempDir,
  writeFile,
} from '../helpers/safetensors';

const CLI = path.resolve('dist/cli.js');
const tmp = tempDir('tz-cli-');
after(() => tmp.cleanup());

function run(args: string[]): { code: number; stdout: string; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, maxBuffer: 256 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

describe('CLI', () => {
  test('usage errors exit 2', () => {
    assert.equal(run([]).code, 2);
    assert.equal(run(['frobnicate']).code, 2);
    assert.equal(run(['analyze']).code, 2);
    assert.equal(run(['analyze', '--bogus', 'x']).code, 2);
    assert.equal(run(['compress', '--threads', 'lots', REGISTRY_ONNX]).code, 2);
  });

  test('crafted bad files exit 1 within 5 s with a one-line message naming the file', () => {
    const ok = safetensorsBytes([{ name: 'a', dtype: 'F32', shape: [4], data: new Uint8Array(16) }]);
    const cases: Record<string, Uint8Array | string> = {
      'trunc.safetensors': ok.subarray(0, ok.length - 3),
      'liar.safetensors': safetensorsBytes([], {
        headerOverride: '{"a":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}',
      }),
      'huge.safetensors': safetensorsBytes([], { lengthOverride: 1n << 62n }),
      'json.safetensors': safetensorsBytes([], { headerOverride: '{{{' }),
      'empty.safetensors': new Uint8Array(0),
      'fake.tzip': 'TZIP not really',
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const p = writeFile(tmp.dir, name, bytes);
      for (const cmd of name.endsWith('.tzip') ? ['verify', 'decompress', 'info'] : ['analyze', 'compress']) {
        const r = run([cmd, p]);
        assert.equal(r.code, 1, `${cmd} ${name}: exit ${r.code} ${r.stderr}`);
        const lines = r.stderr.trim().split('\n');
        assert.equal(lines.length, 1, `${cmd} ${name}: ${r.stderr}`);
        assert.ok(lines[0]!.includes(p), `${cmd} ${name} names the file: ${lines[0]}`);
        assert.ok(!/\bat \S+:\d+:\d+/.test(r.stderr), 'no stack trace');
        assert.ok(r.ms < 5000, `${cmd} ${name} took ${r.ms} ms`);
      }
    }
    assert.equal(run(['analyze', path.join(tmp.dir, 'does-not-exist.safetensors')]).code, 1);
    assert.deepEqual(
      readdirSync(tmp.dir).filter((f) => f.includes('.tmp-')),
      [],
    );
  });

  test('analyze --json has the documented shape', () => {
    const r = run(['analyze', '--json', REGISTRY_ONNX]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { files: Array<Record<string, unknown>> };
    const f = j.files[0]!;
    for (const k of ['path', 'format', 'bytes', 'tensors', 'layers']) assert.ok(k in f, k);
    const t = (f.tensors as Array<Record<string, unknown>>)[0]!;
    for (const k of ['name', 'dtype', 'shape', 'bytes', 'exponentEntropy', 'boundBytes']) assert.ok(k in t, k);
    const l = (f.layers as Array<Record<string, unknown>>)[0]!;
    for (const k of ['name', 'tensors', 'bytes', 'boundBytes']) assert.ok(k in l, k);
    assert.equal(f.format, 'onnx');
  });

  test('compress, info, verify, decompress through the CLI', () => {
    const out = path.join(tmp.dir, 'vad.onnx.tzip');
    assert.equal(run(['compress', REGISTRY_ONNX, '-o', out]).code, 0);
    assert.equal(run(['compress', REGISTRY_ONNX, '-o', out]).code, 1, 'refuses to overwrite');
    const info = run(['info', out]);
    assert.equal(info.code, 0);
    assert.match(info.stdout, /lossless/);
    assert.equal(run(['verify', out, '--against', REGISTRY_ONNX]).code, 0);
    const back = path.join(tmp.dir, 'vad.onnx');
    const d = run(['decompress', out, '-o', back]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /verified/);
  });

  test('analyze on every corpus safetensors file succeeds', { skip: NO_CORPUS }, () => {
    const files = readdirSync(CORPUS)
      .filter((f) => f.endsWith('.safetensors'))
      .map((f) => path.join(CORPUS, f));
    const r = run(['analyze', '--json', ...files]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { files: unknown[] }).files.length, files.length);
  });
});

describe('CLI on a sharded model', () => {
  test('analyze counts every shard; compress writes every shard and the index; each round-trips', () => {
    const d = path.join(tmp.dir, 'sharded');
    mkdirSync(d);
    const w = (n: number, seed: number) => new Uint8Array(gaussianF32(n, 0.02, seed).buffer);
    const s1 = writeFile(
      d,
      'model-00001-of-00002.safetensors',
      safetensorsBytes([{ name: 'layers.0.w', dtype: 'F32', shape: [256, 64], data: w(16384, 1) }]),
    );
    const s2 = writeFile(
      d,
      'model-00002-of-00002.safetensors',
      safetensorsBytes([{ name: 'layers.1.w', dtype: 'F32', shape: [256, 64], data: w(16384, 2) }]),
    );
    const idx = writeFile(
      d,
      'model.safetensors.index.json',
      JSON.stringify({ weight_map: { 'layers.0.w': path.basename(s1), 'layers.1.w': path.basename(s2) } }),
    );
    const a = run(['analyze', '--json', idx]);
    assert.equal(a.code, 0, a.stderr);
    const fa = (JSON.parse(a.stdout) as { files: Array<{ bytes: number; tensors: unknown[]; format: string }> })
      .files[0]!;
    assert.equal(fa.format, 'safetensors-index');
    assert.equal(fa.tensors.length, 2);
    assert.equal(fa.bytes, statSync(s1).size + statSync(s2).size + statSync(idx).size);
    const c = run(['compress', idx]);
    assert.equal(c.code, 0, c.stderr);
    for (const f of [s1, s2, idx]) {
      assert.ok(existsSync(`${f}.tzip`), `${f}.tzip`);
      const v = run(['verify', `${f}.tzip`, '--against', f]);
      assert.equal(v.code, 0, v.stderr);
    }
  });
});
