/**
 * Runs one server job (compress, decompress, verify) for a URI: checks trust and scheme,
 * computes the output from the settings, limits concurrency, turns `$/progress` into JobView
 * updates (percent, MB/s, ETA, current tensor/layer) and, when the user asked for it, deletes
 * the original after a verified round trip. Used by the editor, the explorer and batch commands.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FileJobKind, JobView } from '../protocol/webview';
import type { JobProgress, VerifyResult } from '../protocol/server';
import { layerOf } from '../shared/layers';
import { readSettings } from './config';
import { ConcurrencyLimit } from './concurrencyLimit';
import { compressOutputPath, decompressOutputPath } from './paths';
import { ProgressMeter } from './progressMeter';
import { ServerJobError, type TzServer } from './serverClient';

export interface JobSpec {
  kind: FileJobKind;
  input: vscode.Uri;
  /** default: from tensorzip.output.* settings */
  output?: vscode.Uri;
  lossyBits?: number;
  /** compress: delta-code against each of these base models and keep the smallest (a checkpoint chain) */
  bases?: vscode.Uri[];
  force?: boolean;
  /** verify: compare with this original too */
  against?: vscode.Uri;
}

export interface JobOutcome {
  id: string;
  ok: boolean;
  cancelled: boolean;
  error?: string;
  code?: string;
  inputBytes?: number;
  outputBytes?: number;
  output?: vscode.Uri;
  verify?: VerifyResult;
  deletedOriginal?: boolean;
}

export interface RunOptions {
  token?: vscode.CancellationToken;
  onUpdate?: (job: JobView) => void;
}

/** Why a URI cannot be written by a job here, or undefined when it can. */
export function writeBlocker(uri: vscode.Uri): string | undefined {
  if (!vscode.workspace.isTrusted)
    return 'Writing files needs a trusted workspace (TensorZip analyses untrusted files read-only).';
  if (uri.scheme !== 'file')
    return `Compress and decompress need files on disk; "${uri.scheme}:" resources are analysed read-only.`;
  return undefined;
}

/** An engine message with the file's absolute path shown relative to the workspace. */
export function relativeMessage(msg: string, uri: vscode.Uri): string {
  return uri.scheme === 'file' ? msg.split(uri.fsPath).join(vscode.workspace.asRelativePath(uri)) : msg;
}

export function resolveOutputFolder(folder: string, input: vscode.Uri): string {
  const f = folder.trim();
  if (!f) return f;
  const ws = vscode.workspace.getWorkspaceFolder(input);
  const expanded = ws ? f.replace(/\$\{workspaceFolder\}/g, ws.uri.fsPath) : f;
  if (path.isAbsolute(expanded)) return expanded;
  return path.resolve(ws?.uri.fsPath ?? path.dirname(input.fsPath), expanded);
}

let counter = 0;

export class JobRunner implements vscode.Disposable {
  readonly queue: ConcurrencyLimit;
  private readonly active = new Map<string, vscode.CancellationTokenSource>();
  /** the one job state: every job's latest view, whoever started it (view, Explorer, palette, batch) */
  private readonly views = new Map<string, JobView>();
  private readonly changed = new vscode.EventEmitter<JobView>();
  readonly onDidChangeJob = this.changed.event;
  private readonly finished = new vscode.EventEmitter<{ spec: JobSpec; outcome: JobOutcome }>();
  /** every finished job with its outcome (verify results mark damage in open views and the Problems panel) */
  readonly onDidFinishJob = this.finished.event;

  constructor(
    private readonly server: TzServer,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.queue = new ConcurrencyLimit(readSettings().maxConcurrentJobs);
  }

  /** The running or queued job on a file (its path), if any. */
  activeOn(file: string): JobView | undefined {
    for (const v of this.views.values())
      if (v.file === file && (v.state === 'running' || v.state === 'queued')) return { ...v };
    return undefined;
  }

  cancel(id: string): boolean {
    const cts = this.active.get(id);
    cts?.cancel();
    return cts !== undefined;
  }

  /** Output URI the job would write (compress/decompress), from the settings. */
  defaultOutput(kind: FileJobKind, input: vscode.Uri): vscode.Uri | undefined {
    const s = readSettings(input);
    const folder = s.output.location === 'folder' ? resolveOutputFolder(s.output.folder, input) : '';
    const settings = { location: s.output.location, folder };
    if (kind === 'compress') return vscode.Uri.file(compressOutputPath(input.fsPath, settings));
    if (kind === 'decompress') {
      const p = decompressOutputPath(input.fsPath, settings);
      return p === undefined ? undefined : vscode.Uri.file(p);
    }
    return undefined;
  }

  async run(spec: JobSpec, opts: RunOptions = {}): Promise<JobOutcome> {
    const id = `job-${++counter}`;
    const cts = new vscode.CancellationTokenSource();
    const outer = opts.token?.onCancellationRequested(() => cts.cancel());
    if (opts.token?.isCancellationRequested) cts.cancel();
    this.active.set(id, cts);
    const meter = new ProgressMeter();
    const view: JobView = {
      id,
      kind: spec.kind,
      state: 'queued',
      file: spec.input.fsPath,
      bytesDone: 0,
      bytesTotal: 0,
      percent: 0,
      bytesPerSecond: null,
      etaSeconds: null,
    };
    const emit = (patch: Partial<JobView>) => {
      Object.assign(view, patch);
      if (view.state === 'running' || view.state === 'queued') this.views.set(id, view);
      else this.views.delete(id);
      opts.onUpdate?.({ ...view });
      this.changed.fire({ ...view });
    };
    // a file has one writer: a second compress/decompress of it would race for the same output
    const clash = spec.kind === 'verify' ? undefined : this.activeOn(spec.input.fsPath);
    if (clash) {
      const error =
        `${vscode.workspace.asRelativePath(spec.input)}: a ${clash.kind} job is already ` + `running on this file`;
      opts.onUpdate?.({ ...view, state: 'failed', message: error });
      return { id, ok: false, cancelled: false, error, code: 'BUSY' };
    }
    emit({});
    const onProgress = (p: JobProgress) => {
      if (p.kind === 'end') return;
      const bytesDone = p.bytesDone ?? view.bytesDone;
      const bytesTotal = p.bytesTotal ?? view.bytesTotal;
      const reading = meter.update(bytesDone, bytesTotal, Date.now());
      const percent = typeof p.percentage === 'number' ? p.percentage : reading.percent;
      emit({
        state: p.state === 'queued' ? 'queued' : 'running',
        bytesDone,
        bytesTotal,
        percent,
        bytesPerSecond: p.mbPerSecond !== undefined ? p.mbPerSecond * 1e6 : reading.bytesPerSecond,
        etaSeconds: p.etaSeconds ?? reading.etaSeconds,
        tensor: p.tensor,
        layer: p.tensor ? layerOf(p.tensor) : undefined,
      });
    };
    try {
      const blocker =
        spec.kind === 'verify'
          ? spec.input.scheme === 'file'
            ? undefined
            : `Verify needs a file on disk ("${spec.input.scheme}:" is not one).`
          : writeBlocker(spec.input);
      if (blocker) throw new ServerJobError(blocker, 'USAGE');
      const outcome = await this.queue.run(() => this.execute(spec, id, onProgress, cts.token), undefined);
      if (outcome.ok) emit({ state: 'done', percent: 100, message: doneMessage(spec.kind, outcome) });
      else emit({ state: 'failed', message: outcome.error });
      this.finished.fire({ spec, outcome });
      return outcome;
    } catch (e) {
      const err =
        e instanceof ServerJobError ? e : new ServerJobError(e instanceof Error ? e.message : String(e), 'INTERNAL');
      const cancelled = err.code === 'CANCELLED' || cts.token.isCancellationRequested;
      emit({
        state: cancelled ? 'cancelled' : 'failed',
        message: cancelled ? 'cancelled' : relativeMessage(err.message, spec.input),
      });
      if (!cancelled) this.log.error(`${spec.kind} failed: ${err.message}`);
      return {
        id,
        ok: false,
        cancelled,
        error: cancelled ? `${spec.input.fsPath}: cancelled` : err.message,
        code: cancelled ? 'CANCELLED' : err.code,
      };
    } finally {
      outer?.dispose();
      this.active.delete(id);
      cts.dispose();
    }
  }

  private async execute(
    spec: JobSpec,
    id: string,
    onProgress: (p: JobProgress) => void,
    token: vscode.CancellationToken,
  ): Promise<JobOutcome> {
    if (token.isCancellationRequested) throw new ServerJobError('cancelled', 'CANCELLED');
    const input = spec.input.fsPath;
    const base = { id, ok: true, cancelled: false } as const;
    if (spec.kind === 'compress') {
      const output = spec.output ?? this.defaultOutput('compress', spec.input)!;
      if (output.scheme !== 'file')
        throw new ServerJobError(`${output.toString()}: output must be a file on disk`, 'USAGE');
      await vscode.workspace.fs.createDirectory(vscode.Uri.file(path.dirname(output.fsPath)));
      // the original may be deleted after a verified round trip: make the .tzip durable first
      // a chain member (bases given) keeps its original: later members are coded against it
      const deleteAfter =
        readSettings(spec.input).afterCompress === 'deleteAfterVerify' &&
        spec.lossyBits === undefined &&
        spec.bases === undefined;
      const durable = deleteAfter;
      const bases = spec.bases?.map((b) => b.fsPath);
      const r = await this.server.compress(
        {
          path: input,
          output: output.fsPath,
          force: spec.force,
          lossyBits: spec.lossyBits,
          durable,
          ...(bases ? { bases } : {}),
        },
        { onProgress },
        token,
      );
      const outcome: JobOutcome = {
        ...base,
        inputBytes: r.originalBytes,
        outputBytes: r.bytes,
        output: vscode.Uri.file(r.output),
      };
      this.log.info(
        `compressed ${input} -> ${r.output}: ${r.originalBytes} -> ${r.bytes} bytes in ${r.seconds.toFixed(2)} s`,
      );
      if (deleteAfter) {
        const v = await this.server.verify({ path: r.output, against: input }, {}, token);
        outcome.verify = v;
        if (v.ok) {
          await vscode.workspace.fs.delete(spec.input, { useTrash: true }).then(
            () => {
              outcome.deletedOriginal = true;
              this.log.info(
                `verified ${r.output} against ${input}; original moved to the trash (tensorzip.afterCompress)`,
              );
            },
            (e: unknown) =>
              this.log.warn(
                `${input}: verified, but could not move the original to the trash: ` +
                  `${e instanceof Error ? e.message : String(e)}`,
              ),
          );
        } else {
          this.log.warn(`${r.output}: verify against the original failed, original kept: ${v.problems.join('; ')}`);
        }
      }
      return outcome;
    }
    if (spec.kind === 'decompress') {
      const output = spec.output ?? this.defaultOutput('decompress', spec.input);
      if (output) await vscode.workspace.fs.createDirectory(vscode.Uri.file(path.dirname(output.fsPath)));
      const r = await this.server.decompress(
        { path: input, output: output?.fsPath, force: spec.force },
        { onProgress },
        token,
      );
      const stat = await vscode.workspace.fs.stat(spec.input).then(
        (s) => s.size,
        () => undefined,
      );
      this.log.info(`decompressed ${input} -> ${r.output}: ${r.bytes} bytes in ${r.seconds.toFixed(2)} s`);
      return { ...base, inputBytes: stat, outputBytes: r.bytes, output: vscode.Uri.file(r.output) };
    }
    const v = await this.server.verify({ path: input, against: spec.against?.fsPath }, { onProgress }, token);
    this.log.info(`verify ${input}: ${v.ok ? 'ok' : 'FAILED ' + v.problems.join('; ')}`);
    if (!v.ok) {
      // problems name the file already (engine messages start with the path): show it once, relative
      const first = (v.problems[0] ?? 'verify failed').replace(`${input}: `, '');
      return {
        id,
        ok: false,
        cancelled: false,
        verify: v,
        code: 'VERIFY_FAILED',
        error:
          `${vscode.workspace.asRelativePath(spec.input)}: ${first}` +
          (v.problems.length > 1
            ? ` (and ${v.problems.length - 1} more problem${v.problems.length > 2 ? 's' : ''})`
            : ''),
      };
    }
    return { ...base, verify: v };
  }

  dispose(): void {
    for (const c of this.active.values()) c.cancel();
    this.changed.dispose();
    this.finished.dispose();
  }
}

function doneMessage(kind: FileJobKind, o: JobOutcome): string {
  if (kind === 'compress' && o.inputBytes && o.outputBytes !== undefined) {
    return (
      `Compressed to ${path.basename(o.output?.fsPath ?? '')}: ` +
      `${((o.outputBytes / o.inputBytes) * 100).toFixed(1)}% of the original` +
      `${o.deletedOriginal ? ' (original moved to the trash after verify)' : ''}`
    );
  }
  if (kind === 'decompress') return `Restored ${path.basename(o.output?.fsPath ?? '')}`;
  return o.verify?.ok ? 'Verified ✓ (checksums and SHA-256 match)' : 'Verify failed';
}
