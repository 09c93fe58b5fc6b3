/** Test helpers: a sharded safetensors model on disk (small real shards plus their index.json). */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { safetensorsBytes, type RawTensor } from './safetensors';

export interface ShardSpec {
  /** tensors of each shard: [name, dtype, shape] */
  tensors: [string, string, number[]][];
}

export interface ShardedModel {
  dir: string;
  index: string;
  shardNames: string[];
  /** weight_map as written */
  weightMap: Record<string, string>;
  totalSize: number;
}

const SIZES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, U8: 1, I8: 1 };

export function shardName(i: number, n: number, prefix = 'model'): string {
  return `${prefix}-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
}

/** Deterministic tensor bytes (a small ramp); contents do not matter for header checks. */
function bytesFor(dtype: string, shape: number[]): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1) * (SIZES[dtype] ?? 1);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 37 + 11) & 0x3f;
  return out;
}

/** LLaMA-style tensor names for layer `l`, small shapes. */
export function layerTensors(l: number, hidden = 8, dtype = 'BF16'): [string, string, number[]][] {
  return [
    [`model.layers.${l}.self_attn.q_proj.weight`, dtype, [hidden, hidden]],
    [`model.layers.${l}.self_attn.k_proj.weight`, dtype, [hidden, hidden]],
    [`model.layers.${l}.mlp.down_proj.weight`, dtype, [hidden, 2 * hidden]],
    [`model.layers.${l}.input_layernorm.weight`, dtype, [hidden]],
  ];
}

/**
 * Writes the shards and an index (2-space indented, as transformers writes it). `edit` may change
 * the weight_map / total_size before the index is written, to make it inconsistent on purpose.
 */
export function writeShardedModel(
  dir: string,
  shards: ShardSpec[],
  opts: {
    prefix?: string;
    indexName?: string;
    edit?: (index: { metadata: { total_size: number }; weight_map: Record<string, string> }) => void;
    skipShards?: number[];
  } = {},
): ShardedModel {
  mkdirSync(dir, { recursive: true });
  const names = shards.map((_, i) => shardName(i, shards.length, opts.prefix));
  const weightMap: Record<string, string> = {};
  let total = 0;
  shards.forEach((s, i) => {
    const raw: RawTensor[] = s.tensors.map(([name, dtype, shape]) => ({
      name,
      dtype,
      shape,
      data: bytesFor(dtype, shape),
    }));
    for (const t of raw) {
      weightMap[t.name] = names[i]!;
      total += t.data.length;
    }
    if (!opts.skipShards?.includes(i))
      writeFileSync(path.join(dir, names[i]!), safetensorsBytes(raw, { metadata: { format: 'pt' } }));
  });
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(weightMap).sort()) sorted[k] = weightMap[k]!;
  const index = { metadata: { total_size: total }, weight_map: sorted };
  opts.edit?.(index);
  const file = path.join(dir, opts.indexName ?? `${opts.prefix ?? 'model'}.safetensors.index.json`);
  writeFileSync(file, JSON.stringify(index, null, 2) + '\n');
  return { dir, index: file, shardNames: names, weightMap: index.weight_map, totalSize: total };
}
