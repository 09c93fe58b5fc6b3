import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TensorRow } from '../../protocol/webview';
import {
  naturalKey,
  dtypesOf,
  nextSort,
  rowRatio,
  viewIndices,
  EMPTY_FILTER,
  DEFAULT_SORT,
} from '../../webview/model/table';
import { indexByName, mergeRows } from '../../shared/rows';

function row(
  name: string,
  dtype: string,
  bytes: number,
  bound: number | null,
  layer = 'l',
  entropy: number | null = 2.5,
): TensorRow {
  return { name, dtype, shape: [bytes / 2], bytes, layer, boundBytes: bound, exponentEntropy: entropy };
}

const rows = [
  row('model.layers.10.mlp.w1', 'BF16', 200, 130, 'model.layers.10'),
  row('model.layers.2.mlp.w1', 'BF16', 100, 70, 'model.layers.2'),
  row('model.norm.weight', 'F32', 40, null, 'model.norm', null),
  row('model.embed_tokens.weight', 'BF16', 400, 260, 'model.embed_tokens'),
];

test('filter by name terms (all must match, case-insensitive), dtype and layer', () => {
  assert.deepEqual(viewIndices(rows, { ...EMPTY_FILTER, text: 'MLP w1' }, DEFAULT_SORT), [0, 1]);
  assert.deepEqual(viewIndices(rows, { ...EMPTY_FILTER, text: 'layers.2 ' }, DEFAULT_SORT), [1]);
  assert.deepEqual(viewIndices(rows, { ...EMPTY_FILTER, dtype: 'F32' }, DEFAULT_SORT), [2]);
  assert.deepEqual(viewIndices(rows, { ...EMPTY_FILTER, layer: 'model.layers.10' }, DEFAULT_SORT), [0]);
  assert.deepEqual(viewIndices(rows, { ...EMPTY_FILTER, text: 'nothing-like-this' }, DEFAULT_SORT), []);
});

test('sorts: numeric-aware names, numbers, missing values last in both directions', () => {
  assert.deepEqual(viewIndices(rows, EMPTY_FILTER, { key: 'name', dir: 'asc' }), [3, 1, 0, 2]);
  assert.deepEqual(viewIndices(rows, EMPTY_FILTER, { key: 'bytes', dir: 'desc' }), [3, 0, 1, 2]);
  assert.deepEqual(viewIndices(rows, EMPTY_FILTER, { key: 'estimate', dir: 'asc' }), [1, 0, 3, 2]);
  assert.deepEqual(viewIndices(rows, EMPTY_FILTER, { key: 'estimate', dir: 'desc' }), [3, 0, 1, 2]);
  assert.deepEqual(viewIndices(rows, EMPTY_FILTER, { key: 'index', dir: 'desc' }), [3, 2, 1, 0]);
  // ratio = estimate (order-0 bound + 40 B framing per chunk) / bytes: 0.85, 1.10, null, 0.75
  assert.deepEqual(viewIndices(rows, EMPTY_FILTER, { key: 'ratio', dir: 'asc' }), [3, 0, 1, 2]);
  assert.equal(rowRatio(rows[2]!), null);
});

test('nextSort flips the same key and starts numbers descending', () => {
  assert.deepEqual(nextSort(DEFAULT_SORT, 'bytes'), { key: 'bytes', dir: 'desc' });
  assert.deepEqual(nextSort({ key: 'bytes', dir: 'desc' }, 'bytes'), { key: 'bytes', dir: 'asc' });
  assert.deepEqual(nextSort({ key: 'bytes', dir: 'desc' }, 'name'), { key: 'name', dir: 'asc' });
});

test('mergeRows fills header rows by name and appends unknown ones', () => {
  const header = rows.map((r) => ({ ...r, boundBytes: null, exponentEntropy: null }));
  const byName = indexByName(header);
  const n = mergeRows(header, byName, [{ ...rows[1]! }, row('extra', 'I64', 8, 8, 'extra', null)]);
  assert.equal(n, 2);
  assert.equal(header[1]!.boundBytes, 70);
  assert.equal(header[0]!.boundBytes, null);
  assert.equal(header.length, 5);
  assert.equal(byName.get('extra'), 4);
  assert.deepEqual(dtypesOf(header), ['BF16', 'F32', 'I64']);
});

test('100,000 rows: filter and sort give correct, complete orders', () => {
  const big: TensorRow[] = [];
  for (let i = 0; i < 100_000; i++)
    big.push(
      row(
        `model.layers.${i % 500}.t${i}`,
        i % 3 ? 'BF16' : 'F32',
        2 * ((i * 7919) % 100_003),
        i % 10 ? (i * 31) % 1000 : null,
        `model.layers.${i % 500}`,
      ),
    );
  const sorted = viewIndices(big, EMPTY_FILTER, { key: 'bytes', dir: 'desc' });
  assert.equal(sorted.length, 100_000);
  for (let k = 1; k < sorted.length; k++) assert.ok(big[sorted[k - 1]!]!.bytes >= big[sorted[k]!]!.bytes);
  const f32 = viewIndices(big, { ...EMPTY_FILTER, dtype: 'F32', text: 'layers.7.' }, { key: 'estimate', dir: 'asc' });
  assert.equal(f32.length, big.filter((r) => r.dtype === 'F32' && r.name.includes('layers.7.')).length);
  const firstNull = f32.findIndex((i) => big[i]!.boundBytes === null);
  assert.ok(firstNull === -1 || f32.slice(firstNull).every((i) => big[i]!.boundBytes === null), 'unanalysed rows last');
  assert.equal(new Set(sorted).size, 100_000);
});

test('naturalKey orders digit runs by value', () => {
  const names = ['layers.10.w', 'layers.2.w', 'layers.1.w', 'Layers.02.b'];
  const sorted = [...names].sort((a, b) => (naturalKey(a) < naturalKey(b) ? -1 : 1));
  assert.deepEqual(sorted, ['layers.1.w', 'Layers.02.b', 'layers.2.w', 'layers.10.w']);
});
