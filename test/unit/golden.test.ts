// The golden containers of test/golden/ (made by scripts/make-golden.mjs; docs/format.md, "Compliance"):
// every committed .tzip still decodes to its recorded original, together they use every payload kind,
// every refusal case is refused with its one-line message, and today's writer still makes the files
// of the current versions byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { decompressFile, verifyFile } from '../../engine/api';
import { TzError } from '../../engine/core/errors';
import { kindsOf } from '../helpers/payloadKinds';
import { tempDir } from '../helpers/safetensors';
import type { GoldenManifest } from '../../scripts/make-golden.mjs';

const GOLDEN = path.resolve(__dirname, '../golden');
const manifest = JSON.parse(readFileSync(path.join(GOLDEN, 'manifest.json'), 'utf8')) as GoldenManifest;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('golden: every committed container decodes to its recorded original and verifies', async () => {
  const tmp = tempDir('tz-golden-');
  try {
    assert.ok(Object.keys(manifest.containers).length >= 5);
    for (const [name, g] of Object.entries(manifest.containers)) {
      const tz = path.join(GOLDEN, name);
      assert.equal(sha(readFileSync(tz)), g.sha256, `${name}: the committed file is the recorded one`);
      assert.equal(
        sha(readFileSync(path.join(GOLDEN, g.original))),
        g.originalSha256,
        `${g.original} is the recorded original`,
      );
      const base = g.base ? path.join(GOLDEN, g.base) : undefined;
      if (base) assert.equal(sha(readFileSync(base)), g.baseSha256);
      const out = path.join(tmp.dir, g.original);
      const r = await decompressFile(tz, { output: out, threads: 1, base });
      assert.equal(r.sha256, g.originalSha256, `${name} decodes to its original`);
      assert.equal(sha(readFileSync(out)), g.originalSha256);
      const v = await verifyFile(tz, { threads: 2, base, against: path.join(GOLDEN, g.original) });
      assert.ok(v.ok, `${name} verifies: ${v.problems.join('; ')}`);
      assert.deepEqual(await kindsOf(tz), g.kinds, `${name}: payload kinds as recorded`);
    }
  } finally {
    tmp.cleanup();
  }
});

test('golden: the containers together use every payload kind of every version', () => {
  const all = new Set(Object.values(manifest.containers).flatMap((g) => g.kinds));
  const required = [
    'version 1.0',
    'version 2.0',
    'version 3.0',
    'checksum crc32',
    'checksum xxh32',
    'STORED',
    'PLANES',
    'ZSTD',
    'PALETTE',
    'BLOCKS',
    'duplicate',
    'plane RAW',
    'plane CONST',
    'plane RANS',
    'rANS 1 lanes',
    'rANS 8 lanes',
    'rANS 16 lanes',
    'transform 1 width 2',
    'transform 2 width 4',
    'transform 3 width 8',
    'transform 0 width 2',
    'transform 0 width 1',
    'delta SAME',
    'delta XOR',
    'delta ULP',
    'delta ULPG',
  ];
  assert.deepEqual(
    required.filter((k) => !all.has(k)),
    [],
    'kinds no golden file uses',
  );
  // 1.x files never had 16 lanes nor XXH32
  const v1 = Object.values(manifest.containers).filter((g) => g.kinds.includes('version 1.0'));
  assert.ok(
    v1.length >= 1 && v1.every((g) => !g.kinds.includes('rANS 16 lanes') && g.kinds.includes('checksum crc32')),
  );
});

test('golden: every refusal case is refused by decompress and verify with its one-line message', async () => {
  const tmp = tempDir('tz-golden-bad-');
  try {
    assert.ok(manifest.refuse.length >= 10);
    for (const bad of manifest.refuse) {
      const tz = path.join(GOLDEN, bad.file);
      const out = path.join(tmp.dir, `${bad.file}.out`);
      await assert.rejects(decompressFile(tz, { output: out, threads: 1 }), (e: unknown) => {
        assert.ok(e instanceof TzError, `${bad.file}: a TzError`);
        assert.equal(e.code, bad.code, `${bad.file}: ${e.message}`);
        assert.match(e.message, new RegExp(bad.message), bad.file);
        assert.ok(
          !e.message.includes('\n') && e.message.includes(bad.file),
          `${bad.file}: one line naming the file: ${e.message}`,
        );
        return true;
      });
      assert.ok(!existsSync(out), `${bad.file}: no output`);
      const v = await verifyFile(tz, { threads: 1 });
      assert.equal(v.ok, false, `${bad.file}: verify fails`);
      assert.match(v.problems.join(' '), new RegExp(bad.message), bad.file);
    }
    assert.deepEqual(readdirSync(tmp.dir), []);
  } finally {
    tmp.cleanup();
  }
});

test('golden: the current writer makes the committed files byte for byte (scripts/make-golden.mjs)', async () => {
  const tmp = tempDir('tz-golden-make-');
  try {
    // imported when run: the script has top-level await (its command-line part)
    const { makeGolden } = await import('../../scripts/make-golden.mjs');
    const made = await makeGolden(tmp.dir);
    const files = readdirSync(GOLDEN).filter((n) => n !== 'README.md');
    assert.deepEqual(readdirSync(tmp.dir).sort(), files.sort(), 'the script makes exactly the committed files');
    for (const n of files) {
      assert.ok(
        readFileSync(path.join(tmp.dir, n)).equals(readFileSync(path.join(GOLDEN, n))),
        `${n} is made byte for byte (rerun scripts/make-golden.mjs if the change is intended)`,
      );
    }
    assert.deepEqual(made.refuse, manifest.refuse);
  } finally {
    tmp.cleanup();
  }
});
