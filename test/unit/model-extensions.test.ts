/**
 * One model-extension list (shared/modelFiles.ts), and package.json says the same: the custom
 * editors open exactly those extensions (plus .tzip), and every Explorer/editor menu condition that
 * lists extensions lists exactly them. A format added to one place and not the other fails here.
 */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MODEL_EXTENSIONS } from '../../shared/modelFiles';

interface Manifest {
  contributes: {
    customEditors: Array<{ viewType: string; selector: Array<{ filenamePattern: string }> }>;
    menus: Record<string, Array<{ command: string; when?: string }>>;
  };
}
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as Manifest;
const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

test('the custom editors open exactly the model extensions and .tzip', () => {
  const patterns = pkg.contributes.customEditors.flatMap((e) => e.selector.map((s) => s.filenamePattern));
  assert.deepEqual(sorted(patterns), sorted([...MODEL_EXTENSIONS, '.tzip'].map((e) => `*${e}`)));
});

test('every menu condition listing extensions lists exactly the model extensions', () => {
  let conditions = 0;
  for (const [menu, items] of Object.entries(pkg.contributes.menus)) {
    for (const item of items) {
      for (const m of (item.when ?? '').matchAll(/resourceExtname =~ \/\^\\\.\(([^)]*)\)\$\/i/g)) {
        conditions++;
        assert.deepEqual(
          sorted(m[1]!.split('|').map((e) => `.${e}`)),
          sorted(MODEL_EXTENSIONS),
          `${menu} / ${item.command}: ${item.when}`,
        );
      }
    }
  }
  assert.ok(conditions >= 3, `found ${conditions} menu conditions with extension lists`);
});
