/**
 * Document links from shard names to their files, and go to definition from a tensor name to its
 * shard (a `tensorUri`, which the VS Code client opens in the model viewer with the tensor
 * selected; other editors get the plain file URI).
 */
import * as path from 'node:path';
import type { DocumentLink, Location } from 'vscode-languageserver/node';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { tensorUri } from '../../protocol/lang';
import { toRange } from './diagnostics';
import { within } from './hover';
import { fileUri, type DocModel } from './model';

/** The file a shard name opens: the shard, or its .tzip when only that exists; none when missing. */
function shardTarget(model: Extract<DocModel, { kind: 'index' }>, name: string): string | undefined {
  const s = model.check.shards.find((x) => x.name === name);
  if (!s || s.state === 'missing') return undefined;
  return path.join(model.dir, s.state === 'tzip' ? s.tzipName! : s.name);
}

export function documentLinks(doc: TextDocument, model: DocModel): DocumentLink[] {
  if (model.kind !== 'index') return [];
  const targets = new Map<string, string | undefined>();
  const out: DocumentLink[] = [];
  for (const e of model.check.entries) {
    if (!e.shard) continue;
    if (!targets.has(e.shard)) {
      const f = shardTarget(model, e.shard);
      targets.set(e.shard, f && fileUri(f));
    }
    const target = targets.get(e.shard);
    // the link covers the name inside the quotes
    if (target)
      out.push({
        range: toRange(doc, { offset: e.valueRange.offset + 1, length: Math.max(0, e.valueRange.length - 2) }),
        target,
        tooltip: 'Open in the TensorZip model viewer',
      });
  }
  return out;
}

export function definition(doc: TextDocument, model: DocModel, offset: number, tensorUris: boolean): Location | null {
  if (model.kind !== 'index') return null;
  const zero = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  for (const e of model.check.entries) {
    if (!e.shard) continue;
    const onKey = within(e.keyRange, offset);
    if (!onKey && !within(e.valueRange, offset)) continue;
    const f = shardTarget(model, e.shard);
    if (!f) return null;
    const uri = fileUri(f);
    return { uri: onKey && tensorUris && e.header ? tensorUri(uri, e.tensor) : uri, range: zero };
  }
  return null;
}
