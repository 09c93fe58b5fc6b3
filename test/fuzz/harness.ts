// What every fuzz target checks (not a test file itself). A target gets one input and must end in
// one of two ways: it returns (the input was valid, and what the reader produced is sane), or the
// reader threw the error type its layer promises (TzError naming the file, on one line; CodecError
// from the chunk codec, PickleError from the pickle machine, which their callers wrap in TzError).
// Anything else is thrown as a Finding, which Jazzer.js (or the regression replay) reports.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TzError } from '../../engine/core/errors';
import type { ModelLayout } from '../../engine/formats/types';

export class Finding extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'Finding';
    if (cause instanceof Error && cause.stack) this.stack = `${this.stack}\ncaused by: ${cause.stack}`;
  }
}

/** The largest single buffer a reader may allocate for an input under 1 MiB. */
export const MAX_ALLOCATION = 256 * 1024 * 1024;
let overAllocation: string | undefined;

/**
 * Counts every ArrayBuffer/typed array the code under test asks for (through the globals, which is
 * how the engine allocates) and records any larger than MAX_ALLOCATION. Recorded, not only thrown:
 * a reader's catch-all could turn the throw into an ordinary error; checkInput() reports it anyway.
 */
export function guardAllocations(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  if (g.__tzAllocGuard) return;
  g.__tzAllocGuard = true;
  const typed = [
    'ArrayBuffer',
    'SharedArrayBuffer',
    'Uint8Array',
    'Int8Array',
    'Uint8ClampedArray',
    'Uint16Array',
    'Int16Array',
    'Uint32Array',
    'Int32Array',
    'Float32Array',
    'Float64Array',
    'BigInt64Array',
    'BigUint64Array',
  ];
  for (const name of typed) {
    const C = g[name] as (new (...a: unknown[]) => unknown) & { BYTES_PER_ELEMENT?: number };
    if (typeof C !== 'function') continue;
    const per = C.BYTES_PER_ELEMENT ?? 1;
    g[name] = new Proxy(C, {
      construct(target, args, newTarget) {
        const n = args[0];
        if (typeof n === 'number' && n * per > MAX_ALLOCATION) {
          overAllocation ??= `new ${name}(${n}): ${n * per} bytes, over the ${MAX_ALLOCATION}-byte bound`;
          throw new Finding(overAllocation);
        }
        return Reflect.construct(target, args, newTarget === g[name] ? target : newTarget);
      },
    });
  }
}

function takeOverAllocation(): void {
  const o = overAllocation;
  overAllocation = undefined;
  if (o) throw new Finding(o);
}

/** A private scratch folder for the files readers are given (tmpfs when there is one). */
let scratch: string | undefined;
export function scratchDir(): string {
  if (scratch) return scratch;
  const base = process.platform === 'linux' ? '/dev/shm' : tmpdir();
  scratch = path.join(base, `tensorzip-fuzz-${process.pid}`);
  mkdirSync(scratch, { recursive: true });
  process.on('exit', () => rmSync(scratch!, { recursive: true, force: true }));
  return scratch;
}

/** Writes the input under `name` in the scratch folder and returns its path. */
export function inputFile(name: string, data: Uint8Array): string {
  const f = path.join(scratchDir(), name);
  mkdirSync(path.dirname(f), { recursive: true });
  writeFileSync(f, data);
  return f;
}

/** The error a reader of `file` threw must be a one-line TzError naming the file. */
export function expectTzError(e: unknown, file: string): void {
  if (e instanceof Finding) throw e;
  if (!(e instanceof TzError))
    throw new Finding(`a non-TzError escaped for ${file}: ${(e as Error)?.name}: ${(e as Error)?.message}`, e);
  if (e.message.includes('\n')) throw new Finding(`multi-line TzError: ${e.message}`, e);
  if (!e.message.startsWith(file)) throw new Finding(`TzError does not name the file ${file}: ${e.message}`, e);
}

/** What a reader returns for bytes it accepts: tensor ranges inside the file, integral shapes. */
export function checkLayout(l: ModelLayout, sizes: (file: string) => number): void {
  for (const t of l.tensors) {
    const size = t.file ? sizes(t.file) : l.size;
    const okRange =
      Number.isSafeInteger(t.offset) &&
      Number.isSafeInteger(t.bytes) &&
      t.offset >= 0 &&
      t.bytes >= 0 &&
      t.offset + t.bytes <= size;
    if (!okRange)
      throw new Finding(`tensor "${t.name}": range [${t.offset}, +${t.bytes}) outside its file (${size} bytes)`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new Finding(`tensor "${t.name}": bad shape ${JSON.stringify(t.shape)}`);
    if (typeof t.dtype !== 'string' || typeof t.name !== 'string')
      throw new Finding(`tensor entry without a string name/dtype`);
  }
}

/** Runs `fn` on the file; accepts success (then checks the layout) or a proper TzError. */
export async function readerCase(
  file: string,
  fn: () => Promise<ModelLayout | void>,
  sizes: (f: string) => number,
): Promise<void> {
  let l: ModelLayout | void;
  try {
    l = await fn();
  } catch (e) {
    takeOverAllocation();
    expectTzError(e, file);
    return;
  }
  takeOverAllocation();
  if (l) checkLayout(l, sizes);
}

/** Synchronous variant for decoders whose own error class (`expected`) their caller wraps. */
export function syncCase<T>(fn: () => T, expected: (e: unknown) => boolean, what: string): T | undefined {
  try {
    const r = fn();
    takeOverAllocation();
    return r;
  } catch (e) {
    takeOverAllocation();
    if (e instanceof Finding) throw e;
    if (!expected(e)) throw new Finding(`${what}: unexpected ${(e as Error)?.name}: ${(e as Error)?.message}`, e);
    if (String((e as Error).message).includes('\n'))
      throw new Finding(`${what}: multi-line error: ${(e as Error).message}`, e);
    return undefined;
  }
}
