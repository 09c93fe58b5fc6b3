/** Text output of `tensorzip diff` (the JSON output is DiffResult itself). */
import type { DiffResult, TensorDiff } from '../engine/api';
import { clip, formatBytes, pct, table } from './format';

const g = (x: number | null, digits = 3): string =>
  x === null
    ? '-'
    : x === 0
      ? '0'
      : Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4
        ? x.toExponential(digits - 1)
        : x.toPrecision(digits);

/** Median ULP distance bucket as a range label ("0", "1", "2-3", "4-7", ...). */
export function medianUlp(h: number[] | null): string {
  if (!h) return '-';
  const total = h.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let k = 0; k < h.length; k++) {
    acc += h[k]!;
    if (2 * acc >= total) return k === 0 ? '0' : k === 1 ? '1' : `${2 ** (k - 1)}-${2 ** k - 1}`;
  }
  return '-';
}

function tensorRow(t: TensorDiff): string[] {
  const frac = t.changedElements === null ? '-' : pct(t.changedElements, t.elements);
  const status =
    t.status === 'dtype-changed'
      ? `dtype ${t.dtype} -> ${t.dtypeB}`
      : t.status === 'shape-changed'
        ? `shape [${t.shape}] -> [${t.shapeB}]`
        : t.status;
  return [clip(t.name), t.dtype, status, frac, g(t.maxAbsDiff), g(t.relL2), g(t.cosine, 6), medianUlp(t.ulpHistogram)];
}

export function diffText(r: DiffResult, tensors: boolean): string {
  const s = r.summary;
  const c = s.tensors;
  const lines = [
    `${r.a} -> ${r.b}`,
    `  tensors: ${c.changed} changed, ${c.identical} identical, ${c.added} added, ${c.removed} removed, ` +
      `${c['dtype-changed']} dtype changed, ${c['shape-changed']} shape changed`,
    `  elements changed: ${s.changedElements} of ${s.elements} (${pct(s.changedElements, s.elements)}); ` +
      `max |a-b| ${g(s.maxAbsDiff)}; relative L2 ${g(s.relL2)}`,
    `  order-0 bound of B: standalone ${formatBytes(s.bounds.standalone)}, XOR with A ` +
      `${formatBytes(s.bounds.xor)}, ULP distance ${formatBytes(s.bounds.ulp)}, best per tensor ` +
      `${formatBytes(s.bounds.best)} (${pct(s.bounds.best, s.bounds.standalone)} of standalone)`,
    '',
    table(
      ['layer', 'tensors', 'changed', 'elements changed', 'max |a-b|', 'rel L2'],
      r.layers.map((l) => [
        clip(l.layer),
        String(l.tensors),
        String(l.changedTensors),
        pct(l.changedElements, l.elements),
        g(l.maxAbsDiff),
        g(l.relL2),
      ]),
      [false, true, true, true, true, true],
    ),
  ];
  if (tensors)
    lines.push(
      '',
      table(
        ['tensor', 'dtype', 'status', 'changed', 'max |a-b|', 'rel L2', 'cosine', 'median ULP'],
        r.tensors.map(tensorRow),
        [false, false, false, true, true, true, true, true],
      ),
    );
  return lines.join('\n') + '\n';
}
