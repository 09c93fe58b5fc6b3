import * as path from 'node:path';
import { analyzeFile } from '../engine/api';
import type { FileAnalysis } from '../engine/analysis/types';
import { TzError } from '../engine/errors';
import { fileSummary, layerTable, tensorTable } from './format';

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;
export interface Command {
  name: string;
  usage: string;
  summary: string;
  options: OptionSpec;
  run(values: Record<string, string | boolean | undefined>, files: string[]): Promise<number>;
}

function needFiles(files: string[], min = 1): void {
  if (files.length < min) throw new TzError('USAGE', undefined, 'no input file given');
}

/** Runs `fn` over each input, printing a one-line error per failed file; exit 1 if any failed. */
export async function eachFile(files: string[], fn: (f: string) => Promise<void>): Promise<number> {
  let failed = 0;
  for (const f of files) {
    try {
      await fn(f);
    } catch (e) {
      if (e instanceof TzError && e.code === 'USAGE') throw e;
      const { describeError } = await import('../engine/errors');
      process.stderr.write(`tensorzip: ${describeError(e, f)}\n`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

const analyze: Command = {
  name: 'analyze',
  usage: 'analyze <file...> [--json] [--quick] [--tensors]',
  summary: 'per-layer compressibility (order-0 bound, exponent entropy)',
  options: { json: { type: 'boolean' }, quick: { type: 'boolean' }, tensors: { type: 'boolean' } },
  async run(v, files) {
    needFiles(files);
    const results: FileAnalysis[] = [];
    const code = await eachFile(files, async (f) => {
      const fa = await analyzeFile(f, { quick: !!v.quick });
      if (v.json) results.push(fa);
      else {
        process.stdout.write(`${fileSummary(fa)}\n\n${layerTable(fa)}\n`);
        if (v.tensors) process.stdout.write(`\n${tensorTable(fa)}\n`);
        process.stdout.write('\n');
      }
    });
    if (v.json) process.stdout.write(JSON.stringify({ files: results }) + '\n');
    return code;
  },
};

export const COMMANDS: Command[] = [analyze];
export { path };
