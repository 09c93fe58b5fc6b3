/**
 * Language features of the TensorZip server for the files ML engineers edit beside their weights
 * (`*.safetensors.index.json`, `*.index.json` with a weight_map, `config.json` beside weights):
 * diagnostics from the engine's checks, hover, links, definition, CodeLens, document and
 * workspace symbols, quick fixes. Documents are checked from the editor's text, re-checked on
 * change (debounced) and when model files change on disk (`workspace/didChangeWatchedFiles`,
 * registered dynamically where the client allows it).
 */
import { fileURLToPath } from 'node:url';
import {
  CodeActionKind,
  DidChangeWatchedFilesNotification,
  DidChangeWorkspaceFoldersNotification,
  TextDocuments,
  TextDocumentSyncKind,
  type Connection,
  type InitializeParams,
  type ServerCapabilities,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { LANG_MODEL_GLOB, type LangClientOptions } from '../../protocol/lang';
import { codeLenses } from './codelens';
import { diagnosticsFor } from './diagnostics';
import { JobFacts } from './facts';
import { HeaderCache } from './headerCache';
import { hoverAt } from './hover';
import { definition, documentLinks } from './links';
import { DocModels, fsPathOf } from './model';
import { codeActions } from './quickfix';
import { documentSymbols } from './symbols';
import { WorkspaceSymbols } from './workspaceSymbols';

/** Re-check delay after an edit: typing produces one check per pause, not one per keystroke. */
export const CHECK_DEBOUNCE_MS = 150;

export interface LanguageFeatures {
  /** the capabilities to merge into the initialize result */
  initialize(params: InitializeParams): ServerCapabilities;
  initialized(): void;
  facts: JobFacts;
}

function folderPaths(params: { workspaceFolders?: { uri: string }[] | null; rootUri?: string | null }): string[] {
  const uris = params.workspaceFolders?.map((f) => f.uri) ?? (params.rootUri ? [params.rootUri] : []);
  return uris.flatMap((u) => {
    const p = u.startsWith('file:') ? fileURLToPath(u) : undefined;
    return p ? [p] : [];
  });
}

export function registerLanguageFeatures(connection: Connection, log: (line: string) => void): LanguageFeatures {
  const documents = new TextDocuments(TextDocument);
  const headers = new HeaderCache();
  const models = new DocModels(headers);
  const facts = new JobFacts();
  let client: LangClientOptions = {};
  let watching = false;
  let dynamicWatch = false;
  let currentRoots: string[] = [];
  const symbols = new WorkspaceSymbols([], headers, {
    watched: () => watching,
    tensorUris: () => client.tensorUris === true,
    log,
  });

  const timers = new Map<string, NodeJS.Timeout>();
  const publish = async (doc: TextDocument) => {
    try {
      const model = await models.get(doc);
      // an answer for an outdated version or a closed document is dropped
      if (documents.get(doc.uri)?.version !== doc.version) return;
      await connection.sendDiagnostics({ uri: doc.uri, version: doc.version, diagnostics: diagnosticsFor(doc, model) });
    } catch (e) {
      log(`check ${doc.uri}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const schedule = (doc: TextDocument, delay: number) => {
    clearTimeout(timers.get(doc.uri));
    timers.set(
      doc.uri,
      setTimeout(() => {
        timers.delete(doc.uri);
        void publish(doc);
      }, delay),
    );
  };

  documents.onDidOpen((e) => schedule(e.document, 0));
  documents.onDidChangeContent((e) => schedule(e.document, CHECK_DEBOUNCE_MS));
  documents.onDidSave((e) => {
    models.invalidate(); // clients without file watching still see disk changes on save
    schedule(e.document, 0);
  });
  documents.onDidClose((e) => {
    clearTimeout(timers.get(e.document.uri));
    timers.delete(e.document.uri);
    models.forget(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onNotification(DidChangeWatchedFilesNotification.type, (p) => {
    for (const c of p.changes) {
      const f = fsPathOf(c.uri);
      if (!f) continue;
      headers.forget(f);
      facts.forget(f);
    }
    if (p.changes.some((c) => c.type !== 2 /* changed */)) symbols.filesChanged();
    models.invalidate();
    for (const d of documents.all()) schedule(d, CHECK_DEBOUNCE_MS);
  });
  connection.onNotification(DidChangeWorkspaceFoldersNotification.type, (p) => {
    const gone = new Set(folderPaths({ workspaceFolders: p.event.removed }));
    currentRoots = [...currentRoots.filter((r) => !gone.has(r)), ...folderPaths({ workspaceFolders: p.event.added })];
    symbols.setRoots(currentRoots);
  });

  const withModel = async <R>(
    uri: string,
    empty: R,
    fn: (doc: TextDocument, m: Awaited<ReturnType<DocModels['get']>>) => R,
  ): Promise<R> => {
    const doc = documents.get(uri);
    if (!doc) return empty;
    return fn(doc, await models.get(doc));
  };

  connection.onHover((p) =>
    withModel(p.textDocument.uri, null, (doc, m) => hoverAt(doc, m, doc.offsetAt(p.position), facts)),
  );
  connection.onDefinition((p) =>
    withModel(p.textDocument.uri, null, (doc, m) =>
      definition(doc, m, doc.offsetAt(p.position), client.tensorUris === true),
    ),
  );
  connection.onDocumentLinks((p) => withModel(p.textDocument.uri, [], (doc, m) => documentLinks(doc, m)));
  connection.onCodeLens((p) =>
    withModel(p.textDocument.uri, [], (doc, m) => (client.clientCommands ? codeLenses(doc, m) : [])),
  );
  connection.onDocumentSymbol((p) => withModel(p.textDocument.uri, [], (doc, m) => documentSymbols(doc, m)));
  connection.onCodeAction((p) =>
    withModel(p.textDocument.uri, [], (doc, m) => codeActions(doc, m, p.context.diagnostics)),
  );
  connection.onWorkspaceSymbol((p, token) => symbols.query(p.query, token));

  documents.listen(connection);

  return {
    facts,
    initialize(params) {
      const opts = (params.initializationOptions as { lang?: LangClientOptions } | undefined)?.lang;
      client = { clientCommands: opts?.clientCommands === true, tensorUris: opts?.tensorUris === true };
      currentRoots = folderPaths(params);
      symbols.setRoots(currentRoots);
      dynamicWatch = params.capabilities?.workspace?.didChangeWatchedFiles?.dynamicRegistration === true;
      return {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: { includeText: false } },
        hoverProvider: true,
        definitionProvider: true,
        documentLinkProvider: { resolveProvider: false },
        codeLensProvider: { resolveProvider: false },
        documentSymbolProvider: true,
        workspaceSymbolProvider: true,
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
        workspace: { workspaceFolders: { supported: true, changeNotifications: true } },
      };
    },
    initialized() {
      if (!dynamicWatch) return;
      const watchers = [{ globPattern: LANG_MODEL_GLOB }, { globPattern: '**/*.index.json' }];
      connection.client.register(DidChangeWatchedFilesNotification.type, { watchers }).then(
        () => (watching = true),
        (e: unknown) => log(`file watching not available: ${e instanceof Error ? e.message : String(e)}`),
      );
    },
  };
}
