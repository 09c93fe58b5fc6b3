import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { compressFile } from '../../engine/api';
import { openTensors, openTzip, byteRangeOf } from '../../engine/container/tensorReader';
import { poolTensor, matrixOf } from '../../engine/analysis/tensorView';
import { TzError } from '../../engine/core/errors';
import {
  gaussianF32,
  rng,
  safetensorsBytes,
  tempDir,
  toBF16Bytes,
  writeFile,
  type RawTensor,
} from '../helpers/safetensors';

const tmp = tempDir('tz-reader-');
after(() => tmp.cleanup());

/** Plain-TypeScript values of raw little-endian element bytes (independent of engine/analysis/values.ts). */
function plainValues(dtype: string, b: Uint8Array): number[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: number[] = [];
  if (dtype === 'F32') for (let i = 0; i < b.length; i += 4) out.push(dv.getFloat32(i, true));
  else if (dtype === 'F64') for (let i = 0; i < b.length; i += 8) out.push(dv.getFloat64(i, true));
  else if (dtype === 'BF16')
    for (let i = 0; i < b.length; i += 2) {
      const x = new DataView(new ArrayBuffer(4));
      x.setUint16(0, dv.getUint16(i, true));
      out.push(x.getFloat32(0));
    }
  else if (dtype === 'F16') {
    for (let i = 0; i < b.length; i += 2) {
      const h = dv.getUint16(i, true);
      const s = h >> 15 ? -1 : 1,
        e = (h >> 10) & 31,
        m = h & 1023;
      out.push(e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15));
    }
  } else if (dtype === 'F8_E5M2') {
    // the top byte of an F16
    for (let i = 0; i < b.length; i++) {
      const s = b[i]! >> 7 ? -1 : 1,
        e = (b[i]! >> 2) & 31,
        m = b[i]! & 3;
      out.push(e === 0 ? s * m * 2 ** -16 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 4) * 2 ** (e - 15));
    }
  } else if (dtype === 'I32') for (let i = 0; i < b.length; i += 4) out.push(dv.getInt32(i, true));
  else throw new Error(dtype);
  return out;
}

/** Reference pooling straight from the definition in tensorView.ts (cell of row r: floor(r*gr/wr)). */
function referencePool(
  vals: number[],
  shape: number[],
  rowAxis: number,
  win: { row0: number; row1: number; col0: number; col1: number },
  gr: number,
  gc: number,
) {
  const inner = shape.slice(rowAxis + 1).reduce((a, b) => a * b, 1);
  const A = shape[rowAxis]!;
  const wr = win.row1 - win.row0,
    wc = win.col1 - win.col0;
  const cells: number[][] = Array.from({ length: gr * gc }, () => []);
  const nonFinite = new Array<number>(gr * gc).fill(0);
  vals.forEach((v, L) => {
    const o = Math.floor(L / (A * inner)),
      r = Math.floor((L % (A * inner)) / inner),
      j = L % inner;
    const c = o * inner + j;
    if (r < win.row0 || r >= win.row1 || c < win.col0 || c >= win.col1) return;
    const k = Math.floor(((r - win.row0) * gr) / wr) * gc + Math.floor(((c - win.col0) * gc) / wc);
    if (Number.isFinite(v)) cells[k]!.push(v);
    else nonFinite[k]!++;
  });
  return cells.map((xs, k) => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    return {
      mean: xs.length ? mean : NaN,
      maxAbs: xs.length ? xs.reduce((a, b) => Math.max(a, Math.abs(b)), 0) : NaN,
      std: xs.length ? std : NaN,
      nonFinite: nonFinite[k]!,
    };
  });
}

function close(a: number, b: number, what: string): void {
  if (Number.isNaN(b)) {
    assert.ok(Number.isNaN(a), `${what}: ${a} should be NaN`);
    return;
  }
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
}

let st = '',
  tz = '';
const tensors: RawTensor[] = [];
before(async () => {
  const r = rng(99);
  // 6 MiB F32 (6 chunks of 1 MiB), BF16 3-D with NaN/Inf, F16, I32, 1-D F64
  const big = gaussianF32(3 * 512 * 1024, 0.05, 3);
  tensors.push({ name: 'big.f32', dtype: 'F32', shape: [1536, 1024], data: new Uint8Array(big.buffer) });
  const bf = gaussianF32(6 * 40 * 37, 1, 5);
  bf[17] = NaN;
  bf[300] = Infinity;
  bf[301] = -Infinity;
  bf[5000] = 0;
  tensors.push({ name: 'cube.bf16', dtype: 'BF16', shape: [6, 40, 37], data: toBF16Bytes(bf) });
  const h = new Uint16Array(999);
  for (let i = 0; i < h.length; i++) h[i] = (Math.floor(r() * 0x7bff) | (r() < 0.5 ? 0x8000 : 0)) & 0xffff;
  tensors.push({ name: 'half', dtype: 'F16', shape: [27, 37], data: new Uint8Array(h.buffer) });
  const ints = new Int32Array(500).map(() => Math.floor(r() * 2000) - 1000);
  tensors.push({ name: 'ints', dtype: 'I32', shape: [500], data: new Uint8Array(ints.buffer) });
  const f64 = Float64Array.from({ length: 333 }, () => r() - 0.5);
  tensors.push({ name: 'line.f64', dtype: 'F64', shape: [333], data: new Uint8Array(f64.buffer) });
  // 3 M one-byte keys: more than the pooling kernel's key buffer holds (poolWasm.ts KEY_BUFFER)
  const f8 = new Uint8Array(3_000_000).map(() => (Math.floor(r() * 0x78) + 0x08) | (r() < 0.5 ? 0x80 : 0));
  f8[2_500_001] = 0x7c; // +Inf
  f8[7] = 0x7e; // NaN
  tensors.push({ name: 'long.f8', dtype: 'F8_E5M2', shape: [2, 1_500_000], data: f8 });
  st = writeFile(tmp.dir, 'm.safetensors', safetensorsBytes(tensors));
  tz = `${st}.tzip`;
  await compressFile(st, { output: tz, threads: 1 });
});

describe('readTensor', () => {
  test('bit-exact ranges from .safetensors and .tzip', async () => {
    for (const file of [st, tz]) {
      const s = await openTensors(file);
      try {
        assert.deepEqual(
          s
            .tensors()
            .map((t) => t.name)
            .sort(),
          tensors.map((t) => t.name).sort(),
        );
        for (const t of tensors) {
          const whole = await s.readTensor(t.name);
          assert.ok(Buffer.from(whole.bytes).equals(Buffer.from(t.data)), `${file} ${t.name} whole`);
          const info = s.tensor(t.name);
          const n = info.elements;
          const start = Math.floor(n / 3),
            count = Math.max(1, Math.floor(n / 5));
          const part = await s.readTensor(t.name, { start, count });
          assert.ok(
            Buffer.from(part.bytes).equals(
              Buffer.from(t.data.subarray(start * info.elementBytes, (start + count) * info.elementBytes)),
            ),
            `${file} ${t.name} range`,
          );
        }
        await assert.rejects(
          s.readTensor('big.f32', { start: 1536 * 1024, count: 1 }),
          (e: unknown) => e instanceof TzError && e.code === 'USAGE',
        );
        await assert.rejects(
          s.readTensor('nope'),
          (e: unknown) => e instanceof TzError && e.code === 'USAGE' && /no tensor named "nope"/.test(e.message),
        );
      } finally {
        await s.close();
      }
    }
  });

  test('.tzip: decodes only the covering chunks', async () => {
    const s = await openTzip(tz);
    try {
      const info = s.tensor('big.f32');
      const cases: Array<[number, number, number]> = [
        // [start element, count, chunks expected]: chunks are 1 MiB = 262144 F32 elements
        [0, 10, 1],
        [262144 - 5, 10, 2],
        [3 * 262144 + 7, 1000, 1],
        [262144, 3 * 262144, 3],
        [100, 6 * 262144 - 200, 6],
      ];
      for (const [start, count, chunks] of cases) {
        const before = s.stats.chunksDecoded;
        const { offset, length } = byteRangeOf(info, { start, count });
        assert.deepEqual(s.coveringChunks('big.f32', offset, length).map((k, i, a) => a[1]! - a[0]! + 1)[0], chunks);
        const d = await s.readTensor('big.f32', { start, count });
        const decoded = s.stats.chunksDecoded - before;
        // the last chunk of a small read is cached: a repeated read may decode one less
        assert.ok(
          decoded <= chunks && decoded >= chunks - 1,
          `range ${start}+${count}: decoded ${decoded} chunks, expected ${chunks}`,
        );
        assert.ok(Buffer.from(d.bytes).equals(Buffer.from(tensors[0]!.data.subarray(offset, offset + length))));
      }
      const total = s.stats.chunksDecoded;
      assert.ok(total < 6 + 1 + 2 + 1 + 3, `total ${total}`);
    } finally {
      await s.close();
    }
  });

  test('.tzip: a corrupted chunk is a BAD_INPUT naming the chunk and tensor', async () => {
    const bytes = readFileSync(tz);
    const bad = new Uint8Array(bytes);
    const at = Math.floor(bad.length / 3); // inside a payload of big.f32 (most of the file)
    bad[at] = bad[at]! ^ 0xff;
    const p = writeFile(tmp.dir, 'bad.tzip', bad);
    const s = await openTzip(p);
    try {
      const regions = s.tensors().map((t) => t.name);
      let failed = 0;
      for (const n of regions) {
        try {
          await s.readTensor(n);
        } catch (e) {
          assert.ok(
            e instanceof TzError && e.code === 'BAD_INPUT' && /corrupted chunk \d+ \(tensor "/.test(e.message),
            String(e),
          );
          failed++;
        }
      }
      assert.ok(failed >= 1);
    } finally {
      await s.close();
    }
  });
});

describe('poolTensor', () => {
  const cases: Array<{
    name: string;
    rowAxis?: number;
    win?: { row0: number; row1: number; col0: number; col1: number };
    gr: number;
    gc: number;
  }> = [
    { name: 'big.f32', gr: 37, gc: 53 },
    { name: 'big.f32', win: { row0: 100, row1: 140, col0: 1000, col1: 1024 }, gr: 7, gc: 24 },
    { name: 'big.f32', win: { row0: 3, row1: 1500, col0: 10, col1: 40 }, gr: 300, gc: 8 },
    { name: 'cube.bf16', gr: 5, gc: 11 },
    { name: 'cube.bf16', rowAxis: 1, gr: 13, gc: 17 },
    { name: 'cube.bf16', rowAxis: 2, win: { row0: 2, row1: 30, col0: 50, col1: 200 }, gr: 9, gc: 20 },
    { name: 'half', gr: 27, gc: 37 },
    { name: 'ints', gr: 1, gc: 64 },
    { name: 'line.f64', gr: 1, gc: 100 },
    { name: 'long.f8', gr: 2, gc: 300 },
    { name: 'long.f8', win: { row0: 1, row1: 2, col0: 999, col1: 1_400_000 }, gr: 1, gc: 7 },
  ];
  for (const file of ['safetensors', 'tzip']) {
    test(`cells match a plain computation over the raw bytes (${file})`, async () => {
      const s = await openTensors(file === 'tzip' ? tz : st);
      try {
        for (const c of cases) {
          const t = tensors.find((x) => x.name === c.name)!;
          const vals = plainValues(t.dtype, t.data);
          const m = matrixOf(t.shape, c.rowAxis ?? 0);
          const win = c.win ?? { row0: 0, row1: m.rows, col0: 0, col1: m.cols };
          const v = await poolTensor(s, c.name, {
            rowAxis: c.rowAxis ?? 0,
            window: c.win,
            gridRows: c.gr,
            gridCols: c.gc,
          });
          const gr = Math.min(c.gr, win.row1 - win.row0),
            gc = Math.min(c.gc, win.col1 - win.col0);
          assert.equal(v.gridRows, gr);
          assert.equal(v.gridCols, gc);
          const ref = referencePool(
            vals,
            t.shape.length <= 1 ? [1, vals.length] : t.shape,
            t.shape.length <= 1 ? 0 : (c.rowAxis ?? 0),
            win,
            gr,
            gc,
          );
          ref.forEach((r, k) => {
            const what = `${c.name} axis ${c.rowAxis ?? 0} cell ${k}`;
            close(v.mean[k]!, r.mean, `${what} mean`);
            close(v.maxAbs[k]!, r.maxAbs, `${what} max|x|`);
            close(v.std[k]!, r.std, `${what} std`);
            assert.equal(v.nans[k]! + v.posInfs[k]! + v.negInfs[k]!, r.nonFinite, `${what} non-finite`);
          });
          // statistics of the window and the first values
          const inWin: number[] = [];
          const firsts: number[] = [];
          const inner =
            t.shape.length <= 1 ? vals.length : t.shape.slice((c.rowAxis ?? 0) + 1).reduce((a, b) => a * b, 1);
          const A = t.shape.length <= 1 ? 1 : t.shape[c.rowAxis ?? 0]!;
          for (let r = win.row0; r < win.row1; r++)
            for (let col = win.col0; col < win.col1; col++) {
              const o = Math.floor(col / inner),
                j = col % inner;
              const x = vals[(o * A + r) * inner + j]!;
              inWin.push(x);
              if (r - win.row0 < v.first.rows && col - win.col0 < v.first.cols) firsts.push(x);
            }
          const fin = inWin.filter(Number.isFinite);
          assert.equal(v.stats.count, inWin.length);
          assert.equal(v.stats.finite, fin.length);
          assert.equal(
            v.stats.min,
            fin.reduce((a, b) => Math.min(a, b), Infinity),
          );
          assert.equal(
            v.stats.max,
            fin.reduce((a, b) => Math.max(a, b), -Infinity),
          );
          assert.equal(v.stats.nans, inWin.filter((x) => Number.isNaN(x)).length);
          assert.equal(v.stats.zeros, fin.filter((x) => x === 0).length);
          assert.deepEqual(
            v.first.values.map((x) => (Number.isNaN(x) ? 'NaN' : x)),
            firsts.map((x) => (Number.isNaN(x) ? 'NaN' : x)),
          );
          assert.equal(
            v.histogram.counts.reduce((a, b) => a + b, 0),
            fin.length,
            `${c.name} histogram total`,
          );
          // row norms: the rms strip over all rows equals the Frobenius norm / sqrt(rows)
          const fro = Math.sqrt(fin.reduce((a, b) => a + b * b, 0));
          const rowQ = Array.from(v.rowNorms.rms).reduce(
            (a, x, b) =>
              a +
              x * x * (Math.ceil(((b + 1) * (win.row1 - win.row0)) / gr) - Math.ceil((b * (win.row1 - win.row0)) / gr)),
            0,
          );
          close(Math.sqrt(rowQ), fro, `${c.name} row norms`);
        }
      } finally {
        await s.close();
      }
    });
  }

  test('16-bit floats: the histogram is exact per value', async () => {
    const s = await openTensors(st);
    try {
      const v = await poolTensor(s, 'half', { gridRows: 4, gridCols: 4, histogramBins: 8 });
      const t = tensors.find((x) => x.name === 'half')!;
      const counts = new Map<number, number>();
      for (const x of plainValues('F16', t.data))
        if (Number.isFinite(x)) counts.set(x === 0 ? 0 : x, (counts.get(x === 0 ? 0 : x) ?? 0) + 1);
      assert.equal(v.histogram.exact, true);
      assert.equal(v.histogram.edges.length, counts.size);
      v.histogram.edges.forEach((e, i) => assert.equal(v.histogram.counts[i], counts.get(e), `value ${e}`));
    } finally {
      await s.close();
    }
  });
});

describe('GGUF dequantization', () => {
  // relative RMS error (vs the weights' RMS) each quantizer leaves; a wrong unpacking gives ~1
  const bound: Record<string, number> = {
    Q8_0: 0.01,
    Q6_K: 0.04,
    Q5_0: 0.08,
    Q5_1: 0.08,
    Q5_K: 0.08,
    Q4_0: 0.15,
    Q4_1: 0.15,
    Q4_K: 0.15,
    Q2_K: 0.6,
  };
  test('every quantizer of the test helpers round-trips through the inspector within its error', async () => {
    const { QUANTIZERS, buildQuantGguf } = await import('./quant-helpers');
    const x = gaussianF32(256 * 16, 0.03, 11); // 4096 values: one grid cell each
    for (const type of Object.keys(QUANTIZERS)) {
      const file = writeFile(tmp.dir, `q-${type}.gguf`, buildQuantGguf([{ name: 'w', data: x }], type));
      for (const p of [file, `${file}.tzip`]) {
        if (p.endsWith('.tzip')) await compressFile(file, { output: p, threads: 1 });
        const s = await openTensors(p);
        try {
          const t = s.tensor('w');
          assert.equal(t.dtype, type);
          assert.ok(t.block, `${type}: block layout known`);
          const v = await poolTensor(s, 'w', { gridRows: 1, gridCols: x.length });
          assert.equal(v.dequantized, true);
          let e2 = 0,
            x2 = 0;
          for (let i = 0; i < x.length; i++) {
            e2 += (v.mean[i]! - x[i]!) ** 2;
            x2 += x[i]! ** 2;
          }
          const rel = Math.sqrt(e2 / x2);
          assert.ok(
            rel < bound[type]!,
            `${type} (${p.endsWith('.tzip') ? 'tzip' : 'gguf'}): relative RMS error ${rel.toFixed(4)} >= ` +
              `${bound[type]}`,
          );
          // a window that starts and ends inside blocks
          const w = await poolTensor(s, 'w', {
            window: { row0: 0, row1: 1, col0: 45, col1: 45 + 300 },
            gridRows: 1,
            gridCols: 300,
          });
          for (let i = 0; i < 300; i++) assert.equal(w.mean[i], v.mean[45 + i], `${type} windowed value ${i}`);
        } finally {
          await s.close();
        }
      }
    }
  });
});

describe('analyze of a .tzip', () => {
  test('every tensor has the original analysis (exponent entropy, bound, statistics)', async () => {
    const { analyzeFile } = await import('../../engine/api');
    const { CORPUS, HAVE_CORPUS } = await import('../helpers/safetensors');
    const path = await import('node:path');
    const files = [st];
    if (HAVE_CORPUS)
      for (const f of ['stories260k.bf16.safetensors', 'stories260k.f16.gguf', 'human_faceres.f32.safetensors'])
        files.push(path.join(CORPUS, f));
    for (const f of files) {
      const z = path.join(tmp.dir, `${path.basename(f)}.a.tzip`);
      await compressFile(f, { output: z, threads: 1 });
      const a = await analyzeFile(f);
      const b = await analyzeFile(z);
      assert.equal(b.format, 'tzip');
      assert.equal(b.bytes, a.bytes);
      assert.equal(b.predictedBytes, a.predictedBytes, `${f} predicted`);
      const byName = new Map(b.tensors.map((t) => [t.name, t]));
      assert.equal(b.tensors.length, a.tensors.length);
      for (const t of a.tensors) {
        const u = byName.get(t.name);
        assert.ok(u, `${f}: ${t.name} in the .tzip analysis`);
        assert.equal(u.exponentEntropy, t.exponentEntropy, `${t.name} exponent entropy`);
        assert.equal(u.boundBytes, t.boundBytes, `${t.name} bound`);
        assert.deepEqual(u.exponentHistogram, t.exponentHistogram, `${t.name} histogram`);
        for (const k of ['min', 'max', 'mean', 'std', 'zeros', 'nans', 'infs', 'planeEntropy'] as const)
          assert.deepEqual(u[k], t[k], `${t.name} ${k}`);
      }
    }
  });
});
