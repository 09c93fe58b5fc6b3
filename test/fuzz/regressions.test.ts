// Replays every committed fuzz input (test/fuzz/seeds/<target>/ and the crashes found so far,
// test/fuzz/regressions/<target>/) through its target without instrumentation: each must end as the
// target allows (accepted with a sane result, or the reader's own error type), never as a Finding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { TARGETS } from './targets';
import { Finding, MAX_ALLOCATION, readerCase, syncCase } from './harness';
import { badInput } from '../../engine/core/errors';

const HERE = path.join(process.cwd(), 'test/fuzz');
const inputs = (kind: string, target: string): string[] => {
  const dir = path.join(HERE, kind, target);
  return existsSync(dir)
    ? readdirSync(dir)
        .sort()
        .map((n) => path.join(dir, n))
    : [];
};

test('every regression folder belongs to a fuzz target', () => {
  for (const kind of ['seeds', 'regressions']) {
    const dir = path.join(HERE, kind);
    for (const t of existsSync(dir) ? readdirSync(dir) : [])
      assert.ok(t in TARGETS, `${kind}/${t}: no such fuzz target`);
  }
});

test('the harness reports what the targets must never do', async () => {
  const f = '/x/in.bin';
  const size = () => 10;
  await readerCase(
    f,
    async () => {
      throw badInput(f, 'bad');
    },
    size,
  );
  await assert.rejects(
    readerCase(
      f,
      async () => {
        throw new RangeError('offset out of bounds');
      },
      size,
    ),
    Finding,
  );
  await assert.rejects(
    readerCase(
      f,
      async () => {
        throw badInput('/other', 'bad');
      },
      size,
    ),
    Finding,
    'a TzError naming another file',
  );
  await assert.rejects(
    readerCase(
      f,
      async () => ({
        path: f,
        format: 'npy',
        size: 10,
        tensors: [{ name: 't', dtype: 'F32', shape: [4], offset: 8, bytes: 16 }],
      }),
      size,
    ),
    Finding,
    'a range past the end',
  );
  // an allocation over the bound is reported even when the code under test swallows the throw
  await assert.rejects(
    readerCase(
      f,
      async () => {
        try {
          new Uint8Array(MAX_ALLOCATION + 1);
        } catch {
          /* swallowed */
        }
        throw badInput(f, 'bad');
      },
      size,
    ),
    /over the/,
  );
  assert.throws(
    () =>
      syncCase(
        () => {
          throw new TypeError('x');
        },
        (e) => e instanceof RangeError,
        'decoder',
      ),
    Finding,
  );
  assert.equal(new Uint8Array(16).length, 16);
});

for (const [name, t] of Object.entries(TARGETS)) {
  test(`fuzz target ${name}: committed seeds and regression inputs replay cleanly`, async () => {
    const files = [...inputs('seeds', name), ...inputs('regressions', name)];
    assert.ok(files.length > 0 || t.real.length > 0, `${name} has no committed seed and no real seed files`);
    for (const f of files) {
      try {
        await t.fn(readFileSync(f));
      } catch (e) {
        assert.fail(`${path.relative(process.cwd(), f)}: ${(e as Error).stack ?? e}`);
      }
    }
  });
}
