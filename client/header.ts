/**
 * Header-first view of a model: the tensor list from the format's header only (bounded reads
 * through the engine's readers, never the tensor data), so the editor opens instantly whatever
 * the file size. Only `file:` URIs can be read by range from the extension host; other schemes
 * return undefined and the view fills from the server's analysis instead.
 */
import type * as vscode from 'vscode';
import { openModel } from '../engine/formats/index';
import { layerOf } from '../engine/analysis/layers';
import type { TensorRow } from '../protocol/webview';
import type { ModelLayout } from '../engine/formats/types';

export interface HeaderView {
  format: string;
  size: number;
  rows: TensorRow[];
  metadata?: Record<string, unknown>;
  files?: string[];
}

export function rowsFromLayout(layout: ModelLayout): TensorRow[] {
  return layout.tensors.map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    bytes: t.bytes,
    layer: layerOf(t.name),
    boundBytes: null,
    exponentEntropy: null,
  }));
}

/** Reads the header of a local file; throws the engine's TzError for malformed or unsupported files. */
export async function readHeader(uri: vscode.Uri): Promise<HeaderView | undefined> {
  if (uri.scheme !== 'file') return undefined;
  const layout = await openModel(uri.fsPath);
  const out: HeaderView = { format: layout.format, size: layout.size, rows: rowsFromLayout(layout) };
  if (layout.metadata) out.metadata = layout.metadata;
  if (layout.files) out.files = layout.files;
  return out;
}
