/** The per-layer chart at any size: blocks by name structure, zoom ranges, never more bars than room, labels that fit.
 * */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LayerRow } from '../../protocol/webview';
import {
  blockOf,
  blocksOf,
  chartItems,
  fitLabel,
  levelMembers,
  TOP,
  zoomToBars,
} from '../../webview/model/layerGroups';
import { layersFromRows } from '../../webview/model/chart';

const L = (name: string, bytes = 100, est = 60): LayerRow => ({
  name,
  tensors: 2,
  bytes,
  boundBytes: est - 40,
  estimateBytes: est,
  elements: bytes / 2,
});

test('blockOf: the layer name without its trailing index', () => {
  assert.equal(blockOf('model.layers.12'), 'model.layers');
  assert.equal(blockOf('blk.4'), 'blk');
  assert.equal(blockOf('conv2d_107'), 'conv2d');
  assert.equal(blockOf('model.embed_tokens'), 'model.embed_tokens');
  assert.equal(blockOf('down_blocks.1'), 'down_blocks');
  assert.equal(blockOf('42'), '42');
});

test('blocks keep storage order (first appearance) and their layers', () => {
  const b = blocksOf([
    L('conv2d_0'),
    L('batch_normalization_0'),
    L('conv2d_1'),
    L('batch_normalization_1'),
    L('dense'),
  ]);
  assert.deepEqual(
    b.map((x) => [x.name, x.layers.map((l) => l.name)]),
    [
      ['conv2d', ['conv2d_0', 'conv2d_1']],
      ['batch_normalization', ['batch_normalization_0', 'batch_normalization_1']],
      ['dense', ['dense']],
    ],
  );
});

test('a model that fits shows its layers; one that does not shows blocks, then a block its layers', () => {
  const small = [L('emb'), L('layers.0'), L('layers.1'), L('norm')];
  assert.deepEqual(
    levelMembers(small, null, 100).map((i) => i.kind),
    ['layer', 'layer', 'layer', 'layer'],
  );
  const big = [
    L('tok_embd', 1000),
    ...Array.from({ length: 5000 }, (_, i) => L(`blk.${i}`)),
    L('output_norm'),
    L('output', 1000),
  ];
  const top = levelMembers(big, null, 300);
  assert.deepEqual(
    top.map((i) => [i.kind, i.name]),
    [
      ['layer', 'tok_embd'],
      ['block', 'blk'],
      ['layer', 'output_norm'],
      ['layer', 'output'],
    ],
  );
  assert.equal(top[1]!.bytes, 5000 * 100);
  assert.equal(top[1]!.estimateBytes, 5000 * 60, "a block sums its layers' estimates");
  assert.equal(top[1]!.label, 'blk ×5000');
  // inside the block: 5,000 layers in at most 300 bars, every layer in exactly one bar, in order
  const inner = chartItems(big, { block: 'blk', start: 0, end: Infinity }, 300);
  assert.ok(inner.items.length <= 300, `${inner.items.length} bars`);
  assert.equal(inner.members, 5000);
  assert.deepEqual(
    inner.items.flatMap((i) => i.layers.map((l) => l.name)),
    Array.from({ length: 5000 }, (_, i) => `blk.${i}`),
  );
  assert.equal(
    inner.items.reduce((a, i) => a + i.bytes, 0),
    5000 * 100,
  );
  assert.equal(inner.items[0]!.kind, 'run');
  assert.equal(inner.items[0]!.label, `blk.0 … blk.${inner.items[0]!.count - 1}`);
  // brushing bars 2..4 zooms to exactly their layers; that range fits, so bars are layers again
  const z = zoomToBars({ block: 'blk', start: 0, end: Infinity }, inner.items, 4, 2);
  const zoomed = chartItems(big, z, 300);
  assert.equal(zoomed.items[0]!.name, inner.items[2]!.layers[0]!.name);
  assert.equal(zoomed.items.length, inner.items[2]!.count + inner.items[3]!.count + inner.items[4]!.count);
  assert.ok(zoomed.items.every((i) => i.kind === 'layer'));
});

test('flat names with one layer per block (conv2d_0 … conv2d_5627) bucket into runs, never more bars than room', () => {
  const flat = Array.from({ length: 5628 }, (_, i) => L(`t${i}x`));
  const v = chartItems(flat, TOP, 213);
  assert.ok(v.items.length <= 213);
  assert.equal(
    v.items.reduce((a, i) => a + i.count, 0),
    5628,
  );
});

test('an unanalysed layer leaves its bar without an estimate (NaN), not a wrong one', () => {
  const layers = layersFromRows([
    { name: 'a.0.w', dtype: 'BF16', shape: [50], bytes: 100, layer: 'a.0', boundBytes: 60, exponentEntropy: 2 },
    { name: 'a.0.b', dtype: 'BF16', shape: [50], bytes: 100, layer: 'a.0', boundBytes: null, exponentEntropy: null },
  ]);
  assert.ok(Number.isNaN(chartItems(layers, TOP, 10).items[0]!.estimateBytes));
});

test('fitLabel keeps the start and the informative tail', () => {
  assert.equal(fitLabel('model.layers.12', 40), 'model.layers.12');
  assert.equal(fitLabel('model.layers.12.self_attn', 11), 'model…_attn');
  assert.equal(fitLabel('model.layers.12.self_attn', 11).length, 11);
  assert.equal(fitLabel('abc', 1), '');
});
