/**
 * The read-only custom editor for model files (safetensors, .tzip, GGUF, ONNX, NumPy, PyTorch,
 * sharded safetensors indexes). Opening resolves at once with the HTML shell; the session reads
 * the header and streams the server's analysis into every panel of the document.
 */
import * as vscode from 'vscode';
import { parseWebviewMessage, type HostToWebview, type JobKind } from '../protocol/webview';
import { webviewShell } from './webviewHtml';
import { ModelSession } from './modelSession';
import type { JobRunner, JobSpec } from './jobs';
import type { TzServer } from './serverClient';

export const MODEL_VIEW_TYPE = 'tensorzip.modelViewer';
/** same editor, `priority: "option"` for ambiguous extensions (.bin, .pt, .pth) */
export const MODEL_VIEW_TYPE_OPTION = 'tensorzip.modelViewerOption';

class ModelDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri, readonly session: ModelSession) {}
  dispose(): void {
    this.session.dispose();
  }
}

export interface EditorDeps {
  context: vscode.ExtensionContext;
  server: TzServer;
  jobs: JobRunner;
  log: vscode.LogOutputChannel;
  /** runs a job for the document with the shared prompts (overwrite, notifications) */
  runJob(spec: JobSpec, onUpdate: (j: import('../protocol/webview').JobView) => void): Promise<void>;
}

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')] };
}

export function shellFor(webview: vscode.Webview, extensionUri: vscode.Uri, view: 'model' | 'workspace', title: string): string {
  const base = vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
  return webviewShell({
    cspSource: webview.cspSource,
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(base, 'main.js')).toString(),
    styleUri: webview.asWebviewUri(vscode.Uri.joinPath(base, 'main.css')).toString(),
    view,
    title,
  });
}

export class ModelEditorProvider implements vscode.CustomReadonlyEditorProvider<ModelDocument> {
  private readonly sessions = new Set<ModelSession>();
  /** ready panels by document URI, to post a selection into */
  private readonly panels = new Map<string, Set<(m: HostToWebview) => void>>();
  /** tensor to select once a panel of that document is ready (go to definition opens it) */
  private readonly pendingSelect = new Map<string, string>();
  private static instance: ModelEditorProvider | undefined;

  /** Selects `tensor` in the open views of `uri`, or in the next one that opens. */
  static selectTensor(uri: vscode.Uri, tensor: string): void {
    const p = ModelEditorProvider.instance;
    if (!p) return;
    const posts = p.panels.get(uri.toString());
    if (posts?.size) for (const post of posts) post({ type: 'selectTensor', name: tensor });
    else p.pendingSelect.set(uri.toString(), tensor);
  }

  constructor(private readonly deps: EditorDeps) {}

  static register(deps: EditorDeps): vscode.Disposable[] {
    const provider = new ModelEditorProvider(deps);
    ModelEditorProvider.instance = provider;
    return [
      vscode.window.registerCustomEditorProvider(MODEL_VIEW_TYPE, provider, { supportsMultipleEditorsPerDocument: true }),
      vscode.window.registerCustomEditorProvider(MODEL_VIEW_TYPE_OPTION, provider, { supportsMultipleEditorsPerDocument: true }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => provider.sessions.forEach((s) => s.canWriteChanged())),
    ];
  }

  openCustomDocument(uri: vscode.Uri): ModelDocument {
    const session = new ModelSession(uri, this.deps.server, this.deps.log);
    this.sessions.add(session);
    const doc = new ModelDocument(uri, session);
    const dispose = doc.dispose.bind(doc);
    doc.dispose = () => {
      this.sessions.delete(session);
      dispose();
    };
    return doc;
  }

  resolveCustomEditor(document: ModelDocument, panel: vscode.WebviewPanel): void {
    const { session } = document;
    const webview = panel.webview;
    webview.options = webviewOptions(this.deps.context.extensionUri);
    webview.html = shellFor(webview, this.deps.context.extensionUri, 'model', document.uri.path.split('/').pop() ?? 'model');
    let ready = false;
    const send = (m: HostToWebview) => {
      if (ready) void webview.postMessage(m);
    };
    const post = (m: HostToWebview) => void webview.postMessage(m);
    const subs: vscode.Disposable[] = [session.subscribe(send)];
    subs.push(webview.onDidReceiveMessage((raw) => {
      const msg = parseWebviewMessage(raw);
      if (!msg) return;
      switch (msg.type) {
        case 'ready':
          // a (re)loaded webview: hidden panels are destroyed without retainContextWhenHidden
          ready = false;
          void session.replay((m) => void webview.postMessage(m)).then(() => {
            ready = true;
            const key = document.uri.toString();
            let posts = this.panels.get(key);
            if (!posts) this.panels.set(key, (posts = new Set()));
            posts.add(post);
            const tensor = this.pendingSelect.get(key);
            if (tensor !== undefined) {
              this.pendingSelect.delete(key);
              post({ type: 'selectTensor', name: tensor });
            }
          });
          break;
        case 'histogram':
          void webview.postMessage(session.histogram(msg.target));
          break;
        case 'runJob':
          void this.runJob(session, msg.kind);
          break;
        case 'cancelJob':
          this.deps.jobs.cancel(msg.id);
          break;
        case 'reanalyze':
          session.reanalyze(msg.quick);
          break;
        case 'log':
          this.deps.log[msg.level === 'error' ? 'error' : msg.level === 'warn' ? 'warn' : 'info'](msg.message);
          break;
        case 'open':
          break;
      }
    }));
    panel.onDidDispose(() => {
      subs.forEach((d) => d.dispose());
      this.panels.get(document.uri.toString())?.delete(post);
    });
  }

  private async runJob(session: ModelSession, kind: JobKind): Promise<void> {
    if (session.job && (session.job.state === 'running' || session.job.state === 'queued')) return;
    if (kind === 'verify') session.setTzipVerify('running');
    const shards = kind === 'compress' ? session.shardFiles : undefined;
    const inputs = shards?.length ? shards.map((f) => vscode.Uri.file(f)) : [session.uri];
    for (const input of inputs) {
      let last: import('../protocol/webview').JobView | undefined;
      await this.deps.runJob({ kind, input }, (j) => {
        last = j;
        session.setJob(j);
      });
      if (kind === 'verify') session.setTzipVerify(last?.state === 'done' ? 'ok' : last?.state === 'cancelled' ? 'unknown' : 'failed', last?.state === 'failed' && last.message ? [last.message] : undefined);
      if (last?.state !== 'done') break;
    }
  }
}
