/**
 * Checkpoint chains (`compress --base-chain DIR`): the checkpoints of a folder in training order,
 * every k-th stored standalone (a keyframe), each other one delta-coded against its keyframe or its
 * predecessor, whichever gives the smaller file. A member's base is then either a keyframe or a
 * member between it and its keyframe, so restoring one needs at most k-1 others. Bases are the
 * model files themselves; decompress finds them (or their .tzip, recursively) next to the member
 * by name and SHA-256 (base.ts, openBaseFor).
 */
import { rename, stat, unlink } from 'node:fs/promises';
import { badKeyframeEvery, DEFAULT_KEYFRAME_EVERY, orderChain, type ChainMember } from '../../shared/chainPlan';
import type { CompressOptions, CompressResult } from './compress';
import { TzError } from '../core/errors';
import { compressFile } from './compress';
import { tempPathFor } from './output';

/** orderChain over files on disk (their modification times read here). */
export async function planChain(files: string[], every = DEFAULT_KEYFRAME_EVERY): Promise<ChainMember[]> {
  const bad = badKeyframeEvery(every);
  if (bad) throw new TzError('USAGE', undefined, bad);
  return orderChain(await Promise.all(files.map(async (f) => ({ path: f, mtimeMs: (await stat(f)).mtimeMs }))), every);
}

export interface ChainMemberResult extends CompressResult {
  member: ChainMember;
  /** the base chosen (undefined for a keyframe) */
  chosenBase?: string;
  /** output size per candidate base tried */
  tried: Array<{ base: string; bytes: number }>;
}

export { DEFAULT_KEYFRAME_EVERY, orderChain, stepOf, type ChainMember } from '../../shared/chainPlan';

/**
 * Compresses one chain member: standalone for a keyframe, else against each candidate base, keeping
 * the smallest. The losing candidates are written to temp names beside the output and removed.
 */
export async function compressChainMember(member: ChainMember, opts: CompressOptions = {}): Promise<ChainMemberResult> {
  const output = opts.output ?? `${member.input}.tzip`;
  if (member.keyframe) return { ...(await compressFile(member.input, { ...opts, output })), member, tried: [] };
  const tried: Array<{ base: string; bytes: number }> = [];
  const first = await compressFile(member.input, { ...opts, output, base: member.candidates[0]! });
  tried.push({ base: member.candidates[0]!, bytes: first.bytes });
  let best: CompressResult = first;
  let chosen = member.candidates[0]!;
  for (const cand of member.candidates.slice(1)) {
    const alt = tempPathFor(output);
    try {
      const r = await compressFile(member.input, { ...opts, output: alt, force: true, base: cand });
      tried.push({ base: cand, bytes: r.bytes });
      if (r.bytes < best.bytes) {
        await rename(alt, output);
        best = { ...r, output };
        chosen = cand;
      }
    } finally {
      await unlink(alt).catch(() => undefined);
    }
  }
  return { ...best, member, chosenBase: chosen, tried };
}
