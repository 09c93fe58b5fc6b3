/**
 * The server reads files by path. `file:` URIs (local or in a remote workspace, where this
 * extension runs next to the files) are used directly; other schemes (virtual workspaces such as
 * Remote Repositories) cannot be read by range, so a bounded copy is made in the temp folder for
 * read-only analysis.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatBytes } from '../shared/format';

export const MAX_VIRTUAL_BYTES = 256 * 1024 * 1024;

export interface LocalFile {
  path: string;
  /** true when `path` is a temporary copy */
  copy: boolean;
  dispose(): Promise<void>;
}

export async function localFile(uri: vscode.Uri): Promise<LocalFile> {
  if (uri.scheme === 'file') return { path: uri.fsPath, copy: false, dispose: async () => undefined };
  const stat = await vscode.workspace.fs.stat(uri);
  if (stat.size > MAX_VIRTUAL_BYTES) {
    throw new Error(
      `${uri.toString(true)}: ${uri.scheme}: files over ${formatBytes(MAX_VIRTUAL_BYTES)} are not analysed ` +
        `(they cannot be read by range); open a local copy`,
    );
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'tensorzip-'));
  const file = path.join(dir, path.posix.basename(uri.path) || 'model');
  await writeFile(file, await vscode.workspace.fs.readFile(uri));
  return { path: file, copy: true, dispose: () => rm(dir, { recursive: true, force: true }) };
}
