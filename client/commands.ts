/**
 * Explorer context-menu commands (multi-select aware) and command-palette batch jobs. Every
 * multi-file run goes through `runBatch`: a cancellable Notification with per-file and total
 * progress, one file's failure never stops the others, and a final summary (files, bytes saved,
 * failures with reasons; details in the output channel).
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FileJobKind, JobView } from '../protocol/webview';
import { formatBytes, formatEta, formatPercent, formatRate } from '../shared/format';
import { lossyPickItems } from './lossyPick';
import { failureLines, summarizeBatch, summaryMessage, type BatchItemResult } from './batchSummary';
import { readSettings } from './config';
import { relativeMessage, writeBlocker, type JobOutcome, type JobRunner, type JobSpec } from './jobs';
import { MODEL_VIEW_TYPE } from './modelEditor';
import { BATCH_MODEL_EXTENSIONS, isModelPath, isTzipPath } from '../shared/modelFiles';
import { DEFAULT_KEYFRAME_EVERY, orderChain } from '../shared/chainPlan';
import type { TzServer } from './serverClient';
import { EXCLUDE_GLOB, WorkspacePanel } from './workspacePanel';
import { openComparison, pickModelToCompare } from './comparePanel';
import { naturalOrder } from '../shared/modelFiles';

export interface CommandDeps {
  context: vscode.ExtensionContext;
  server: TzServer;
  jobs: JobRunner;
  log: vscode.LogOutputChannel;
}

const VERBS: Record<FileJobKind, { ing: string; ed: string }> = {
  compress: { ing: 'Compressing', ed: 'Compressed' },
  decompress: { ing: 'Decompressing', ed: 'Decompressed' },
  verify: { ing: 'Verifying', ed: 'Verified' },
};

/** Explorer commands get (clicked, selected[]); the palette gets nothing (use the active editor). */
function targets(clicked: unknown, selected: unknown): vscode.Uri[] {
  if (Array.isArray(selected) && selected.length && selected.every((u) => u instanceof vscode.Uri))
    return selected as vscode.Uri[];
  if (clicked instanceof vscode.Uri) return [clicked];
  const tab = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (tab instanceof vscode.TabInputCustom || tab instanceof vscode.TabInputText) return [tab.uri];
  return [];
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  return vscode.workspace.fs.stat(uri).then(
    () => true,
    () => false,
  );
}

/** Asks once what to do with outputs that exist; returns the specs to run (force set), or undefined to stop. */
async function resolveExisting(specs: JobSpec[], jobs: JobRunner): Promise<JobSpec[] | undefined> {
  const clashes: JobSpec[] = [];
  for (const s of specs) {
    const out = s.output ?? jobs.defaultOutput(s.kind, s.input);
    if (out && (await exists(out))) clashes.push(s);
  }
  if (!clashes.length) return specs;
  const names = clashes
    .slice(0, 3)
    .map((s) => path.basename((s.output ?? jobs.defaultOutput(s.kind, s.input))!.fsPath))
    .join(', ');
  const more = clashes.length > 3 ? ` and ${clashes.length - 3} more` : '';
  const choice = await vscode.window.showWarningMessage(
    `${clashes.length} output file${clashes.length === 1 ? '' : 's'} already exist` +
      `${clashes.length === 1 ? 's' : ''}: ${names}${more}.`,
    { modal: true },
    'Overwrite',
    ...(clashes.length < specs.length || specs.length > 1 ? ['Skip Existing'] : []),
  );
  if (choice === 'Overwrite') return specs.map((s) => (clashes.includes(s) ? { ...s, force: true } : s));
  if (choice === 'Skip Existing') return specs.filter((s) => !clashes.includes(s));
  return undefined;
}

export async function runBatch(
  deps: CommandDeps,
  kind: FileJobKind,
  specs: JobSpec[],
  title: string,
  onJob?: (j: JobView) => void,
): Promise<BatchItemResult[]> {
  const { jobs, log } = deps;
  if (!specs.length) return [];
  if (kind !== 'verify') {
    const resolved = await resolveExisting(specs, jobs);
    if (!resolved) return [];
    specs = resolved;
    if (!specs.length) {
      void vscode.window.showInformationMessage('TensorZip: nothing to do (every output already exists).');
      return [];
    }
  }
  const sizes = await Promise.all(
    specs.map((s) =>
      vscode.workspace.fs.stat(s.input).then(
        (st) => st.size,
        () => 0,
      ),
    ),
  );
  const total = sizes.reduce((a, b) => a + b, 0) || 1;
  const done = new Map<string, number>();
  const results: BatchItemResult[] = [];
  log.info(`${title}: ${specs.length} file(s), ${total} bytes`);
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `TensorZip: ${title}`, cancellable: true },
    async (progress, token) => {
      let reported = 0;
      let finished = 0;
      const started = Date.now();
      const report = (current?: JobView) => {
        const bytes = [...done.values()].reduce((a, b) => a + b, 0);
        const pct = Math.min(100, (bytes / total) * 100);
        const elapsed = (Date.now() - started) / 1000;
        const rate = elapsed > 0.5 ? bytes / elapsed : null;
        const eta = rate ? (total - bytes) / rate : null;
        // one file: its name is the title already; several: how many are done and which one runs
        const file =
          current && specs.length > 1
            ? `${path.basename(current.file)} ${formatPercent(current.percent / 100, 0)}`
            : '';
        const count = specs.length > 1 ? `${finished} of ${specs.length} files done · ` : '';
        const message =
          `${count}${formatPercent(pct / 100, 0)} · ` +
          `${formatRate(current?.bytesPerSecond ?? rate)} · ETA ${formatEta(eta)}${file ? ` · ${file}` : ''}`;
        progress.report({ increment: pct - reported, message });
        reported = pct;
        const batchView: JobView = {
          id: 'batch',
          kind,
          state: 'running',
          file: current?.file ?? '',
          bytesDone: bytes,
          bytesTotal: total,
          percent: pct,
          bytesPerSecond: rate,
          etaSeconds: eta,
          message,
        };
        WorkspacePanel.reportJob(batchView);
        onJob?.(batchView);
      };
      const runOne = async (s: JobSpec, i: number): Promise<void> => {
        const outcome: JobOutcome = await jobs.run(s, {
          token,
          onUpdate: (j) => {
            if (j.state === 'running') done.set(j.id, sizes[i]! * (j.percent / 100));
            report(j);
          },
        });
        finished++;
        if (outcome.ok) done.set(outcome.id, sizes[i]!);
        results.push({
          file: s.input.fsPath,
          ok: outcome.ok,
          cancelled: outcome.cancelled,
          error: outcome.error,
          inputBytes: outcome.inputBytes,
          outputBytes: outcome.outputBytes,
        });
        report();
      };
      await Promise.all(specs.map((s, i) => runOne(s, i)));
    },
  );
  const summary = summarizeBatch(results);
  const msg = `TensorZip: ${summaryMessage(VERBS[kind].ed, summary, formatBytes)}`;
  log.info(msg);
  for (const l of failureLines(summary)) log.info(l);
  WorkspacePanel.reportJob(null, msg);
  const show = summary.failed.length ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
  void show(msg + (summary.failed.length ? ` First failure: ${summary.failed[0]!.error ?? ''}` : ''), 'Show Log').then(
    (c) => {
      if (c === 'Show Log') log.show(true);
    },
  );
  return results;
}

function requireWrite(uris: vscode.Uri[]): boolean {
  const blocked = uris.map(writeBlocker).find((b) => b !== undefined);
  if (blocked) {
    void vscode.window.showWarningMessage(`TensorZip: ${blocked}`);
    return false;
  }
  return true;
}

async function pickFolder(title: string): Promise<vscode.Uri | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    canSelectMany: false,
    title,
    openLabel: 'Select Folder',
    defaultUri: folders[0]?.uri,
  });
  return picked?.[0];
}

async function filesIn(folder: vscode.Uri, extensions: string[]): Promise<vscode.Uri[]> {
  const glob = `**/*.{${extensions.map((e) => e.slice(1)).join(',')}}`;
  const found = await vscode.workspace.findFiles(new vscode.RelativePattern(folder, glob), EXCLUDE_GLOB);
  return found.filter((u) => isModelPath(u.path, extensions)).sort((a, b) => a.path.localeCompare(b.path));
}

export function registerCommands(deps: CommandDeps): vscode.Disposable[] {
  const { server, log } = deps;
  const reg = (id: string, fn: (...args: unknown[]) => unknown) => vscode.commands.registerCommand(id, fn);
  const filesFor = (kind: FileJobKind, uris: vscode.Uri[]) =>
    uris.filter((u) => (kind === 'compress' ? !isTzipPath(u.path) : isTzipPath(u.path)));

  const explorerJob = async (kind: FileJobKind, clicked: unknown, selected: unknown, lossyBits?: number) => {
    const uris = filesFor(kind, targets(clicked, selected));
    if (!uris.length) {
      void vscode.window.showWarningMessage(
        `TensorZip: select ${kind === 'compress' ? 'a model file' : 'a .tzip file'} first.`,
      );
      return;
    }
    if (kind !== 'verify' && !requireWrite(uris)) return;
    const title =
      `${VERBS[kind].ing} ` +
      `${uris.length === 1 ? path.basename(uris[0]!.path) : `${uris.length} files`}` +
      `${lossyBits !== undefined ? ` (lossy, k=${lossyBits})` : ''}`;
    await runBatch(
      deps,
      kind,
      uris.map((input) => ({ kind, input, lossyBits })),
      title,
    );
  };

  return [
    reg('tensorzip.compress', (a, b) => explorerJob('compress', a, b)),
    reg('tensorzip.decompress', (a, b) => explorerJob('decompress', a, b)),
    reg('tensorzip.verify', (a, b) => explorerJob('verify', a, b)),
    reg('tensorzip.compressLossy', async (a, b) => {
      const features = await server.features().catch(() => ({ lossy: false, lossyWhatIf: false }));
      if (!features.lossy) {
        void vscode.window.showWarningMessage(
          'TensorZip: lossy compression is not available yet: this version of the TensorZip server does ' +
            'not offer it. Use "Compress" for lossless compression.',
        );
        return;
      }
      const uris = filesFor('compress', targets(a, b));
      if (!uris.length) return;
      const k = await pickLossyBits(deps, uris[0]!, uris.length, features.lossyWhatIf);
      if (k !== undefined) await explorerJob('compress', a, b, k);
    }),
    reg('tensorzip.analyze', async (a, b) => {
      for (const u of targets(a, b)) await vscode.commands.executeCommand('vscode.openWith', u, MODEL_VIEW_TYPE);
    }),
    // Explorer: two selected models (clicked, selected[]); the model view: its file (then pick the other);
    // the palette: the active model, or pick both. A is the first in natural name order (an older checkpoint).
    reg('tensorzip.compareModels', async (a, b) => {
      const selected = Array.isArray(b) ? (b as unknown[]).filter((u): u is vscode.Uri => u instanceof vscode.Uri) : [];
      let uris = selected.length ? selected : targets(a, undefined);
      if (uris.length > 2) {
        void vscode.window.showWarningMessage(
          `TensorZip: select two model files to compare (${uris.length} selected).`,
        );
        return;
      }
      if (uris.length === 0) {
        const first = await pickModelToCompare(undefined, 'TensorZip: Compare Models (first model)');
        if (!first) return;
        uris = [first];
      }
      if (uris.length === 1) {
        const other = await pickModelToCompare(
          uris[0],
          `TensorZip: Compare ${path.posix.basename(uris[0]!.path)} with…`,
        );
        if (!other) return;
        // from one model (the model view's "Compare with…"): that model is A
        return openComparison(deps, uris[0]!, other);
      }
      const [x, y] = naturalOrder(uris);
      await openComparison(deps, x!, y!);
    }),
    reg('tensorzip.openModelView', async (a) => {
      const u = targets(a, undefined)[0];
      if (u) await vscode.commands.executeCommand('vscode.openWith', u, MODEL_VIEW_TYPE);
    }),
    reg('tensorzip.compressFolder', async (a) => {
      const folder = a instanceof vscode.Uri ? a : await pickFolder('TensorZip: Compress Models in Folder');
      if (!folder || !requireWrite([folder])) return;
      const uris = await filesIn(folder, BATCH_MODEL_EXTENSIONS);
      if (!uris.length) {
        void vscode.window.showInformationMessage(
          `TensorZip: no model files (${BATCH_MODEL_EXTENSIONS.join(', ')}) in ` +
            `${vscode.workspace.asRelativePath(folder)}.`,
        );
        return;
      }
      await runBatch(
        deps,
        'compress',
        uris.map((input) => ({ kind: 'compress', input })),
        `Compressing ${uris.length} model${uris.length === 1 ? '' : 's'}`,
      );
    }),
    reg('tensorzip.compressCheckpoints', async (a) => {
      const folder = a instanceof vscode.Uri ? a : await pickFolder('TensorZip: Compress Checkpoints in Folder');
      if (!folder || !requireWrite([folder])) return;
      const uris = (await filesIn(folder, BATCH_MODEL_EXTENSIONS)).filter(
        (u) => path.posix.dirname(u.path) === folder.path.replace(/\/+$/, ''),
      );
      if (uris.length < 2) {
        void vscode.window.showInformationMessage(
          `TensorZip: a checkpoint chain needs at least two model files (` +
            `${BATCH_MODEL_EXTENSIONS.join(', ')}) directly in ${vscode.workspace.asRelativePath(folder)}.`,
        );
        return;
      }
      const byPath = new Map(uris.map((u) => [u.fsPath, u]));
      const files = await Promise.all(
        uris.map(async (u) => ({ path: u.fsPath, mtimeMs: (await vscode.workspace.fs.stat(u)).mtime })),
      );
      const chain = orderChain(files, DEFAULT_KEYFRAME_EVERY);
      log.info(
        `checkpoint chain in ${folder.fsPath}: ` +
          chain
            .map((m) =>
              m.keyframe
                ? `${path.basename(m.input)} (keyframe)`
                : `${path.basename(m.input)} <- ${m.candidates.map((c) => path.basename(c)).join(' | ')}`,
            )
            .join(', '),
      );
      // keyframes get bases: [] too: no chain member's original is deleted (tensorzip.afterCompress), later ones are
      // coded against it
      const specs: JobSpec[] = chain.map((m) => ({
        kind: 'compress',
        input: byPath.get(m.input)!,
        bases: m.candidates.map((c) => byPath.get(c)!),
      }));
      await runBatch(
        deps,
        'compress',
        specs,
        `Compressing ${specs.length} checkpoints (keyframe every ${DEFAULT_KEYFRAME_EVERY})`,
      );
    }),
    reg('tensorzip.decompressFolder', async (a) => {
      const folder = a instanceof vscode.Uri ? a : await pickFolder('TensorZip: Decompress All .tzip in Folder');
      if (!folder || !requireWrite([folder])) return;
      const uris = await filesIn(folder, ['.tzip']);
      if (!uris.length) {
        void vscode.window.showInformationMessage(
          `TensorZip: no .tzip files in ${vscode.workspace.asRelativePath(folder)}.`,
        );
        return;
      }
      await runBatch(
        deps,
        'decompress',
        uris.map((input) => ({ kind: 'decompress', input })),
        `Decompressing ${uris.length} file${uris.length === 1 ? '' : 's'}`,
      );
    }),
    reg('tensorzip.analyzeWorkspace', () => {
      WorkspacePanel.show(deps.context, server, log);
    }),
    reg('tensorzip.showLog', () => log.show(true)),
  ];
}

/** A job started from the editor's buttons: progress shows in the webview; prompts and errors as notifications. */
export async function runEditorJob(
  deps: CommandDeps,
  spec: JobSpec,
  onUpdate: (j: JobView) => void,
): Promise<JobOutcome | undefined> {
  if (spec.kind !== 'verify') {
    const blocked = writeBlocker(spec.input);
    if (blocked) {
      void vscode.window.showWarningMessage(`TensorZip: ${blocked}`);
      return undefined;
    }
    const resolved = await resolveExisting([spec], deps.jobs);
    if (!resolved?.length) return undefined;
    spec = resolved[0]!;
  }
  const outcome = await deps.jobs.run(spec, { onUpdate });
  if (!outcome.ok && !outcome.cancelled) {
    const msg = relativeMessage(outcome.error ?? 'job failed', spec.input);
    const what = { compress: 'Compress', decompress: 'Decompress', verify: 'Verify' }[spec.kind];
    void vscode.window
      .showErrorMessage(`TensorZip: ${what} failed: ${msg}`, 'Show Log')
      .then((c) => c && deps.log.show(true));
  } else if (outcome.ok && outcome.output && spec.kind !== 'verify') {
    const open = spec.kind === 'compress' ? 'Open .tzip' : 'Reveal';
    void vscode.window
      .showInformationMessage(
        `TensorZip: ${VERBS[spec.kind].ed} ${path.basename(spec.input.fsPath)} → ` +
          `${path.basename(outcome.output.fsPath)}` +
          (outcome.inputBytes && outcome.outputBytes !== undefined
            ? ` (${formatBytes(outcome.inputBytes)} → ${formatBytes(outcome.outputBytes)})`
            : ''),
        open,
      )
      .then((c) => {
        if (c === 'Open .tzip') void vscode.commands.executeCommand('vscode.openWith', outcome.output, MODEL_VIEW_TYPE);
        else if (c === 'Reveal') void vscode.commands.executeCommand('revealInExplorer', outcome.output);
      });
  }
  return outcome;
}

/**
 * Asks for k (mantissa bits kept). When the server offers the what-if table, every choice shows
 * the predicted size and the error first (computed on a sample; nothing is written); backing out
 * (Escape) cancels the estimate and writes nothing.
 */
async function pickLossyBits(
  deps: CommandDeps,
  first: vscode.Uri,
  count: number,
  whatIf: boolean,
): Promise<number | undefined> {
  const def = readSettings(first).lossyBits;
  const qp = vscode.window.createQuickPick<vscode.QuickPickItem & { k: number }>();
  qp.title =
    `TensorZip: Compress (lossy) ${count === 1 ? path.basename(first.path) : `${count} files`}: ` +
    `mantissa bits to keep`;
  qp.matchOnDescription = true;
  const cts = new vscode.CancellationTokenSource();
  const fallback = () =>
    Array.from({ length: 8 }, (_, k) => ({
      k,
      label: `k = ${k}`,
      description: k === def ? 'default (tensorzip.lossyBits)' : '',
      detail: `keep ${k} mantissa bit${k === 1 ? '' : 's'}; max relative error ≤ 2^-${k + 1} for normal values`,
    }));
  if (whatIf && first.scheme === 'file') {
    qp.busy = true;
    qp.placeholder = `Predicting size and error for each k on ${path.basename(first.path)}…`;
    deps.server.whatIf({ path: first.fsPath }, {}, cts.token).then(
      (r) => {
        qp.items = lossyPickItems(r, def);
        qp.placeholder =
          `Predicted for ${path.basename(first.path)}` +
          `${count > 1 ? ` (the other ${count - 1} file(s) differ)` : ''}: fewer bits = smaller file, larger error`;
        qp.busy = false;
        const d = qp.items.find((i) => i.k === def);
        if (d) qp.activeItems = [d];
      },
      (e: unknown) => {
        if (cts.token.isCancellationRequested) return;
        deps.log.warn(`what-if: ${e instanceof Error ? e.message : String(e)}`);
        qp.items = fallback();
        qp.placeholder = 'No size prediction available; fewer bits = smaller file, larger error';
        qp.busy = false;
      },
    );
  } else {
    qp.items = fallback();
    qp.placeholder = 'Fewer bits = smaller file, larger error';
  }
  const picked = await new Promise<number | undefined>((resolve) => {
    qp.onDidAccept(() => {
      const sel = qp.selectedItems[0];
      if (sel) {
        resolve(sel.k);
        qp.hide();
      }
    });
    qp.onDidHide(() => resolve(undefined));
    qp.show();
  });
  cts.cancel();
  cts.dispose();
  qp.dispose();
  return picked;
}
