/** The webview's message handling on a real model: header rows first, then the server's analysis in batches. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { analyzeFile } from '../../engine/analysis/analyze';
import { openModel } from '../../engine/formats/index';
import { rowsFromLayout } from '../../client/header';
import { mergeHistograms, stripRows } from '../../shared/rows';
import { tensorRowFromAnalysis, type ModelInit } from '../../protocol/webview';
import {
  applyMessage,
  currentLayers,
  emptyModelState,
  jobLine,
  modelEstimate,
  rowTotals,
} from '../../webview/model/modelState';
import { fileEstimate } from '../../shared/estimate';
import { formatEta, formatPercent, formatRate } from '../../shared/format';

const CORPUS = path.resolve(process.cwd(), '../shared/corpus');
const FILE = path.join(CORPUS, 'stories260k.bf16.safetensors');

test(
  'header rows, streamed tensors and the final analysis build the same view as the engine',
  { skip: !existsSync(FILE) && 'no ../shared/corpus' },
  async () => {
    const layout = await openModel(FILE);
    const header = rowsFromLayout(layout);
    const init: ModelInit = {
      view: 'model',
      name: 'stories260k.bf16.safetensors',
      displayPath: FILE,
      format: layout.format,
      size: layout.size,
      tensors: header,
      headerPending: false,
      isTzip: false,
      canWrite: true,
    };
    const st = emptyModelState();
    assert.ok(applyMessage(st, { type: 'init', model: init }).has('all'));
    assert.equal(st.rows.length, layout.tensors.length);
    assert.ok(st.rows.every((r) => r.boundBytes === null));
    const totals = rowTotals(st.rows);
    assert.equal(totals.analysed, 0);

    const a = await analyzeFile(FILE);
    // stream in three batches, as the server's partial results do
    const rows = a.tensors.map((t) => tensorRowFromAnalysis(t, true));
    const third = Math.ceil(rows.length / 3);
    for (let i = 0; i < rows.length; i += third) {
      const parts = applyMessage(st, {
        type: 'tensors',
        tensors: stripRows(rows.slice(i, i + third)),
        progress: { done: Math.min(rows.length, i + third), total: rows.length, bytesDone: 0, bytesTotal: 0 },
      });
      assert.ok(parts.has('rows') && parts.has('progress'));
    }
    assert.equal(
      st.rows.length,
      layout.tensors.length,
      'analysis rows merged into header rows by name, none duplicated',
    );
    assert.ok(st.rows.every((r) => r.boundBytes !== null));
    assert.ok(
      st.rows.every((r) => r.exponentHistogram === undefined),
      'histograms stay in the host',
    );
    const derived = currentLayers(st);
    assert.deepEqual(
      derived.map((l) => l.name),
      a.layers.map((l) => l.name),
      'layers in model order',
    );
    for (const l of a.layers) {
      const d = derived.find((x) => x.name === l.name)!;
      assert.equal(d.bytes, l.bytes);
      assert.ok(Math.abs(d.boundBytes - l.boundBytes) < 1e-6 * Math.max(1, l.boundBytes));
    }
    // one estimate: the view's figure from streamed rows, the layers' sum and the server's final number agree exactly
    const streamed = modelEstimate(st);
    assert.equal(streamed, a.predictedBytes, 'estimate from streamed rows = the analysis estimate');
    const structure = layout.size - rowTotals(st.rows).bytes;
    assert.equal(
      fileEstimate(
        derived.reduce((x, l) => x + l.estimateBytes!, 0),
        structure,
      ),
      a.predictedBytes,
      'layers sum to the same estimate',
    );
    applyMessage(st, { type: 'analysis', analysis: a, layers: a.layers });
    assert.ok(st.analysisDone);
    assert.equal(modelEstimate(st), a.predictedBytes);
    assert.deepEqual(
      currentLayers(st).map(({ estimateBytes: _e, ...l }) => l),
      a.layers,
    );
    assert.equal(st.analysis!.parameters, rowTotals(st.rows).parameters);
    // the ratio the summary shows is the corpus' documented bound (66.04% for this file), give or take framing
    assert.ok(a.predictedBytes / layout.size > 0.6 && a.predictedBytes / layout.size < 0.7);
    // whole-model histogram (host side) sums every float tensor's
    const m = mergeHistograms(rows);
    assert.equal(
      m.hist!.reduce((x, y) => x + y, 0),
      a.tensors.filter((t) => t.exponentHistogram?.length === 256).reduce((s, t) => s + t.elements, 0),
    );
  },
);

test('jobs, .tzip facts, write permission and errors', () => {
  const st = emptyModelState();
  applyMessage(st, {
    type: 'init',
    model: {
      view: 'model',
      name: 'x.tzip',
      displayPath: '/x.tzip',
      format: 'tzip',
      size: 10,
      tensors: [],
      headerPending: true,
      isTzip: true,
      canWrite: false,
      canWriteReason: 'untrusted',
    },
  });
  assert.equal(st.canWrite, false);
  assert.deepEqual([...applyMessage(st, { type: 'canWrite', canWrite: true })], ['actions']);
  assert.equal(st.canWrite, true);
  applyMessage(st, { type: 'tzip', tzip: { originalBytes: 100, storedBytes: 66, ratio: 0.66, verify: 'ok' } });
  assert.equal(st.tzip!.verify, 'ok');
  const job = {
    id: 'job-1',
    kind: 'compress' as const,
    state: 'running' as const,
    file: '/x',
    bytesDone: 42,
    bytesTotal: 100,
    percent: 42,
    bytesPerSecond: 310e6,
    etaSeconds: 12,
    layer: 'model.layers.3',
  };
  assert.ok(applyMessage(st, { type: 'job', job }).has('job'));
  const fmt = { percent: (r: number) => formatPercent(r), rate: formatRate, eta: formatEta };
  assert.equal(jobLine(job, fmt), 'Compressing 42.0% · 310 MB/s · ETA 12s · layer model.layers.3');
  assert.equal(
    jobLine({ ...job, state: 'failed', message: '/x: no space left on device' }, fmt),
    'Failed: /x: no space left on device',
  );
  assert.equal(jobLine({ ...job, kind: 'verify', state: 'done' }, fmt), 'Verified ✓');
  assert.equal(jobLine({ ...job, state: 'queued' }, fmt), 'Compressing: waiting for a free job slot…');
  applyMessage(st, { type: 'analysisError', message: '/x.tzip: bad magic' });
  assert.equal(st.analysisError, '/x.tzip: bad magic');
  assert.ok(st.analysisDone);
  assert.equal(applyMessage(st, { type: 'lossy', points: [] }).has('lossy'), true);
  assert.equal(st.lossy, null, 'no lossy data, no curve');
});
