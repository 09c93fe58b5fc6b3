import { DEFAULT_OPTIONS, type EncodeOptions } from '../codec/index';

/**
 * Codec options for chunks rounded to k mantissa bits (docs/measurements.md, "Lossy mode"):
 *  - With few mantissa bits a chunk has few distinct values, so the codec's repeat test sends it
 *    to zstd at level 9-19, which almost never beats the byte planes; level 3 keeps the rare gain.
 *  - Palette coding (at most 256 distinct values) wins a little at k <= 2 but never at k >= 3,
 *    where its distinct-value scan only costs time: it is off there.
 */
const LOW_K: EncodeOptions = { ...DEFAULT_OPTIONS, zstdLevel: 3, zstdLevelLarge: 3 };
const HIGH_K: EncodeOptions = { ...LOW_K, noPalette: true };

export function lossyEncodeOptions(k: number): EncodeOptions {
  return k <= 2 ? LOW_K : HIGH_K;
}
