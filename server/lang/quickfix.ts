/** Quick fixes the engine is certain of (IndexCheck.fixes), as undoable workspace edits. */
import { CodeActionKind, type CodeAction, type Diagnostic } from 'vscode-languageserver/node';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { DIAGNOSTIC_SOURCE } from '../../protocol/lang';
import { toRange } from './diagnostics';
import type { DocModel } from './model';

export function codeActions(doc: TextDocument, model: DocModel, diagnostics: Diagnostic[]): CodeAction[] {
  if (model.kind !== 'index') return [];
  const ours = diagnostics.filter((d) => d.source === DIAGNOSTIC_SOURCE);
  const out: CodeAction[] = [];
  for (const fix of model.check.fixes) {
    const solves = ours.filter((d) => typeof d.code === 'string' && (fix.fixes as string[]).includes(d.code));
    if (!solves.length) continue;
    out.push({
      title: fix.title,
      kind: CodeActionKind.QuickFix,
      diagnostics: solves,
      isPreferred: true,
      edit: {
        changes: {
          [doc.uri]: fix.edits.map((e) => ({
            range: toRange(doc, { offset: e.offset, length: e.length }),
            newText: e.content,
          })),
        },
      },
    });
  }
  return out;
}
