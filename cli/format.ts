/** Plain-text rendering for the CLI: sizes, percentages and aligned tables. */
import type { FileAnalysis } from '../engine/analysis/types';
import { formatBytes } from '../shared/format';

// one unit convention in the CLI and the UI: decimal (1 MB = 10^6 bytes), as VS Code and model hubs show sizes
export { formatBytes };

export function pct(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(2)}%` : '-';
}

export function table(headers: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAlign[i] ? c.padStart(w[i]!) : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

/** Weighted mean exponent entropy of float tensors (by element count), or null. */
function meanExponentEntropy(ts: FileAnalysis['tensors']): number | null {
  let n = 0,
    s = 0;
  for (const t of ts)
    if (t.exponentEntropy !== null) {
      n += t.elements;
      s += t.elements * t.exponentEntropy;
    }
  return n > 0 ? s / n : null;
}

/** Long names keep their informative tail. */
export function clip(s: string, max = 56): string {
  return s.length <= max ? s : '…' + s.slice(s.length - max + 1);
}

/** Per-layer table; layers under `minBytes` (e.g. ONNX shape constants) are summed into one line. */
export function layerTable(fa: FileAnalysis, minBytes = 0): string {
  const shown = fa.layers.filter((l) => l.bytes >= minBytes);
  const hidden = fa.layers.filter((l) => l.bytes < minBytes);
  const rows = shown.map((l) => {
    const ts = fa.tensors.filter((t) => t.layer === l.name);
    const dtypes = [...new Set(ts.map((t) => t.dtype))].join(',');
    const h = meanExponentEntropy(ts);
    return [
      clip(l.name),
      String(l.tensors),
      String(l.elements),
      dtypes,
      formatBytes(l.bytes),
      formatBytes(l.boundBytes),
      pct(l.boundBytes, l.bytes),
      h === null ? '-' : h.toFixed(3),
    ];
  });
  if (hidden.length) {
    const b = hidden.reduce((a, l) => a + l.bytes, 0);
    const bb = hidden.reduce((a, l) => a + l.boundBytes, 0);
    rows.push([
      `(${hidden.length} layers under ${formatBytes(minBytes)})`,
      String(hidden.reduce((a, l) => a + l.tensors, 0)),
      String(hidden.reduce((a, l) => a + l.elements, 0)),
      '',
      formatBytes(b),
      formatBytes(bb),
      pct(bb, b),
      '',
    ]);
  }
  return table(['layer', 'tensors', 'params', 'dtype', 'bytes', 'bound', 'bound %', 'exp H'], rows, [
    false,
    true,
    true,
    false,
    true,
    true,
    true,
    true,
  ]);
}

export function tensorTable(fa: FileAnalysis): string {
  const sharded = fa.tensors.some((t) => t.shard);
  const rows = fa.tensors.map((t) => [
    clip(t.name, 64),
    t.dtype,
    `[${t.shape.join(',')}]`,
    formatBytes(t.bytes),
    formatBytes(t.boundBytes),
    pct(t.boundBytes, t.bytes),
    t.exponentEntropy === null ? '-' : t.exponentEntropy.toFixed(3),
    ...(sharded ? [t.shard ?? ''] : []),
  ]);
  return table(
    ['tensor', 'dtype', 'shape', 'bytes', 'bound', 'bound %', 'exp H', ...(sharded ? ['shard'] : [])],
    rows,
    [false, false, false, true, true, true, true, false],
  );
}

export function fileSummary(fa: FileAnalysis): string {
  const h = meanExponentEntropy(fa.tensors);
  const dt = Object.entries(fa.bytesPerDtype)
    .map(([d, b]) => `${d} ${formatBytes(b)}`)
    .join(', ');
  return [
    `${fa.path}  [${fa.format}]${fa.estimate ? '  (quick: estimates from samples)' : ''}`,
    `  ${fa.tensors.length} tensors, ${fa.parameters.toLocaleString('en-US')} parameters, ` +
      `${formatBytes(fa.bytes)} (${dt || 'no tensor data'})`,
    `  exponent entropy ${h === null ? '-' : h.toFixed(3) + ' bits'}; estimated .tzip ` +
      `${formatBytes(fa.predictedBytes)} (${pct(fa.predictedBytes, fa.bytes)}; order-0 entropy of the byte ` +
      `planes plus framing, the coder's extra models often beat it)`,
    ...(fa.shards?.length
      ? [`  ${fa.shards.length} shards: ${fa.shards.map((s) => `${s.file} ${formatBytes(s.bytes)}`).join(', ')}`]
      : []),
  ].join('\n');
}
