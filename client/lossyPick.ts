/**
 * Wording of the lossy choices from the engine's what-if table (engine/container/whatif.ts): one
 * quick-pick item per k with the predicted size and the error, and the file-level points for the
 * webview's curve. No vscode import (unit-tested).
 */
import type { WhatIfPoint, WhatIfResult } from '../engine/api';
import type { LossyPoint } from '../protocol/webview';
import { formatBytes, formatPercent } from '../shared/format';

export interface LossyPickItem {
  label: string;
  description: string;
  detail: string;
  k: number;
}

function errorText(p: WhatIfPoint): string {
  const e = p.error;
  if (!e) return 'nothing rounded at this k (selection keeps every tensor lossless)';
  const parts = [`max relative error ${formatPercent(e.maxRelError, 2)}`, `RMSE ${e.rmse.toExponential(2)}`];
  if (e.snrDb !== null) parts.push(`SNR ${e.snrDb.toFixed(1)} dB`);
  parts.push(`${formatPercent(e.changedFraction, 0)} of values changed`);
  return parts.join(' · ');
}

export function lossyPickItems(r: WhatIfResult, defaultK: number): LossyPickItem[] {
  const lossless = r.points.find((p) => p.bits === null);
  return r.points
    .filter((p): p is WhatIfPoint & { bits: number } => p.bits !== null)
    .map((p) => ({
      k: p.bits,
      label: `k = ${p.bits} → ${formatBytes(p.predictedBytes)} (${formatPercent(p.ratio)})`,
      description: [
        lossless ? `lossless: ${formatPercent(lossless.ratio)}` : '',
        p.bits === defaultK ? 'default' : '',
        r.estimate ? 'estimate' : '',
      ]
        .filter(Boolean)
        .join(' · '),
      detail: errorText(p),
    }));
}

export function lossyCurve(r: WhatIfResult): LossyPoint[] {
  return r.points
    .filter((p): p is WhatIfPoint & { bits: number } => p.bits !== null)
    .map((p) => {
      const out: LossyPoint = { bits: p.bits, predictedBytes: p.predictedBytes };
      if (p.error) {
        out.rmse = p.error.rmse;
        out.maxRelError = p.error.maxRelError;
        if (p.error.snrDb !== null) out.snrDb = p.error.snrDb;
      }
      return out;
    });
}

/** Predicted lossless size from the same what-if table (the reference line of the curve). */
export function losslessPredicted(r: WhatIfResult): number | undefined {
  return r.points.find((p) => p.bits === null)?.predictedBytes;
}
