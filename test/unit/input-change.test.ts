/**
 * Issue 12, item 4: the input changes while compressFile reads it. The change is made from the
 * progress callback after the first chunk was read, hashed and coded (deterministic: the callback runs
 * on the compressing thread, threads: 1). Each way of changing is caught by one guard of
 * engine/io/unchanged.ts alone, so removing that guard fails its test:
 *   - grown (appended to): the size check (the file is racy, its time stamps are not looked at);
 *   - overwritten in place, same size, just after being written: the racy re-hash;
 *   - overwritten in place, same size, time stamps older than RACY_MS: the mtime/ctime check;
 *   - replaced by a rename: the path-names-the-same-file check;
 *   - truncated: the catch that turns the failed read into CHANGED.
 * Every refusal is the one line `<file>: changed while being compressed; nothing written`, with no
 * output, no temp file, and the input as the writer left it.
 */
import assert from 'node:assert/strict';
import {
  appendFileSync,
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
} from 'node:fs';
import { truncateSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { compressFile } from '../../engine/container/compress';
import { TzError } from '../../engine/core/errors';
import { RACY_MS } from '../../engine/io/unchanged';
import { gaussianF32, safetensorsBytes, tempDir, toBF16Bytes } from '../helpers/safetensors';

const tmp = tempDir('tz-input-change-');
after(() => tmp.cleanup());

/** 4 MiB of BF16 weights in one tensor: four 1 MiB chunks */
function model(name: string, seed: number): string {
  const data = toBF16Bytes(gaussianF32(2 << 20, 0.02, seed));
  const p = path.join(tmp.dir, name);
  writeFileSync(p, safetensorsBytes([{ name: 'w', dtype: 'BF16', shape: [data.length / 2], data }]));
  return p;
}

function overwrite(file: string, at: number, bytes: Uint8Array): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, at);
  } finally {
    closeSync(fd);
  }
}

/** Compresses `input`, running `change` once from the first progress callback; returns the error. */
async function compressChanging(input: string, change: () => void): Promise<TzError> {
  let changed = false;
  const err = await compressFile(input, {
    threads: 1,
    onProgress: () => {
      if (changed) return;
      changed = true;
      change();
    },
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(changed, 'the change was made mid-compress');
  assert.ok(err instanceof TzError, `refused (got ${String(err)})`);
  return err;
}

function assertRefused(err: TzError, input: string, expected: Buffer): void {
  assert.equal(err.code, 'CHANGED');
  assert.equal(err.message, `${input}: changed while being compressed; nothing written`);
  assert.ok(!existsSync(`${input}.tzip`), 'no output');
  assert.deepEqual(
    readdirSync(tmp.dir).filter((n) => n.includes('.tmp-')),
    [],
    'no temp file left',
  );
  assert.ok(readFileSync(input).equals(expected), 'the input is what the writer left, nothing else touched it');
}

// written first: by the time its test runs its time stamps are old enough to be trusted
const settled = model('settled.safetensors', 5);

describe('compress refuses an input that changes while it is read', () => {
  test('unchanged inputs compress (racy ones are hashed again, and agree)', async () => {
    const input = model('fine.safetensors', 1);
    const r = await compressFile(input, { threads: 1 });
    assert.equal(r.originalBytes, statSync(input).size);
    assert.ok(existsSync(r.output));
  });

  test('grown (appended to) mid-compress: the size check', async () => {
    const input = model('grown.safetensors', 2);
    const err = await compressChanging(input, () => appendFileSync(input, Buffer.alloc(4096, 7)));
    const expected = readFileSync(input);
    assertRefused(err, input, expected);
  });

  test('overwritten in place just after it was written (racy time stamps): the content is hashed again', async () => {
    const input = model('racy.safetensors', 3);
    // bytes of the first chunk, already read and hashed when the first progress arrives
    const err = await compressChanging(input, () => overwrite(input, 4096, Buffer.alloc(512, 0x55)));
    assertRefused(err, input, readFileSync(input));
  });

  test('replaced by a rename mid-compress: the path no longer names the file being read', async () => {
    const input = model('renamed.safetensors', 4);
    const next = path.join(tmp.dir, 'next.bin');
    const err = await compressChanging(input, () => {
      writeFileSync(next, readFileSync(input)); // the same bytes, another file
      renameSync(next, input);
    });
    assertRefused(err, input, readFileSync(input));
  });

  test('truncated mid-compress: the failed read is reported as the change', async () => {
    const input = model('truncated.safetensors', 6);
    const err = await compressChanging(input, () => truncateSync(input, 1 << 20));
    assertRefused(err, input, readFileSync(input));
  });

  test('overwritten in place, time stamps older than RACY_MS: mtime/ctime of the open handle', async () => {
    const newest = Math.max(statSync(settled).mtimeMs, statSync(settled).ctimeMs);
    const wait = newest + RACY_MS + 200 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const err = await compressChanging(settled, () => overwrite(settled, 4096, Buffer.alloc(512, 0x55)));
    assertRefused(err, settled, readFileSync(settled));
  });
});
