/**
 * The real webview bundle (dist/webview/main.js) in headless Chromium, outside VS Code: a page
 * with the same strict CSP as the extension's shell and a stand-in for acquireVsCodeApi. Checks
 * that nothing violates the CSP, the model view renders a real analysis (stories260k), and the
 * table stays virtualized with 100,000 tensors. Skips without Chromium or a built bundle.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { analyzeFile } from '../../engine/analysis/analyze';
import { openModel } from '../../engine/formats/index';
import { rowsFromLayout } from '../../client/header';
import { webviewShell } from '../../client/webviewHtml';
import { mergeHistograms, stripRows } from '../../shared/rows';
import { tensorRowFromAnalysis, type HostToWebview, type TensorRow } from '../../protocol/webview';
import { whatIf } from '../../engine/container/whatif';
import { losslessPredicted, lossyCurve } from '../../client/lossyPick';

const CHROMIUM = process.env.TZ_CHROMIUM ?? '/usr/bin/chromium';
const BUNDLE = 'dist/webview/main.js';
const FILE = path.resolve(process.cwd(), '../shared/corpus/stories260k.bf16.safetensors');
const skip = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM}`
  : !existsSync(BUNDLE)
    ? 'dist/webview not built'
    : false;

let server: Server;
let origin = '';
let browser: Browser;
const SHOTS = process.env.TZ_WEBVIEW_SHOTS; // folder for screenshots, when set

before(async () => {
  if (skip) return;
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/main.js' || url.pathname === '/main.css') {
      res.writeHead(200, { 'content-type': url.pathname.endsWith('.js') ? 'text/javascript' : 'text/css' });
      res.end(readFileSync(`dist/webview${url.pathname}`));
      return;
    }
    if (url.pathname === '/mock.js') {
      // stands in for VS Code's acquireVsCodeApi: records posts, keeps state, answers histogram requests
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(`window.__sent = []; window.__state = undefined; window.__hist = {};
        window.acquireVsCodeApi = () => ({
          postMessage(m) {
            window.__sent.push(m);
            if (m.type === 'histogram') {
              const k = m.target.kind + ':' + (m.target.name ?? '');
              const h = window.__hist[k] ?? window.__hist['model:'];
              const reply = { type: 'histogram', id: m.id, hist: h ?? null, used: 1, skipped: 0 };
              // while __holdHist is an array, replies wait there so a test can deliver them in any order
              if (Array.isArray(window.__holdHist)) window.__holdHist.push(reply);
              else setTimeout(() => window.postMessage(reply, '*'), 0);
            }
          },
          getState() { return window.__state; }, setState(s) { window.__state = s; } });`);
      return;
    }
    const view = url.searchParams.get('view') === 'workspace' ? 'workspace' : 'model';
    let html = webviewShell({
      cspSource: origin,
      scriptUri: `${origin}/main.js`,
      styleUri: `${origin}/main.css`,
      view,
      title: 'test',
      nonce: 'testnonce',
    });
    html = html.replace(
      '<script nonce="testnonce"',
      '<script nonce="testnonce" src="/mock.js"></script>\n<script nonce="testnonce"',
    );
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

async function openPage(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy|Refused to/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${origin}/?view=model`);
  await page.waitForFunction(() =>
    (window as unknown as { __sent: { type: string }[] }).__sent.some((m) => m.type === 'ready'),
  );
  return { page, problems };
}

// Posts a host message and resolves once the page has handled it and rendered (the view renders at
// most once per animation frame, so a read straight after the post can see the previous frame).
const send = (page: Page, msg: HostToWebview) =>
  page.evaluate((m) => {
    window.postMessage(m, '*');
    return new Promise<void>((r) => setTimeout(() => requestAnimationFrame(() => requestAnimationFrame(() => r())), 0));
  }, msg);

test(
  'model view: real analysis renders summary, chart, histogram and table under a strict CSP',
  { skip, timeout: 120_000 },
  async (t) => {
    if (!existsSync(FILE)) return t.skip('no ../shared/corpus');
    const layout = await openModel(FILE);
    const a = await analyzeFile(FILE);
    const { page, problems } = await openPage();
    try {
      const header = rowsFromLayout(layout);
      await send(page, {
        type: 'init',
        model: {
          view: 'model',
          name: path.basename(FILE),
          displayPath: FILE,
          format: layout.format,
          size: layout.size,
          tensors: header,
          headerPending: false,
          isTzip: false,
          canWrite: true,
        },
      });
      await page.locator('#tz-tensor-count').waitFor();
      assert.equal(await page.locator('#tz-title').innerText(), path.basename(FILE));
      assert.equal(await page.locator('#tz-tensor-count').getAttribute('data-count'), String(layout.tensors.length));
      assert.equal(await page.locator('#tz-analysis-progress').getAttribute('data-state'), 'running');
      const rows = a.tensors.map((x) => tensorRowFromAnalysis(x, true));
      await page.evaluate(
        (h) => ((window as unknown as { __hist: Record<string, number[] | null> }).__hist['model:'] = h),
        mergeHistograms(rows).hist,
      );
      await send(page, {
        type: 'tensors',
        tensors: stripRows(rows),
        progress: { done: rows.length, total: rows.length, bytesDone: 1, bytesTotal: 1 },
      });
      await send(page, { type: 'analysis', analysis: a, layers: a.layers });
      await page.locator('#tz-analysis-progress[data-state="done"]').waitFor({ state: 'attached' });
      assert.equal(await page.locator('#tz-layer-chart [data-layer-index]').count(), a.layers.length);
      assert.match(await page.locator('#tz-predicted dd').innerText(), /%/);
      assert.equal(await page.locator('#tz-table-count').innerText(), `${layout.tensors.length} tensors`);
      await page.waitForFunction(() => Number(document.querySelector('#tz-histogram')?.getAttribute('data-bins')) > 0);
      // sort by bytes (descending first), then select the first row with the keyboard
      await page.locator('#tz-table-header button[data-sort="bytes"]').click();
      const first = await page.locator('#tz-table-body .tz-row:not([hidden])').first().getAttribute('data-name');
      assert.equal(first, [...a.tensors].sort((x, y) => y.bytes - x.bytes)[0]!.name);
      assert.equal(
        await page.locator('#tz-table-header [aria-sort="descending"] button').getAttribute('data-sort'),
        'bytes',
      );
      await page.locator('#tz-table-viewport').focus();
      await page.keyboard.press('ArrowDown');
      await page.locator('.tz-row[aria-selected="true"]').waitFor();
      assert.equal(await page.locator('.tz-row[aria-selected="true"]').getAttribute('data-name'), first);
      // histogram replies out of order: A, B, A (stale data), B, A (fresh data) asked while replies are held,
      // then delivered newest first; only the answer to the latest request is drawn
      const second = await page.locator('#tz-table-body .tz-row:not([hidden])').nth(1).getAttribute('data-name');
      const exponents = (lo: number, hi: number) => Array.from({ length: 256 }, (_, e) => (e >= lo && e <= hi ? 5 : 0));
      const setHist = (key: string, hist: number[] | null) =>
        page.evaluate(
          ([k, h]) => ((window as unknown as { __hist: Record<string, unknown> }).__hist[k as string] = h),
          [key, hist] as const,
        );
      await setHist(`tensor:${first}`, exponents(120, 121)); // stale: 2 exponents, 4 bins with margins
      await setHist(`tensor:${second}`, exponents(100, 110));
      await page.evaluate(() => ((window as unknown as { __holdHist: unknown[] }).__holdHist = []));
      for (const key of ['ArrowDown', 'ArrowUp', 'ArrowDown']) {
        await page.keyboard.press(key);
        await page.locator('.tz-row[aria-selected="true"]').waitFor();
      }
      await setHist(`tensor:${first}`, exponents(90, 119)); // fresh: 30 exponents, 32 bins
      await page.keyboard.press('ArrowUp');
      assert.equal(await page.locator('.tz-row[aria-selected="true"]').getAttribute('data-name'), first);
      const held = await page.evaluate(() => {
        const w = window as unknown as { __holdHist: { id: number }[] | undefined };
        const replies = w.__holdHist!;
        w.__holdHist = undefined;
        return replies;
      });
      assert.equal(held.length, 4);
      for (const reply of [...held].reverse()) await send(page, reply as HostToWebview);
      assert.equal(await page.locator('#tz-histogram').getAttribute('data-bins'), '32');
      // UI state survives a reload (getState/setState), as when VS Code hides and shows the webview
      const state = await page.evaluate(
        () => (window as unknown as { __state: { sort: { key: string }; selectedTensor: string } }).__state,
      );
      assert.equal(state.sort.key, 'bytes');
      assert.equal(state.selectedTensor, first);
      // a job's live progress
      await send(page, {
        type: 'job',
        job: {
          id: 'job-1',
          kind: 'compress',
          state: 'running',
          file: FILE,
          bytesDone: 5,
          bytesTotal: 10,
          percent: 50,
          bytesPerSecond: 123e6,
          etaSeconds: 3,
          layer: 'layers.1',
        },
      });
      assert.match(
        await page.locator('#tz-job-text').innerText(),
        /^Compressing 50\.0% · 123 MB\/s · ETA 3s · layer layers\.1$/,
      );
      // the chart follows the job through the file: layers before the current one are done
      assert.equal(await page.locator('#tz-layer-chart g.tz-job-active').getAttribute('data-layer'), 'layers.1');
      const order = a.layers.map((l) => l.name);
      assert.equal(await page.locator('#tz-layer-chart g.tz-job-done').count(), order.indexOf('layers.1'));
      assert.equal(await page.locator('#tz-btn-cancel').isVisible(), true);
      await page.locator('#tz-btn-cancel').click();
      assert.deepEqual(
        await page.evaluate(() =>
          (window as unknown as { __sent: unknown[] }).__sent.filter(
            (m) => (m as { type: string }).type === 'cancelJob',
          ),
        ),
        [{ type: 'cancelJob', id: 'job-1' }],
      );
      // the lossy curve stays hidden until the what-if table arrives, then shows one point per k
      assert.equal(await page.locator('#tz-lossy-section').isVisible(), false);
      const r = await whatIf(FILE, { threads: 1 });
      const curve = lossyCurve(r);
      await send(page, { type: 'lossy', points: curve, losslessBytes: losslessPredicted(r), estimate: r.estimate });
      await page.locator('#tz-lossy-section').waitFor();
      assert.equal(await page.locator('#tz-lossy-chart circle[data-bits]').count(), curve.length);
      assert.equal(await page.locator('#tz-lossy-chart .tz-lossy-lossless').count(), 1);
      assert.match(
        await page.locator('#tz-lossy-caption').innerText(),
        /k=3: \d+\.\d% of the original, max relative error/,
      );
      if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'webview-model.png'), fullPage: true });
      assert.deepEqual(problems, [], 'no console errors or CSP violations');
    } finally {
      await page.close();
    }
  },
);

test(
  '100,000 tensors: the table keeps only the visible rows in the DOM and filters',
  { skip, timeout: 300_000 },
  async () => {
    const { page, problems } = await openPage();
    try {
      const tensors: TensorRow[] = [];
      for (let i = 0; i < 100_000; i++)
        tensors.push({
          name: `model.layers.${i % 1000}.t${i}`,
          dtype: i % 2 ? 'BF16' : 'F32',
          shape: [i + 1],
          bytes: (i + 1) * 2,
          layer: `model.layers.${i % 1000}`,
          boundBytes: i,
          exponentEntropy: 2.5,
        });
      await send(page, {
        type: 'init',
        model: {
          view: 'model',
          name: 'big.safetensors',
          displayPath: '/big.safetensors',
          format: 'safetensors',
          size: 1e10,
          tensors,
          headerPending: false,
          isTzip: false,
          canWrite: false,
          canWriteReason: 'untrusted',
        },
      });
      await page.locator('#tz-tensor-count[data-count="100000"]').waitFor();
      const domRows = await page.locator('#tz-table-body .tz-row').count();
      assert.ok(domRows < 80, `${domRows} row elements for 100,000 tensors`);
      assert.equal(await page.locator('#tz-table').getAttribute('aria-rowcount'), '100001');
      // scroll to the end: the last tensor is rendered
      await page.locator('#tz-table-viewport').evaluate((el) => (el.scrollTop = el.scrollHeight));
      await page.waitForFunction(() =>
        [...document.querySelectorAll('#tz-table-body .tz-row:not([hidden])')].some(
          (r) => (r as HTMLElement).dataset.name === 'model.layers.999.t99999',
        ),
      );
      // filter: count and rows follow
      await page.locator('#tz-filter input').fill('layers.7.');
      await page.locator('#tz-table-count[data-shown="100"]').waitFor();
      assert.equal(await page.locator('#tz-table-count').innerText(), '100 of 100,000 tensors');
      const names = await page
        .locator('#tz-table-body .tz-row:not([hidden])')
        .evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset.name ?? ''));
      assert.ok(names.length > 0 && names.every((n) => n.includes('layers.7.')));
      // go to definition from an index: the filter is cleared and the tensor selected and scrolled to
      await send(page, { type: 'selectTensor', name: 'model.layers.500.t50500' });
      await page
        .locator('#tz-table-body .tz-row.tz-selected[data-name="model.layers.500.t50500"]:not([hidden])')
        .waitFor();
      assert.equal(await page.locator('#tz-table-count').innerText(), '100,000 tensors');
      assert.equal(await page.locator('#tz-filter').evaluate((el) => (el as unknown as { value: string }).value), '');
      // untrusted: Compress is disabled and says why
      assert.equal(await page.locator('#tz-btn-compress').getAttribute('disabled'), '');
      assert.equal(await page.locator('#tz-write-note').innerText(), 'untrusted');
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  },
);

test('workspace view lists models and batch progress', { skip, timeout: 60_000 }, async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${origin}/?view=workspace`);
    await page.waitForFunction(() =>
      (window as unknown as { __sent: { type: string }[] }).__sent.some((m) => m.type === 'ready'),
    );
    await send(page, {
      type: 'workspaceInit',
      title: 'Workspace models (2)',
      rows: [
        {
          uri: 'file:///w/a.safetensors',
          path: 'a.safetensors',
          format: 'safetensors',
          size: 1_000_000,
          predictedBytes: 660_000,
          achievedBytes: null,
          status: 'done',
        },
        {
          uri: 'file:///w/b.gguf',
          path: 'b.gguf',
          format: 'gguf',
          size: 500_000,
          predictedBytes: null,
          achievedBytes: null,
          status: 'failed',
          error: '/w/b.gguf: truncated',
        },
      ],
    });
    await page.locator('.tz-ws-row').nth(1).waitFor();
    assert.equal(
      await page.locator('.tz-ws-row[data-status="failed"] td').last().innerText(),
      '✗ /w/b.gguf: truncated',
    );
    await send(page, {
      type: 'workspaceJob',
      job: {
        id: 'batch',
        kind: 'compress',
        state: 'running',
        file: '/w/a.safetensors',
        bytesDone: 1,
        bytesTotal: 2,
        percent: 50,
        bytesPerSecond: null,
        etaSeconds: null,
      },
    });
    assert.match(await page.locator('#tz-job-text').innerText(), /Compressing 50\.0%/);
    await page.locator('.tz-ws-open').first().click();
    assert.ok(
      await page.evaluate(() =>
        (window as unknown as { __sent: { type: string; uri?: string }[] }).__sent.some(
          (m) => m.type === 'open' && m.uri === 'file:///w/a.safetensors',
        ),
      ),
    );
  } finally {
    await page.close();
  }
});
