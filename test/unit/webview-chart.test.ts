import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TensorRow } from '../../protocol/webview';
import {
  histogramEntropy,
  histogramGeometry,
  labelStride,
  layerChartGeometry,
  layersFromRows,
  niceTicks,
} from '../../webview/model/chart';
import { mergeHistograms } from '../../shared/rows';

test('niceTicks covers the maximum with 1/2/2.5/5 steps', () => {
  assert.deepEqual(niceTicks(524_992), { ticks: [0, 200_000, 400_000, 600_000], max: 600_000 });
  assert.deepEqual(niceTicks(100), { ticks: [0, 25, 50, 75, 100], max: 100 });
  assert.deepEqual(niceTicks(0), { ticks: [0], max: 1 });
  const t = niceTicks(7.3e9, 4);
  assert.ok(t.max >= 7.3e9 && t.ticks.length <= 6);
});

const r = (
  name: string,
  layer: string,
  bytes: number,
  bound: number | null,
  hist?: number[],
  stored?: number,
): TensorRow => ({
  name,
  dtype: 'BF16',
  shape: [bytes / 2],
  bytes,
  layer,
  boundBytes: bound,
  exponentEntropy: null,
  exponentHistogram: hist,
  storedBytes: stored ?? null,
});

test('layersFromRows groups in model order; a partly analysed layer has no bound yet', () => {
  const layers = layersFromRows([
    r('a.0.x', 'a.0', 100, 60),
    r('emb', 'emb', 50, 40),
    r('a.0.y', 'a.0', 100, null),
    r('a.1.x', 'a.1', 10, 5, undefined, 6),
  ]);
  assert.deepEqual(
    layers.map((l) => l.name),
    ['a.0', 'emb', 'a.1'],
  );
  assert.equal(layers[0]!.bytes, 200);
  assert.equal(layers[0]!.tensors, 2);
  assert.ok(Number.isNaN(layers[0]!.boundBytes));
  assert.equal(layers[1]!.boundBytes, 40);
  assert.equal(layers[2]!.storedBytes, 6);
});

test('layerChartGeometry: bars in order, heights proportional, chart widens for many layers', () => {
  const layers = [
    { name: 'a', tensors: 1, bytes: 1000, boundBytes: 660, elements: 500 },
    { name: 'b', tensors: 1, bytes: 500, boundBytes: NaN, elements: 250 },
    { name: 'c', tensors: 1, bytes: 250, boundBytes: 100, elements: 125, storedBytes: 120 },
  ];
  const g = layerChartGeometry(layers, { width: 400, height: 200 });
  assert.equal(g.bars.length, 3);
  assert.ok(g.bars[0]!.x < g.bars[1]!.x && g.bars[1]!.x < g.bars[2]!.x);
  const plotH = g.plotBottom - g.plotTop;
  const max = niceTicks(1000).max;
  assert.ok(Math.abs(g.bars[0]!.nowH - (1000 / max) * plotH) < 1e-9);
  assert.ok(Math.abs(g.bars[0]!.predH / g.bars[0]!.nowH - 0.66) < 1e-9);
  assert.equal(g.bars[0]!.predKind, 'bound');
  assert.equal(g.bars[1]!.predKind, null);
  assert.equal(g.bars[1]!.boundY, null);
  assert.equal(g.bars[2]!.predKind, 'stored');
  assert.ok(g.bars[2]!.boundY! > g.bars[2]!.predY!, 'bound tick sits below the stored bar top when stored > bound');
  const many = layerChartGeometry(
    Array.from({ length: 1000 }, (_, i) => ({ ...layers[0]!, name: `l${i}` })),
    { width: 400, height: 200, minBarWidth: 6 },
  );
  assert.ok(many.width >= 6000, 'scrolls horizontally instead of squeezing bars below 6 px');
});

test('histogram geometry trims to the used exponent range; entropy and merge are exact', () => {
  const hist = new Array<number>(256).fill(0);
  hist[120] = 10;
  hist[121] = 30;
  hist[125] = 60;
  const g = histogramGeometry(hist, { width: 300, height: 160 });
  assert.equal(g.lo, 119);
  assert.equal(g.hi, 126);
  assert.equal(g.bins.length, 8);
  assert.equal(g.bins.find((b) => b.field === 125)!.exponent, 125 - 127);
  assert.equal(g.maxCount, 60);
  const tallest = g.bins.reduce((a, b) => (b.h > a.h ? b : a));
  assert.equal(tallest.field, 125);
  const logG = histogramGeometry(hist, { width: 300, height: 160, log: true });
  assert.ok(
    logG.bins.find((b) => b.field === 120)!.h > g.bins.find((b) => b.field === 120)!.h,
    'log scale lifts rare bins',
  );
  const expected = -[0.1, 0.3, 0.6].reduce((s, p) => s + p * Math.log2(p), 0);
  assert.ok(Math.abs(histogramEntropy(hist) - expected) < 1e-12);
  assert.deepEqual(histogramGeometry(new Array(32).fill(0), { width: 100, height: 100 }).bins, []);
  const f16 = new Array<number>(32).fill(1);
  const m = mergeHistograms([
    r('x', 'l', 2, 1, hist),
    r('y', 'l', 2, 1, hist),
    r('z', 'l', 2, 1, f16),
    r('w', 'l', 2, 1),
  ]);
  assert.equal(m.used, 2);
  assert.equal(m.skipped, 1);
  assert.equal(m.hist![125], 120);
  assert.equal(mergeHistograms([r('w', 'l', 2, 1)]).hist, null);
  assert.equal(labelStride(256, 256, 28), 28);
  assert.equal(labelStride(8, 300, 28), 1);
});
