/**
 * CodeLenses on an index, for clients that run the extension's commands: open the whole-model
 * view, compress every shard present, verify every shard's .tzip. Arguments are `[first, all]`
 * file URIs (protocol/lang.ts).
 */
import * as path from 'node:path';
import type { CodeLens } from 'vscode-languageserver/node';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { LensCommands, type LensCommandArgs } from '../../protocol/lang';
import { toRange } from './diagnostics';
import { fileUri, type DocModel } from './model';

export function codeLenses(doc: TextDocument, model: DocModel): CodeLens[] {
  if (model.kind !== 'index' || !model.check.root) return [];
  const at = model.check.weightMapKey ?? { offset: model.check.root.offset, length: 1 };
  const range = toRange(doc, at);
  const lenses: CodeLens[] = [
    { range, command: { title: 'Open whole-model view', command: LensCommands.openModelView, arguments: [doc.uri] } },
  ];
  const shards = model.check.shards
    .filter((s) => s.state === 'present')
    .map((s) => fileUri(path.join(model.dir, s.name)));
  if (shards.length) {
    const args: LensCommandArgs = [shards[0]!, shards];
    lenses.push({
      range,
      command: { title: `Compress all shards (${shards.length})`, command: LensCommands.compress, arguments: args },
    });
  }
  const tzips = [...model.tzips.values()].sort().map(fileUri);
  if (tzips.length) {
    const args: LensCommandArgs = [tzips[0]!, tzips];
    lenses.push({
      range,
      command: { title: `Verify all shards (${tzips.length} .tzip)`, command: LensCommands.verify, arguments: args },
    });
  }
  return lenses;
}
