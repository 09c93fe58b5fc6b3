import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkConfig, impliedParameters, summarizeWeights } from '../../engine/formats/configCheck';
import type { ShardTensor } from '../../engine/formats/indexCheck';

const LLAMA2_7B = {
  model_type: 'llama',
  hidden_size: 4096,
  intermediate_size: 11008,
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 32,
  vocab_size: 32000,
  tie_word_embeddings: false,
  torch_dtype: 'float16',
};
const MISTRAL_7B = {
  model_type: 'mistral',
  hidden_size: 4096,
  intermediate_size: 14336,
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  vocab_size: 32000,
  torch_dtype: 'bfloat16',
};

/** The tensors a LLaMA-style checkpoint of `cfg` holds (shapes only; bytes from the dtype). */
function llamaWeights(c: typeof MISTRAL_7B, dtype = 'BF16'): ShardTensor[] {
  const h = c.hidden_size,
    hd = h / c.num_attention_heads,
    kv = c.num_key_value_heads * hd,
    I = c.intermediate_size,
    V = c.vocab_size;
  const t = (name: string, shape: number[]): ShardTensor => ({
    name,
    dtype,
    shape,
    bytes: shape.reduce((a, b) => a * b, 1) * 2,
  });
  const out = [t('model.embed_tokens.weight', [V, h]), t('model.norm.weight', [h]), t('lm_head.weight', [V, h])];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    out.push(
      t(`model.layers.${l}.self_attn.q_proj.weight`, [h, h]),
      t(`model.layers.${l}.self_attn.k_proj.weight`, [kv, h]),
      t(`model.layers.${l}.self_attn.v_proj.weight`, [kv, h]),
      t(`model.layers.${l}.self_attn.o_proj.weight`, [h, h]),
    );
    out.push(
      t(`model.layers.${l}.mlp.gate_proj.weight`, [I, h]),
      t(`model.layers.${l}.mlp.up_proj.weight`, [I, h]),
      t(`model.layers.${l}.mlp.down_proj.weight`, [h, I]),
    );
    out.push(
      t(`model.layers.${l}.input_layernorm.weight`, [h]),
      t(`model.layers.${l}.post_attention_layernorm.weight`, [h]),
    );
  }
  return out;
}

describe('config check', () => {
  test('implied parameters match the published counts', () => {
    assert.equal(impliedParameters(LLAMA2_7B), 6_738_415_616);
    assert.equal(impliedParameters(MISTRAL_7B), 7_241_732_096);
    assert.equal(impliedParameters({ ...LLAMA2_7B, tie_word_embeddings: true }), 6_738_415_616 - 32000 * 4096);
    assert.equal(impliedParameters({ hidden_size: 8 }), undefined);
  });

  test('a config that describes its weights has no problems; the weights count equals the formula', () => {
    const w = llamaWeights(MISTRAL_7B);
    assert.equal(summarizeWeights(w).parameters, 7_241_732_096);
    assert.deepEqual(checkConfig(JSON.stringify(MISTRAL_7B), w, 'model.safetensors'), []);
  });

  test('torch_dtype (or dtype) against the dominant float dtype, on the value', () => {
    const text = JSON.stringify(LLAMA2_7B, null, 2);
    const w = llamaWeights(LLAMA2_7B as typeof MISTRAL_7B);
    const p = checkConfig(text, w, '2 shards');
    assert.deepEqual(
      p.map((x) => x.code),
      ['TORCH_DTYPE_MISMATCH'],
    );
    assert.equal(text.slice(p[0]!.range.offset, p[0]!.range.offset + p[0]!.range.length), '"float16"');
    assert.match(
      p[0]!.message,
      /torch_dtype is "float16" but the weights \(2 shards\) are mostly BF16 \(100% of tensor bytes, no F16 tensors\)/,
    );
    const { torch_dtype: _, ...rest } = LLAMA2_7B;
    assert.match(checkConfig(JSON.stringify({ ...rest, dtype: 'float32' }), w, 'x')[0]!.message, /^dtype is "float32"/);
    assert.deepEqual(
      checkConfig(JSON.stringify({ ...LLAMA2_7B, quantization_config: { bits: 4 } }), w, 'x'),
      [],
      'quantized: not comparable',
    );
    assert.deepEqual(checkConfig(JSON.stringify({ ...LLAMA2_7B, torch_dtype: 'auto' }), w, 'x'), []);
  });

  test('parameter count far from the config: a warning on hidden_size; within 10% is quiet', () => {
    const w = llamaWeights(MISTRAL_7B).filter((t) => !/layers\.(2[4-9]|3\d)\./.test(t.name)); // 24 of 32 layers
    const text = JSON.stringify(MISTRAL_7B);
    const p = checkConfig(text, w, 'model.safetensors');
    assert.deepEqual(
      p.map((x) => x.code),
      ['PARAM_COUNT'],
    );
    assert.equal(text.slice(p[0]!.range.offset, p[0]!.range.offset + p[0]!.range.length), '"hidden_size"');
    assert.match(
      p[0]!.message,
      /config implies about 7\.24 B parameters \(hidden_size 4096, 32 layers, vocab 32000\) but the weights \(model\.safetensors\) have 5\.50 B \(-24%\)/,
    );
    const nearly = llamaWeights(MISTRAL_7B).filter((t) => !/layers\.31\./.test(t.name)); // -3%
    assert.deepEqual(checkConfig(text, nearly, 'x'), []);
    assert.deepEqual(
      checkConfig(JSON.stringify({ ...MISTRAL_7B, model_type: 'bert' }), w, 'x'),
      [],
      'only LLaMA-style families are estimated',
    );
  });
});
