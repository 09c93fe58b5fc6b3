/** CLI rendering and option parsing for lossy mode (error reports, what-if tables). */
import type { ErrorSummary, LossyReport, WhatIfResult } from '../engine/api';
import { DEFAULT_LOSSLESS_GLOBS } from '../engine/api';
import { TzError } from '../engine/core/errors';
import { formatBytes, pct, table } from './format';

export const LOSSY_HELP = `lossy: --lossy-bits k keeps k mantissa bits
  (round to nearest even; BF16 0-6, F16 0-9, F32 0-22, F64 0-51).
  By default 1-D tensors and names matching ${DEFAULT_LOSSLESS_GLOBS.join(' ')} stay lossless;
  --lossy-include/--lossy-exclude <glob> (repeatable, * = any characters) override.`;

export function lossyOptions(v: Record<string, unknown>): {
  lossyBits?: number;
  lossyInclude?: string[];
  lossyExclude?: string[];
  lossyBlock?: number;
} {
  const int = (name: string, x: unknown): number | undefined => {
    if (x === undefined) return undefined;
    const n = Number(x);
    if (typeof x !== 'string' || !/^\d+$/.test(x) || !Number.isSafeInteger(n))
      throw new TzError('USAGE', undefined, `--${name} needs a non-negative integer, got "${String(x)}"`);
    return n;
  };
  const list = (x: unknown): string[] | undefined => (Array.isArray(x) && x.length ? x.map(String) : undefined);
  const o: { lossyBits?: number; lossyInclude?: string[]; lossyExclude?: string[]; lossyBlock?: number } = {};
  const bits = int('lossy-bits', v['lossy-bits']);
  const block = int('lossy-block', v['lossy-block']);
  const inc = list(v['lossy-include']);
  const exc = list(v['lossy-exclude']);
  if (bits !== undefined) o.lossyBits = bits;
  if (block !== undefined) o.lossyBlock = block;
  if (inc) o.lossyInclude = inc;
  if (exc) o.lossyExclude = exc;
  return o;
}

export const fmtNum = (x: number): string =>
  x === 0 ? '0' : Math.abs(x) >= 1e4 || Math.abs(x) < 1e-3 ? x.toExponential(2) : x.toPrecision(3);
export const fmtSnr = (e: ErrorSummary): string => (e.snrDb === null ? 'inf' : e.snrDb.toFixed(1));
const errCells = (e: ErrorSummary | null): string[] =>
  e
    ? [
        fmtNum(e.maxAbsError),
        fmtNum(e.maxRelError),
        fmtNum(e.rmse),
        fmtSnr(e),
        `${(100 * e.changedFraction).toFixed(1)}%`,
      ]
    : ['-', '-', '-', '-', '-'];
const ERR_HEAD = ['max abs err', 'max rel err', 'RMSE', 'SNR dB', 'changed'];

export function lossyReportText(r: LossyReport, perTensor: boolean): string {
  if (!r.tensors.length)
    return (
      `  lossy: no tensor selected for rounding (${r.losslessTensors} float tensors kept by the ` +
      `selection rules): written lossless\n`
    );
  const t = r.total;
  let s =
    `  lossy k=${r.bits}: ${r.tensors.length} tensors rounded, ${r.losslessTensors} float tensors ` +
    `kept lossless; max abs err ${fmtNum(t.maxAbsError)}, max rel err ${fmtNum(t.maxRelError)} (bound 2^-` +
    `${r.bits + 1} = ${fmtNum(2 ** -(r.bits + 1))}), RMSE ${fmtNum(t.rmse)}, SNR ${fmtSnr(t)} dB, ` +
    `${(100 * t.changedFraction).toFixed(1)}% of values changed\n`;
  s += `  sha256 of the input ${r.inputSha256} (the .tzip restores the rounded values, not this file)\n`;
  if (perTensor) {
    const rows = r.tensors.map((x) => [x.name, x.dtype, formatBytes(x.bytes), ...errCells(x.error)]);
    s +=
      '\n' +
      table(['tensor', 'dtype', 'bytes', ...ERR_HEAD], rows, [false, false, true, true, true, true, true, true]) +
      '\n';
  }
  return s;
}

export function whatIfText(w: WhatIfResult, block?: number): string {
  const rows = w.points.map((p) => {
    const cells = [
      p.bits === null ? 'lossless' : String(p.bits),
      formatBytes(p.predictedBytes),
      pct(p.predictedBytes, w.bytes),
      ...errCells(p.error),
    ];
    if (block)
      cells.push(
        p.block ? `>= ${formatBytes(p.block.bytesAtLeast)}` : '-',
        p.block ? fmtNum(p.block.error.maxRelError) : '-',
        p.block ? fmtNum(p.block.error.rmse) : '-',
        p.block ? fmtSnr(p.block.error) : '-',
      );
    return cells;
  });
  const head = [
    'k',
    'predicted',
    'ratio',
    ...ERR_HEAD,
    ...(block ? [`block${block} size`, 'max rel err', 'RMSE', 'SNR dB'] : []),
  ];
  const lossy = w.tensors.filter((t) => t.lossy).length;
  return (
    `what if (${w.estimate ? 'quick: sampled tensors, figures estimated; --exact codes everything' : 'exact'}): ` +
    `${lossy} of ${w.tensors.length} tensors rounded\n` +
    table(
      head,
      rows,
      head.map((_, i) => i > 0),
    ) +
    '\n'
  );
}
