/** Aggregation and wording of a batch job's outcome (no vscode import; unit-tested). */
export interface BatchItemResult {
  file: string;
  ok: boolean;
  /** bytes before and after (compress: original and .tzip; decompress: .tzip and restored) */
  inputBytes?: number;
  outputBytes?: number;
  error?: string;
  cancelled?: boolean;
}

export interface BatchSummary {
  files: number;
  succeeded: number;
  failed: BatchItemResult[];
  cancelled: number;
  inputBytes: number;
  outputBytes: number;
  /** input - output over the successful files (negative when decompressing) */
  bytesSaved: number;
}

export function summarizeBatch(results: readonly BatchItemResult[]): BatchSummary {
  const ok = results.filter((r) => r.ok);
  const inputBytes = ok.reduce((s, r) => s + (r.inputBytes ?? 0), 0);
  const outputBytes = ok.reduce((s, r) => s + (r.outputBytes ?? 0), 0);
  return {
    files: results.length,
    succeeded: ok.length,
    failed: results.filter((r) => !r.ok && !r.cancelled),
    cancelled: results.filter((r) => r.cancelled).length,
    inputBytes,
    outputBytes,
    bytesSaved: inputBytes - outputBytes,
  };
}

/** One-line message for the final notification; details go to the output channel. */
export function summaryMessage(verb: string, s: BatchSummary, fmtBytes: (n: number) => string): string {
  const parts = [`${verb} ${s.succeeded} of ${s.files} file${s.files === 1 ? '' : 's'}`];
  if (s.succeeded > 0 && s.inputBytes > 0) {
    if (s.bytesSaved >= 0)
      parts.push(
        `saved ${fmtBytes(s.bytesSaved)} (${fmtBytes(s.inputBytes)} → ${fmtBytes(s.outputBytes)}, ` +
          `${((s.outputBytes / s.inputBytes) * 100).toFixed(1)}%)`,
      );
    else parts.push(`wrote ${fmtBytes(s.outputBytes)}`);
  }
  if (s.failed.length) parts.push(`${s.failed.length} failed`);
  if (s.cancelled) parts.push(`${s.cancelled} cancelled`);
  return parts.join('; ') + '.';
}

export function failureLines(s: BatchSummary): string[] {
  return s.failed.map((f) => `  ✗ ${f.error ?? f.file + ': failed'}`);
}
