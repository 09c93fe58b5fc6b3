/**
 * Tensor-row bookkeeping shared by the extension host (client/modelSession.ts) and the webview
 * (webview/model/modelState.ts): both merge analysis batches into header rows by name. Written
 * over the fields it touches so shared/ stays a leaf (protocol's TensorRow satisfies them).
 */

interface NamedRow {
  name: string;
  storedBytes?: number | null;
}

/**
 * Sums the exponent histograms of several tensors (a layer). Tensors of another exponent width
 * than the most common one are left out (their bins mean other exponents); `skipped` says how many.
 */
export function mergeHistograms(rows: readonly { exponentHistogram?: readonly number[] | null }[]): {
  hist: number[] | null;
  used: number;
  skipped: number;
} {
  const byLen = new Map<number, number>();
  for (const r of rows)
    if (r.exponentHistogram?.length)
      byLen.set(r.exponentHistogram.length, (byLen.get(r.exponentHistogram.length) ?? 0) + 1);
  if (byLen.size === 0) return { hist: null, used: 0, skipped: 0 };
  const len = [...byLen.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]![0];
  const hist = new Array<number>(len).fill(0);
  let used = 0;
  let skipped = 0;
  for (const r of rows) {
    const h = r.exponentHistogram;
    if (!h?.length) continue;
    if (h.length !== len) {
      skipped++;
      continue;
    }
    for (let i = 0; i < len; i++) hist[i]! += h[i]!;
    used++;
  }
  return { hist, used, skipped };
}

/**
 * Merges analysed rows into header rows by name (the analysis may arrive in any batches). Rows
 * the header did not know (the header could not be read) are appended in arrival order.
 * Returns the number of rows updated or added.
 */
export function mergeRows<R extends NamedRow>(rows: R[], byName: Map<string, number>, incoming: readonly R[]): number {
  let n = 0;
  for (const t of incoming) {
    const i = byName.get(t.name);
    if (i === undefined) {
      byName.set(t.name, rows.length);
      rows.push({ ...t });
    } else {
      rows[i] = { ...rows[i]!, ...t, storedBytes: t.storedBytes ?? rows[i]!.storedBytes ?? null };
    }
    n++;
  }
  return n;
}

export function indexByName(rows: readonly { name: string }[]): Map<string, number> {
  const m = new Map<string, number>();
  rows.forEach((r, i) => m.set(r.name, i));
  return m;
}

/** Rows posted to the webview leave their histograms in the extension host. */
export function stripRows<R extends { exponentHistogram?: unknown }>(
  rows: readonly R[],
): Omit<R, 'exponentHistogram'>[] {
  return rows.map(({ exponentHistogram: _h, ...r }) => r);
}
