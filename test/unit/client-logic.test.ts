import assert from 'node:assert/strict';
import { test } from 'node:test';
import { summarizeBatch, summaryMessage, failureLines } from '../../client/batchSummary';
import { ConcurrencyLimit } from '../../client/concurrencyLimit';
import { compressOutputPath, decompressOutputPath } from '../../client/paths';
import { isModelPath, isTzipPath } from '../../shared/modelFiles';
import { ProgressMeter } from '../../client/progressMeter';
import { tzipSummary } from '../../client/tzipInfo';
import type { InfoResult } from '../../protocol/server';
import { contentSecurityPolicy, escapeHtml, webviewShell } from '../../client/webviewHtml';
import { formatBytes } from '../../shared/format';
import { layerOf } from '../../shared/layers';

test('output paths next to the input or in a folder', () => {
  const next = { location: 'nextToInput' as const, folder: '' };
  const folder = { location: 'folder' as const, folder: '/out' };
  assert.equal(compressOutputPath('/m/model.safetensors', next), '/m/model.safetensors.tzip');
  assert.equal(compressOutputPath('/m/model.safetensors', folder), '/out/model.safetensors.tzip');
  assert.equal(
    compressOutputPath('/m/model.safetensors', { location: 'folder', folder: '  ' }),
    '/m/model.safetensors.tzip',
    'empty folder falls back',
  );
  assert.equal(decompressOutputPath('/m/model.safetensors.tzip', next), '/m/model.safetensors');
  assert.equal(decompressOutputPath('/m/model.safetensors.TZIP', folder), '/out/model.safetensors');
  assert.equal(decompressOutputPath('/m/model.safetensors', next), undefined);
  assert.equal(decompressOutputPath('/m/.tzip', next), undefined);
  assert.ok(isTzipPath('/a/B.TZIP') && !isTzipPath('/a/b.tzip.json'));
  assert.ok(isModelPath('/a/b.GGUF') && !isModelPath('/a/b.json'));
});

test('ProgressMeter: percent, windowed rate and ETA; a restart resets the window', () => {
  const m = new ProgressMeter(3000);
  assert.deepEqual(m.update(0, 1000e6, 0), { percent: 0, bytesPerSecond: null, etaSeconds: null });
  const r1 = m.update(100e6, 1000e6, 1000);
  assert.equal(r1.percent, 10);
  assert.equal(r1.bytesPerSecond, 100e6);
  assert.equal(r1.etaSeconds, 9);
  m.update(200e6, 1000e6, 2000);
  m.update(300e6, 1000e6, 3000);
  const r2 = m.update(600e6, 1000e6, 4000); // speeds up: the window forgets the slow start
  assert.ok(r2.bytesPerSecond! > 150e6, `rate follows recent samples (${r2.bytesPerSecond})`);
  const r3 = m.update(10e6, 500e6, 5000); // new phase
  assert.equal(r3.bytesPerSecond, null);
  assert.equal(r3.percent, 2);
});

test('ConcurrencyLimit runs at most `limit` jobs, in order, and a failure does not block others', async () => {
  const q = new ConcurrencyLimit(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const seen: [number, number][] = [];
  q.onChange((r, w) => seen.push([r, w]));
  const job = (i: number) =>
    q.run(async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise((r) => setImmediate(r));
      running--;
      if (i === 1) throw new Error('boom');
      return i;
    });
  const results = await Promise.allSettled([0, 1, 2, 3, 4].map(job));
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'],
  );
  assert.equal(q.active, 0);
  assert.equal(q.queued, 0);
  assert.ok(seen.some(([r, w]) => r === 2 && w > 0));
  // an aborted job that has not started is dropped
  const ac = new AbortController();
  ac.abort(new Error('cancelled'));
  await assert.rejects(
    new ConcurrencyLimit(1).run(async () => 1, ac.signal),
    /cancelled/,
  );
});

test('batch summary: bytes saved, failures with reasons, cancellations', () => {
  const s = summarizeBatch([
    { file: '/a', ok: true, inputBytes: 1_000_000, outputBytes: 660_000 },
    { file: '/b', ok: false, error: '/b: header length 99999999999 is larger than the file' },
    { file: '/c', ok: false, cancelled: true, error: '/c: cancelled' },
    { file: '/d', ok: true, inputBytes: 500_000, outputBytes: 420_000 },
  ]);
  assert.equal(s.files, 4);
  assert.equal(s.succeeded, 2);
  assert.equal(s.bytesSaved, 420_000);
  assert.equal(s.failed.length, 1);
  assert.equal(s.cancelled, 1);
  assert.equal(
    summaryMessage('Compressed', s, formatBytes),
    'Compressed 2 of 4 files; saved 420 KB (1.50 MB → 1.08 MB, 72.0%); 1 failed; 1 cancelled.',
  );
  assert.deepEqual(failureLines(s), ['  ✗ /b: header length 99999999999 is larger than the file']);
  assert.equal(
    summaryMessage(
      'Decompressed',
      summarizeBatch([{ file: '/x', ok: true, inputBytes: 10, outputBytes: 30 }]),
      formatBytes,
    ),
    'Decompressed 1 of 1 file; wrote 30 B.',
  );
});

test('webview shell: strict CSP with a nonce, no inline code, escaped values', () => {
  const html = webviewShell({
    cspSource: 'https://x.vscode-cdn.net',
    scriptUri: 'https://x/main.js',
    styleUri: 'https://x/main.css',
    view: 'model',
    title: '<evil>"',
    nonce: 'abc123',
  });
  const csp = contentSecurityPolicy('https://x.vscode-cdn.net', 'abc123');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'nonce-abc123'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https:(?!\/\/x)/);
  assert.ok(html.includes(escapeHtml(csp)));
  assert.ok(html.includes('<script nonce="abc123" src="https://x/main.js"></script>'));
  assert.ok(html.includes('&lt;evil&gt;&quot;'));
  assert.equal((html.match(/<script/g) ?? []).length, 1);
  assert.doesNotMatch(html, /<style|style=/);
  assert.ok(html.includes('id="tz-app" data-view="model"'));
});

test('tzip summary: the tensor regions of the engine info (no structure regions), lossy from the index', () => {
  const info: InfoResult = {
    path: '/m/m.safetensors.tzip',
    bytes: 660,
    version: '2.0',
    tool: 'tensorzip 0.1.0',
    original: { name: 'm.safetensors', size: 1000, sha256: 'ab', format: 'safetensors' },
    chunkBytes: 1 << 20,
    regions: [
      { kind: 'raw', dtype: 'U8', bytes: 80, compressedBytes: 40, chunks: 1, duplicateChunks: 0 },
      {
        kind: 'tensor',
        name: 'model.layers.0.w',
        dtype: 'BF16',
        shape: [10, 10],
        bytes: 200,
        compressedBytes: 130,
        chunks: 1,
        duplicateChunks: 0,
      },
      { kind: 'tensor', name: 'scalar', dtype: 'F32', bytes: 4, compressedBytes: 5, chunks: 1, duplicateChunks: 0 },
    ],
    tensorBytes: 204,
    tensorCompressedBytes: 135,
  };
  const s = tzipSummary(info);
  assert.equal(s.originalBytes, 1000);
  assert.equal(s.storedBytes, 660);
  assert.equal(s.originalName, 'm.safetensors');
  assert.equal(s.originalFormat, 'safetensors');
  assert.equal(s.lossy, undefined);
  assert.deepEqual(
    s.tensors.map((t) => [t.name, t.layer, t.dtype, t.shape, t.bytes, t.storedBytes]),
    [
      ['model.layers.0.w', 'model.layers.0', 'BF16', [10, 10], 200, 130],
      ['scalar', layerOf('scalar'), 'F32', [], 4, 5],
    ],
  );
  assert.equal(tzipSummary({ ...info, lossy: { bits: 3, inputSha256: 'cd' } }).lossy, true);
});
