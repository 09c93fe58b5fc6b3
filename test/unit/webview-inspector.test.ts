/** Inspector logic of the webview: cell ranges agree with the engine's pooling rule, zoom windows, colour scale, wire
 * decoding. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  cellRange,
  colourLimit,
  decodeView,
  divergingRgb,
  firstValuesTsv,
  heatmapPixels,
  histogramBars,
  NAN_RGB,
  INF_RGB,
  windowOfCells,
  zoomWindow,
} from '../../webview/model/inspector';
import { parseWebviewMessage } from '../../protocol/webview';

describe('webview inspector model', () => {
  test('cellRange inverts floor(r * cells / n): every element lands in the cell whose range holds it', () => {
    for (const [n, cells] of [
      [10, 3],
      [512, 480],
      [7, 7],
      [100000, 333],
      [5, 1],
    ] as const) {
      let covered = 0;
      for (let g = 0; g < cells; g++) {
        const [a, b] = cellRange(g, cells, n, 0);
        for (let r = a; r < b; r++) assert.equal(Math.floor((r * cells) / n), g, `n ${n} cells ${cells} r ${r}`);
        covered += b - a;
      }
      assert.equal(covered, n);
    }
    assert.deepEqual(cellRange(0, 2, 10, 100), [100, 105]);
  });

  test('windowOfCells: a drag box over cells maps to the elements they pool, in either drag direction', () => {
    const v = { window: { row0: 10, row1: 110, col0: 0, col1: 50 }, gridRows: 10, gridCols: 25 };
    assert.deepEqual(windowOfCells(v, 0, 0, 0, 0), { row0: 10, row1: 20, col0: 0, col1: 2 });
    assert.deepEqual(windowOfCells(v, 9, 2, 24, 3), { row0: 30, row1: 110, col0: 6, col1: 50 });
  });

  test(
    'zoomWindow stays inside the matrix, keeps the point under the cursor, and zooming out returns to ' + 'the whole',
    () => {
      const full = { row0: 0, row1: 1000, col0: 0, col1: 2000 };
      const z = zoomWindow(full, 1000, 2000, 0.5, 0.5, 0.5);
      assert.deepEqual(z, { row0: 250, row1: 750, col0: 500, col1: 1500 });
      const corner = zoomWindow(full, 1000, 2000, 0.5, 0, 1);
      assert.deepEqual(corner, { row0: 500, row1: 1000, col0: 0, col1: 1000 });
      let w = { row0: 3, row1: 4, col0: 5, col1: 6 };
      for (let i = 0; i < 60; i++) w = zoomWindow(w, 1000, 2000, 1.25, 0.3, 0.7);
      assert.deepEqual(w, full);
      const tiny = zoomWindow({ row0: 3, row1: 4, col0: 5, col1: 6 }, 1000, 2000, 0.5, 0.5, 0.5);
      assert.ok(tiny.row1 - tiny.row0 >= 1 && tiny.col1 - tiny.col0 >= 1);
    },
  );

  test('diverging colour scale is centred on 0 and symmetric; NaN and Inf cells are marked', () => {
    const mid = divergingRgb(0, 1);
    assert.deepEqual(divergingRgb(0, 5), mid);
    const neg = divergingRgb(-1, 1),
      pos = divergingRgb(1, 1);
    assert.ok(neg[2] > neg[0], 'negative is blue');
    assert.ok(pos[0] > pos[2], 'positive is red');
    assert.deepEqual(divergingRgb(7, 1), pos, 'beyond the limit saturates');
    const cells = new Float32Array([0.5, NaN, 1, -1]);
    const flags = new Uint8Array([0, 1, 2, 0]);
    const px = heatmapPixels({ cells, flags }, 1);
    assert.deepEqual([...px.subarray(4, 7)], NAN_RGB);
    assert.deepEqual([...px.subarray(8, 11)], INF_RGB);
    assert.deepEqual([...px.subarray(12, 15)], neg);
    assert.equal(px[3], 255);
    const lim = colourLimit(
      new Float32Array(Array.from({ length: 1000 }, (_, i) => (i === 999 ? 100 : (i % 10) / 10))),
    );
    assert.equal(lim.max, 100);
    assert.ok(lim.limit < 1, 'one outlier cell does not set the scale');
  });

  test('decodeView reads the wire cells and flags; first values copy as TSV with indices', () => {
    const f = new Float32Array([1.5, -2, NaN, 4]);
    const v = {
      gridRows: 2,
      gridCols: 2,
      cellsBase64: Buffer.from(f.buffer).toString('base64'),
      nonFiniteBase64: Buffer.from([0, 0, 1, 0]).toString('base64'),
    };
    const d = decodeView(v as never);
    assert.deepEqual([...d.cells].map(String), ['1.5', '-2', 'NaN', '4']);
    assert.deepEqual([...d.flags], [0, 0, 1, 0]);
    const tsv = firstValuesTsv({
      window: { row0: 5, row1: 7, col0: 2, col1: 4 },
      first: { rows: 2, cols: 2, values: [1, 'NaN', 0.125, -3] },
    });
    assert.equal(tsv, '\t2\t3\n5\t1\tNaN\n6\t0.125\t-3');
  });

  test('histogram bars: fixed bins cover the axis; exact values on one pixel share a stem', () => {
    const fixed = histogramBars({ edges: [0, 1, 2, 3], counts: [1, 2, 3], exact: false }, 301);
    assert.deepEqual(
      fixed.map((b) => [b.x, b.w, b.count]),
      [
        [0, 100, 1],
        [100, 100, 2],
        [200, 100, 3],
      ],
    );
    const exact = histogramBars({ edges: [0, 0.001, 1, 2], counts: [5, 6, 7, 8], exact: true }, 101);
    assert.deepEqual(
      exact.map((b) => [b.x, b.count]),
      [
        [0, 11],
        [50, 7],
        [100, 8],
      ],
    );
  });

  test('inspect messages from the webview are validated', () => {
    const ok = {
      type: 'inspect',
      req: {
        id: 3,
        name: 'w',
        width: 100,
        height: 50,
        pool: 'std',
        rowAxis: 1,
        window: { row0: 0, row1: 5, col0: 1, col1: 9 },
      },
    };
    assert.deepEqual(parseWebviewMessage(ok), ok);
    for (const bad of [
      { ...ok.req, width: 0 },
      { ...ok.req, width: 5000 },
      { ...ok.req, pool: 'median' },
      { ...ok.req, name: '' },
      { ...ok.req, window: { row0: -1, row1: 5, col0: 1, col1: 9 } },
      { ...ok.req, id: 1.5 },
    ])
      assert.equal(parseWebviewMessage({ type: 'inspect', req: bad }), undefined, JSON.stringify(bad));
  });
});
