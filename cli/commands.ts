import * as path from 'node:path';
import { readdir, stat } from 'node:fs/promises';
import { findTempFiles, removeStaleTemps } from '../engine/container/output';
import {
  analyzeFile,
  compressChainMember,
  compressFile,
  DEFAULT_KEYFRAME_EVERY,
  planChain,
  decompressFile,
  diffFiles,
  exportOutputName,
  extractTensors,
  infoFile,
  verifyFile,
  whatIf,
  type Progress,
  type WhatIfResult,
} from '../engine/api';
import { diffText } from './diffFormat';
import { checkLossyOptions } from '../engine/lossy/plan';
import { LOSSY_HELP, lossyOptions, lossyReportText, whatIfText } from './lossyFormat';
import { openModel } from '../engine/formats/index';
import type { FileAnalysis } from '../engine/analysis/types';
import { describeError, TzError } from '../engine/core/errors';
import { BATCH_MODEL_EXTENSIONS, isModelPath } from '../shared/modelFiles';
import { fileSummary, formatBytes, layerTable, pct, table, tensorTable } from './format';
import { progressPrinter } from './progress';
import { batch } from './batch';
import { threadsOpt, type Command } from './options';

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
      const { describeError } = await import('../engine/core/errors');
      process.stderr.write(`tensorzip: ${describeError(e, f)}\n`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

const analyze: Command = {
  name: 'analyze',
  usage:
    'analyze <file...> [--json] [--quick] [--tensors] [--what-if [--exact] [--lossy-block n] ' +
    '[--lossy-include/--lossy-exclude glob]]',
  summary:
    'per-layer compressibility (order-0 bound, exponent entropy); --what-if: predicted size and error per lossy k',
  options: {
    json: { type: 'boolean' },
    quick: { type: 'boolean' },
    tensors: { type: 'boolean' },
    'what-if': { type: 'boolean' },
    exact: { type: 'boolean' },
    'lossy-block': { type: 'string' },
    'lossy-include': { type: 'string', multiple: true },
    'lossy-exclude': { type: 'string', multiple: true },
    threads: { type: 'string' },
  },
  async run(v, files) {
    needFiles(files);
    const lo = lossyOptions(v);
    if (!v['what-if'] && (v.exact || lo.lossyBlock !== undefined || lo.lossyInclude || lo.lossyExclude))
      throw new TzError(
        'USAGE',
        undefined,
        '--exact, --lossy-block and --lossy-include/--lossy-exclude go with --what-if',
      );
    const threads = threadsOpt(v);
    const results: FileAnalysis[] = [];
    const whatIfs: WhatIfResult[] = [];
    const code = await eachFile(files, async (f) => {
      const fa = await analyzeFile(f, { quick: !!v.quick });
      if (v.json) results.push(fa);
      else {
        process.stdout.write(`${fileSummary(fa)}\n\n${layerTable(fa)}\n`);
        if (v.tensors) process.stdout.write(`\n${tensorTable(fa)}\n`);
        process.stdout.write('\n');
      }
      if (v['what-if']) {
        const progress = progressPrinter(`what-if ${path.basename(f)}`);
        try {
          const w = await whatIf(f, {
            exact: !!v.exact,
            threads,
            onProgress: progress.update,
            ...(lo.lossyBlock !== undefined ? { block: lo.lossyBlock } : {}),
            ...(lo.lossyInclude ? { lossyInclude: lo.lossyInclude } : {}),
            ...(lo.lossyExclude ? { lossyExclude: lo.lossyExclude } : {}),
          });
          progress.done();
          if (v.json) whatIfs.push(w);
          else process.stdout.write(`${whatIfText(w, lo.lossyBlock)}\n`);
        } finally {
          progress.done();
        }
      }
    });
    if (v.json)
      process.stdout.write(
        JSON.stringify(v['what-if'] ? { files: results, whatIf: whatIfs } : { files: results }) + '\n',
      );
    return code;
  },
};

function outputFor(
  v: Record<string, string | boolean | undefined>,
  files: string[],
  f: string,
  ext: (f: string) => string,
): string | undefined {
  if (typeof v.output !== 'string') return undefined;
  if (files.length === 1) return v.output;
  return path.join(v.output, ext(path.basename(f))); // several inputs: -o names a folder
}

const compress: Command = {
  name: 'compress',
  usage:
    'compress <file...> [-o out] [--base model] [--threads n] [--force] [--sync] [--lossy-bits k ' +
    '[--lossy-include ' +
    'glob] ' +
    '[--lossy-exclude glob] [--tensors]]\n           compress --base-chain <dir> [--keyframe-every k] ' +
    '[--threads n] ' +
    '[--force] ' +
    '[--sync]',
  summary:
    `write <file>.tzip (a sharded model given by its index: every shard and the index)\n` +
    `${' '.repeat(63)}--base: ` +
    `code tensors against a base model (delta .tzip 3.0; decoding needs that base)\n` +
    `${' '.repeat(63)}--base-chain: the checkpoints of <dir> in step order, every k-th (default ` +
    `${DEFAULT_KEYFRAME_EVERY}) ` +
    `standalone,\n${' '.repeat(63)}  the others against their keyframe or predecessor (the smaller)\n` +
    `${' '.repeat(63)}${LOSSY_HELP.replace(/\n/g, `\n${' '.repeat(63)}`)}`,
  options: {
    output: { type: 'string', short: 'o' },
    threads: { type: 'string' },
    force: { type: 'boolean' },
    sync: { type: 'boolean' },
    base: { type: 'string' },
    'base-chain': { type: 'string' },
    'keyframe-every': { type: 'string' },
    'lossy-bits': { type: 'string' },
    'lossy-block': { type: 'string' },
    tensors: { type: 'boolean' },
    'lossy-include': { type: 'string', multiple: true },
    'lossy-exclude': { type: 'string', multiple: true },
  },
  async run(v, files) {
    if (typeof v['base-chain'] === 'string') return compressChain(v, files);
    if (v['keyframe-every'] !== undefined)
      throw new TzError('USAGE', undefined, '--keyframe-every goes with --base-chain');
    needFiles(files);
    const threads = threadsOpt(v);
    const lo = lossyOptions(v);
    checkLossyOptions(undefined, lo);
    const inputs: string[] = [];
    for (const f of files) {
      if (/\.safetensors\.index\.json$/i.test(f)) {
        const layout = await openModel(f);
        inputs.push(...(layout.files ?? []), f);
      } else inputs.push(f);
    }
    return eachFile(inputs, async (f) => {
      const progress = progressPrinter(`compress ${path.basename(f)}`);
      try {
        // an index file of a sharded model has no tensors of its own: it is stored as is
        const isIndex = /\.safetensors\.index\.json$/i.test(f);
        const lossyHere = lo.lossyBits !== undefined && !isIndex ? lo : {};
        const base = typeof v.base === 'string' && !isIndex ? { base: v.base } : {};
        const r = await compressFile(f, {
          output: outputFor(v, inputs, f, (b) => `${b}.tzip`),
          force: !!v.force,
          durable: !!v.sync,
          threads,
          onProgress: progress.update,
          ...lossyHere,
          ...base,
        });
        progress.done();
        process.stdout.write(
          `${r.output}: ${formatBytes(r.originalBytes)} -> ${formatBytes(r.bytes)} (` +
            `${pct(r.bytes, r.originalBytes)}) in ${r.seconds.toFixed(2)} s, ` +
            `${(r.originalBytes / 1e6 / Math.max(r.seconds, 1e-9)).toFixed(0)} MB/s` +
            `${r.lossy?.tensors.length ? ', LOSSY' : ''}${r.base ? `, delta against ${r.base.name}` : ''}\n`,
        );
        if (r.lossy) process.stdout.write(lossyReportText(r.lossy, !!v.tensors));
      } finally {
        progress.done();
      }
    });
  },
};

/** `compress --base-chain DIR`: the model files directly in DIR, as one chain (engine/container/chain.ts). */
async function compressChain(v: Record<string, string | boolean | undefined>, files: string[]): Promise<number> {
  const dir = v['base-chain'] as string;
  if (files.length) throw new TzError('USAGE', undefined, '--base-chain takes a folder, not input files');
  for (const o of ['base', 'output', 'lossy-bits'] as const)
    if (v[o] !== undefined)
      throw new TzError(
        'USAGE',
        undefined,
        `--${o} does not go with --base-chain` +
          (o === 'output' ? ' (each .tzip is written next to its checkpoint, where decompress finds its bases)' : ''),
      );
  const kv = v['keyframe-every'];
  const every = kv === undefined ? DEFAULT_KEYFRAME_EVERY : /^\d+$/.test(String(kv)) ? Number(kv) : NaN;
  if (!(every >= 1))
    throw new TzError('USAGE', undefined, `--keyframe-every takes a whole number of at least 1 (got ${String(kv)})`);
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new TzError('USAGE', dir, 'not a folder');
  const inputs = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isFile() && isModelPath(e.name, BATCH_MODEL_EXTENSIONS))
    .map((e) => path.join(dir, e.name));
  if (!inputs.length)
    throw new TzError('USAGE', dir, `no checkpoints (${BATCH_MODEL_EXTENSIONS.join(' ')}) in this folder`);
  const chain = await planChain(inputs, every);
  const threads = threadsOpt(v);
  let failed = 0;
  for (const m of chain) {
    const progress = progressPrinter(`compress ${path.basename(m.input)}`);
    try {
      const r = await compressChainMember(m, {
        force: !!v.force,
        durable: !!v.sync,
        threads,
        onProgress: progress.update,
      });
      progress.done();
      const how = m.keyframe
        ? 'keyframe (standalone)'
        : `delta against ${path.basename(r.chosenBase!)}` +
          (r.tried.length > 1
            ? ` (${r.tried.map((t) => `${path.basename(t.base)} ${formatBytes(t.bytes)}`).join(', ')})`
            : '');
      process.stdout.write(
        `${r.output}: ${formatBytes(r.originalBytes)} -> ${formatBytes(r.bytes)} (` +
          `${pct(r.bytes, r.originalBytes)}) in ${r.seconds.toFixed(2)} s, ${how}\n`,
      );
    } catch (e) {
      if (e instanceof TzError && e.code === 'USAGE') throw e;
      process.stderr.write(`tensorzip: ${describeError(e, m.input)}\n`);
      failed++;
    } finally {
      progress.done();
    }
  }
  return failed ? 1 : 0;
}

const decompress: Command = {
  name: 'decompress',
  usage: 'decompress <file.tzip...> [-o out] [--base model] [--threads n] [--force]',
  summary: 'restore the original file (name stored in the container), checking every checksum and the SHA-256',
  options: {
    output: { type: 'string', short: 'o' },
    threads: { type: 'string' },
    force: { type: 'boolean' },
    base: { type: 'string' },
  },
  async run(v, files) {
    needFiles(files);
    const threads = threadsOpt(v);
    return eachFile(files, async (f) => {
      const progress = progressPrinter(`decompress ${path.basename(f)}`);
      try {
        const r = await decompressFile(f, {
          output: outputFor(v, files, f, (b) => b.replace(/\.tzip$/i, '')),
          force: !!v.force,
          threads,
          onProgress: progress.update,
          ...(typeof v.base === 'string' ? { base: v.base } : {}),
        });
        progress.done();
        process.stdout.write(
          `${r.output}: ${formatBytes(r.bytes)}, sha256 ${r.sha256} verified, ${r.seconds.toFixed(2)} s\n`,
        );
      } finally {
        progress.done();
      }
    });
  },
};

const verify: Command = {
  name: 'verify',
  usage: 'verify <file.tzip...> [--against original] [--base model] [--threads n]',
  summary: 'check every chunk checksum and the SHA-256 (and every byte of --against); exit 0 only if all hold',
  options: { against: { type: 'string' }, threads: { type: 'string' }, base: { type: 'string' } },
  async run(v, files) {
    needFiles(files);
    if (v.against && files.length > 1) throw new TzError('USAGE', undefined, '--against takes one .tzip file');
    const threads = threadsOpt(v);
    let bad = 0;
    const code = await eachFile(files, async (f) => {
      const progress = progressPrinter(`verify ${path.basename(f)}`);
      const against = typeof v.against === 'string' ? v.against : undefined;
      const r = await verifyFile(f, {
        ...(against ? { against } : {}),
        ...(typeof v.base === 'string' ? { base: v.base } : {}),
        threads,
        onProgress: progress.update,
      });
      progress.done();
      const lossy = r.lossy;
      const note = lossy
        ? `; LOSSY: restores values rounded to ${lossy.bits} mantissa bits${against ? `, made from ${against}` : ''}`
        : '';
      if (r.ok) process.stdout.write(`${f}: OK (sha256 ${r.sha256}${note})\n`);
      else {
        bad++;
        for (const p of r.problems) process.stderr.write(`tensorzip: ${p}\n`);
      }
    });
    return bad ? 1 : code;
  },
};

const info: Command = {
  name: 'info',
  usage: 'info <file.tzip...> [--json]',
  summary: 'container index: original, SHA-256, per-tensor ratios',
  options: { json: { type: 'boolean' } },
  async run(v, files) {
    needFiles(files);
    const all: unknown[] = [];
    const code = await eachFile(files, async (f) => {
      const i = await infoFile(f);
      if (v.json) {
        all.push(i);
        return;
      }
      process.stdout.write(
        `${f}: .tzip ${i.version} by ${i.tool}` +
          `${i.lossy ? `, LOSSY (${i.lossy.bits} mantissa bits kept)` : ', lossless'}\n`,
      );
      process.stdout.write(
        `  original ${i.original.name} [${i.original.format}] ` +
          `${formatBytes(i.original.size)}, ` +
          `sha256 ` +
          `${i.original.sha256}\n`,
      );
      if (i.base)
        process.stdout.write(
          `  delta: decoding needs the base ${i.base.name} [${i.base.format}] ${formatBytes(i.base.size)}, ` +
            `sha256 ${i.base.sha256}\n`,
        );
      process.stdout.write(
        `  container ${formatBytes(i.bytes)} (${pct(i.bytes, i.original.size)}); tensors ` +
          `${formatBytes(i.tensorBytes)} -> ${formatBytes(i.tensorCompressedBytes)} (` +
          `${pct(i.tensorCompressedBytes, i.tensorBytes)})\n\n`,
      );
      if (i.lossy)
        process.stdout.write(
          `  lossy: ${i.regions.filter((r) => r.lossyBits !== undefined).length} tensors rounded to ` +
            `${i.lossy.bits} ` +
            `mantissa ` +
            `bits; sha256 above is of the rounded result, input sha256 ${i.lossy.inputSha256}\n\n`,
        );
      const rows = i.regions
        .filter((r) => r.kind === 'tensor')
        .map((r) => [
          r.name ?? '',
          r.dtype,
          formatBytes(r.bytes),
          formatBytes(r.compressedBytes),
          pct(r.compressedBytes, r.bytes),
          [
            r.lossyBits !== undefined ? `lossy k=${r.lossyBits}` : '',
            r.duplicateChunks ? `${r.duplicateChunks} dup` : '',
          ]
            .filter(Boolean)
            .join(', '),
        ]);
      process.stdout.write(
        table(['tensor', 'dtype', 'bytes', 'stored', 'ratio', ''], rows, [false, false, true, true, true, false]) +
          '\n\n',
      );
    });
    if (v.json) process.stdout.write(JSON.stringify({ files: all }) + '\n');
    return code;
  },
};

const clean: Command = {
  name: 'clean',
  usage: 'clean <dir...> [--dry-run]',
  summary: "delete the temp files (<out>.tmp-*) that killed tensorzip runs left; running jobs' are kept",
  options: { 'dry-run': { type: 'boolean' } },
  async run(v, dirs) {
    if (dirs.length === 0) throw new TzError('USAGE', undefined, 'no folder given');
    return eachFile(dirs, async (d) => {
      if (!(await stat(d)).isDirectory()) throw new TzError('USAGE', d, 'not a folder');
      const temps = await findTempFiles(d);
      const removed = new Set(v['dry-run'] ? [] : (await removeStaleTemps(d)).map((t) => t.path));
      for (const t of temps) {
        const what = `${t.path} (${formatBytes(t.bytes)}, temp file of ${path.basename(t.output)}`;
        if (removed.has(t.path)) process.stdout.write(`removed ${what}, its process ${t.pid} is gone)\n`);
        else if (t.stale)
          process.stdout.write(
            `${v['dry-run'] ? 'would remove' : 'could not remove'} ${what}, its process ${t.pid} is gone)\n`,
          );
        else
          process.stdout.write(
            `kept ${what}, ${t.thisHost ? `process ${t.pid} is running` : 'written on another host, recently'})\n`,
          );
      }
      if (temps.length === 0) process.stdout.write(`${d}: no temp files\n`);
    });
  },
};

const extract: Command = {
  name: 'extract',
  usage: 'extract <file> --tensor NAME... [--match GLOB...] [-o out.safetensors|out.npy] [--force] [--threads n]',
  summary:
    'write chosen tensors, bit-exact, from any readable file (a .tzip decodes only their ' +
    'chunks) to a ' +
    '.safetensors or ' +
    'one .npy',
  options: {
    tensor: { type: 'string', multiple: true },
    match: { type: 'string', multiple: true },
    output: { type: 'string', short: 'o' },
    force: { type: 'boolean' },
    threads: { type: 'string' },
  },
  async run(v, files) {
    needFiles(files);
    if (files.length > 1) throw new TzError('USAGE', undefined, 'extract takes one input file');
    const names = (v.tensor as unknown as string[] | undefined) ?? [];
    const globs = (v.match as unknown as string[] | undefined) ?? [];
    if (!names.length && !globs.length) throw new TzError('USAGE', undefined, 'give --tensor NAME or --match GLOB');
    const f = files[0]!;
    const output =
      typeof v.output === 'string'
        ? v.output
        : `${f.replace(/\.tzip$/i, '').replace(/\.[^./\\]+$/, '')}.extract.safetensors`;
    const progress = progressPrinter(`extract ${path.basename(f)}`);
    try {
      const r = await extractTensors(f, {
        names,
        globs,
        output,
        force: !!v.force,
        threads: threadsOpt(v),
        onProgress: progress.update,
      });
      progress.done();
      process.stdout.write(
        `${r.output}: ${r.tensors.length} tensor(s), ${formatBytes(r.bytes)}, written and read back in ` +
          `${r.seconds.toFixed(2)} s\n`,
      );
    } finally {
      progress.done();
    }
    return 0;
  },
};

const exportCmd: Command = {
  name: 'export',
  usage: 'export <file.tzip> --to safetensors [-o out.safetensors] [--force] [--threads n]',
  summary:
    'every tensor of a .tzip as a plain .safetensors (tensor bytes exact; for non-safetensors originals a conversion)',
  options: {
    to: { type: 'string' },
    output: { type: 'string', short: 'o' },
    force: { type: 'boolean' },
    threads: { type: 'string' },
  },
  async run(v, files) {
    needFiles(files);
    if (files.length > 1) throw new TzError('USAGE', undefined, 'export takes one .tzip file');
    if (v.to !== 'safetensors') throw new TzError('USAGE', undefined, '--to safetensors is the only export format');
    const f = files[0]!;
    const output = typeof v.output === 'string' ? v.output : exportOutputName(f, (await infoFile(f)).original.name);
    const progress = progressPrinter(`export ${path.basename(f)}`);
    try {
      const r = await extractTensors(f, {
        all: true,
        output,
        force: !!v.force,
        threads: threadsOpt(v),
        onProgress: progress.update,
      });
      progress.done();
      for (const s of r.skipped) process.stderr.write(`tensorzip: left out ${s.reason}\n`);
      process.stdout.write(
        `${r.output}: ${r.tensors.length} tensor(s), ${formatBytes(r.bytes)}, written and read back in ` +
          `${r.seconds.toFixed(2)} s\n`,
      );
    } finally {
      progress.done();
    }
    return 0;
  },
};

const diff: Command = {
  name: 'diff',
  usage: 'diff <A> <B> [--json] [--tensors]',
  summary: 'what changed between two models (any formats, .tzip and sharded indexes too): per tensor, layer and file',
  options: { json: { type: 'boolean' }, tensors: { type: 'boolean' } },
  async run(v, files) {
    if (files.length !== 2) throw new TzError('USAGE', undefined, 'diff takes exactly two files');
    const progress = progressPrinter(`diff ${path.basename(files[0]!)} ${path.basename(files[1]!)}`);
    try {
      const r = await diffFiles(files[0]!, files[1]!, {
        onProgress: (p) => progress.update({ ...p, phase: 'analyze' }),
      });
      progress.done();
      process.stdout.write(v.json ? JSON.stringify(r) + '\n' : diffText(r, !!v.tensors));
      return 0;
    } finally {
      progress.done();
    }
  },
};

const demo: Command = {
  name: 'demo',
  usage: 'demo [model]',
  summary: 'analyze, compress, decompress and verify a small real model (default: Silero VAD from node_modules)',
  options: {},
  async run(_v, files) {
    const { runDemo } = await import('./demo');
    return runDemo(files[0]);
  },
};

export const COMMANDS: Command[] = [
  analyze,
  compress,
  decompress,
  verify,
  info,
  diff,
  extract,
  exportCmd,
  clean,
  batch,
  demo,
];
export type { Progress };
