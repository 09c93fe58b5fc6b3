/**
 * The client side of the server's language features (server/lang/, protocol/lang.ts): CodeLens
 * arguments arrive as JSON URI strings and become `vscode.Uri`s for the extension's commands
 * (which take the Explorer's `(clicked, selected[])`); a definition pointing at a `tensorUri`
 * opens the model viewer with that tensor selected.
 */
import * as vscode from 'vscode';
import type { Middleware } from 'vscode-languageclient/node';
import { LensCommands, tensorFromFragment } from '../protocol/lang';
import { ModelEditorProvider } from './modelEditor';

const OURS = new Set<string>(Object.values(LensCommands));

/** `[first, all]` URI strings (or one string) → `vscode.Uri` arguments; anything else unchanged. */
export function lensArguments(args: unknown[] | undefined): unknown[] | undefined {
  if (!args) return args;
  return args.map((a) =>
    typeof a === 'string'
      ? vscode.Uri.parse(a, true)
      : Array.isArray(a) && a.every((x) => typeof x === 'string')
        ? a.map((x) => vscode.Uri.parse(x as string, true))
        : a,
  );
}

/** Strips the tensor fragment of a definition target and asks the viewer to select that tensor. */
function revealTensor(loc: vscode.Location | vscode.LocationLink): vscode.Location | vscode.LocationLink {
  const uri = 'targetUri' in loc ? loc.targetUri : loc.uri;
  const tensor = tensorFromFragment(uri.fragment);
  if (tensor === undefined) return loc;
  const file = uri.with({ fragment: '' });
  ModelEditorProvider.selectTensor(file, tensor);
  return 'targetUri' in loc ? { ...loc, targetUri: file } : new vscode.Location(file, loc.range);
}

export const langMiddleware: Middleware = {
  async provideCodeLenses(document, token, next) {
    const lenses = await next(document, token);
    for (const l of lenses ?? [])
      if (l.command && OURS.has(l.command.command)) l.command.arguments = lensArguments(l.command.arguments);
    return lenses;
  },
  async provideDefinition(document, position, token, next) {
    const r = await next(document, position, token);
    if (!r) return r;
    if (Array.isArray(r))
      return (r as (vscode.Location | vscode.LocationLink)[]).map(revealTensor) as
        vscode.Location[] | vscode.LocationLink[];
    return revealTensor(r as vscode.Location) as vscode.Location;
  },
};
