/**
 * A transformers `config.json` against the weights beside it (their headers): `torch_dtype` (or
 * `dtype`, its newer name) against the dominant floating-point dtype, and, for LLaMA-style
 * decoder configs, the parameter count the config implies against the weights' count. Pure; the
 * caller reads the headers. Problems use the index check's types (ranges into the config text).
 */
import { parseTree, type Node } from 'jsonc-parser';
import { elementCount, isFloat } from '../core/dtypes';
import type { IndexProblem, JsonRange, ShardTensor } from './indexCheck';

export type ConfigProblemCode = 'TORCH_DTYPE_MISMATCH' | 'PARAM_COUNT';

export interface ConfigProblem extends Omit<IndexProblem, 'code'> {
  code: ConfigProblemCode;
}

/** torch dtype names (as config.json writes them) to safetensors dtypes (no prototype: a config's
 *  "toString" finds nothing). */
export const TORCH_DTYPES: Record<string, string> = Object.setPrototypeOf(
  {
    float32: 'F32',
    float: 'F32',
    float16: 'F16',
    half: 'F16',
    bfloat16: 'BF16',
    float64: 'F64',
    double: 'F64',
    float8_e4m3fn: 'F8_E4M3',
    float8_e5m2: 'F8_E5M2',
  },
  null,
);

/** The parameter count may differ from the config's by this fraction before it is reported. */
export const PARAM_TOLERANCE = 0.1;

/** Decoder families whose weights follow the LLaMA layout (q/k/v/o attention, gated 3-matrix MLP). */
const LLAMA_STYLE =
  /^(llama|mistral|mixtral|qwen2|qwen2_moe|qwen3|qwen3_moe|gemma|gemma2|gemma3_text|phi3|olmo2|granite|cohere|internlm2|yi|deepseek)$/;

export interface WeightsSummary {
  parameters: number;
  bytes: number;
  /** bytes per dtype */
  dtypeBytes: Record<string, number>;
  /** floating-point dtype holding the most bytes (undefined when there are no float tensors) */
  dominantFloat?: string;
}

export function summarizeWeights(tensors: readonly ShardTensor[]): WeightsSummary {
  let parameters = 0;
  let bytes = 0;
  const dtypeBytes: Record<string, number> = {};
  for (const t of tensors) {
    const n = elementCount(t.shape);
    if (Number.isFinite(n)) parameters += n;
    bytes += t.bytes;
    dtypeBytes[t.dtype] = (dtypeBytes[t.dtype] ?? 0) + t.bytes;
  }
  let dominantFloat: string | undefined;
  for (const [d, b] of Object.entries(dtypeBytes))
    if (isFloat(d) && (dominantFloat === undefined || b > dtypeBytes[dominantFloat]!)) dominantFloat = d;
  return { parameters, bytes, dtypeBytes, ...(dominantFloat ? { dominantFloat } : {}) };
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined);

/**
 * Parameters a LLaMA-style config implies (embeddings, attention with grouped KV heads, gated MLP
 * with optional experts, norms, untied head); undefined when a size is missing.
 */
export function impliedParameters(cfg: Record<string, unknown>): number | undefined {
  const h = num(cfg.hidden_size);
  const L = num(cfg.num_hidden_layers);
  const V = num(cfg.vocab_size);
  const I = num(cfg.intermediate_size) ?? num(cfg.moe_intermediate_size);
  const nH = num(cfg.num_attention_heads);
  if (!h || !L || !V || !I || !nH) return undefined;
  const nKV = num(cfg.num_key_value_heads) ?? nH;
  const hd = num(cfg.head_dim) ?? h / nH;
  const experts = num(cfg.num_local_experts) ?? num(cfg.num_experts) ?? 1;
  const attn = h * nH * hd + 2 * h * nKV * hd + nH * hd * h;
  const mlp = experts * 3 * h * I + (experts > 1 ? h * experts : 0);
  const tied =
    typeof cfg.tie_word_embeddings === 'boolean' ? cfg.tie_word_embeddings : /^gemma/.test(String(cfg.model_type));
  return V * h * (tied ? 1 : 2) + L * (attn + mlp + 2 * h) + h;
}

function props(root: Node | undefined): Map<string, { key: JsonRange; value: Node }> {
  const out = new Map<string, { key: JsonRange; value: Node }>();
  if (root?.type !== 'object') return out;
  for (const p of root.children ?? []) {
    const [k, v] = p.children ?? [];
    if (k && v && typeof k.value === 'string')
      out.set(k.value, { key: { offset: k.offset, length: k.length }, value: v });
  }
  return out;
}

const billions = (n: number) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : String(n);

/**
 * Checks a config.json text against the weights' tensors (`weightsLabel` names them in messages,
 * e.g. `model.safetensors` or `3 shards`). Syntax errors yield no problems here: a JSON editor
 * already reports them, and config.json is not the server's own format.
 */
export function checkConfig(text: string, tensors: readonly ShardTensor[], weightsLabel: string): ConfigProblem[] {
  const root = parseTree(text);
  const p = props(root);
  if (!root || root.type !== 'object' || tensors.length === 0) return [];
  const cfg: Record<string, unknown> = {};
  for (const [k, v] of p) cfg[k] = v.value.type === 'object' || v.value.type === 'array' ? {} : v.value.value;
  const w = summarizeWeights(tensors);
  const problems: ConfigProblem[] = [];

  const dtypeKey = p.has('torch_dtype') ? 'torch_dtype' : 'dtype';
  const dtypeProp = p.get(dtypeKey);
  const declared = dtypeProp?.value.type === 'string' ? TORCH_DTYPES[String(dtypeProp.value.value)] : undefined;
  // quantized checkpoints store packed integers with a float compute dtype: not comparable
  if (dtypeProp && declared && w.dominantFloat && !p.has('quantization_config') && declared !== w.dominantFloat) {
    const share = Math.round((100 * w.dtypeBytes[w.dominantFloat]!) / w.bytes);
    problems.push({
      code: 'TORCH_DTYPE_MISMATCH',
      severity: 'warning',
      message:
        `${dtypeKey} is "${dtypeProp.value.value}" but the weights (${weightsLabel}) are mostly ` +
        `${w.dominantFloat} (${share}% of tensor bytes` +
        (w.dtypeBytes[declared]
          ? `, ${declared} ${Math.round((100 * w.dtypeBytes[declared]!) / w.bytes)}%`
          : `, no ${declared} tensors`) +
        ')',
      range: { offset: dtypeProp.value.offset, length: dtypeProp.value.length },
    });
  }

  const implied = LLAMA_STYLE.test(String(cfg.model_type ?? '')) ? impliedParameters(cfg) : undefined;
  const anchor = p.get('hidden_size');
  if (implied !== undefined && anchor && w.parameters > 0) {
    const off = w.parameters / implied - 1;
    if (Math.abs(off) > PARAM_TOLERANCE) {
      problems.push({
        code: 'PARAM_COUNT',
        severity: 'warning',
        message:
          `config implies about ${billions(implied)} parameters (hidden_size ${cfg.hidden_size}, ` +
          `${cfg.num_hidden_layers} layers, vocab ${cfg.vocab_size}) but the weights (${weightsLabel}) ` +
          `have ${billions(w.parameters)} (${off > 0 ? '+' : ''}${Math.round(off * 100)}%)`,
        range: anchor.key,
      });
    }
  }
  return problems;
}
