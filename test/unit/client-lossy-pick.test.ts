/** The lossy quick pick's wording on the engine's real what-if table (stories260k BF16). */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { lossyCurve, lossyPickItems } from '../../client/lossyPick';

const FILE = path.resolve(process.cwd(), '../shared/corpus/stories260k.bf16.safetensors');

test(
  'one item per k with predicted size and error, smaller k = smaller file',
  { skip: !existsSync(FILE) && 'no ../shared/corpus', timeout: 60_000 },
  async () => {
    const { whatIf } = await import('../../engine/container/whatif');
    const r = await whatIf(FILE, { threads: 1 });
    const items = lossyPickItems(r, 3);
    const ks = r.points.filter((p) => p.bits !== null).map((p) => p.bits);
    assert.deepEqual(
      items.map((i) => i.k),
      ks,
    );
    assert.ok(items.some((i) => i.k === 0) && items.some((i) => i.k === 3));
    for (const it of items) {
      assert.match(it.label, /^k = \d+ → \d+(?:\.\d+)? (?:B|KB|MB|GB) \(\d+\.\d%\)$/);
      assert.match(it.description, /lossless: \d+\.\d%/);
      assert.match(it.detail, /max relative error .*%|nothing rounded/);
    }
    assert.match(items.find((i) => i.k === 3)!.description, /default/);
    const curve = lossyCurve(r);
    assert.equal(curve.length, items.length);
    for (let i = 1; i < curve.length; i++)
      assert.ok(curve[i]!.predictedBytes >= curve[i - 1]!.predictedBytes * 0.98, 'size grows with k');
    const k3 = curve.find((p) => p.bits === 3)!;
    assert.ok(k3.maxRelError! <= 2 ** -4 + 1e-12, `k=3 max relative error ${k3.maxRelError} within 2^-(k+1)`);
  },
);
