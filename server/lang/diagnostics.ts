/** The engine's index and config problems as LSP diagnostics, on the exact JSON key or value. */
import { DiagnosticSeverity, type Diagnostic, type DiagnosticRelatedInformation } from 'vscode-languageserver/node';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { IndexProblem, JsonRange, Severity } from '../../engine/formats/indexCheck';
import { DIAGNOSTIC_SOURCE } from '../../protocol/lang';
import type { DocModel } from './model';

/** More problems of one code than this are summarized in one further diagnostic. */
export const MAX_PER_CODE = 200;
const MAX_RELATED = 20;

const SEVERITY: Record<Severity, DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  info: DiagnosticSeverity.Information,
};

export function toRange(doc: TextDocument, r: JsonRange) {
  return { start: doc.positionAt(r.offset), end: doc.positionAt(r.offset + r.length) };
}

export function diagnosticsFor(doc: TextDocument, model: DocModel): Diagnostic[] {
  const problems: (Omit<IndexProblem, 'code'> & { code: string })[] =
    model.kind === 'index' ? model.check.problems : model.kind === 'config' ? model.problems : [];
  const out: Diagnostic[] = [];
  const perCode = new Map<string, number>();
  for (const p of problems) {
    const n = (perCode.get(p.code) ?? 0) + 1;
    perCode.set(p.code, n);
    if (n > MAX_PER_CODE) continue;
    const d: Diagnostic = {
      range: toRange(doc, p.range),
      severity: SEVERITY[p.severity],
      source: DIAGNOSTIC_SOURCE,
      code: p.code,
      message: p.message,
    };
    if (p.related?.length) {
      d.relatedInformation = p.related.slice(0, MAX_RELATED).map((r): DiagnosticRelatedInformation => ({
        location: { uri: doc.uri, range: toRange(doc, r) },
        message: 'also here',
      }));
    }
    out.push(d);
  }
  for (const [code, n] of perCode) {
    if (n <= MAX_PER_CODE) continue;
    const first = problems.find((p) => p.code === code)!;
    out.push({
      range: toRange(doc, first.range),
      severity: SEVERITY[first.severity],
      source: DIAGNOSTIC_SOURCE,
      code,
      message: `${n - MAX_PER_CODE} more problems like this (${code}) are not listed`,
    });
  }
  return out;
}
