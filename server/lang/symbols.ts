/** Outline of an index: metadata, then one symbol per layer holding its tensors (key order kept). */
import { SymbolKind, type DocumentSymbol } from 'vscode-languageserver/node';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { layerOf } from '../../shared/layers';
import { toRange } from './diagnostics';
import type { DocModel } from './model';

export function documentSymbols(doc: TextDocument, model: DocModel): DocumentSymbol[] {
  if (model.kind !== 'index') return [];
  const c = model.check;
  const out: DocumentSymbol[] = [];
  if (c.totalSize) {
    const r = toRange(doc, c.totalSize.range);
    out.push({
      name: 'total_size',
      detail: String(c.totalSize.value),
      kind: SymbolKind.Number,
      range: r,
      selectionRange: r,
    });
  }
  const layers = new Map<string, DocumentSymbol>();
  for (const e of c.entries) {
    const whole = toRange(doc, {
      offset: e.keyRange.offset,
      length: e.valueRange.offset + e.valueRange.length - e.keyRange.offset,
    });
    const t: DocumentSymbol = {
      name: e.tensor,
      detail: e.header ? `${e.header.dtype} [${e.header.shape.join(', ')}]` : (e.shard ?? ''),
      kind: SymbolKind.Field,
      range: whole,
      selectionRange: toRange(doc, e.keyRange),
    };
    const name = layerOf(e.tensor);
    let l = layers.get(name);
    if (!l) {
      l = { name, kind: SymbolKind.Module, range: whole, selectionRange: t.selectionRange, children: [] };
      layers.set(name, l);
      out.push(l);
    } else if (doc.offsetAt(whole.end) > doc.offsetAt(l.range.end)) l.range = { start: l.range.start, end: whole.end };
    else if (doc.offsetAt(whole.start) < doc.offsetAt(l.range.start))
      l.range = { start: whole.start, end: l.range.end };
    l.children!.push(t);
  }
  for (const l of layers.values()) l.detail = `${l.children!.length} tensor${l.children!.length === 1 ? '' : 's'}`;
  return out;
}
