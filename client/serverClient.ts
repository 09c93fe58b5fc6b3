/**
 * The extension host's side of the TensorZip server: starts dist/server.js with
 * vscode-languageclient (IPC transport, like vscode-eslint) and exposes the typed requests of
 * protocol/server.ts with client-created workDoneTokens and partialResultTokens.
 */
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import {
  LanguageClient,
  TransportKind,
  type LanguageClientOptions,
  type Middleware,
  type ServerOptions,
  DidChangeConfigurationNotification,
  ResponseError,
} from 'vscode-languageclient/node';
import {
  AnalyzePartialResultProgress,
  AnalyzeRequest,
  CompressRequest,
  DecompressRequest,
  DiffPartialResultProgress,
  DiffRequest,
  InfoRequest,
  JobsChangedNotification,
  JobWorkDoneProgress,
  VerifyRequest,
  WhatIfRequest,
  TensorViewRequest,
  type AnalyzePartialResult,
  type CompressParams,
  type CompressResult,
  type DecompressParams,
  type DecompressResult,
  type DiffPartialResult,
  type DiffResult,
  type FileAnalysis,
  type JobProgress,
  type JobsResult,
  type InfoResult,
  type ServerFeatures,
  type ServerSettings,
  type TzErrorData,
  type VerifyParams,
  type VerifyResult,
  type WhatIfParams,
  type TensorViewParams,
  type TensorViewResult,
} from '../protocol/server';
import type { WhatIfResult } from '../engine/api';
import { DIAGNOSTIC_SOURCE, LANG_FILE_PATTERNS, type LangClientOptions } from '../protocol/lang';

export interface JobCallbacks {
  onProgress?: (p: JobProgress) => void;
}

/** A server error turned into a one-line message plus its code (CANCELLED for cancels). */
export class ServerJobError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export function toJobError(err: unknown): ServerJobError {
  if (err instanceof ServerJobError) return err;
  if (err instanceof ResponseError) {
    const data = err.data as TzErrorData | undefined;
    if (err.code === -32800) return new ServerJobError('cancelled', 'CANCELLED');
    return new ServerJobError(err.message.split('\n')[0]!, data?.code ?? String(err.code));
  }
  if (err instanceof vscode.CancellationError) return new ServerJobError('cancelled', 'CANCELLED');
  const msg = err instanceof Error ? err.message : String(err);
  return new ServerJobError(msg.split('\n')[0]!, 'INTERNAL');
}

export class TzServer implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient> | undefined;
  private readonly jobsChanged = new vscode.EventEmitter<JobsResult>();
  readonly onJobsChanged = this.jobsChanged.event;

  /** `middleware`: the language features' client side (langMiddleware.ts), passed in by extension.ts
   *  so this module does not import the editor that imports it. */
  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
    private readonly settings: () => ServerSettings,
    private readonly middleware: Middleware,
  ) {}

  /** Starts the server on first use; later calls share the same client. */
  ready(): Promise<LanguageClient> {
    if (this.client?.isRunning()) return Promise.resolve(this.client);
    this.starting ??= this.start().catch((e) => {
      this.starting = undefined;
      throw e;
    });
    return this.starting;
  }

  private async start(): Promise<LanguageClient> {
    const module = vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'server.js').fsPath;
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.ipc },
      debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
    };
    const clientOptions: LanguageClientOptions = {
      // model-folder JSON (protocol/lang.ts); the server decides which of them it checks
      documentSelector: LANG_FILE_PATTERNS.map((pattern) => ({ scheme: 'file', pattern })),
      outputChannel: this.log,
      initializationOptions: {
        ...this.settings(),
        lang: { clientCommands: true, tensorUris: true } satisfies LangClientOptions,
      },
      diagnosticCollectionName: DIAGNOSTIC_SOURCE,
      middleware: this.middleware,
    };
    const client = new LanguageClient('tensorzip', 'TensorZip Server', serverOptions, clientOptions);
    await client.start();
    client.onNotification(JobsChangedNotification, (r) => this.jobsChanged.fire(r));
    this.client = client;
    this.log.info('TensorZip server started');
    return client;
  }

  /** Pushes changed settings (threads, maxConcurrentJobs) to a running server. */
  async pushSettings(): Promise<void> {
    if (!this.client?.isRunning()) return;
    await this.client.sendNotification(DidChangeConfigurationNotification.type, {
      settings: { tensorzip: { server: this.settings() } },
    });
  }

  /** Registers a workDoneToken handler, runs `send` and always unregisters. */
  private async withTokens<R>(
    cb: JobCallbacks,
    send: (c: LanguageClient, workDoneToken: string) => Promise<R>,
  ): Promise<R> {
    const client = await this.ready();
    const workDoneToken = `tz-${randomUUID()}`;
    const sub = cb.onProgress ? client.onProgress(JobWorkDoneProgress, workDoneToken, cb.onProgress) : undefined;
    try {
      return await send(client, workDoneToken);
    } catch (e) {
      throw toJobError(e);
    } finally {
      sub?.dispose();
    }
  }

  analyze(
    path: string,
    opts: { quick?: boolean; onPartial?: (p: AnalyzePartialResult) => void } & JobCallbacks,
    token?: vscode.CancellationToken,
  ): Promise<FileAnalysis> {
    return this.withTokens(opts, async (client, workDoneToken) => {
      const partialResultToken = `tzp-${randomUUID()}`;
      const sub = opts.onPartial
        ? client.onProgress(AnalyzePartialResultProgress, partialResultToken, opts.onPartial)
        : undefined;
      try {
        return await client.sendRequest(
          AnalyzeRequest,
          {
            path,
            quick: opts.quick,
            workDoneToken,
            partialResultToken: opts.onPartial ? partialResultToken : undefined,
          },
          token,
        );
      } finally {
        sub?.dispose();
      }
    });
  }

  /** Compares two models (`tensorzip diff A B --json`), streaming each tensor's comparison as it completes. */
  diff(
    a: string,
    b: string,
    opts: { onPartial?: (p: DiffPartialResult) => void } & JobCallbacks,
    token?: vscode.CancellationToken,
  ): Promise<DiffResult> {
    return this.withTokens(opts, async (client, workDoneToken) => {
      const partialResultToken = `tzp-${randomUUID()}`;
      const sub = opts.onPartial
        ? client.onProgress(DiffPartialResultProgress, partialResultToken, opts.onPartial)
        : undefined;
      try {
        return await client.sendRequest(
          DiffRequest,
          { a, b, workDoneToken, partialResultToken: opts.onPartial ? partialResultToken : undefined },
          token,
        );
      } finally {
        sub?.dispose();
      }
    });
  }

  compress(
    params: Omit<CompressParams, 'workDoneToken'>,
    cb: JobCallbacks,
    token?: vscode.CancellationToken,
  ): Promise<CompressResult> {
    return this.withTokens(cb, (client, workDoneToken) =>
      client.sendRequest(CompressRequest, { ...params, workDoneToken }, token),
    );
  }

  decompress(
    params: Omit<DecompressParams, 'workDoneToken'>,
    cb: JobCallbacks,
    token?: vscode.CancellationToken,
  ): Promise<DecompressResult> {
    return this.withTokens(cb, (client, workDoneToken) =>
      client.sendRequest(DecompressRequest, { ...params, workDoneToken }, token),
    );
  }

  verify(
    params: Omit<VerifyParams, 'workDoneToken'>,
    cb: JobCallbacks,
    token?: vscode.CancellationToken,
  ): Promise<VerifyResult> {
    return this.withTokens(cb, (client, workDoneToken) =>
      client.sendRequest(VerifyRequest, { ...params, workDoneToken }, token),
    );
  }

  /** Lossy "what if" table (predicted size and error per k); nothing is written. */
  whatIf(
    params: Omit<WhatIfParams, 'workDoneToken'>,
    cb: JobCallbacks,
    token?: vscode.CancellationToken,
  ): Promise<WhatIfResult> {
    return this.withTokens(cb, (client, workDoneToken) =>
      client.sendRequest(WhatIfRequest, { ...params, workDoneToken }, token),
    );
  }

  /** The inspector's pooled window of one tensor (a light job: never queued behind compress jobs). */
  tensorView(
    params: Omit<TensorViewParams, 'workDoneToken'>,
    cb: JobCallbacks,
    token?: vscode.CancellationToken,
  ): Promise<TensorViewResult> {
    return this.withTokens(cb, (client, workDoneToken) =>
      client.sendRequest(TensorViewRequest, { ...params, workDoneToken }, token),
    );
  }

  async info(path: string, token?: vscode.CancellationToken): Promise<InfoResult> {
    const client = await this.ready();
    try {
      return await client.sendRequest(InfoRequest, { path }, token);
    } catch (e) {
      throw toJobError(e);
    }
  }

  /**
   * Features the server advertises in `initialize` as `capabilities.experimental.tensorzip`
   * (e.g. `{ lossy: true, lossyWhatIf: true }` once the lossy engine lands). Absent = not offered.
   */
  async features(): Promise<ServerFeatures> {
    const c = await this.ready();
    const f =
      (
        c.initializeResult?.capabilities.experimental as
          { tensorzip?: Partial<Record<keyof ServerFeatures, unknown>> } | undefined
      )?.tensorzip ?? {};
    const on = (k: keyof ServerFeatures) => f[k] === true;
    return {
      analyze: on('analyze'),
      compress: on('compress'),
      decompress: on('decompress'),
      verify: on('verify'),
      info: on('info'),
      lossy: on('lossy'),
      lossyWhatIf: on('lossyWhatIf'),
      diff: on('diff'),
    };
  }

  async dispose(): Promise<void> {
    this.jobsChanged.dispose();
    const c = this.client;
    this.client = undefined;
    if (c) await c.stop().catch(() => undefined);
  }
}
