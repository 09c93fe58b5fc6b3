/**
 * tensorzip/readTensor and tensorzip/tensorView over JSON-RPC against the bundled server: pages
 * concatenate to the stored bytes, a .tzip answers the same as its original, pooled cells match a
 * plain computation over the raw bytes, the answer never exceeds the asked grid, progress and
 * cancellation, typed errors for bad params, unknown names and unknown dtypes.
 */
import { test, describe, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import {
  JobsRequest,
  READ_TENSOR_PAGE,
  ReadTensorRequest,
  TensorViewRequest,
  type ReadTensorResult,
  type TensorViewResult,
} from '../../protocol/server';
import {
  CLI,
  INVALID_PARAMS,
  NO_BUILD,
  REQUEST_CANCELLED,
  isRunningWithBytes,
  rejection,
  startServer,
  tempDir,
  until,
  writeSyntheticSafetensors,
  type Harness,
} from './server-harness';
import { gaussianF32, safetensorsBytes, toBF16Bytes, writeFile, type RawTensor } from '../helpers/safetensors';

const f32 = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
};

describe('server: tensor values', { skip: NO_BUILD }, () => {
  let h: Harness;
  let dir: string;
  let st = '',
    tz = '';
  const tensors: RawTensor[] = [];
  const mat = gaussianF32(300 * 200, 0.1, 11);
  mat[20 * 200 + 7] = NaN;
  mat[250 * 200 + 3] = Infinity;
  before(async () => {
    h = await startServer();
    dir = tempDir('tz-server-tensor-');
    tensors.push({ name: 'mat.f32', dtype: 'F32', shape: [300, 200], data: new Uint8Array(mat.buffer) });
    tensors.push({ name: 'cube.bf16', dtype: 'BF16', shape: [4, 50, 30], data: toBF16Bytes(gaussianF32(6000, 1, 3)) });
    tensors.push({ name: 'odd', dtype: 'F8_E8M0', shape: [64], data: new Uint8Array(64).fill(127) });
    st = writeFile(dir, 'm.safetensors', safetensorsBytes(tensors));
    tz = `${st}.tzip`;
    execFileSync(process.execPath, [CLI, 'compress', st, '-o', tz], { stdio: 'ignore' });
  });
  after(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(h.stderr, [], 'the server writes nothing to stderr');
  });

  for (const kind of ['safetensors', 'tzip']) {
    test(`readTensor pages concatenate to the stored bytes (${kind})`, async () => {
      const file = kind === 'tzip' ? tz : st;
      const parts: Buffer[] = [];
      let start: number | null = 0;
      let pages = 0;
      while (start !== null) {
        const r: ReadTensorResult = await h.conn.sendRequest(ReadTensorRequest, {
          path: file,
          name: 'mat.f32',
          start,
          count: 7000,
        });
        assert.equal(r.start, start);
        assert.equal(r.dtype, 'F32');
        assert.deepEqual(r.shape, [300, 200]);
        assert.equal(r.total, 60000);
        assert.equal(r.values!.length, r.count);
        const vals = r.values!.map((v) => (typeof v === 'string' ? Number(v) : v));
        vals.forEach((v, i) =>
          assert.ok(
            Object.is(v, mat[r.start + i]) || (Number.isNaN(v) && Number.isNaN(mat[r.start + i]!)),
            `value ${r.start + i}`,
          ),
        );
        parts.push(Buffer.from(r.bytesBase64, 'base64'));
        start = r.nextStart;
        pages++;
      }
      assert.equal(pages, Math.ceil(60000 / 7000));
      assert.ok(Buffer.concat(parts).equals(Buffer.from(mat.buffer)));
      // the default page is READ_TENSOR_PAGE at most
      const d = await h.conn.sendRequest(ReadTensorRequest, { path: file, name: 'cube.bf16' });
      assert.equal(d.count, Math.min(READ_TENSOR_PAGE, 6000));
      assert.equal(d.nextStart, null);
    });

    test(`tensorView cells match a plain computation, never more cells than asked (${kind})`, async () => {
      const file = kind === 'tzip' ? tz : st;
      const win = { row0: 10, row1: 290, col0: 0, col1: 200 };
      const views: Record<string, TensorViewResult> = {};
      for (const pool of ['mean', 'maxabs', 'std'] as const) {
        views[pool] = await h.conn.sendRequest(TensorViewRequest, {
          path: file,
          name: 'mat.f32',
          width: 40,
          height: 28,
          pool,
          window: win,
        });
      }
      const v = views.mean!;
      assert.equal(v.gridRows, 28);
      assert.equal(v.gridCols, 40);
      assert.equal(f32(v.cellsBase64).length, 28 * 40);
      const wr = win.row1 - win.row0,
        wc = win.col1 - win.col0;
      const cells: number[][] = Array.from({ length: 28 * 40 }, () => []);
      const flags = new Array<number>(28 * 40).fill(0);
      for (let r = win.row0; r < win.row1; r++)
        for (let c = win.col0; c < win.col1; c++) {
          const x = mat[r * 200 + c]!;
          const k = Math.floor(((r - win.row0) * 28) / wr) * 40 + Math.floor(((c - win.col0) * 40) / wc);
          if (Number.isFinite(x)) cells[k]!.push(x);
          else flags[k]! |= Number.isNaN(x) ? 1 : x > 0 ? 2 : 4;
        }
      const mean = f32(views.mean!.cellsBase64),
        maxabs = f32(views.maxabs!.cellsBase64),
        std = f32(views.std!.cellsBase64);
      const nonFinite = Buffer.from(v.nonFiniteBase64, 'base64');
      const near = (a: number, b: number, what: string) =>
        assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(1e-3, Math.abs(b)), `${what}: ${a} vs ${b}`);
      cells.forEach((xs, k) => {
        const mu = xs.reduce((a, b) => a + b, 0) / xs.length;
        near(mean[k]!, mu, `cell ${k} mean`);
        near(
          maxabs[k]!,
          xs.reduce((a, b) => Math.max(a, Math.abs(b)), 0),
          `cell ${k} max|x|`,
        );
        near(std[k]!, Math.sqrt(xs.reduce((a, b) => a + (b - mu) ** 2, 0) / xs.length), `cell ${k} std`);
        assert.equal(nonFinite[k], flags[k], `cell ${k} NaN/Inf flags`);
      });
      assert.equal(v.stats.nans, 1);
      assert.equal(v.stats.posInfs, 1);
      assert.equal(v.stats.count, wr * wc);
      assert.equal(v.rowNorms.rms.length, 28);
      assert.equal(v.colNorms.rms.length, 40);
      assert.equal(v.first.values[0], mat[10 * 200]);
      assert.equal(
        v.histogram.counts.reduce((a, b) => a + b, 0),
        wr * wc - 2,
      );
      assert.equal(v.histogram.exact, false, 'F32: fixed bins');
    });
  }

  test('sampleElements: a preview says which rows it pooled; an exact view when the window fits', async () => {
    const ask = (sampleElements: number) =>
      h.conn.sendRequest(TensorViewRequest, {
        path: st,
        name: 'mat.f32',
        width: 20,
        height: 30,
        pool: 'mean',
        sampleElements,
      });
    const v = await ask(60 * 200);
    assert.ok(v.sampled, 'sampled');
    assert.equal(v.sampled.ofRows, 300);
    assert.ok(v.sampled.rows > 0 && v.sampled.rows <= 60 + 8, `${v.sampled.rows} rows`);
    assert.equal(v.sampled.elements, v.sampled.rows * 200);
    assert.equal(v.stats.count, v.sampled.elements);
    assert.equal(v.gridRows, 30);
    // the first cell row starts at row 0 and holds at least 8 rows: its values are those of rows 0..7
    const first = f32(v.cellsBase64)[0]!;
    let s = 0;
    for (let r = 0; r < 8; r++) for (let c = 0; c < 10; c++) s += mat[r * 200 + c]!;
    assert.ok(Math.abs(first - s / 80) <= 1e-6, `first cell ${first} vs ${s / 80}`);
    const exact = await ask(300 * 200);
    assert.equal(exact.sampled, undefined);
    assert.equal(exact.stats.count, 300 * 200);
  });

  test('BF16: exact per-value histogram, chosen row axis, a .tzip view equals the original', async () => {
    const a = await h.conn.sendRequest(TensorViewRequest, {
      path: st,
      name: 'cube.bf16',
      width: 64,
      height: 64,
      pool: 'std',
      rowAxis: 1,
      histogramBins: 2048,
    });
    const b = await h.conn.sendRequest(TensorViewRequest, {
      path: tz,
      name: 'cube.bf16',
      width: 64,
      height: 64,
      pool: 'std',
      rowAxis: 1,
      histogramBins: 2048,
    });
    assert.deepEqual(b, a);
    assert.equal(a.rowAxis, 1);
    assert.equal(a.rows, 50);
    assert.equal(a.cols, 120);
    assert.equal(a.gridRows, 50, 'never more cells than the matrix has');
    assert.equal(a.gridCols, 64);
    assert.equal(a.histogram.exact, true);
    assert.equal(a.dequantized, false);
  });

  test('progress while pooling a big tensor; $/cancelRequest stops it', async (t) => {
    const big = writeSyntheticSafetensors(path.join(dir, 'big.safetensors'), 256 << 20, 1);
    const progress = h.watchProgress('wd-view');
    const cts = new CancellationTokenSource();
    const pending = rejection(
      h.conn.sendRequest(
        TensorViewRequest,
        { path: big, name: 'layers.0.weight', width: 512, height: 1, pool: 'mean', workDoneToken: 'wd-view' },
        cts.token,
      ),
    );
    await until(progress, isRunningWithBytes, 'running progress');
    const t0 = performance.now();
    cts.cancel();
    const e = await pending;
    t.diagnostic(`cancel answered after ${(performance.now() - t0).toFixed(1)} ms`);
    assert.equal(e.code, REQUEST_CANCELLED, e.message);
    assert.deepEqual((await h.conn.sendRequest(JobsRequest)).jobs, []);
  });

  test('typed errors: bad params, unknown tensor, unknown dtype, window outside', async () => {
    for (const p of [
      { path: st, name: 'mat.f32', width: 0, height: 10, pool: 'mean' },
      { path: st, name: 'mat.f32', width: 10, height: 10, pool: 'median' },
      {
        path: st,
        name: 'mat.f32',
        width: 10,
        height: 10,
        pool: 'mean',
        window: { row0: -1, row1: 2, col0: 0, col1: 1 },
      },
      { path: 'relative.safetensors', name: 'mat.f32', width: 10, height: 10, pool: 'mean' },
      { path: st, name: '', width: 10, height: 10, pool: 'mean' },
      { path: st, name: 'mat.f32', width: 10, height: 10, pool: 'mean', sampleElements: 0 },
      { path: st, name: 'mat.f32', width: 10, height: 10, pool: 'mean', sampleElements: 1.5 },
    ]) {
      const e = await rejection(h.conn.sendRequest(TensorViewRequest, p as never));
      assert.equal(e.code, INVALID_PARAMS, `${JSON.stringify(p)}: ${e.message}`);
    }
    assert.equal(
      (
        await rejection(
          h.conn.sendRequest(ReadTensorRequest, { path: st, name: 'mat.f32', count: READ_TENSOR_PAGE + 1 }),
        )
      ).code,
      INVALID_PARAMS,
    );
    const missing = await rejection(h.conn.sendRequest(ReadTensorRequest, { path: tz, name: 'nope' }));
    assert.equal(missing.data?.code, 'USAGE');
    assert.match(missing.message, /no tensor named "nope"/);
    const odd = await rejection(
      h.conn.sendRequest(TensorViewRequest, { path: st, name: 'odd', width: 8, height: 8, pool: 'mean' }),
    );
    assert.equal(odd.data?.code, 'UNSUPPORTED');
    assert.match(odd.message, /unknown/);
    const page = await h.conn.sendRequest(ReadTensorRequest, { path: st, name: 'odd' });
    assert.equal(page.values, undefined, 'unknown dtype: bytes only');
    assert.equal(Buffer.from(page.bytesBase64, 'base64').length, 64);
    const out = await rejection(
      h.conn.sendRequest(TensorViewRequest, {
        path: st,
        name: 'mat.f32',
        width: 8,
        height: 8,
        pool: 'mean',
        window: { row0: 0, row1: 301, col0: 0, col1: 10 },
      }),
    );
    assert.equal(out.data?.code, 'USAGE');
  });
});
