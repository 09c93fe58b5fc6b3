/**
 * The comparison view: a webview panel (the model view's bundle, `data-view="compare"`) fed by one
 * `tensorzip/diff` job on the server. Per-tensor results stream in as the engine finishes them, with
 * progress; Cancel stops the job (the rows so far stay), "Compare again" restarts it.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseWebviewMessage, type HostToWebview } from '../protocol/webview';
import { CompareFeed } from './compareFeed';
import { localFile, type LocalFile } from './localCopy';
import { shellFor, webviewOptions } from './modelEditor';
import { toJobError, type TzServer } from './serverClient';

export const COMPARE_VIEW_TYPE = 'tensorzip.compareView';

export interface CompareDeps {
  context: vscode.ExtensionContext;
  server: TzServer;
  log: vscode.LogOutputChannel;
}

const displayPath = (u: vscode.Uri) => (u.scheme === 'file' ? u.fsPath : u.toString(true));

async function sizeOf(u: vscode.Uri): Promise<number> {
  return vscode.workspace.fs.stat(u).then(
    (s) => s.size,
    () => 0,
  );
}

/** Opens a comparison of `b` against `a` (A is the reference: changes are B - A). */
export async function openComparison(deps: CompareDeps, a: vscode.Uri, b: vscode.Uri): Promise<void> {
  const nameA = path.posix.basename(a.path);
  const nameB = path.posix.basename(b.path);
  const title = `${nameA} ↔ ${nameB}`;
  const panel = vscode.window.createWebviewPanel(COMPARE_VIEW_TYPE, title, vscode.ViewColumn.Active, {
    ...webviewOptions(deps.context.extensionUri),
  });
  panel.iconPath = vscode.Uri.joinPath(deps.context.extensionUri, 'assets', 'icon.png');
  const webview = panel.webview;
  webview.html = shellFor(webview, deps.context.extensionUri, 'compare', title);
  let ready = false;
  const feed = new CompareFeed(
    {
      view: 'compare',
      a: { name: nameA, displayPath: displayPath(a), size: await sizeOf(a) },
      b: { name: nameB, displayPath: displayPath(b), size: await sizeOf(b) },
    },
    (m: HostToWebview) => {
      if (ready) void webview.postMessage(m);
    },
  );
  const locals: LocalFile[] = [];
  let cts: vscode.CancellationTokenSource | undefined;
  let disposed = false;

  const run = async () => {
    if (cts) return;
    const source = (cts = new vscode.CancellationTokenSource());
    feed.start();
    try {
      if (!locals.length) locals.push(await localFile(a), await localFile(b));
      const r = await deps.server.diff(
        locals[0]!.path,
        locals[1]!.path,
        { onPartial: (p) => feed.partial(p), onProgress: (p) => feed.workDone(p) },
        source.token,
      );
      feed.done(r);
    } catch (e) {
      const err = toJobError(e);
      if (err.code === 'CANCELLED' || source.token.isCancellationRequested) feed.end('cancelled', 'Cancelled');
      else {
        deps.log.error(`compare ${displayPath(a)} ${displayPath(b)}: ${err.message}`);
        feed.end('failed', err.message);
      }
    } finally {
      source.dispose();
      if (cts === source) cts = undefined;
    }
  };

  const subs: vscode.Disposable[] = [
    webview.onDidReceiveMessage((raw) => {
      const msg = parseWebviewMessage(raw);
      if (!msg) return;
      switch (msg.type) {
        case 'ready':
          // a (re)loaded webview gets everything so far, then the stream
          ready = false;
          feed.replay((m) => void webview.postMessage(m));
          ready = true;
          break;
        case 'cancelCompare':
          cts?.cancel();
          break;
        case 'rerunCompare':
          if (!disposed) void run();
          break;
        case 'log':
          deps.log[msg.level === 'error' ? 'error' : msg.level === 'warn' ? 'warn' : 'info'](msg.message);
          break;
        default:
          break;
      }
    }),
  ];
  panel.onDidDispose(() => {
    disposed = true;
    cts?.cancel();
    subs.forEach((d) => d.dispose());
    for (const l of locals) void l.dispose();
  });
  void run();
}

/** The second model to compare `first` with, from an open dialog (undefined: the user backed out). */
export async function pickModelToCompare(
  first: vscode.Uri | undefined,
  title: string,
): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({
    title,
    openLabel: 'Compare',
    canSelectMany: false,
    defaultUri: first ? vscode.Uri.joinPath(first, '..') : vscode.workspace.workspaceFolders?.[0]?.uri,
    filters: {
      'Model files': ['safetensors', 'tzip', 'gguf', 'onnx', 'npy', 'npz', 'bin', 'pt', 'pth', 'json'],
      'All files': ['*'],
    },
  });
  return picked?.[0];
}
