/**
 * Checkpoint chains (shared: the CLI/engine and the VS Code command): which checkpoint is a keyframe and which bases
 * each other one is tried
 * against (no I/O here: also used by the VS Code command, which reads modification times itself).
 * Order: by the step number in the names when every name has a distinct one, else by
 * modification time (then name). Every k-th is a keyframe (stored standalone); each other one has
 * its keyframe and, when that is another file, its predecessor as candidates, so the chain back to
 * a keyframe is at most k-1 long.
 */
/** The last path component (either separator; shared/ has no node:path). */
function baseName(file: string): string {
  return file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
}

export const DEFAULT_KEYFRAME_EVERY = 8;

export interface ChainMember {
  input: string;
  /** the step number read from the name, when every name had one */
  step?: number;
  /** stored standalone */
  keyframe: boolean;
  /** bases tried (keyframe first, then the predecessor when that is another file) */
  candidates: string[];
}

/** The last number in a file name (its extension left out): the training step of most checkpoint names. */
export function stepOf(file: string): number | undefined {
  const m = /(\d+)(?!.*\d)/.exec(baseName(file).replace(/\.[^.]+$/, ''));
  return m ? Number(m[1]) : undefined;
}

/** One reason for a bad keyframe interval, or undefined when it is a whole number >= 1. */
export function badKeyframeEvery(every: number): string | undefined {
  return Number.isInteger(every) && every >= 1
    ? undefined
    : `the keyframe interval must be a whole number of at least 1 (got ${every})`;
}

export function orderChain(
  files: Array<{ path: string; mtimeMs: number }>,
  every = DEFAULT_KEYFRAME_EVERY,
): ChainMember[] {
  const steps = files.map((f) => stepOf(f.path));
  const byStep = steps.every((s) => s !== undefined) && new Set(steps).size === files.length;
  const items = files.map((f, i) => ({ f: f.path, step: steps[i], mtime: f.mtimeMs }));
  const name = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  items.sort((a, b) => (byStep ? a.step! - b.step! : a.mtime - b.mtime) || name(a.f, b.f));
  return items.map((it, i) => {
    const kf = i - (i % every);
    const candidates = i === kf ? [] : i - 1 === kf ? [items[kf]!.f] : [items[kf]!.f, items[i - 1]!.f];
    return { input: it.f, ...(byStep ? { step: it.step! } : {}), keyframe: i === kf, candidates };
  });
}
