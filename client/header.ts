/**
 * Header-first view of a model: the tensor list from the format's header only (bounded reads
 * through the engine's readers, never the tensor data), so the editor opens instantly whatever
 * the file size. Only `file:` URIs can be read by range from the extension host; other schemes
 * return undefined and the view fills from the server's analysis instead.
 */
import type * as vscode from 'vscode';
import { readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import {
  badInput,
  checkIndex,
  openModel,
  parseIndex,
  readShardStates,
  shardNames,
  type IndexProblem,
  type ModelLayout,
} from '../engine/api';
import { layerOf } from '../shared/layers';
import type { ShardView, TensorRow } from '../protocol/webview';

export interface HeaderView {
  format: string;
  size: number;
  rows: TensorRow[];
  metadata?: Record<string, unknown>;
  files?: string[];
  /** sharded safetensors: each shard with its size and tensor count */
  shards?: ShardView[];
  notes?: string[];
  /** an index's problems from the engine's checkIndex (what the language server publishes), with its text for positions
   * */
  index?: { text: string; problems: IndexProblem[] };
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

export const GGUF_SHAPE_NOTE =
  'Shapes are in GGUF order (ne[0] first, the fastest-varying dimension): the reverse of the PyTorch/NumPy shape.';

/** Reads the header of a local file; throws the engine's TzError for malformed or unsupported files. */
export async function readHeader(uri: vscode.Uri): Promise<HeaderView | undefined> {
  if (uri.scheme !== 'file') return undefined;
  if (SAFETENSORS_INDEX.test(uri.fsPath)) return readIndexHeader(uri.fsPath);
  const layout = await openModel(uri.fsPath);
  const out: HeaderView = { format: layout.format, size: layout.size, rows: rowsFromLayout(layout) };
  if (layout.metadata) out.metadata = layout.metadata;
  if (layout.files) out.files = layout.files;
  if (layout.format === 'gguf') out.notes = [GGUF_SHAPE_NOTE];
  return out;
}

const SAFETENSORS_INDEX = /\.safetensors\.index\.json$/i;
/** the engine's index reader refuses bigger indexes too */
const MAX_INDEX_BYTES = 100 * 1024 * 1024;

/**
 * A sharded model through the engine's checkIndex (the language server's source of the index's
 * problems): the tensors of every readable shard, each shard with its state, so a model with a
 * shard missing is shown in part instead of not at all. Throws only when the index itself is
 * unusable (not JSON, no weight_map).
 */
export async function readIndexHeader(file: string): Promise<HeaderView> {
  const indexSize = (await stat(file)).size;
  if (indexSize > MAX_INDEX_BYTES) throw badInput(file, `index file is ${indexSize} bytes, over the 100 MB limit`);
  const text = await readFile(file, 'utf8');
  const parsed = parseIndex(text);
  const states = await readShardStates(file, shardNames(parsed));
  const check = checkIndex(parsed, states);
  const fatal = check.problems.find(
    (p) => p.code === 'INVALID_JSON' || p.code === 'NOT_AN_OBJECT' || p.code === 'NO_WEIGHT_MAP',
  );
  if (fatal) throw badInput(file, fatal.message);
  const dir = path.dirname(file);
  const out: HeaderView = {
    format: 'safetensors-index',
    size: indexSize,
    rows: [],
    files: [],
    shards: [],
    index: { text, problems: check.problems },
  };
  const meta = parsed.root ? (JSON.parse(text) as Record<string, unknown>).metadata : undefined;
  if (meta && typeof meta === 'object' && !Array.isArray(meta)) out.metadata = meta as Record<string, unknown>;
  // shards the index names, in natural order; an unnamed sibling holds no tensor of this model
  for (const s of check.shards) {
    if (s.mapped === 0) continue;
    const h = states.get(s.name);
    const state = s.state === 'tzip' ? 'compressed' : s.state;
    const view: ShardView = { file: s.name, bytes: s.size ?? null, tensors: s.mapped, state };
    if (s.state === 'tzip') view.message = s.tzipName;
    else if (s.state === 'unreadable' && s.message) view.message = s.message.split('\n')[0];
    out.shards!.push(view);
    if (s.size !== undefined) out.size += s.size;
    if (h?.state === 'present') out.files!.push(path.join(dir, s.name));
    if (h?.state === 'present' || h?.state === 'tzip') {
      // storage order within each shard (the header readers list tensors by offset)
      for (const t of h.tensors)
        out.rows.push({
          name: t.name,
          dtype: t.dtype,
          shape: t.shape,
          bytes: t.bytes,
          layer: layerOf(t.name),
          boundBytes: null,
          exponentEntropy: null,
          shard: s.name,
        });
    }
  }
  return out;
}
