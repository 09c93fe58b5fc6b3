/**
 * Which tensors lossy mode rounds. Rules, first match wins:
 *  1. a dtype lossy mode cannot round (integers, FP8, quantized blocks) or whose mantissa is not
 *     wider than k: lossless;
 *  2. the name matches a `--lossy-exclude` glob: lossless;
 *  3. the name matches a `--lossy-include` glob: lossy (this overrides the defaults below);
 *  4. defaults, kept lossless as is usual practice: 1-D (and 0-D) tensors, and names matching
 *     DEFAULT_LOSSLESS_GLOBS (embeddings, norms, biases);
 *  5. everything else: lossy.
 * Globs match the whole tensor name, case-insensitively: `*` is any run of characters (dots and
 * slashes included), `?` is one character.
 */
import { LOSSY_DTYPES } from './round';

export const DEFAULT_LOSSLESS_GLOBS = [
  '*embed*',
  '*embd*',
  '*wte*',
  '*wpe*',
  '*norm*',
  '*bias*',
  '*.ln_*',
  'ln_*',
  '*.b_0',
];

export interface LossySelection {
  bits: number;
  include?: string[];
  exclude?: string[];
}

const cache = new Map<string, RegExp>();
export function globToRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (!re) {
    const body = glob
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    re = new RegExp(`^${body}$`, 'is');
    cache.set(glob, re);
  }
  return re;
}

export function matchesAny(name: string, globs: readonly string[] | undefined): boolean {
  return !!globs?.some((g) => globToRegExp(g).test(name));
}

export type SelectionReason = 'dtype' | 'exclude' | 'include' | 'default-1d' | 'default-name' | 'default';

/** Mantissa bits to keep for this tensor, or undefined to keep it lossless (with the rule that decided). */
export function selectTensor(
  t: { name: string; dtype: string; shape?: readonly number[] },
  sel: LossySelection,
): { bits?: number; reason: SelectionReason } {
  const m = LOSSY_DTYPES[t.dtype];
  if (m === undefined || sel.bits >= m) return { reason: 'dtype' };
  if (matchesAny(t.name, sel.exclude)) return { reason: 'exclude' };
  if (matchesAny(t.name, sel.include)) return { bits: sel.bits, reason: 'include' };
  if (!t.shape || t.shape.length <= 1 || t.shape.filter((d) => d > 1).length <= 1) return { reason: 'default-1d' };
  if (matchesAny(t.name, DEFAULT_LOSSLESS_GLOBS)) return { reason: 'default-name' };
  return { bits: sel.bits, reason: 'default' };
}

/** Largest k valid for at least one dtype in the list (undefined if none can be rounded). */
export function maxBitsFor(dtypes: Iterable<string>): number | undefined {
  let best: number | undefined;
  for (const d of dtypes) {
    const m = LOSSY_DTYPES[d];
    if (m !== undefined && (best === undefined || m - 1 > best)) best = m - 1;
  }
  return best;
}
