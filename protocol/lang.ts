/**
 * The language-feature vocabulary of the TensorZip server (server/lang/): which files it serves,
 * what a client may announce in `initializationOptions.lang`, the client commands its CodeLenses
 * name, and the tensor URI that go-to-definition and workspace symbols point at. Shared by the
 * server, the VS Code client, the webview host and the tests. No runtime dependencies.
 */

/** Files the server offers language features for (glob patterns, as editors take them). */
export const LANG_FILE_PATTERNS = ['**/*.safetensors.index.json', '**/*.index.json', '**/config.json'] as const;

/** Model files whose headers feed workspace symbols (and whose changes re-check open indexes). */
export const LANG_MODEL_GLOB = '**/*.{safetensors,gguf,tzip}';

/** Diagnostic `source` of every problem the server publishes. */
export const DIAGNOSTIC_SOURCE = 'tensorzip';

/** `initializationOptions.lang`: what the client can do beyond plain LSP (all default false). */
export interface LangClientOptions {
  /** the client runs the CodeLens commands below (the VS Code extension); other editors get no lenses */
  clientCommands?: boolean;
  /** the client opens `tensorUri()` locations in the model viewer with the tensor selected */
  tensorUris?: boolean;
}

/**
 * Client commands named by the index's CodeLenses (the extension's own commands). Arguments are
 * JSON: file URIs as strings, `[first, all]` as the Explorer passes `(clicked, selected)`; the
 * client turns them into `vscode.Uri`s before running the command.
 */
export const LensCommands = {
  openModelView: 'tensorzip.openModelView',
  compress: 'tensorzip.compress',
  verify: 'tensorzip.verify',
} as const;

export type LensCommandArgs = [first: string, all: string[]];

export const TENSOR_FRAGMENT = 'tensor=';

/** A model file URI with the tensor to select: `file:///m/shard.safetensors#tensor=<name, encoded>`. */
export function tensorUri(fileUri: string, tensor: string): string {
  return `${fileUri.replace(/#.*$/, '')}#${TENSOR_FRAGMENT}${encodeURIComponent(tensor)}`;
}

/** Splits a `tensorUri()` into the file URI and the tensor name; undefined for any other URI. */
export function parseTensorUri(uri: string): { file: string; tensor: string } | undefined {
  const i = uri.indexOf('#' + TENSOR_FRAGMENT);
  if (i < 0) return undefined;
  try {
    return { file: uri.slice(0, i), tensor: decodeURIComponent(uri.slice(i + 1 + TENSOR_FRAGMENT.length)) };
  } catch {
    return undefined;
  }
}

/** The tensor named by a URI fragment (`vscode.Uri.fragment`, already decoded), if it is one. */
export function tensorFromFragment(fragment: string): string | undefined {
  return fragment.startsWith(TENSOR_FRAGMENT) ? fragment.slice(TENSOR_FRAGMENT.length) : undefined;
}
