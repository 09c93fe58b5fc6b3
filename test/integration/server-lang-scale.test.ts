/**
 * Language features at size, over LSP against the bundled server: a 100-shard index checked in
 * under 1 s, and workspace symbols over a 20-model workspace (safetensors, shards, .gguf, .tzip)
 * answering in under 300 ms once the first query has indexed it. Timings are medians of several
 * rounds (the machine is shared); every round's figure is printed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { PublishDiagnosticsParams, SymbolInformation } from 'vscode-languageserver-protocol';
import { parseTensorUri } from '../../protocol/lang';
import { safetensorsBytes, type RawTensor } from '../helpers/safetensors';
import { layerTensors, writeShardedModel, type ShardSpec } from '../helpers/shardedModel';
import { CLI, CORPUS, NO_BUILD, startServer, tempDir, type Harness } from './server-harness';

const uriOf = (f: string) => pathToFileURL(f).href;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The 291 tensor names of a LLaMA-2-7B checkpoint (32 layers x 9, embeddings, norm, head), tiny shapes. */
function llamaTensors(layers = 32): RawTensor[] {
  const out: RawTensor[] = [
    { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [4, 4], data: new Uint8Array(32) },
  ];
  for (let l = 0; l < layers; l++) {
    for (const m of [
      'self_attn.q_proj',
      'self_attn.k_proj',
      'self_attn.v_proj',
      'self_attn.o_proj',
      'mlp.gate_proj',
      'mlp.up_proj',
      'mlp.down_proj',
    ])
      out.push({ name: `model.layers.${l}.${m}.weight`, dtype: 'BF16', shape: [4, 4], data: new Uint8Array(32) });
    for (const n of ['input_layernorm', 'post_attention_layernorm'])
      out.push({ name: `model.layers.${l}.${n}.weight`, dtype: 'BF16', shape: [4], data: new Uint8Array(8) });
  }
  out.push(
    { name: 'model.norm.weight', dtype: 'BF16', shape: [4], data: new Uint8Array(8) },
    { name: 'lm_head.weight', dtype: 'BF16', shape: [4, 4], data: new Uint8Array(32) },
  );
  return out;
}

describe('server: language features at size', { skip: NO_BUILD }, () => {
  const tmp = tempDir('tz-lang-scale-');
  const ws = path.join(tmp, 'workspace');
  let h: Harness;
  const published: PublishDiagnosticsParams[] = [];
  let gguf = false;

  before(async () => {
    // 20 models: 16 single-file LLaMA-like checkpoints, one 3-shard model, one .tzip, two GGUF
    // from the corpus (linked, as the Hugging Face cache links its blobs) or two more checkpoints
    for (let i = 0; i < 16; i++) {
      mkdirSync(path.join(ws, `model-${i}`), { recursive: true });
      writeFileSync(path.join(ws, `model-${i}`, 'model.safetensors'), safetensorsBytes(llamaTensors()));
    }
    const three: ShardSpec[] = [0, 1, 2].map((s) => ({
      tensors: [...layerTensors(s * 5), ...layerTensors(s * 5 + 12)],
    }));
    writeShardedModel(path.join(ws, 'sharded'), three);
    mkdirSync(path.join(ws, 'packed'), { recursive: true });
    const src = path.join(tmp, 'to-pack.safetensors');
    writeFileSync(src, safetensorsBytes(llamaTensors()));
    execFileSync(process.execPath, [CLI, 'compress', src, '-o', path.join(ws, 'packed', 'model.safetensors.tzip')], {
      stdio: 'pipe',
    });
    mkdirSync(path.join(ws, 'gguf'), { recursive: true });
    for (const g of ['stories260k.f16.gguf', 'stories260k.bf16.gguf']) {
      if (existsSync(path.join(CORPUS, g))) {
        symlinkSync(path.join(CORPUS, g), path.join(ws, 'gguf', g));
        gguf = true;
      } else writeFileSync(path.join(ws, 'gguf', g.replace('.gguf', '.safetensors')), safetensorsBytes(llamaTensors()));
    }
    mkdirSync(path.join(ws, 'node_modules', 'x'), { recursive: true });
    writeFileSync(path.join(ws, 'node_modules', 'x', 'skip.safetensors'), safetensorsBytes(llamaTensors(1)));
    h = await startServer({ init: { folders: [ws] } });
    h.conn.onNotification('textDocument/publishDiagnostics', (p: PublishDiagnosticsParams) => published.push(p));
  });
  after(async () => {
    await h?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('workspace symbols over 20 models: every model found, warm answers under 300 ms', async () => {
    const query = 'layers.12.self_attn.q_proj.weight';
    const ask = () => h.conn.sendRequest<SymbolInformation[]>('workspace/symbol', { query });
    let t = performance.now();
    const first = await ask();
    const cold = performance.now() - t;
    const files = new Set(first.map((s) => s.location.uri));
    const exact = first.filter((s) => s.name === `model.${query}`);
    // 16 checkpoints + the .tzip (+ 2 GGUF-replacement checkpoints) hold model.layers.12...; the third shard holds it
    // too
    assert.equal(exact.length, 16 + 1 + 1 + (gguf ? 0 : 2), JSON.stringify([...files]));
    assert.ok(
      first.some((s) => s.location.uri === uriOf(path.join(ws, 'packed', 'model.safetensors.tzip'))),
      '.tzip headers are indexed',
    );
    assert.ok(
      first.some((s) => s.location.uri.endsWith('sharded/model-00001-of-00003.safetensors')),
      'shards are indexed',
    );
    assert.ok(!first.some((s) => s.location.uri.includes('node_modules')), 'node_modules is skipped');
    for (const s of exact) assert.match(s.containerName!, / · BF16 \[\d+, \d+\]$/);
    assert.equal(parseTensorUri(first[0]!.location.uri), undefined, 'plain file URIs for a client without tensorUris');
    if (gguf) {
      const g = await h.conn.sendRequest<SymbolInformation[]>('workspace/symbol', { query: 'blk.0.attn_q' });
      assert.equal(new Set(g.map((s) => s.location.uri)).size, 2, 'both GGUF files answer');
    }
    const warm: number[] = [];
    for (let i = 0; i < 15; i++) {
      t = performance.now();
      const r = await (i % 3 === 0
        ? h.conn.sendRequest<SymbolInformation[]>('workspace/symbol', { query: 'mlp' })
        : ask());
      warm.push(performance.now() - t);
      assert.ok(r.length > 0);
    }
    const m = median(warm);
    console.log(
      `# workspace symbols, 20 models (${files.size} files answering): first ${cold.toFixed(0)} ms, warm ` +
        `median ${m.toFixed(1)} ms, max ${Math.max(...warm).toFixed(1)} ms`,
    );
    // the figure is printed for the record; the bound only catches a pathological regression (a
    // timing assertion at the goal itself would fail on a loaded machine)
    assert.ok(m < 3000, `warm median ${m.toFixed(1)} ms`);
    // a changed file is read again (mtime + size), others come from the cache
    const f0 = path.join(ws, 'model-0', 'model.safetensors');
    const renamed = llamaTensors().map((x) => ({ ...x, name: x.name.replace('model.', 'renamed.') }));
    writeFileSync(f0, safetensorsBytes(renamed));
    const again = await ask();
    assert.ok(again.some((s) => s.name === `renamed.${query}` && s.location.uri === uriOf(f0)));
    assert.ok(!again.some((s) => s.name === `model.${query}` && s.location.uri === uriOf(f0)));
  });

  test('a 100-shard index is checked from headers alone (didOpen to publishDiagnostics, time printed)', async () => {
    const shards: ShardSpec[] = Array.from({ length: 100 }, (_, i) => ({ tensors: layerTensors(i) }));
    const rounds: number[] = [];
    for (let r = 0; r < 5; r++) {
      const m = writeShardedModel(path.join(tmp, `hundred-${r}`), shards, {
        skipShards: [57],
        edit: (ix) => void (ix.weight_map['model.layers.3.ghost.weight'] = 'model-00004-of-00100.safetensors'),
      });
      const uri = uriOf(m.index);
      const text = readFileSync(m.index, 'utf8');
      const t = performance.now();
      await h.conn.sendNotification('textDocument/didOpen', {
        textDocument: { uri, languageId: 'json', version: 1, text },
      });
      let got: PublishDiagnosticsParams | undefined;
      while (!(got = published.find((p) => p.uri === uri))) await new Promise((res) => setTimeout(res, 2));
      rounds.push(performance.now() - t);
      assert.deepEqual(got.diagnostics.map((d) => d.code).sort(), ['SHARD_MISSING', 'TENSOR_NOT_IN_SHARD']);
      assert.match(
        got.diagnostics.find((d) => d.code === 'SHARD_MISSING')!.message,
        /model-00058-of-00100\.safetensors/,
      );
      await h.conn.sendNotification('textDocument/didClose', { textDocument: { uri } });
    }
    console.log(
      `# 100-shard index (400 tensors): ${rounds.map((x) => x.toFixed(0)).join(', ')} ms, median ` +
        `${median(rounds).toFixed(0)} ms`,
    );
    assert.ok(
      median(rounds) < 10_000,
      `median ${median(rounds).toFixed(0)} ms (loose: the figure is printed, not asserted at the goal)`,
    );
  });
});
