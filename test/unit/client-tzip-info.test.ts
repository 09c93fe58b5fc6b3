/** The .tzip view reads the engine's real `infoFile` answer (what the server's tensorzip/info returns). */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { compressFile } from '../../engine/container/compress';
import { infoFile } from '../../engine/container/decompress';
import { openModel } from '../../engine/formats/index';
import { tzipSummary } from '../../client/tzipInfo';

const FILE = path.resolve(process.cwd(), '../shared/corpus/stories260k.bf16.safetensors');

test(
  'tzipSummary on a real .tzip lists every tensor with its stored bytes',
  { skip: !existsSync(FILE) && 'no ../shared/corpus' },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tz-client-info-'));
    try {
      const out = path.join(dir, 'm.safetensors.tzip');
      await compressFile(FILE, { output: out, threads: 1 });
      const s = tzipSummary(JSON.parse(JSON.stringify(await infoFile(out))));
      const layout = await openModel(FILE);
      assert.equal(s.originalBytes, statSync(FILE).size);
      assert.equal(s.storedBytes, statSync(out).size);
      assert.equal(s.originalFormat, 'safetensors');
      assert.equal(s.lossy, undefined);
      assert.deepEqual(s.tensors.map((t) => t.name).sort(), layout.tensors.map((t) => t.name).sort());
      for (const t of s.tensors) {
        const h = layout.tensors.find((x) => x.name === t.name)!;
        assert.equal(t.bytes, h.bytes);
        assert.equal(t.dtype, h.dtype);
        assert.deepEqual(t.shape, h.shape);
        assert.ok(
          t.storedBytes !== null && t.storedBytes! >= 0 && t.storedBytes! <= t.bytes + 64,
          `${t.name}: stored ${t.storedBytes} of ${t.bytes}`,
        );
      }
      const stored = s.tensors.reduce((a, t) => a + (t.storedBytes ?? 0), 0);
      assert.ok(
        stored / s.tensors.reduce((a, t) => a + t.bytes, 0) < 0.75,
        'BF16 weights compress to about two thirds',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
