/** Option parsing shared by CLI commands. */
import { TzError } from '../engine/core/errors';

export function threadsOpt(v: Record<string, string | boolean | undefined>): number | undefined {
  if (v.threads === undefined) return undefined;
  const n = Number(v.threads);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new TzError('USAGE', undefined, `--threads must be an integer from 1 to 256, got "${v.threads}"`);
  return n;
}
