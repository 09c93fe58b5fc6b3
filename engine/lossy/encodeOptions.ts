import { DEFAULT_OPTIONS, type EncodeOptions } from '../codec/index';

/**
 * Codec options for chunks rounded to k mantissa bits (measured on the corpus BF16/F16/F32 files):
 *  - With few mantissa bits a chunk has few distinct values, so the codec's repeat test sends it
 *    to zstd at level 9-19 (about 1 MB/s), which almost never beats the byte planes (1 chunk of
 *    60: stories260k's embedding). Level 3 keeps that chunk's gain within 0.5% and makes k = 0
 *    about 10x faster.
 *  - Palette coding (at most 256 distinct values) wins 0.3-0.9% at k <= 2 but never at k >= 3,
 *    where its distinct-value scan only costs time (2-4x the coding time): it is off there.
 */
const LOW_K: EncodeOptions = { ...DEFAULT_OPTIONS, zstdLevel: 3, zstdLevelLarge: 3 };
const HIGH_K: EncodeOptions = { ...LOW_K, noPalette: true };

export function lossyEncodeOptions(k: number): EncodeOptions {
  return k <= 2 ? LOW_K : HIGH_K;
}
