/**
 * Tables looked up with strings read from files (dtype names from headers, indexes and configs) have
 * no prototype, so "toString", "__proto__" or "constructor" finds nothing instead of an Object method.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DTYPES, dtypeInfo, isFloat } from '../../engine/core/dtypes';
import { LOSSY_DTYPES } from '../../engine/lossy/round';
import { BLOCK_MAPS, blockBytesOf } from '../../engine/codec/blocks';
import { TORCH_DTYPES } from '../../engine/formats/configCheck';

const HOSTILE = ['toString', '__proto__', 'constructor', 'hasOwnProperty', 'valueOf'];

test('lookup tables keyed by names from files answer nothing for Object property names', () => {
  const tables: Record<string, Record<string, unknown>> = { DTYPES, LOSSY_DTYPES, BLOCK_MAPS, TORCH_DTYPES };
  for (const [name, table] of Object.entries(tables)) {
    assert.ok(Object.keys(table).length > 0, `${name} is not empty`);
    for (const k of HOSTILE) {
      assert.equal(table[k], undefined, `${name}["${k}"]`);
      assert.equal(k in table, false, `"${k}" in ${name}`);
    }
  }
  for (const k of HOSTILE) {
    assert.deepEqual(dtypeInfo(k), { name: k, size: 0 });
    assert.equal(isFloat(k), false);
    assert.equal(blockBytesOf(k, true), 0);
  }
  assert.equal(dtypeInfo('BF16').size, 2);
});
