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

test(
  'header rows of a real model carry names, dtypes, shapes, sizes and layers, no statistics yet',
  { skip: !existsSync(FILE) && 'no ../shared/corpus' },
  async () => {
    const layout = await openModel(FILE);
    const rows = rowsFromLayout(layout);
    assert.equal(rows.length, layout.tensors.length);
    const emb = rows.find((r) => r.name === 'tok_embeddings.weight')!;
    assert.deepEqual([emb.dtype, emb.shape, emb.bytes, emb.layer], ['BF16', [512, 64], 65536, 'tok_embeddings']);
    assert.equal(rows.find((r) => r.name.startsWith('layers.3.'))!.layer, 'layers.3');
    assert.ok(rows.every((r) => r.boundBytes === null && r.exponentEntropy === null));
    assert.equal(layout.size, statSync(FILE).size);
    assert.ok(rows.reduce((s, r) => s + r.bytes, 0) < layout.size, 'tensor bytes exclude the header');
  },
);

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
    assert.equal(
      rows.reduce((s, r) => s + r.bytes, 0),
      off,
    );
    assert.equal(rows[47]!.layer, 'model.layers.47');
    assert.ok(grew < 200 * 2 ** 20, `RSS grew ${grew} bytes reading the header of a 6 GiB file`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'a sharded model with a shard missing opens in part: present shards listed, the missing one marked, ' +
    'checkIndex problems kept',
  async () => {
    const { writeShardedModel, layerTensors } = await import('../helpers/shardedModel');
    const { readIndexHeader } = await import('../../client/header');
    const dir = mkdtempSync(path.join(tmpdir(), 'tz-client-shards-'));
    try {
      const m = writeShardedModel(
        dir,
        [0, 1, 2].map((l) => ({ tensors: layerTensors(l) })),
        { skipShards: [1] },
      );
      const hv = await readIndexHeader(m.index);
      assert.equal(hv.format, 'safetensors-index');
      assert.deepEqual(
        hv.shards!.map((s) => [s.file, s.state, s.tensors]),
        [
          [m.shardNames[0], 'present', 4],
          [m.shardNames[1], 'missing', 4],
          [m.shardNames[2], 'present', 4],
        ],
      );
      assert.equal(hv.shards![1]!.bytes, null);
      // the present shards' tensors, each naming its shard; none of the missing shard's
      assert.equal(hv.rows.length, 8);
      assert.ok(hv.rows.every((r) => r.shard === m.shardNames[0] || r.shard === m.shardNames[2]));
      assert.ok(!hv.rows.some((r) => r.name.startsWith('model.layers.1.')));
      assert.deepEqual(hv.files, [path.join(dir, m.shardNames[0]!), path.join(dir, m.shardNames[2]!)]);
      assert.equal(
        hv.size,
        statSync(m.index).size +
          statSync(path.join(dir, m.shardNames[0]!)).size +
          statSync(path.join(dir, m.shardNames[2]!)).size,
      );
      const missing = hv.index!.problems.filter((p) => p.code === 'SHARD_MISSING');
      assert.equal(missing.length, 1);
      assert.equal(missing[0]!.shard, m.shardNames[1]);
      assert.equal(
        hv.index!.text.slice(missing[0]!.range.offset, missing[0]!.range.offset + missing[0]!.range.length),
        JSON.stringify(m.shardNames[1]),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'a complete sharded model: the shards total, no problems; an index that is not JSON is one error ' +
    'naming the file',
  async () => {
    const { writeShardedModel, layerTensors } = await import('../helpers/shardedModel');
    const { readIndexHeader } = await import('../../client/header');
    const dir = mkdtempSync(path.join(tmpdir(), 'tz-client-shards-'));
    try {
      const m = writeShardedModel(
        dir,
        [0, 1, 2].map((l) => ({ tensors: layerTensors(l) })),
      );
      const hv = await readIndexHeader(m.index);
      assert.equal(hv.rows.length, 12);
      assert.ok(hv.shards!.every((s) => s.state === 'present'));
      assert.equal(
        hv.size,
        [m.index, ...m.shardNames.map((n) => path.join(dir, n))].reduce((a, f) => a + statSync(f).size, 0),
      );
      assert.deepEqual(hv.index!.problems, []);
      const { writeFileSync } = await import('node:fs');
      writeFileSync(m.index, '{"weight_map": ');
      await assert.rejects(
        readIndexHeader(m.index),
        (e: Error) => e.message.startsWith(m.index) && !e.message.includes('\n'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
