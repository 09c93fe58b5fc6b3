/** Lossy options checked against a file, and the mantissa bits of each planned region. */
import { TzError } from '../core/errors';
import { LOSSY_DTYPES } from './round';
import { maxBitsFor, selectTensor } from './select';

export interface LossyOptions {
  lossyBits?: number;
  lossyInclude?: string[];
  lossyExclude?: string[];
  lossyBlock?: number;
}

export const BLOCK_MIN = 32;
export const BLOCK_MAX = 512;

/** Checks what does not depend on the file (usable by the CLI before any work). */
export function checkLossyOptions(file: string | undefined, o: LossyOptions): void {
  if (o.lossyBits !== undefined && (!Number.isInteger(o.lossyBits) || o.lossyBits < 0 || o.lossyBits > 51)) {
    throw new TzError(
      'USAGE',
      file,
      `lossy bits must be an integer from 0 to the dtype's mantissa width minus 1, got ${o.lossyBits}`,
    );
  }
  if (o.lossyBlock !== undefined) {
    if (!Number.isInteger(o.lossyBlock) || o.lossyBlock < BLOCK_MIN || o.lossyBlock > BLOCK_MAX) {
      throw new TzError(
        'USAGE',
        file,
        `lossy block must be an integer from ${BLOCK_MIN} to ${BLOCK_MAX}, got ${o.lossyBlock}`,
      );
    }
    // docs/measurements.md, "Lossy mode": a small RMSE gain for more size, the per-value bound lost,
    // and a format extension needed; analyze --what-if measures it.
    throw new TzError(
      'UNSUPPORTED',
      file,
      'block normalisation is not written into .tzip files (measured on real weights: ' +
        '0.1-3.7 dB less noise for 0.6-2.6% more size, no per-value error bound, and it would need a new format; ' +
        'see `analyze --what-if --lossy-block n` and docs/measurements.md)',
    );
  }
  if ((o.lossyInclude?.length || o.lossyExclude?.length) && o.lossyBits === undefined) {
    throw new TzError('USAGE', file, '--lossy-include/--lossy-exclude need --lossy-bits');
  }
}

/** `regions`: the container's planned regions (container/plan.ts), by the fields read here. */
export function planLossy(
  file: string,
  regions: readonly { kind: string; dtype: string; name?: string; shape?: number[] }[],
  o: LossyOptions,
): { bits: Array<number | undefined>; losslessFloat: number } {
  checkLossyOptions(file, o);
  const k = o.lossyBits!;
  const floatDtypes = new Set(
    regions.filter((r) => r.kind === 'tensor' && LOSSY_DTYPES[r.dtype] !== undefined).map((r) => r.dtype),
  );
  const max = maxBitsFor(floatDtypes);
  if (max === undefined)
    throw new TzError('USAGE', file, 'lossy mode needs F32, F16, BF16 or F64 tensors, and this file has none');
  if (k > max)
    throw new TzError(
      'USAGE',
      file,
      `--lossy-bits ${k} is out of range for this file: its float tensors (${[...floatDtypes].join(', ')}) ` +
        `allow 0 to ${max}`,
    );
  let losslessFloat = 0;
  const bits = regions.map((r) => {
    if (r.kind !== 'tensor' || LOSSY_DTYPES[r.dtype] === undefined) return undefined;
    const s = selectTensor(
      { name: r.name ?? '', dtype: r.dtype, ...(r.shape ? { shape: r.shape } : {}) },
      {
        bits: k,
        ...(o.lossyInclude ? { include: o.lossyInclude } : {}),
        ...(o.lossyExclude ? { exclude: o.lossyExclude } : {}),
      },
    );
    if (s.bits === undefined) losslessFloat++;
    return s.bits;
  });
  return { bits, losslessFloat };
}
