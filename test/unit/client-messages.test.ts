import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWebviewMessage, sameHistogramTarget, tensorRowFromAnalysis } from '../../protocol/webview';

test('parseWebviewMessage accepts exactly the typed messages', () => {
  assert.deepEqual(parseWebviewMessage({ type: 'ready', extra: 1 }), { type: 'ready' });
  assert.deepEqual(parseWebviewMessage({ type: 'runJob', kind: 'compress' }), { type: 'runJob', kind: 'compress' });
  assert.equal(parseWebviewMessage({ type: 'runJob', kind: 'rm -rf' }), undefined);
  assert.deepEqual(parseWebviewMessage({ type: 'cancelJob', id: 'job-3' }), { type: 'cancelJob', id: 'job-3' });
  assert.equal(parseWebviewMessage({ type: 'cancelJob', id: 3 }), undefined);
  assert.deepEqual(parseWebviewMessage({ type: 'reanalyze', quick: 'yes' }), { type: 'reanalyze', quick: false });
  assert.deepEqual(
    parseWebviewMessage({ type: 'histogram', id: 3, target: { kind: 'layer', name: 'model.layers.0' } }),
    {
      type: 'histogram',
      id: 3,
      target: { kind: 'layer', name: 'model.layers.0' },
    },
  );
  assert.deepEqual(parseWebviewMessage({ type: 'histogram', id: 0, target: { kind: 'model', name: 5 } }), {
    type: 'histogram',
    id: 0,
    target: { kind: 'model' },
  });
  assert.equal(parseWebviewMessage({ type: 'histogram', id: 1, target: { kind: 'tensor' } }), undefined);
  // the id is what matches the reply to the request: without one (or a fractional one) the message is refused
  assert.equal(parseWebviewMessage({ type: 'histogram', target: { kind: 'model' } }), undefined);
  assert.equal(parseWebviewMessage({ type: 'histogram', id: 1.5, target: { kind: 'model' } }), undefined);
  const log = parseWebviewMessage({ type: 'log', level: 'debug', message: 'x'.repeat(5000) });
  assert.equal(log?.type, 'log');
  assert.equal(log?.type === 'log' && log.level, 'info');
  assert.equal(log?.type === 'log' && log.message.length, 2000);
  for (const bad of [
    null,
    undefined,
    42,
    'ready',
    [],
    {},
    { type: 'open', uri: 'x'.repeat(5000) },
    { type: '__proto__' },
  ])
    assert.equal(parseWebviewMessage(bad), undefined);
});

test('parseWebviewMessage never throws on random shapes (fuzz)', () => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const values: unknown[] = [
    null,
    undefined,
    0,
    -1,
    NaN,
    '',
    'ready',
    'runJob',
    'compress',
    true,
    {},
    [],
    { kind: 'tensor' },
    { kind: 'model' },
  ];
  const types = ['ready', 'runJob', 'cancelJob', 'reanalyze', 'open', 'log', 'histogram', 'nope'];
  for (let i = 0; i < 2000; i++) {
    const m: Record<string, unknown> = { type: types[Math.floor(rnd() * types.length)] };
    for (const k of ['kind', 'id', 'quick', 'uri', 'level', 'message', 'target'])
      if (rnd() < 0.5) m[k] = values[Math.floor(rnd() * values.length)];
    const out = parseWebviewMessage(m);
    if (out) assert.ok(types.includes(out.type));
  }
});

test('tensorRowFromAnalysis keeps histograms only when asked', () => {
  const t = {
    name: 'w',
    dtype: 'BF16',
    shape: [2],
    bytes: 4,
    exponentEntropy: 1,
    boundBytes: 3,
    layer: 'l',
    elements: 2,
    exponentHistogram: [1, 1],
  };
  assert.equal(tensorRowFromAnalysis(t).exponentHistogram, undefined);
  assert.deepEqual(tensorRowFromAnalysis(t, true).exponentHistogram, [1, 1]);
  assert.ok(sameHistogramTarget({ kind: 'model' }, { kind: 'model' }));
  assert.ok(!sameHistogramTarget({ kind: 'layer', name: 'a' }, { kind: 'tensor', name: 'a' }));
});
