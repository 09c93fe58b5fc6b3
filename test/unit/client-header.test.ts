/**
 * The editor's header-first path (client/header.ts rowsFromLayout over the engine's readers) on
 * a real model and on a multi-GB synthetic safetensors file: only the header is read, so opening
 * costs the same whatever the file size. The big file is sparse (no disk space used).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, openSync, closeSync, writeSync, ftruncateSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { openModel } from '../../engine/formats/index';
import { rowsFromLayout } from '../../client/header';

const FILE = path.resolve(process.cwd(), '../shared/corpus/stories260k.bf16.safetensors');

test('header rows of a real model carry names, dtypes, shapes, sizes and layers, no statistics yet', { skip: !existsSync(FILE) && 'no ../shared/corpus' }, async () => {
  const layout = await openModel(FILE);
  const rows = rowsFromLayout(layout);
  assert.equal(rows.length, layout.tensors.length);
  const emb = rows.find((r) => r.name === 'tok_embeddings.weight')!;
  assert.deepEqual([emb.dtype, emb.shape, emb.bytes, emb.layer], ['BF16', [512, 64], 65536, 'tok_embeddings']);
  assert.equal(rows.find((r) => r.name.startsWith('layers.3.'))!.layer, 'layers.3');
  assert.ok(rows.every((r) => r.boundBytes === null && r.exponentEntropy === null));
  assert.equal(layout.size, statSync(FILE).size);
  assert.ok(rows.reduce((s, r) => s + r.bytes, 0) < layout.size, 'tensor bytes exclude the header');
});

test('a 6 GiB safetensors file opens from its header with bounded memory', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tz-client-big-'));
  try {
    const file = path.join(dir, 'big.safetensors');
    const tensors: Record<string, unknown> = {};
    const layers = 48;
    const per = Math.floor((6 * 2 ** 30) / layers / 2) * 2; // bytes per tensor, BF16
    let off = 0;
    for (let i = 0; i < layers; i++) {
      tensors[`model.layers.${i}.mlp.weight`] = { dtype: 'BF16', shape: [per / 2], data_offsets: [off, off + per] };
      off += per;
    }
    const json = Buffer.from(JSON.stringify(tensors));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const fd = openSync(file, 'w');
    writeSync(fd, len, 0, 8, 0);
    writeSync(fd, json, 0, json.length, 8);
    ftruncateSync(fd, 8 + json.length + off); // sparse: the data section is a hole
    closeSync(fd);
    assert.ok(statSync(file).size > 6 * 2 ** 30 - 1);
    const before = process.memoryUsage().rss;
    const rows = rowsFromLayout(await openModel(file));
    const grew = process.memoryUsage().rss - before;
    assert.equal(rows.length, layers);
    assert.equal(rows.reduce((s, r) => s + r.bytes, 0), off);
    assert.equal(rows[47]!.layer, 'model.layers.47');
    assert.ok(grew < 200 * 2 ** 20, `RSS grew ${grew} bytes reading the header of a 6 GiB file`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
