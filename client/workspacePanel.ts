/** "TensorZip: Analyze Workspace Models": one webview listing every model with predicted and achieved savings and live
 * batch progress. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseWebviewMessage, type HostToWebview, type JobView, type WorkspaceModelRow } from '../protocol/webview';
import { shellFor, webviewOptions, MODEL_VIEW_TYPE } from './modelEditor';
import { localFile } from './localCopy';
import { isTzipPath } from '../shared/modelFiles';
import { siblingTzip } from './paths';
import { toJobError, type TzServer } from './serverClient';
import { readIndexHeader, type HeaderView } from './header';

export const MODEL_GLOB = '**/*.{safetensors,gguf,onnx,npy,npz,tzip}';
export const EXCLUDE_GLOB = '**/{node_modules,.git}/**';
const INDEX_GLOB = '**/*.safetensors.index.json';

export class WorkspacePanel implements vscode.Disposable {
  private static current: WorkspacePanel | undefined;
  private readonly rows = new Map<string, WorkspaceModelRow>();
  private ready = false;
  private lastJob: { job: JobView | null; summary?: string } | undefined;
  private readonly cts = new vscode.CancellationTokenSource();

  static show(context: vscode.ExtensionContext, server: TzServer, log: vscode.LogOutputChannel): WorkspacePanel {
    if (WorkspacePanel.current) {
      WorkspacePanel.current.panel.reveal();
      void WorkspacePanel.current.scan();
      return WorkspacePanel.current;
    }
    const panel = vscode.window.createWebviewPanel(
      'tensorzip.workspace',
      'TensorZip: Workspace Models',
      vscode.ViewColumn.Active,
      webviewOptions(context.extensionUri),
    );
    WorkspacePanel.current = new WorkspacePanel(panel, context, server, log);
    return WorkspacePanel.current;
  }

  /** Batch jobs report here when the panel is open. */
  static reportJob(job: JobView | null, summary?: string): void {
    WorkspacePanel.current?.postJob(job, summary);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    context: vscode.ExtensionContext,
    private readonly server: TzServer,
    private readonly log: vscode.LogOutputChannel,
  ) {
    panel.webview.html = shellFor(panel.webview, context.extensionUri, 'workspace', 'Workspace models');
    panel.webview.onDidReceiveMessage((raw) => {
      const msg = parseWebviewMessage(raw);
      if (msg?.type === 'ready') {
        this.ready = true;
        this.send({ type: 'workspaceInit', title: 'Workspace models', rows: [...this.rows.values()] });
        if (this.lastJob) this.send({ type: 'workspaceJob', ...this.lastJob });
      } else if (msg?.type === 'open') {
        void vscode.commands.executeCommand('vscode.openWith', vscode.Uri.parse(msg.uri), MODEL_VIEW_TYPE);
      }
    });
    panel.onDidChangeViewState(() => {
      if (!panel.visible) this.ready = false;
    });
    panel.onDidDispose(() => this.dispose());
    void this.scan();
  }

  private send(m: HostToWebview): void {
    if (this.ready) void this.panel.webview.postMessage(m);
  }

  private postJob(job: JobView | null, summary?: string): void {
    this.lastJob = { job, summary };
    this.send({ type: 'workspaceJob', job, summary });
  }

  private setRow(r: WorkspaceModelRow): void {
    this.rows.set(r.uri, r);
    this.send({ type: 'workspaceRow', row: r });
  }

  async scan(): Promise<void> {
    const uris = (await vscode.workspace.findFiles(MODEL_GLOB, EXCLUDE_GLOB, 10000)).sort((a, b) =>
      a.path.localeCompare(b.path),
    );
    const indexes = (await vscode.workspace.findFiles(INDEX_GLOB, EXCLUDE_GLOB, 1000))
      .filter((u) => u.scheme === 'file')
      .sort((a, b) => a.path.localeCompare(b.path));
    const present = new Set(uris.map((u) => u.toString()));
    // a sharded model is one row, its index's: its shards (and their .tzip) are not listed on their own
    const inModel = new Set<string>();
    const headers = new Map<string, HeaderView | Error>();
    for (const u of indexes) {
      const hv = await readIndexHeader(u.fsPath).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
      headers.set(u.toString(), hv);
      if (hv instanceof Error) continue;
      const dir = path.dirname(u.fsPath);
      for (const sh of hv.shards ?? []) {
        const f = vscode.Uri.file(path.join(dir, sh.file)).toString();
        inModel.add(f);
        inModel.add(siblingTzip(f));
      }
    }
    for (const u of indexes) {
      const key = u.toString();
      const hv = headers.get(key)!;
      const prev = this.rows.get(key);
      present.add(key);
      const row: WorkspaceModelRow = {
        uri: key,
        path: vscode.workspace.asRelativePath(u),
        format: 'safetensors-index',
        size: 0,
        predictedBytes: null,
        achievedBytes: null,
        status: 'pending',
      };
      if (hv instanceof Error) {
        this.rows.set(key, { ...row, status: 'failed', error: hv.message.split('\n')[0] });
        continue;
      }
      const shards = hv.shards ?? [];
      const lacking = shards.filter((x) => x.state === 'missing' || x.state === 'unreadable');
      row.format = `safetensors-index (${shards.length} shard${shards.length === 1 ? '' : 's'})`;
      row.size = hv.size;
      // achieved: every shard has its .tzip
      const dir = path.dirname(u.fsPath);
      let achieved = 0;
      for (const sh of shards) {
        const t = vscode.Uri.file(path.join(dir, sh.file + '.tzip'));
        const st = present.has(t.toString())
          ? await vscode.workspace.fs.stat(t).then(
              (x) => x,
              () => undefined,
            )
          : undefined;
        if (!st) {
          achieved = -1;
          break;
        }
        achieved += st.size;
      }
      row.achievedBytes = achieved >= 0 && shards.length ? achieved : null;
      if (lacking.length)
        this.rows.set(key, {
          ...row,
          status: 'failed',
          error:
            `${lacking.length} shard${lacking.length === 1 ? ' is' : 's are'} missing or unreadable (` +
            `${lacking.map((x) => x.file).join(', ')})`,
        });
      else
        this.rows.set(key, {
          ...row,
          predictedBytes: prev?.predictedBytes ?? null,
          status: prev?.status === 'done' ? 'done' : 'pending',
        });
    }
    for (const u of uris) {
      if (inModel.has(u.toString())) {
        present.delete(u.toString());
        continue;
      }
      const stat = await vscode.workspace.fs.stat(u).then(
        (s) => s,
        () => undefined,
      );
      if (!stat) continue;
      const tz = isTzipPath(u.path);
      const sib = tz ? undefined : vscode.Uri.parse(siblingTzip(u.toString()));
      // a .tzip row has no original to compare with here (its source row shows the saving)
      const achieved = tz
        ? null
        : sib && present.has(sib.toString())
          ? (await vscode.workspace.fs.stat(sib)).size
          : null;
      const prev = this.rows.get(u.toString());
      this.rows.set(u.toString(), {
        uri: u.toString(),
        path: vscode.workspace.asRelativePath(u),
        format: tz ? 'tzip' : path.extname(u.path).slice(1),
        size: stat.size,
        predictedBytes: prev?.predictedBytes ?? null,
        achievedBytes: achieved,
        status: prev?.status === 'done' ? 'done' : tz ? 'done' : 'pending',
      });
    }
    for (const k of [...this.rows.keys()]) if (!present.has(k)) this.rows.delete(k);
    this.send({ type: 'workspaceInit', title: `Workspace models (${this.rows.size})`, rows: [...this.rows.values()] });
    // analyse one model at a time (quick mode: sampled), so the list fills without hogging the server
    for (const r of [...this.rows.values()]) {
      if (r.status !== 'pending' || this.cts.token.isCancellationRequested) continue;
      this.setRow({ ...r, status: 'analyzing' });
      try {
        const local = await localFile(vscode.Uri.parse(r.uri));
        try {
          const a = await this.server.analyze(local.path, { quick: true }, this.cts.token);
          this.setRow({ ...r, status: 'done', predictedBytes: a.predictedBytes });
        } finally {
          await local.dispose();
        }
      } catch (e) {
        const err = toJobError(e);
        if (err.code === 'CANCELLED') return;
        this.log.warn(`workspace analysis: ${err.message}`);
        this.setRow({ ...r, status: 'failed', error: err.message });
      }
    }
  }

  dispose(): void {
    this.cts.cancel();
    if (WorkspacePanel.current === this) WorkspacePanel.current = undefined;
  }
}
