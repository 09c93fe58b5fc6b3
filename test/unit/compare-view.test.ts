/**
 * The comparison view's message flow on two real checkpoints: the engine's diff streamed through the
 * host's CompareFeed (as the server's partial results arrive) into the webview's model gives the
 * engine's tensors, per-layer figures and delta/standalone bounds while streaming and at the end;
 * a reloaded webview's replay rebuilds the same state; cancel keeps the rows so far; sorting and
 * filtering the table; the ULP buckets; the webview's messages are validated.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { diffFiles, type DiffResult, type TensorDiff } from '../../engine/diff/diff';
import { CompareFeed } from '../../client/compareFeed';
import { compareRowOf, parseWebviewMessage, type CompareInit, type HostToWebview } from '../../protocol/webview';
import {
  applyCompareMessage,
  compareLayers,
  compareTotals,
  compareView,
  defaultSelection,
  emptyCompare,
  fractionChanged,
  nextCompareSort,
  streamedRows,
  ulpBuckets,
  type CompareModel,
} from '../../webview/model/compare';
import { CHECKPOINTS, ensureCheckpoints } from '../helpers/checkpoints';

const NO_CHECKPOINTS = ensureCheckpoints();
const A = path.join(CHECKPOINTS, 'pretrain/bf16/step-00175.safetensors');
const B = path.join(CHECKPOINTS, 'pretrain/bf16/step-00200.safetensors');
const INIT: CompareInit = {
  view: 'compare',
  a: { name: 'a', displayPath: A, size: 1 },
  b: { name: 'b', displayPath: B, size: 1 },
};

const close = (x: number | null, y: number | null, what: string) => {
  assert.ok(x !== null && y !== null, `${what}: ${x} vs ${y}`);
  assert.ok(Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y)), `${what}: ${x} vs ${y}`);
};

/** Runs the real diff, feeding partial batches of 3 tensors the way the server batches them. */
async function streamed(): Promise<{ result: DiffResult; messages: HostToWebview[]; feed: CompareFeed }> {
  const messages: HostToWebview[] = [];
  const feed = new CompareFeed(INIT, (m) => messages.push(m));
  feed.start();
  let batch: TensorDiff[] = [];
  let first = 0;
  let total = 0;
  const flush = () => {
    if (batch.length) feed.partial({ a: A, b: B, index: first, total, tensors: batch });
    batch = [];
  };
  const result = await diffFiles(A, B, {
    onTensor: (t, i, n) => {
      if (!batch.length) first = i;
      batch.push(t);
      total = n;
      if (batch.length === 3) flush();
    },
    onProgress: (p) =>
      feed.workDone({
        kind: 'report',
        jobId: 1,
        state: 'running',
        bytesDone: p.bytesDone,
        bytesTotal: p.bytesTotal,
      }),
  });
  flush();
  return { result, messages, feed };
}

function apply(messages: HostToWebview[], upTo = messages.length): CompareModel {
  const m = emptyCompare();
  for (const msg of messages.slice(0, upTo)) applyCompareMessage(m, msg);
  return m;
}

test(
  'streamed diff -> host feed -> view model: the engine figures, while streaming and at the end',
  { skip: NO_CHECKPOINTS },
  async () => {
    const { result, messages, feed } = await streamed();
    assert.ok(
      result.summary.changedElements > 0 && result.summary.changedElements < result.summary.elements,
      'BF16 checkpoints: some elements unchanged',
    );
    const done = messages.findIndex((m) => m.type === 'compareDone');
    assert.equal(done, -1, 'not done before the answer');

    // before the answer: every tensor streamed, layers and totals computed from the rows equal the engine's
    const live = apply(messages);
    assert.equal(live.state, 'running');
    assert.deepEqual(streamedRows(live), result.tensors.map(compareRowOf));
    assert.equal(live.progress.done, result.tensors.length);
    assert.equal(live.progress.total, result.tensors.length);
    assert.ok(live.progress.bytesDone > 0 && live.progress.bytesDone === live.progress.bytesTotal);
    const layers = compareLayers(live);
    assert.equal(layers.length, result.layers.length);
    for (const [i, l] of layers.entries()) {
      const want = result.layers[i]!;
      assert.equal(l.layer, want.layer);
      assert.equal(l.changedElements, want.changedElements);
      assert.equal(l.elements, want.elements);
      assert.equal(l.changedTensors, want.changedTensors);
      close(l.changedFraction, want.changedFraction, `${l.layer} fraction`);
      close(l.relL2, want.relL2, `${l.layer} relL2`);
      assert.equal(l.maxAbsDiff, want.maxAbsDiff);
    }
    const totals = compareTotals(live);
    assert.equal(totals.changedElements, result.summary.changedElements);
    assert.equal(totals.elements, result.summary.elements);
    assert.equal(totals.standalone, result.summary.bounds.standalone);
    assert.equal(totals.delta, result.summary.bounds.best);
    assert.ok(totals.delta < totals.standalone, 'a fine-tuning step codes smaller as a delta');
    assert.equal(totals.statuses.changed, result.summary.tensors.changed);

    // a view opened halfway shows a prefix of the tensors
    const half = messages.findIndex((m) => m.type === 'compareTensors' && m.index >= 3);
    assert.equal(streamedRows(apply(messages, half)).length, 3);

    // the answer: nothing re-sent, the engine's layers and summary
    feed.done(result);
    const last = messages.at(-1)!;
    assert.equal(last.type, 'compareDone');
    assert.equal(messages.filter((m) => m.type === 'compareTensors').length, Math.ceil(result.tensors.length / 3));
    const end = apply(messages);
    assert.equal(end.state, 'done');
    assert.deepEqual(compareLayers(end), result.layers);
    assert.equal(compareTotals(end).delta, result.summary.bounds.best);

    // a reloaded webview: the replay builds the same model
    const replayed: HostToWebview[] = [];
    feed.replay((m) => replayed.push(m));
    assert.deepEqual(apply(replayed), end);
  },
);

test('a partial stream finished by the answer posts the missing tensors; cancel keeps the rows so far', () => {
  const t = (name: string, changed: number | null, layer = '0'): TensorDiff => ({
    name,
    status: changed === null ? 'added' : changed ? 'changed' : 'identical',
    dtype: 'BF16',
    shape: [4],
    elements: 4,
    changedElements: changed,
    maxAbsDiff: changed === null ? null : changed,
    meanAbsDiff: null,
    relL2: changed === null ? null : changed / 10,
    cosine: null,
    ulpHistogram: changed === null ? null : [4 - changed, changed],
    xorBitHistogram: null,
    layer,
    bytes: 8,
    ...(changed === null ? {} : { bounds: { standalone: 8, xor: 8 - changed, ulp: 7 } }),
  });
  const msgs: HostToWebview[] = [];
  const feed = new CompareFeed(INIT, (m) => msgs.push(m));
  feed.start();
  feed.partial({ a: A, b: B, index: 0, total: 3, tensors: [t('x', 2)] });
  feed.end('cancelled', 'Cancelled');
  let m = apply(msgs);
  assert.equal(m.state, 'cancelled');
  assert.equal(streamedRows(m).length, 1);
  assert.equal(feed.state, 'cancelled');

  msgs.length = 0;
  feed.start();
  feed.partial({ a: A, b: B, index: 0, total: 3, tensors: [t('x', 2)] });
  const all = [t('x', 2), t('y', 0), t('z', null, '1')];
  feed.done({ a: A, b: B, tensors: all, layers: [], summary: {} as DiffResult['summary'] });
  m = apply(msgs);
  assert.deepEqual(
    streamedRows(m).map((r) => r.name),
    ['x', 'y', 'z'],
  );
  assert.equal(m.state, 'done');
  assert.equal(defaultSelection(m), 'x');
  const live = emptyCompare();
  live.rows = all.map(compareRowOf);
  const totals = compareTotals(live);
  assert.deepEqual([totals.standalone, totals.delta, totals.compared], [16, 6 + 7, 2]);
  assert.equal(totals.statuses.added, 1);
});

test('table: sort by a figure (missing figures last both ways), by name, filter by name terms', () => {
  const rows = [
    { name: 'layers.10.w', changedElements: 5, elements: 10 },
    { name: 'layers.2.w', changedElements: null, elements: 10 },
    { name: 'layers.1.bias', changedElements: 9, elements: 10 },
    { name: 'norm', changedElements: 0, elements: 10 },
  ].map((r) => ({ ...r, status: 'changed', dtype: 'F32', relL2: null, maxAbsDiff: null, cosine: null }) as never);
  assert.deepEqual(compareView(rows, '', { key: 'changed', dir: 'desc' }), [2, 0, 3, 1]);
  assert.deepEqual(compareView(rows, '', { key: 'changed', dir: 'asc' }), [3, 0, 2, 1]);
  assert.deepEqual(compareView(rows, '', { key: 'name', dir: 'asc' }), [2, 1, 0, 3]);
  assert.deepEqual(compareView(rows, 'LAYERS w', { key: 'index', dir: 'asc' }), [0, 1]);
  assert.deepEqual(compareView([undefined, rows[0]], '', { key: 'index', dir: 'asc' }), [1]);
  assert.equal(fractionChanged(rows[0]!), 0.5);
  assert.deepEqual(nextCompareSort({ key: 'index', dir: 'asc' }, 'relL2'), { key: 'relL2', dir: 'desc' });
  assert.deepEqual(nextCompareSort({ key: 'relL2', dir: 'desc' }, 'relL2'), { key: 'relL2', dir: 'asc' });
});

test('ULP buckets up to the last non-empty one, labelled by distance range', () => {
  assert.deepEqual(ulpBuckets([5, 3, 2, 0, 1, 0, 0]), [
    { label: '0', count: 5 },
    { label: '1', count: 3 },
    { label: '2–3', count: 2 },
    { label: '4–7', count: 0 },
    { label: '8–15', count: 1 },
  ]);
  assert.deepEqual(ulpBuckets(null), []);
  assert.deepEqual(ulpBuckets([7, 0]), [{ label: '0', count: 7 }]);
});

test('webview messages of the comparison are validated', () => {
  for (const type of ['compareWith', 'cancelCompare', 'rerunCompare'] as const)
    assert.deepEqual(parseWebviewMessage({ type, extra: 1 }), { type });
  assert.equal(parseWebviewMessage({ type: 'compare' }), undefined);
});
