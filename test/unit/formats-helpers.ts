// Shared checks for the format reader tests (not a test file itself).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { TzError } from '../../engine/core/errors';
import type { FormatReader, ModelLayout } from '../../engine/formats/types';

import { CORPUS } from '../helpers/safetensors';
export { CORPUS };
export const HAS_CORPUS = existsSync(CORPUS);
/** Small PyTorch/NumPy files made once by scripts/make-fixtures.py (with torch/numpy) and committed. */
export const FIXTURES = path.resolve(process.cwd(), 'test/fixtures/torch');

/** Every range is inside its file, ranges are sorted per file and do not overlap. */
export function checkLayout(l: ModelLayout): void {
  const sizes = new Map<string, number>();
  const last = new Map<string, number>();
  for (const t of l.tensors) {
    const f = t.file ?? l.path;
    let size = sizes.get(f);
    if (size === undefined) {
      size = t.file ? statSync(t.file).size : l.size;
      sizes.set(f, size);
    }
    assert.ok(Number.isSafeInteger(t.offset) && t.offset >= 0, `${t.name}: offset ${t.offset}`);
    assert.ok(Number.isSafeInteger(t.bytes) && t.bytes >= 0, `${t.name}: bytes ${t.bytes}`);
    assert.ok(t.offset + t.bytes <= size, `${t.name}: [${t.offset}, ${t.offset + t.bytes}) outside ${f} (${size})`);
    const prevEnd = last.get(f) ?? 0;
    assert.ok(t.offset >= prevEnd, `${t.name}: starts at ${t.offset}, before the previous range ends (${prevEnd})`);
    last.set(f, t.offset + t.bytes);
    assert.ok(Array.isArray(t.shape) && t.shape.every((d) => Number.isSafeInteger(d) && d >= 0), `${t.name}: shape`);
    assert.equal(typeof t.dtype, 'string');
  }
}

/** Bytes of a tensor's range. */
export function rangeBytes(file: string, offset: number, bytes: number): Buffer {
  return readFileSync(file).subarray(offset, offset + bytes);
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Minimal independent safetensors header parse (not the engine's reader). */
export function safetensorsHeader(file: string): {
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  dataStart: number;
  buf: Buffer;
} {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  delete header.__metadata__;
  return { header, dataStart: 8 + n, buf };
}

/** A reader call on mangled input must either succeed with a sane layout or throw a one-line TzError naming the file.
 * */
export async function expectSaneOrTzError(
  reader: FormatReader,
  file: string,
  mustThrow: boolean,
  label: string,
): Promise<'ok' | 'error'> {
  try {
    const l = await reader.read(file);
    if (mustThrow) assert.fail(`${label}: expected an error, got ${l.tensors.length} tensors`);
    checkLayout(l);
    return 'ok';
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof TzError, `${label}: threw a non-TzError: ${(e as Error)?.stack ?? e}`);
    assert.ok(!e.message.includes('\n'), `${label}: multi-line message: ${e.message}`);
    assert.ok(e.message.startsWith(file), `${label}: message does not name the file: ${e.message}`);
    return 'error';
  }
}

import { mulberry32 as rng } from '../helpers/random';
export { rng };

/**
 * Truncates `src` at `truncations` points (dense in the header region `headerBytes`, spread over
 * the rest) — each must throw — and applies `flips` random byte flips within the header region —
 * each must succeed sanely or throw a TzError. Returns counts.
 */
export async function fuzzFile(
  reader: FormatReader,
  src: string,
  opts: {
    headerBytes: number;
    truncations: number;
    flips: number;
    seed: number;
    ext?: string;
    truncationsMustThrow?: boolean;
  },
): Promise<{ truncErrors: number; flipErrors: number; flipOk: number }> {
  const data = readFileSync(src);
  const dir = mkdtempSync(path.join(tmpdir(), 'tz-fuzz-'));
  const ext = opts.ext ?? path.extname(src);
  const r = rng(opts.seed);
  const out = { truncErrors: 0, flipErrors: 0, flipOk: 0 };
  try {
    const hdr = Math.min(opts.headerBytes, data.length);
    for (let i = 0; i < opts.truncations; i++) {
      const at = i % 2 === 0 ? Math.floor(r() * hdr) : Math.floor(r() * data.length);
      const f = path.join(dir, `trunc-${i}${ext}`);
      writeFileSync(f, data.subarray(0, at));
      const res = await expectSaneOrTzError(reader, f, opts.truncationsMustThrow ?? true, `truncated at ${at}`);
      if (res === 'error') out.truncErrors++;
    }
    for (let i = 0; i < opts.flips; i++) {
      const copy = Buffer.from(data);
      const n = 1 + Math.floor(r() * 4);
      for (let k = 0; k < n; k++) {
        const at = Math.floor(r() * hdr);
        copy[at] = copy[at]! ^ (1 << Math.floor(r() * 8));
      }
      const f = path.join(dir, `flip-${i}${ext}`);
      writeFileSync(f, copy);
      const res = await expectSaneOrTzError(reader, f, false, `flip #${i}`);
      if (res === 'error') out.flipErrors++;
      else out.flipOk++;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** Writes `bytes` to a fresh temp file with the given name; returns its path and a cleanup. */
export function tempFile(name: string, bytes: Uint8Array): { file: string; done: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'tz-fmt-'));
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  return { file, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The committed fixtures are there (false), or why the tests that need them skip. */
export function ensureFixtures(): string | false {
  if (existsSync(path.join(FIXTURES, 'expected.json'))) return false;
  return (
    `no ${path.relative(process.cwd(), FIXTURES)}/expected.json (regenerate: /usr/bin/python3 ` +
    `scripts/make-fixtures.py test/fixtures/torch ../shared/corpus)`
  );
}
