/**
 * Header-first view of a model: the tensor list from the format's header only (bounded reads
 * through the engine's readers, never the tensor data), so the editor opens instantly whatever
 * the file size. Only `file:` URIs can be read by range from the extension host; other schemes
 * return undefined and the view fills from the server's analysis instead.
 */
import type * as vscode from 'vscode';
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { openModel } from '../engine/formats/index';
import { layerOf } from '../shared/layers';
import type { ShardView, TensorRow } from '../protocol/webview';
import type { ModelLayout } from '../engine/formats/types';

export interface HeaderView {
  format: string;
  size: number;
  rows: TensorRow[];
  metadata?: Record<string, unknown>;
  files?: string[];
  /** sharded safetensors: each shard with its size and tensor count */
  shards?: ShardView[];
  notes?: string[];
}

/** Rows in storage order (the readers list tensors by offset within each file). */
export function rowsFromLayout(layout: ModelLayout): TensorRow[] {
  const dir = path.dirname(layout.path);
  return layout.tensors.map((t) => {
    const r: TensorRow = {
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      bytes: t.bytes,
      layer: layerOf(t.name),
      boundBytes: null,
      exponentEntropy: null,
    };
    if (layout.format === 'safetensors-index' && t.file) r.shard = path.relative(dir, t.file);
    return r;
  });
}

export const GGUF_SHAPE_NOTE = 'Shapes are in GGUF order (ne[0] first, the fastest-varying dimension): the reverse of the PyTorch/NumPy shape.';

/** Reads the header of a local file; throws the engine's TzError for malformed or unsupported files. */
export async function readHeader(uri: vscode.Uri): Promise<HeaderView | undefined> {
  if (uri.scheme !== 'file') return undefined;
  const layout = await openModel(uri.fsPath);
  const out: HeaderView = { format: layout.format, size: layout.size, rows: rowsFromLayout(layout) };
  if (layout.metadata) out.metadata = layout.metadata;
  if (layout.files) out.files = layout.files;
  if (layout.format === 'gguf') out.notes = [GGUF_SHAPE_NOTE];
  if (layout.format === 'safetensors-index' && layout.files) {
    const dir = path.dirname(layout.path);
    const counts = new Map<string, number>();
    for (const r of out.rows) if (r.shard) counts.set(r.shard, (counts.get(r.shard) ?? 0) + 1);
    out.shards = [];
    // the model's size is its shards' and the index's
    for (const f of layout.files) {
      const bytes = (await stat(f)).size;
      const file = path.relative(dir, f);
      out.shards.push({ file, bytes, tensors: counts.get(file) ?? 0, state: 'present' });
      out.size += bytes;
    }
  }
  return out;
}
