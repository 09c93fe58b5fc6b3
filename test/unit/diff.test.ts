import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { compressFile, diffFiles, type DiffResult } from '../../engine/api';
import { CHECKPOINTS, ensureCheckpoints, expected } from '../helpers/checkpoints';
import { gaussianF32, safetensorsBytes, tempDir, toBF16Bytes, writeFile } from '../helpers/safetensors';

const tmp = tempDir('tz-diff-');
after(() => tmp.cleanup());
const CLI = path.resolve('dist/cli.js');

function checkAgainst(
  r: DiffResult,
  want: Record<string, { elements: number; changedElements: number; maxAbsDiff: number }>,
  label: string,
): void {
  const names = Object.keys(want);
  assert.ok(names.length > 10, `${label}: numpy listed the tensors`);
  for (const name of names) {
    const t = r.tensors.find((x) => x.name === name);
    assert.ok(t, `${label}: ${name} present`);
    const w = want[name]!;
    assert.equal(t.elements, w.elements, `${label} ${name} elements`);
    assert.equal(t.changedElements, w.changedElements, `${label} ${name} changed elements`);
    assert.equal(t.maxAbsDiff, w.maxAbsDiff, `${label} ${name} max |a-b|`);
    assert.equal(t.status, w.changedElements ? 'changed' : 'identical');
    const ulp = t.ulpHistogram!;
    assert.equal(
      ulp.reduce((a, b) => a + b, 0),
      w.elements,
      `${label} ${name}: every element in the ULP histogram`,
    );
    assert.equal(
      w.elements - ulp[0]!,
      w.changedElements,
      `${label} ${name}: ULP distance 0 exactly for unchanged elements`,
    );
  }
}

describe('diff on really trained checkpoints, against numpy', { skip: ensureCheckpoints() }, () => {
  test(
    'changed elements and max |a-b| exact for every tensor of every pair (F32 and BF16, consecutive and ' +
      'fine-tune)',
    async () => {
      const e = expected();
      assert.ok(e.pairs.length >= 6);
      for (const p of e.pairs) {
        const r = await diffFiles(path.join(CHECKPOINTS, p.a), path.join(CHECKPOINTS, p.b));
        checkAgainst(r, p.tensors, `${p.a} -> ${p.b}`);
        assert.equal(
          r.summary.changedElements,
          Object.values(p.tensors).reduce((s, t) => s + t.changedElements, 0),
        );
        assert.ok(r.summary.relL2! > 0 && r.summary.relL2! < 1);
      }
    },
  );

  test('the same figures through .tzip inputs (standalone and delta) and the CLI --json shape', async () => {
    const p = expected().pairs.find((x) => x.b.startsWith('finetune/bf16'))!;
    const a = path.join(CHECKPOINTS, p.a),
      b = path.join(CHECKPOINTS, p.b);
    // the delta .tzip finds its base by name and SHA-256 next to it: here, the base's own .tzip
    const az = path.join(tmp.dir, `${path.basename(a)}.tzip`);
    await compressFile(a, { output: az, force: true });
    const bz = path.join(tmp.dir, path.basename(b) + '.tzip');
    await compressFile(b, { output: bz, base: a, force: true });
    const r = await diffFiles(az, bz);
    checkAgainst(r, p.tensors, 'tzip');
    if (!existsSync(CLI)) return;
    const cli = spawnSync(process.execPath, [CLI, 'diff', a, b, '--json'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(cli.status, 0, cli.stderr);
    const j = JSON.parse(cli.stdout) as DiffResult;
    assert.deepEqual(Object.keys(j).slice(0, 5), ['a', 'b', 'tensors', 'layers', 'summary']);
    for (const k of [
      'name',
      'status',
      'dtype',
      'shape',
      'elements',
      'changedElements',
      'maxAbsDiff',
      'meanAbsDiff',
      'relL2',
      'cosine',
      'ulpHistogram',
      'xorBitHistogram',
    ])
      assert.ok(k in j.tensors[0]!, `tensor field ${k}`);
    checkAgainst(j, p.tensors, 'cli');
  });
});

describe('diff statuses', () => {
  test('added, removed, dtype- and shape-changed, identical; figures on a known change', async () => {
    const w = gaussianF32(64 * 32, 0.02, 1);
    const w2 = Float32Array.from(w);
    w2[5] = w2[5]! + 0.5; // one element off by 0.5
    w2[7] = -w2[7]!; // one sign flip
    const a = writeFile(
      tmp.dir,
      'a.safetensors',
      safetensorsBytes([
        { name: 'l.0.w', dtype: 'F32', shape: [64, 32], data: new Uint8Array(w.buffer) },
        { name: 'l.0.same', dtype: 'BF16', shape: [64, 32], data: toBF16Bytes(w) },
        { name: 'l.1.gone', dtype: 'F32', shape: [4], data: new Uint8Array(16) },
        { name: 'l.1.dt', dtype: 'F32', shape: [4], data: new Uint8Array(16) },
        { name: 'l.1.sh', dtype: 'F32', shape: [4], data: new Uint8Array(16) },
      ]),
    );
    const b = writeFile(
      tmp.dir,
      'b.safetensors',
      safetensorsBytes([
        { name: 'l.0.w', dtype: 'F32', shape: [64, 32], data: new Uint8Array(w2.buffer) },
        { name: 'l.0.same', dtype: 'BF16', shape: [64, 32], data: toBF16Bytes(w) },
        { name: 'l.1.dt', dtype: 'F16', shape: [4], data: new Uint8Array(8) },
        { name: 'l.1.sh', dtype: 'F32', shape: [2, 2], data: new Uint8Array(16) },
        { name: 'l.2.new', dtype: 'F32', shape: [4], data: new Uint8Array(16) },
      ]),
    );
    const r = await diffFiles(a, b);
    const st = Object.fromEntries(r.tensors.map((t) => [t.name, t.status]));
    assert.deepEqual(st, {
      'l.0.w': 'changed',
      'l.0.same': 'identical',
      'l.1.gone': 'removed',
      'l.1.dt': 'dtype-changed',
      'l.1.sh': 'shape-changed',
      'l.2.new': 'added',
    });
    const t = r.tensors[0]!;
    assert.equal(t.changedElements, 2);
    const expMax = Math.max(Math.abs(Math.fround(w[5]! + 0.5) - w[5]!), 2 * Math.abs(w[7]!));
    assert.equal(t.maxAbsDiff, expMax);
    assert.equal(t.xorBitHistogram![31], 1, 'one sign bit flipped');
    assert.ok(t.cosine! < 1 && t.cosine! > 0.5);
    assert.equal(r.summary.tensors.changed, 1);
    assert.equal(r.summary.tensors.identical, 1);
    assert.deepEqual(
      r.layers.map((l) => l.layer),
      ['l.0', 'l.1', 'l.2'],
    );
    assert.equal(r.layers[0]!.changedElements, 2);
  });
});
