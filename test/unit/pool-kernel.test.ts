/**
 * The inspector's exact-key pooling kernel (engine/analysis/poolKernel.ts) against a naive loop over
 * the values, and sampled views (sampleRuns, poolTensor with sampleElements) against a plain
 * computation over the rows they say they read. The kernel runs both ways: poolKeyRow (JavaScript) and
 * its WebAssembly build (poolWasm.ts), each bit for bit against the naive loop.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { keyTables, poolKeyRow, type CellSums } from '../../engine/analysis/poolKernel';
import { createWasmPool, wasmPoolAvailable } from '../../engine/analysis/poolWasm';
import { poolTensor, sampleRuns } from '../../engine/analysis/tensorView';
import { keyValue, type KeyKind } from '../../engine/analysis/values';
import { openTensors } from '../../engine/container/tensorReader';
import { compressFile } from '../../engine/api';
import { gaussianF32, rng, safetensorsBytes, tempDir, toBF16Bytes, writeFile } from '../helpers/safetensors';

const tmp = tempDir('tz-poolk-');
after(() => tmp.cleanup());

const cellSums = (n: number): CellSums => ({
  sum: new Float64Array(n),
  sq: new Float64Array(n),
  mx: new Float64Array(n),
  fin: new Float64Array(n),
  nan: new Float64Array(n),
  pinf: new Float64Array(n),
  ninf: new Float64Array(n),
});

describe('poolKeyRow', () => {
  const kinds: KeyKind[] = ['bf16', 'f16', 'f8e4m3', 'f8e5m2'];
  for (const [kind, impl] of kinds.flatMap((k) => [[k, 'js'] as const, [k, 'wasm'] as const])) {
    test(`equals a naive loop over the values, bit for bit (${kind}, ${impl})`, (tc) => {
      if (impl === 'wasm' && !wasmPoolAvailable()) {
        // in CI the build generates the kernel: a missing one is a failure there
        assert.ok(!process.env.CI, 'engine/analysis/wasm/pool.generated.ts is missing (npm run build makes it)');
        return tc.skip('pool kernel not generated (run scripts/build-wasm.mjs)');
      }
      const r = rng(kind.length * 31 + 7);
      const keyMax = kind.startsWith('f8') ? 256 : 65536;
      const t = keyTables(kind);
      for (const [rows, wc, gc] of [
        [7, 333, 10],
        [5, 1000, 1000],
        [3, 64, 1],
        [9, 130, 17],
      ] as const) {
        const keys = new Uint16Array(rows * wc);
        for (let i = 0; i < keys.length; i++) {
          // mostly ordinary values, some every-key (NaN, infinities, zeros, subnormals)
          keys[i] = r() < 0.9 ? (Math.floor(r() * keyMax * 0.6) + keyMax / 8) % keyMax : Math.floor(r() * keyMax);
        }
        // NaN, +Inf (absent in E4M3FN: a second NaN) and -Inf keys at fixed places
        const special = [t.value.findIndex((v) => Number.isNaN(v))];
        special.push(
          t.value.findIndex((v, k) => k < keyMax && (v === Infinity || (Number.isNaN(v) && k !== special[0]))),
        );
        const ninfKey = t.value.findIndex((v) => v === -Infinity);
        if (ninfKey >= 0) special.push(ninfKey);
        special.forEach((k, j) => (keys[(j * 7919 + 3) % keys.length] = k));
        const gr = Math.min(rows, 3);
        let cells = cellSums(gr * gc);
        let hist: Uint32Array = new Uint32Array(65536);
        let colSq: Float64Array = new Float64Array(wc);
        const rowQ: number[] = [];
        const wasm = impl === 'wasm' ? createWasmPool(kind, gr * gc, wc, true) : undefined;
        if (wasm) {
          wasm.keys.set(keys);
          cells = wasm.cells;
          hist = wasm.hist;
          colSq = wasm.colSq!;
        }
        for (let rr = 0; rr < rows; rr++) {
          // two segments per row, as the reader's pieces split rows
          const cut = Math.floor(wc / 3);
          const base = Math.floor((rr * gr) / rows) * gc;
          let q = wasm
            ? wasm.row(rr * wc, 0, cut, gc, wc, base, true)
            : poolKeyRow(t, keys, rr * wc, 0, cut, gc, wc, base, cells, hist, colSq);
          q += wasm
            ? wasm.row(rr * wc + cut, cut, wc, gc, wc, base, false)
            : poolKeyRow(t, keys, rr * wc + cut, cut, wc, gc, wc, base, cells, hist, undefined);
          rowQ.push(q);
        }
        // naive: values from keyValue, element order per cell
        const ref = cellSums(gr * gc);
        const refHist = new Float64Array(65536);
        const refCol = new Float64Array(wc);
        const refRow: number[] = [];
        for (let rr = 0; rr < rows; rr++) {
          let rq1 = 0,
            rq2 = 0;
          for (let c = 0; c < wc; c++) {
            const k = keys[rr * wc + c]!;
            refHist[k]!++;
            const x = keyValue(kind, k);
            const cell = Math.floor((rr * gr) / rows) * gc + Math.floor((c * gc) / wc);
            if (Number.isNaN(x)) ref.nan[cell]!++;
            else if (x === Infinity) ref.pinf[cell]!++;
            else if (x === -Infinity) ref.ninf[cell]!++;
            else {
              ref.fin[cell]!++;
              ref.mx[cell] = Math.max(ref.mx[cell]!, Math.abs(x));
              if (c < Math.floor(wc / 3)) {
                refCol[c]! += x * x;
                rq1 += x * x;
              } else rq2 += x * x;
            }
          }
          refRow.push(rq1 + rq2);
        }
        // sums: per cell in element order (a cell's segment sum added to the cell's total)
        for (let rr = 0; rr < rows; rr++) {
          const cut = Math.floor(wc / 3);
          for (const [c0, c1] of [
            [0, cut],
            [cut, wc],
          ] as const) {
            let c = c0;
            while (c < c1) {
              const b = Math.floor((c * gc) / wc);
              const bEnd = Math.min(c1, Math.ceil(((b + 1) * wc) / gc));
              let s = 0,
                q = 0;
              for (; c < bEnd; c++) {
                const x = keyValue(kind, keys[rr * wc + c]!);
                if (Number.isFinite(x)) {
                  s += x;
                  q += x * x;
                }
              }
              const cell = Math.floor((rr * gr) / rows) * gc + b;
              ref.sum[cell]! += s;
              ref.sq[cell]! += q;
            }
          }
        }
        const what = `${kind} (${impl}) ${rows}x${wc} into ${gc} columns`;
        for (const f of ['sum', 'sq', 'mx', 'fin', 'nan', 'pinf', 'ninf'] as const)
          assert.deepEqual(Array.from(cells[f]), Array.from(ref[f]), `${what}: ${f}`);
        assert.deepEqual(Array.from(hist), Array.from(refHist), `${what}: histogram`);
        assert.deepEqual(
          Array.from(colSq.subarray(0, Math.floor(wc / 3))),
          Array.from(refCol.subarray(0, Math.floor(wc / 3))),
        );
        rowQ.forEach((q, i) =>
          assert.ok(Math.abs(q - refRow[i]!) <= 1e-12 * Math.max(1, refRow[i]!), `${what}: row ${i}`),
        );
        assert.ok(
          cells.nan.some((x) => x > 0) && (kind === 'f8e4m3' || cells.pinf.some((x) => x > 0)),
          `${what}: the keys include NaN and +Inf`,
        );
      }
    });
  }
});

describe('sampleRuns', () => {
  test('one run per grid row, inside it, aligned, within the budget; the first at the top', () => {
    const r = rng(5);
    for (let n = 0; n < 400; n++) {
      const row0 = Math.floor(r() * 50);
      const wr = 2 + Math.floor(r() * 5000);
      const gridRows = 1 + Math.floor(r() * 600);
      const budget = 1 + Math.floor(r() * wr * 1.2);
      const granule = r() < 0.5 ? 1 : 1 + Math.floor(r() * 64);
      const s = sampleRuns(row0, row0 + wr, gridRows, budget, granule, 8);
      const what = `rows ${row0}+${wr}, grid ${gridRows}, budget ${budget}, granule ${granule}`;
      if (budget >= wr) {
        assert.deepEqual(s.runs, [[row0, row0 + wr]], what);
        continue;
      }
      assert.ok(s.gridRows >= 1 && s.gridRows <= Math.min(gridRows, wr), what);
      assert.equal(s.runs.length, s.gridRows, what);
      assert.equal(s.runs[0]![0], row0, what);
      let total = 0;
      s.runs.forEach(([a, b], g) => {
        assert.ok(b > a, what);
        // every row of run g is in grid row g: floor((row - row0) * gr / wr) = g
        assert.equal(Math.floor(((a - row0) * s.gridRows) / wr), g, `${what}: run ${g} start`);
        assert.equal(Math.floor(((b - 1 - row0) * s.gridRows) / wr), g, `${what}: run ${g} end`);
        total += b - a;
      });
      const unit = Math.min(budget, granule);
      assert.ok(total <= Math.max(budget, s.gridRows * unit) + 8 + unit, `${what}: ${total} rows`);
    }
  });
});

describe('poolTensor sampled', () => {
  test('a sampled view is the exact pooling of the rows it read, and says so', async () => {
    const rows = 600,
      cols = 300;
    const x = gaussianF32(rows * cols, 1, 17);
    x[5 * cols + 7] = NaN;
    x[401 * cols + 3] = Infinity;
    const file = writeFile(
      tmp.dir,
      's.safetensors',
      safetensorsBytes([{ name: 'w', dtype: 'BF16', shape: [rows, cols], data: toBF16Bytes(x) }]),
    );
    const vals = Array.from(
      new Float32Array(new Uint32Array(new Uint16Array(toBF16Bytes(x).buffer)).map((u) => u << 16).buffer),
    );
    const s = await openTensors(file);
    try {
      const full = await poolTensor(s, 'w', { gridRows: 50, gridCols: 40 });
      assert.equal(full.sampled, undefined);
      const budget = 130 * cols;
      const v = await poolTensor(s, 'w', { gridRows: 50, gridCols: 40, sampleElements: budget });
      const { runs, gridRows } = sampleRuns(0, rows, 50, 130, 0, 8);
      assert.equal(v.gridRows, gridRows);
      const seen = runs.reduce((n, [a, b]) => n + b - a, 0);
      assert.deepEqual(v.sampled, { rows: seen, ofRows: rows, elements: seen * cols, ofElements: rows * cols });
      assert.ok(seen < rows / 2);
      const gc = v.gridCols;
      const acc = Array.from({ length: gridRows * gc }, () => [] as number[]);
      const fin: number[] = [];
      for (const [a, b] of runs)
        for (let r = a; r < b; r++)
          for (let c = 0; c < cols; c++) {
            const y = vals[r * cols + c]!;
            if (!Number.isFinite(y)) continue;
            acc[Math.floor((r * gridRows) / rows) * gc + Math.floor((c * gc) / cols)]!.push(y);
            fin.push(y);
          }
      acc.forEach((xs, k) => {
        const mean = xs.reduce((p, q) => p + q, 0) / xs.length;
        assert.ok(Math.abs(v.mean[k]! - mean) <= 1e-9, `cell ${k} mean`);
        assert.equal(v.maxAbs[k], Math.max(...xs.map(Math.abs)), `cell ${k} max|x|`);
      });
      assert.equal(v.stats.finite, fin.length);
      assert.equal(v.stats.min, Math.min(...fin));
      assert.equal(v.stats.max, Math.max(...fin));
      assert.equal(v.stats.nans, 1, 'row 5 is in the first run');
      assert.equal(
        v.histogram.counts.reduce((p, q) => p + q, 0),
        fin.length,
      );
      // first values are the window's first rows (the first run starts at row 0)
      assert.deepEqual(
        v.first.values.slice(0, 16).map((y) => (Number.isNaN(y) ? 'NaN' : y)),
        vals.slice(0, 16).map((y) => (Number.isNaN(y) ? 'NaN' : y)),
      );
      // row strip: per grid row, the rms of the sampled rows' norms
      const rq = runs.map(([a, b]) => {
        let q = 0;
        for (let r = a; r < b; r++)
          for (let c = 0; c < cols; c++) {
            const y = vals[r * cols + c]!;
            if (Number.isFinite(y)) q += y * y;
          }
        return Math.sqrt(q / (b - a));
      });
      rq.forEach((q, g) => assert.ok(Math.abs(v.rowNorms.rms[g]! - q) <= 1e-9 * q, `row strip ${g}`));
    } finally {
      await s.close();
    }
  });

  test('a .tzip sample reads whole chunks and decodes fewer than the tensor has', async () => {
    const rows = 4096,
      cols = 512; // BF16: 1 KiB rows, 1 MiB chunks of 1024 rows, 4 chunks
    const x = gaussianF32(rows * cols, 0.02, 23);
    const file = writeFile(
      tmp.dir,
      't.safetensors',
      safetensorsBytes([{ name: 'w', dtype: 'BF16', shape: [rows, cols], data: toBF16Bytes(x) }]),
    );
    await compressFile(file, { output: `${file}.tzip`, threads: 1 });
    const s = await openTensors(`${file}.tzip`, { threads: 1 });
    const f = await openTensors(file);
    try {
      assert.equal(s.readGranule?.('w'), 1 << 20);
      const v = await poolTensor(s, 'w', { gridRows: 64, gridCols: 64, sampleElements: 2048 * cols });
      assert.equal(s.stats.chunksDecoded, 2);
      assert.equal(v.gridRows, 2);
      assert.deepEqual(v.sampled, { rows: 2048, ofRows: rows, elements: 2048 * cols, ofElements: rows * cols });
      // the same rows from the .safetensors pool to the same cells
      const w = await poolTensor(f, 'w', {
        gridRows: 1,
        gridCols: 64,
        window: { row0: 0, row1: 1024, col0: 0, col1: cols },
      });
      assert.deepEqual(Array.from(v.mean.subarray(0, 64)), Array.from(w.mean.subarray(0, 64)));
    } finally {
      await s.close();
      await f.close();
    }
  });
});
