// Where the time goes when the model view opens a file with many tensors (issue 16): the header
// parse in the extension host, the messages (rows built and serialized), the webview's rendering of
// the header, and the streamed statistics (server analysis replayed into the webview at the pace
// the server produced it). Uses the real webview bundle in headless Chromium (as
// test/integration/webview-dom.test.ts) and the real server (dist/server.js --stdio).
//
//   node --import tsx bench/views.mts [--tensors 12000] [--mb 135] [--chromium /usr/bin/chromium] [--bundle
// dist/webview/main.js]
//
// --bundle (repeatable): the webview script(s) to load, A/B of builds in one run, --rounds n interleaved
// (medians printed); --pace f replays the statistics batches at f x their recorded times (a loaded
// machine's server is slow: --pace 0.05 replays at the rate of a 20x faster one).
//
// The synthetic file (flat TF-style names: conv2d_N/kernel, batch_normalization_N/gamma ...) is
// cached in os.tmpdir()/tensorzip-bench-views. Timings are wall clock on a shared machine: compare
// figures of one run (or the medians of several), not across machines.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import {
  createMessageConnection,
  ProgressType,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-jsonrpc/node.js';
import { openModel } from '../engine/formats/index';
import { rowsFromLayout } from '../client/header';
import { webviewShell } from '../client/webviewHtml';
import { indexByName, mergeRows, stripRows } from '../shared/rows';
import { tensorRowFromAnalysis, type HostToWebview, type TensorRow } from '../protocol/webview';
import type { AnalyzePartialResult, FileAnalysis } from '../protocol/server';

const { values: args } = parseArgs({
  options: {
    tensors: { type: 'string', default: '12000' },
    mb: { type: 'string', default: '135' },
    chromium: { type: 'string', default: process.env.TZ_CHROMIUM ?? '/usr/bin/chromium' },
    bundle: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '1' },
    pace: { type: 'string', default: '1' },
  },
});
const BUNDLES = args.bundle?.length ? args.bundle : ['dist/webview/main.js'];
const N = Number(args.tensors);
const MB = Number(args.mb);

function synthetic(file: string): void {
  if (existsSync(file)) return;
  const per = Math.max(2, Math.floor((MB * 1e6) / N / 2) & ~1);
  const kinds = ['conv2d_%/kernel', 'conv2d_%/bias', 'batch_normalization_%/gamma', 'batch_normalization_%/beta'];
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', source: 'bench/views.mts' } };
  let off = 0;
  const names: string[] = [];
  for (let i = 0; i < N; i++) {
    const name = kinds[i % kinds.length]!.replace('%', String(Math.floor(i / kinds.length)));
    const el = i % 4 === 0 ? per * 3 : Math.max(1, per >> 2);
    header[name] = { dtype: 'BF16', shape: [el], data_offsets: [off, off + el * 2] };
    names.push(name);
    off += el * 2;
  }
  const json = Buffer.from(JSON.stringify(header));
  const fd = openSync(file, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, json);
  // bf16 values of a narrow normal distribution (xorshift + sum of uniforms)
  let s = 0x12345678;
  const chunk = Buffer.alloc(1 << 20);
  for (let done = 0; done < off; done += chunk.length) {
    const n = Math.min(chunk.length, off - done);
    for (let i = 0; i < n; i += 2) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      const v = ((s >>> 0) / 2 ** 32 + (s & 0xffff) / 65536 - 1) * 0.05;
      const f = new Float32Array([v]);
      chunk.writeUInt16LE(new Uint32Array(f.buffer)[0]! >>> 16, i);
    }
    writeSync(fd, chunk.subarray(0, n));
  }
  closeSync(fd);
}

const ms = (t0: number) => Math.round(performance.now() - t0);

/** One fresh page: the header's render, then the statistics batches at their recorded times x pace. */
async function webviewRun(
  browser: Browser,
  origin: string,
  init: HostToWebview,
  messages: { at: number; m: HostToWebview }[],
  final: HostToWebview,
  pace: number,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await page.goto(origin);
    await page.waitForFunction(() =>
      (window as unknown as { __sent: { type: string }[] }).__sent.some((m) => m.type === 'ready'),
    );
    // main-thread busy time of the page (long tasks over 50 ms)
    await page.evaluate(
      `window.__long = []; new PerformanceObserver((l) => l.getEntries().forEach((e) => ` +
        `window.__long.push(e.duration))).observe({ type: 'longtask', buffered: false })`,
    );
    // time from posting init to the first frame painted after the table and chart exist
    // (function bodies as strings: tsx's keepNames helpers do not exist in the page)
    await page.evaluate(
      `window.__until = (sel, extra) => new Promise((r) => { (function f() { document.querySelector(sel) ? ` +
        `requestAnimationFrame(() => setTimeout(r, extra || 0)) : setTimeout(f, 2); })(); })`,
    );
    out.headerMs = await page.evaluate(`(async (m) => {
      const t = performance.now();
      window.postMessage(m, '*');
      await window.__until('#tz-table-body .tz-row[data-name]');
      return Math.round(performance.now() - t);
    })(${JSON.stringify(init)})`);
    const headerLong = (await page.evaluate('window.__long.splice(0)')) as number[];
    out.headerLongestTaskMs = Math.round(Math.max(0, ...headerLong));
    out.chartElements = await page.locator('#tz-layer-chart *').count();
    // streamed statistics: post each batch at its recorded time (x pace), then the final analysis
    await page.evaluate(
      `window.__msgs = ${JSON.stringify({ msgs: messages.map((x) => ({ at: x.at * pace, m: x.m })), fin: final })}`,
    );
    out.statsMs = await page.evaluate(`(async ({ msgs, fin }) => {
      const t = performance.now();
      for (const { at, m } of msgs) {
        const wait = at - (performance.now() - t);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        window.postMessage(m, '*');
      }
      window.postMessage(fin, '*');
      await window.__until('#tz-analysis-progress[data-state="done"]', 300);
      return Math.round(performance.now() - t) - 300;
    })(window.__msgs)`);
    const long = (await page.evaluate('window.__long')) as number[];
    out.statsLongTasks = long.length;
    out.statsLongTaskMs = Math.round(long.reduce((a, b) => a + b, 0));
    out.statsLongestTaskMs = Math.round(Math.max(0, ...long));
    out.chartElementsAfter = await page.locator('#tz-layer-chart *').count();
  } finally {
    await page.close();
  }
  return out;
}

async function main(): Promise<void> {
  const dir = path.join(os.tmpdir(), 'tensorzip-bench-views');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `flat-${N}-${MB}mb.safetensors`);
  synthetic(file);
  const out: Record<string, number | string> = { file, tensors: N };

  // 1. extension host: header parse, rows, the init message's serialization
  let t0 = performance.now();
  const layout = await openModel(file);
  out.headerParseMs = ms(t0);
  t0 = performance.now();
  const rows: TensorRow[] = rowsFromLayout(layout);
  const init: HostToWebview = {
    type: 'init',
    model: {
      view: 'model',
      name: path.basename(file),
      displayPath: file,
      format: layout.format,
      size: layout.size,
      tensors: stripRows(rows),
      headerPending: false,
      isTzip: false,
      canWrite: true,
      metadata: layout.metadata,
    },
  };
  out.initBytes = JSON.stringify(init).length;
  out.initBuildMs = ms(t0);

  // 2. the server's analysis, with the partial batches it streams (as the editor asks for them)
  const server = spawn(process.execPath, [path.resolve('dist/server.js'), '--stdio'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const conn = createMessageConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
  conn.listen();
  await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: null,
    capabilities: { window: { workDoneProgress: true } },
    initializationOptions: {},
  });
  await conn.sendNotification('initialized', {});
  const batches: { at: number; p: AnalyzePartialResult }[] = [];
  t0 = performance.now();
  conn.onProgress(new ProgressType<AnalyzePartialResult>(), 'bench-partial', (p) =>
    batches.push({ at: performance.now() - t0, p }),
  );
  const analysis = await conn.sendRequest<FileAnalysis>('tensorzip/analyze', {
    path: file,
    partialResultToken: 'bench-partial',
  });
  out.serverAnalysisMs = ms(t0);
  console.error(`server analysis ${out.serverAnalysisMs} ms, ${batches.length} batches`);
  out.partialBatches = batches.length;
  conn.dispose();
  server.kill();

  // host-side cost of the batches (rows merged, stripped for posting)
  t0 = performance.now();
  const hostRows = rows.map((r) => ({ ...r }));
  const byName = indexByName(hostRows);
  const messages: { at: number; m: HostToWebview }[] = [];
  for (const b of batches) {
    const incoming = b.p.tensors.map((t) => tensorRowFromAnalysis(t, true));
    mergeRows(hostRows, byName, incoming);
    messages.push({
      at: b.at,
      m: {
        type: 'tensors',
        tensors: stripRows(incoming),
        progress: { done: b.p.index + b.p.tensors.length, total: b.p.total, bytesDone: 0, bytesTotal: 0 },
      },
    });
  }
  out.hostBatchesMs = ms(t0);
  const final: HostToWebview = {
    type: 'analysis',
    analysis: {
      parameters: analysis.parameters,
      bytesPerDtype: analysis.bytesPerDtype,
      predictedBytes: analysis.predictedBytes,
      boundBytes: analysis.boundBytes,
      estimate: analysis.estimate,
      bytes: analysis.bytes,
    },
    layers: analysis.layers,
    tensors: stripRows(hostRows),
  };

  // 3. the webview: time to the rendered header, then the streamed statistics replayed at the server's pace
  let bundle = BUNDLES[0]!;
  const http = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/main.js' || url.pathname === '/main.css') {
      res.writeHead(200, { 'content-type': url.pathname.endsWith('.js') ? 'text/javascript' : 'text/css' });
      res.end(readFileSync(url.pathname === '/main.js' ? bundle : `dist/webview${url.pathname}`));
      return;
    }
    if (url.pathname === '/mock.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(
        `window.__sent = []; window.acquireVsCodeApi = () => ({ postMessage(m) { window.__sent.push(m); }, ` +
          `getState() {}, setState() {} });`,
      );
      return;
    }
    let html = webviewShell({
      cspSource: origin,
      scriptUri: `${origin}/main.js`,
      styleUri: `${origin}/main.css`,
      view: 'model',
      title: 'bench',
      nonce: 'n',
    });
    html = html.replace('<script nonce="n"', '<script nonce="n" src="/mock.js"></script>\n<script nonce="n"');
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(html);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const pace = Number(args.pace);
  const runs: Record<string, number>[][] = BUNDLES.map(() => []);
  try {
    // interleaved rounds (A B A B ...): each bundle sees the same machine load
    for (let round = 0; round < Number(args.rounds); round++) {
      for (let b = 0; b < BUNDLES.length; b++) {
        bundle = BUNDLES[b]!;
        runs[b]!.push(await webviewRun(browser, origin, init, messages, final, pace));
      }
    }
  } finally {
    await browser.close();
    http.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  BUNDLES.forEach((name, b) => {
    const r = runs[b]!;
    const m: Record<string, number> = {};
    for (const k of Object.keys(r[0]!)) m[k] = median(r.map((x) => x[k]!));
    out[BUNDLES.length > 1 ? `webview ${name}` : 'webview'] = JSON.stringify(m);
  });
  console.log(JSON.stringify(out, null, 2));
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
