/**
 * TensorZip extension entry (bundled to dist/extension.js; `vscode` is external). Registers the
 * model editor, the explorer and palette commands, the status bar item, and starts the
 * background server (dist/server.js) that does all heavy work.
 */
import * as vscode from 'vscode';
import { registerCommands, runEditorJob, type CommandDeps } from './commands';
import { serverSettings, readSettings } from './config';
import { JobRunner } from './jobs';
import { ModelEditorProvider } from './modelEditor';
import { TzServer } from './serverClient';
import { langMiddleware } from './langMiddleware';

let server: TzServer | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('TensorZip', { log: true });
  context.subscriptions.push(log);
  server = new TzServer(context, log, serverSettings, langMiddleware);
  const jobs = new JobRunner(server, log);
  context.subscriptions.push(jobs);
  const deps: CommandDeps = { context, server, jobs, log };

  context.subscriptions.push(
    ...ModelEditorProvider.register({
      context,
      server,
      jobs,
      log,
      runJob: (spec, onUpdate) => runEditorJob(deps, spec, onUpdate),
    }),
    ...registerCommands(deps),
  );

  // status bar item while jobs run (this window's queue, plus the server's view of all jobs)
  const status = vscode.window.createStatusBarItem('tensorzip.jobs', vscode.StatusBarAlignment.Left, 10);
  status.name = 'TensorZip Jobs';
  status.command = 'tensorzip.showLog';
  let serverJobs = 0;
  const update = () => {
    const n = Math.max(serverJobs, jobs.queue.active + jobs.queue.queued);
    if (n > 0) {
      status.text = `$(loading~spin) TensorZip: ${n} job${n === 1 ? '' : 's'}`;
      status.tooltip = 'TensorZip jobs running or queued. Click for the log.';
      status.show();
    } else status.hide();
  };
  context.subscriptions.push(
    status,
    jobs.queue.onChange(update),
    server.onJobsChanged((r) => {
      serverJobs = r.jobs.filter((j) => j.kind !== 'info' && j.kind !== 'analyze' && j.kind !== 'whatIf').length;
      update();
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('tensorzip')) return;
      jobs.queue.setLimit(readSettings().maxConcurrentJobs);
      void server?.pushSettings();
    }),
  );

  log.info(`TensorZip activated (workspace ${vscode.workspace.isTrusted ? 'trusted' : 'not trusted: analysis only'})`);
  // start the server now so the first editor does not wait for it; failures are logged, and retried on first use
  server
    .ready()
    .catch((e: unknown) => log.error(`server failed to start: ${e instanceof Error ? e.message : String(e)}`));
}

export async function deactivate(): Promise<void> {
  await server?.dispose();
  server = undefined;
}
