/** Option parsing shared by CLI commands. */
import { TzError } from '../engine/core/errors';

export function threadsOpt(v: Record<string, string | boolean | undefined>): number | undefined {
  if (v.threads === undefined) return undefined;
  const n = Number(v.threads);
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new TzError('USAGE', undefined, `--threads must be an integer from 1 to 256, got "${v.threads}"`);
  return n;
}

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;
/** One CLI command (commands.ts lists them; batch.ts is one). */
export interface Command {
  name: string;
  usage: string;
  summary: string;
  options: OptionSpec;
  run(values: Record<string, string | boolean | undefined>, files: string[]): Promise<number>;
}
