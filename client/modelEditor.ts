/**
 * The read-only custom editor for model files (safetensors, .tzip, GGUF, ONNX, NumPy, PyTorch,
 * sharded safetensors indexes). Opening resolves at once with the HTML shell; the session reads
 * the header and streams the server's analysis into every panel of the document.
 */
import * as vscode from 'vscode';
import { parseWebviewMessage, type HostToWebview, type FileJobKind } from '../protocol/webview';
import { tensorFromFragment } from '../protocol/lang';
import { webviewShell } from './webviewHtml';
import { ModelSession } from './modelSession';
import type { JobOutcome, JobRunner, JobSpec } from './jobs';
import type { TzServer } from './serverClient';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { DIAGNOSTIC_SOURCE } from '../protocol/lang';
import type { IndexProblem } from '../engine/api';

export const MODEL_VIEW_TYPE = 'tensorzip.modelViewer';
/** same editor, `priority: "option"` for ambiguous extensions (.bin, .pt, .pth) */
export const MODEL_VIEW_TYPE_OPTION = 'tensorzip.modelViewerOption';
/**
 * A .tzip up to this size is verified as soon as it opens (one decode, cancellable in the view):
 * "not checked" would hide damage nobody asked about; bigger files wait for the Verify button.
 */
export const AUTO_VERIFY_MAX_BYTES = 512 * 1024 * 1024;
/** as the language server caps one code (server/lang/diagnostics.ts) */
const MAX_INDEX_DIAGNOSTICS = 200;

class ModelDocument implements vscode.CustomDocument {
  constructor(
    readonly uri: vscode.Uri,
    readonly session: ModelSession,
  ) {}
  dispose(): void {
    this.session.dispose();
  }
}

export interface EditorDeps {
  context: vscode.ExtensionContext;
  server: TzServer;
  jobs: JobRunner;
  log: vscode.LogOutputChannel;
  /** runs a job for the document with the shared prompts (overwrite, notifications); undefined when the user backed out
   * */
  runJob(spec: JobSpec, onUpdate: (j: import('../protocol/webview').JobView) => void): Promise<JobOutcome | undefined>;
}

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')] };
}

export function shellFor(
  webview: vscode.Webview,
  extensionUri: vscode.Uri,
  view: 'model' | 'workspace' | 'compare',
  title: string,
): string {
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

  /** damage found by Verify, on the .tzip (Problems panel) */
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('tensorzip');

  static register(deps: EditorDeps): vscode.Disposable[] {
    const provider = new ModelEditorProvider(deps);
    ModelEditorProvider.instance = provider;
    return [
      provider.diagnostics,
      // one job state: a job on a file shows in every open view of it, whoever started it
      deps.jobs.onDidChangeJob((j) => {
        for (const s of provider.sessions) {
          if (!s.ownsFile(j.file)) continue;
          s.setJob(j);
          if (j.state === 'done') s.jobFinished(j);
        }
      }),
      deps.jobs.onDidFinishJob(({ spec, outcome }) => provider.verified(spec, outcome)),
      vscode.window.registerCustomEditorProvider(MODEL_VIEW_TYPE, provider, {
        supportsMultipleEditorsPerDocument: true,
      }),
      vscode.window.registerCustomEditorProvider(MODEL_VIEW_TYPE_OPTION, provider, {
        supportsMultipleEditorsPerDocument: true,
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => provider.sessions.forEach((s) => s.canWriteChanged())),
      // an index open as text gets the same problems from the language server: one entry each in Problems
      vscode.workspace.onDidOpenTextDocument(
        (d) => provider.indexProblems.has(d.uri.toString()) && provider.diagnostics.delete(d.uri),
      ),
      vscode.workspace.onDidCloseTextDocument((d) => provider.publishIndex(d.uri)),
    ];
  }

  /** checkIndex's problems of the sharded models open in a view, by index URI */
  private readonly indexProblems = new Map<string, { text: string; problems: IndexProblem[] }>();

  /** The index's problems in the Problems panel while its model view is open (unless the language server has them). */
  private publishIndex(uri: vscode.Uri): void {
    const key = uri.toString();
    const idx = this.indexProblems.get(key);
    if (!idx) return;
    if (vscode.workspace.textDocuments.some((d) => d.uri.toString() === key)) return void this.diagnostics.delete(uri);
    const doc = TextDocument.create(key, 'json', 0, idx.text);
    const severity = {
      error: vscode.DiagnosticSeverity.Error,
      warning: vscode.DiagnosticSeverity.Warning,
      info: vscode.DiagnosticSeverity.Information,
    } as const;
    const diags = idx.problems.slice(0, MAX_INDEX_DIAGNOSTICS).map((p) => {
      const a = doc.positionAt(p.range.offset);
      const b = doc.positionAt(p.range.offset + p.range.length);
      const d = new vscode.Diagnostic(
        new vscode.Range(a.line, a.character, b.line, b.character),
        p.message,
        severity[p.severity],
      );
      d.source = DIAGNOSTIC_SOURCE;
      d.code = p.code;
      return d;
    });
    this.diagnostics.set(uri, diags);
  }

  /** A finished verify: damaged tensors marked in the open views, a diagnostic on the .tzip (or none). */
  private verified(spec: JobSpec, outcome: JobOutcome): void {
    if (spec.kind !== 'verify' || outcome.cancelled) return;
    const v = outcome.verify;
    if (outcome.ok) this.diagnostics.delete(spec.input);
    else {
      const problems = v?.problems.length ? v.problems : [outcome.error ?? 'verify failed'];
      const rel = (m: string) => m.split(`${spec.input.fsPath}: `).join('');
      const damaged = v?.damaged ?? [];
      const head = damaged.length
        ? `Verify failed: ${damaged.length} damaged tensor${damaged.length === 1 ? '' : 's'} (` +
          `${damaged.slice(0, 5).join(', ')}${damaged.length > 5 ? ', …' : ''})`
        : `Verify failed: ${rel(problems[0]!)}`;
      const diags = [head, ...problems.map(rel)].map((m, i) => {
        const d = new vscode.Diagnostic(
          new vscode.Range(0, 0, 0, 0),
          m,
          i === 0 ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Information,
        );
        d.source = 'TensorZip';
        return d;
      });
      this.diagnostics.set(spec.input, diags);
    }
    for (const s of this.sessions) {
      if (!s.ownsFile(spec.input.fsPath)) continue;
      s.setTzipVerify(
        outcome.ok ? 'ok' : 'failed',
        outcome.ok
          ? undefined
          : (v?.problems ?? [outcome.error ?? 'verify failed']).map((m) => m.split(`${spec.input.fsPath}: `).join('')),
        v?.damaged,
      );
    }
  }

  openCustomDocument(uri: vscode.Uri): ModelDocument {
    // a workspace symbol's target (protocol/lang.ts tensorUri): open the file with that tensor selected
    const tensor = tensorFromFragment(uri.fragment);
    if (tensor !== undefined) this.pendingSelect.set(uri.toString(), tensor);
    const session = new ModelSession(uri, this.deps.server, this.deps.log);
    const running = uri.scheme === 'file' ? this.deps.jobs.activeOn(uri.fsPath) : undefined;
    if (running) session.job = running;
    this.sessions.add(session);
    const doc = new ModelDocument(uri, session);
    const key = uri.toString();
    void session.indexProblems().then((idx) => {
      if (!idx || !this.sessions.has(session)) return;
      this.indexProblems.set(key, idx);
      this.publishIndex(uri);
    });
    if (session.isTzip && uri.scheme === 'file') {
      void session.tzipLoaded.then((loaded) => {
        if (loaded && this.sessions.has(session) && session.fileSize <= AUTO_VERIFY_MAX_BYTES)
          void this.runJob(session, 'verify');
      });
    }
    const dispose = doc.dispose.bind(doc);
    doc.dispose = () => {
      this.sessions.delete(session);
      if (this.indexProblems.delete(key)) this.diagnostics.delete(uri);
      dispose();
    };
    return doc;
  }

  resolveCustomEditor(document: ModelDocument, panel: vscode.WebviewPanel): void {
    const { session } = document;
    const webview = panel.webview;
    webview.options = webviewOptions(this.deps.context.extensionUri);
    webview.html = shellFor(
      webview,
      this.deps.context.extensionUri,
      'model',
      document.uri.path.split('/').pop() ?? 'model',
    );
    // a sharded model's view is not the index JSON's tab
    if (/\.safetensors\.index\.json$/i.test(document.uri.path))
      panel.title = `${document.uri.path
        .split('/')
        .pop()!
        .replace(/\.safetensors\.index\.json$/i, '')} (sharded model)`;
    let ready = false;
    const send = (m: HostToWebview) => {
      if (ready) void webview.postMessage(m);
    };
    const post = (m: HostToWebview) => void webview.postMessage(m);
    const subs: vscode.Disposable[] = [session.subscribe(send)];
    // one inspector request per panel at a time: a newer one (another tensor, a zoom) cancels it
    let inspectCts: vscode.CancellationTokenSource | undefined;
    const cancelInspect = () => {
      inspectCts?.cancel();
      inspectCts?.dispose();
      inspectCts = undefined;
    };
    subs.push({ dispose: cancelInspect });
    subs.push(
      webview.onDidReceiveMessage((raw) => {
        const msg = parseWebviewMessage(raw);
        if (!msg) return;
        switch (msg.type) {
          case 'ready':
            // a (re)loaded webview: hidden panels are destroyed without retainContextWhenHidden
            ready = false;
            void session
              .replay((m) => void webview.postMessage(m))
              .then(() => {
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
            void webview.postMessage(session.histogram(msg.id, msg.target));
            break;
          case 'inspect':
            cancelInspect();
            inspectCts = new vscode.CancellationTokenSource();
            void session.inspect(msg.req, post, inspectCts.token);
            break;
          case 'cancelInspect':
            cancelInspect();
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
          case 'compareWith':
            void vscode.commands.executeCommand('tensorzip.compareModels', document.uri);
            break;
          case 'open':
            break;
        }
      }),
    );
    panel.onDidDispose(() => {
      subs.forEach((d) => d.dispose());
      this.panels.get(document.uri.toString())?.delete(post);
    });
  }

  /** sessions whose job is being started (prompts are async: a second click must not start a second job) */
  private readonly starting = new WeakSet<ModelSession>();

  private async runJob(session: ModelSession, kind: FileJobKind): Promise<void> {
    if (
      this.starting.has(session) ||
      (session.job && (session.job.state === 'running' || session.job.state === 'queued'))
    )
      return;
    this.starting.add(session);
    try {
      await this.startJob(session, kind);
    } finally {
      this.starting.delete(session);
    }
  }

  private async startJob(session: ModelSession, kind: FileJobKind): Promise<void> {
    if (kind === 'verify') session.setTzipVerify('running');
    const shards = kind === 'compress' ? session.shardFiles : undefined;
    const inputs = shards?.length ? shards.map((f) => vscode.Uri.file(f)) : [session.uri];
    // progress reaches the view through the job registry (onDidChangeJob), as for Explorer jobs
    for (const input of inputs) {
      const outcome = await this.deps.runJob({ kind, input }, () => undefined);
      if (kind === 'verify' && (!outcome || outcome.cancelled)) session.setTzipVerify('unknown');
      if (!outcome?.ok) break;
    }
  }
}
