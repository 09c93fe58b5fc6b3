/**
 * The language features of the bundled server over LSP (`node dist/server.js --stdio`), as an
 * editor drives them: didOpen/didChange, publishDiagnostics, hover, definition, links, CodeLens,
 * document and workspace symbols, quick fixes, watched files.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type {
  CodeAction,
  CodeLens,
  Diagnostic,
  DocumentLink,
  DocumentSymbol,
  Hover,
  Location,
  PublishDiagnosticsParams,
  TextEdit,
} from 'vscode-languageserver-protocol';
import { LensCommands, parseTensorUri } from '../../protocol/lang';
import { layerTensors, shardName, writeShardedModel, type ShardSpec } from '../helpers/shardedModel';
import { safetensorsBytes } from '../helpers/safetensors';
import { NO_BUILD, startServer, tempDir, type Harness } from './server-harness';

const uriOf = (f: string) => pathToFileURL(f).href;

const THREE: ShardSpec[] = [
  { tensors: [...layerTensors(0), ['model.embed_tokens.weight', 'BF16', [32, 8]]] },
  { tensors: layerTensors(1) },
  { tensors: [...layerTensors(2), ['lm_head.weight', 'BF16', [32, 8]]] },
];

/** Offset → LSP position (UTF-16, like the server). */
function pos(text: string, offset: number) {
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, character: offset - (before.lastIndexOf('\n') + 1) };
}
const posOf = (text: string, needle: string, extra = 1) => {
  const i = text.indexOf(needle);
  assert.ok(i >= 0, `${needle} in text`);
  return pos(text, i + extra);
};
function offsetOf(text: string, p: { line: number; character: number }): number {
  const lines = text.split('\n');
  let o = 0;
  for (let i = 0; i < p.line; i++) o += lines[i]!.length + 1;
  return o + p.character;
}
function applyEdits(text: string, edits: TextEdit[]): string {
  const abs = edits
    .map((e) => ({ s: offsetOf(text, e.range.start), e: offsetOf(text, e.range.end), t: e.newText }))
    .sort((a, b) => b.s - a.s);
  let out = text;
  for (const x of abs) out = out.slice(0, x.s) + x.t + out.slice(x.e);
  return out;
}
const rangeText = (
  text: string,
  r: { start: { line: number; character: number }; end: { line: number; character: number } },
) => text.slice(offsetOf(text, r.start), offsetOf(text, r.end));

describe('server: language features over LSP', { skip: NO_BUILD }, () => {
  const tmp = tempDir('tz-lang-');
  let h: Harness;
  const published: PublishDiagnosticsParams[] = [];
  let version = 1;

  /** Waits for the diagnostics of `uri` (at `v`, if given) that satisfy `pred`. */
  async function diagnostics(
    uri: string,
    pred: (d: Diagnostic[]) => boolean = () => true,
    v?: number,
    timeoutMs = 5000,
  ): Promise<Diagnostic[]> {
    const t0 = Date.now();
    for (;;) {
      const hit = [...published].reverse().find((p) => p.uri === uri && (v === undefined || p.version === v));
      if (hit && pred(hit.diagnostics)) return hit.diagnostics;
      if (Date.now() - t0 > timeoutMs)
        throw new Error(
          `no matching diagnostics for ${uri}: last ${JSON.stringify(hit?.diagnostics.map((d) => d.code))}`,
        );
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async function open(
    file: string,
    text = readFileSync(file, 'utf8'),
    languageId = 'json',
  ): Promise<{ uri: string; text: string; v: number }> {
    const uri = uriOf(file);
    const v = version++;
    await h.conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId, version: v, text } });
    return { uri, text, v };
  }
  const close = (uri: string) => h.conn.sendNotification('textDocument/didClose', { textDocument: { uri } });

  before(async () => {
    h = await startServer({
      init: {
        folders: [tmp],
        lang: { clientCommands: true, tensorUris: true },
        capabilities: { workspace: { didChangeWatchedFiles: { dynamicRegistration: true } } },
      },
    });
    h.conn.onRequest('client/registerCapability', () => null);
    h.conn.onNotification('textDocument/publishDiagnostics', (p: PublishDiagnosticsParams) => published.push(p));
  });
  after(async () => {
    await h?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test(
    'acceptance: a missing shard and a tensor absent from its shard both arrive; hover shows dtype ' + 'and shape',
    async () => {
      const m = writeShardedModel(path.join(tmp, 'accept'), THREE, {
        skipShards: [1],
        edit: (ix) => void (ix.weight_map['model.layers.0.self_attn.ghost.weight'] = shardName(0, 3)),
      });
      const t0 = performance.now();
      const d = await open(m.index);
      const diags = await diagnostics(d.uri, (x) => x.length >= 2, d.v);
      const ms = performance.now() - t0;
      const missing = diags.find((x) => x.code === 'SHARD_MISSING')!;
      const absent = diags.find((x) => x.code === 'TENSOR_NOT_IN_SHARD')!;
      assert.ok(missing && absent, JSON.stringify(diags));
      assert.equal(missing.severity, 1);
      assert.equal(missing.source, 'tensorzip');
      assert.equal(rangeText(d.text, missing.range), JSON.stringify(shardName(1, 3)));
      assert.match(missing.message, /model-00002-of-00003\.safetensors" is missing/);
      assert.equal(missing.relatedInformation?.length, 3);
      assert.equal(rangeText(d.text, absent.range), '"model.layers.0.self_attn.ghost.weight"');
      assert.match(absent.message, /does not contain it/);
      const hover = await h.conn.sendRequest<Hover>('textDocument/hover', {
        textDocument: { uri: d.uri },
        position: posOf(d.text, '"model.layers.2.mlp.down_proj.weight"'),
      });
      const md = (hover.contents as { value: string }).value;
      assert.match(md, /`BF16` `\[8, 16\]`/);
      assert.match(md, /128 parameters · 256 B/);
      assert.match(md, /shard `model-00003-of-00003\.safetensors`/);
      assert.equal(rangeText(d.text, hover.range!), '"model.layers.2.mlp.down_proj.weight"');
      console.log(`# acceptance: both diagnostics ${ms.toFixed(0)} ms after didOpen`);
      await close(d.uri);
    },
  );

  test('every index problem is published on its key or value', async () => {
    const dir = path.join(tmp, 'kinds');
    const dup: ShardSpec[] = [
      ...THREE,
      { tensors: [['model.layers.9.extra.weight', 'F32', [4]], layerTensors(1)[0]!] },
    ];
    const m = writeShardedModel(dir, dup, {
      edit: (ix) => {
        delete ix.weight_map['model.layers.9.extra.weight'];
        ix.metadata.total_size = 7;
      },
    });
    writeFileSync(path.join(dir, m.shardNames[2]!), new Uint8Array(5)); // corrupt: 5 bytes
    let text = readFileSync(m.index, 'utf8');
    text = text.replace('"weight_map": {', `"weight_map": {\n    "lm_head.weight": "${shardName(0, 4)}",`);
    const d = await open(m.index, text);
    const diags = await diagnostics(d.uri, (x) => x.some((y) => y.code === 'SHARD_UNREADABLE'), d.v);
    const byCode = (c: string) => diags.filter((x) => x.code === c);
    assert.match(
      byCode('SHARD_UNREADABLE')[0]!.message,
      /model-00003-of-00004\.safetensors.*too small for a safetensors file \(5 bytes/,
    );
    assert.equal(rangeText(text, byCode('SHARD_UNREADABLE')[0]!.range), JSON.stringify(shardName(2, 4)));
    const notIn = byCode('TENSOR_NOT_IN_INDEX');
    assert.deepEqual(
      notIn.map((x) => rangeText(text, x.range)),
      ['"weight_map"'],
    );
    assert.match(
      notIn[0]!.message,
      /"model\.layers\.9\.extra\.weight" is in shard "model-00004-of-00004\.safetensors"/,
    );
    const dups = byCode('DUPLICATE_TENSOR');
    assert.ok(
      dups.some(
        (x) => /"lm_head\.weight" is listed twice/.test(x.message) && rangeText(text, x.range) === '"lm_head.weight"',
      ),
      JSON.stringify(dups),
    );
    assert.ok(dups.some((x) => /"model\.layers\.1\.self_attn\.q_proj\.weight" is stored in 2 shards/.test(x.message)));
    assert.equal(
      dups.every((x) => x.severity === 2),
      true,
    );
    // total_size is not judged while a shard is unreadable; a consistent model with a wrong total is
    assert.equal(byCode('TOTAL_SIZE_MISMATCH').length, 0);
    await close(d.uri);

    const m2 = writeShardedModel(path.join(tmp, 'total'), THREE, {
      edit: (ix) => void (ix.metadata.total_size = 12345),
    });
    const d2 = await open(m2.index);
    const t = await diagnostics(d2.uri, (x) => x.length > 0, d2.v);
    assert.deepEqual(
      t.map((x) => x.code),
      ['TOTAL_SIZE_MISMATCH'],
    );
    assert.equal(rangeText(d2.text, t[0]!.range), '12345');
    assert.match(t[0]!.message, new RegExp(`total_size is 12345 but the listed tensors hold ${m2.totalSize} bytes`));
    await close(d2.uri);
  });

  test('didChange re-checks the unsaved text (debounced); a watched shard change re-checks from disk', async () => {
    const m = writeShardedModel(path.join(tmp, 'change'), THREE, { skipShards: [2] });
    const d = await open(m.index);
    await diagnostics(d.uri, (x) => x.some((y) => y.code === 'SHARD_MISSING'), d.v);
    // an edit mapping one tensor to a shard that lacks it, in three quick steps: one check at the end
    const before = published.length;
    let text = d.text;
    let v = d.v;
    for (const step of [
      'model.layers.0.mlp.down_proj.weight',
      'model.layers.0.input_layernorm.weight',
      'model.layers.0.self_attn.k_proj.weight',
    ]) {
      const i = text.indexOf(`"${step}": "${shardName(0, 3)}"`);
      const valueAt = i + step.length + 4;
      const edit = {
        range: { start: pos(text, valueAt + 1), end: pos(text, valueAt + 1 + shardName(0, 3).length) },
        text: shardName(1, 3),
      };
      text = text.slice(0, valueAt + 1) + shardName(1, 3) + text.slice(valueAt + 1 + shardName(0, 3).length);
      v = version++;
      await h.conn.sendNotification('textDocument/didChange', {
        textDocument: { uri: d.uri, version: v },
        contentChanges: [edit],
      });
    }
    const after = await diagnostics(d.uri, (x) => x.filter((y) => y.code === 'TENSOR_NOT_IN_SHARD').length === 3, v);
    assert.equal(
      after
        .filter((x) => x.code === 'TENSOR_NOT_IN_SHARD')
        .every((x) => /mapped to "model-00002-of-00003\.safetensors"/.test(x.message)),
      true,
    );
    const forDoc = published.slice(before).filter((p) => p.uri === d.uri);
    assert.ok(forDoc.length <= 2, `debounced: ${forDoc.length} publishes for 3 quick edits`);
    // the missing shard appears on disk: a watched-file event re-checks
    const raw = THREE[2]!.tensors.map(([name, dtype, shape]) => ({
      name,
      dtype,
      shape,
      data: new Uint8Array(shape.reduce((a, b) => a * b, 1) * 2),
    }));
    writeFileSync(path.join(m.dir, shardName(2, 3)), safetensorsBytes(raw));
    await h.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri: uriOf(path.join(m.dir, shardName(2, 3))), type: 1 }],
    });
    const healed = await diagnostics(d.uri, (x) => !x.some((y) => y.code === 'SHARD_MISSING'));
    assert.deepEqual([...new Set(healed.map((x) => x.code))], ['TENSOR_NOT_IN_SHARD']);
    await close(d.uri);
  });

  test('config.json beside the weights: torch_dtype mismatch and a far parameter count', async () => {
    const dir = path.join(tmp, 'cfg');
    const m = writeShardedModel(dir, THREE);
    const cfg = {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 8,
      intermediate_size: 16,
      num_attention_heads: 2,
      num_key_value_heads: 2,
      num_hidden_layers: 3,
      vocab_size: 32,
      tie_word_embeddings: false,
      torch_dtype: 'float16',
    };
    // the shards' real count: 3 layers x (q 64 + k 64 + down 128 + norm 8) + embed 256 + head 256
    const text = JSON.stringify(cfg, null, 2);
    writeFileSync(path.join(dir, 'config.json'), text);
    const d = await open(path.join(dir, 'config.json'));
    const diags = await diagnostics(d.uri, (x) => x.length >= 2, d.v);
    const dt = diags.find((x) => x.code === 'TORCH_DTYPE_MISMATCH')!;
    assert.equal(rangeText(text, dt.range), '"float16"');
    assert.match(
      dt.message,
      /torch_dtype is "float16" but the weights \(3 shards\) are mostly BF16 \(100% of tensor bytes, no F16 tensors\)/,
    );
    const pc = diags.find((x) => x.code === 'PARAM_COUNT')!;
    assert.equal(rangeText(text, pc.range), '"hidden_size"');
    assert.equal(pc.severity, 2);
    // 2 x 32 x 8 embeddings/head + 3 x (attention 256 + MLP 384 + norms 16) + 8
    assert.match(
      pc.message,
      /config implies about 2488 parameters \(hidden_size 8, 3 layers, vocab 32\) but the weights \(3 shards\) have 1304 \(-48%\)/,
    );
    const good = JSON.stringify({ ...cfg, torch_dtype: 'bfloat16' }, null, 2);
    const v = version++;
    await h.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri: d.uri, version: v },
      contentChanges: [{ text: good }],
    });
    assert.deepEqual(
      (await diagnostics(d.uri, () => true, v)).map((x) => x.code),
      ['PARAM_COUNT'],
    );
    await close(d.uri);
    void m;
  });

  test('hover on a shard, definition, links and CodeLens', async () => {
    const m = writeShardedModel(path.join(tmp, 'nav'), THREE);
    const d = await open(m.index);
    await diagnostics(d.uri, () => true, d.v);
    const hv = await h.conn.sendRequest<Hover>('textDocument/hover', {
      textDocument: { uri: d.uri },
      position: posOf(d.text, `"${shardName(2, 3)}"`),
    });
    const md = (hv.contents as { value: string }).value;
    assert.match(md, /\*\*model-00003-of-00003\.safetensors\*\*/);
    assert.match(md, /\n\d\.\d\d KB · 5 tensors \(1\.\d\d KB\) · 5 listed here/);
    const def = await h.conn.sendRequest<Location>('textDocument/definition', {
      textDocument: { uri: d.uri },
      position: posOf(d.text, '"lm_head.weight"'),
    });
    assert.deepEqual(parseTensorUri(def.uri), {
      file: uriOf(path.join(m.dir, shardName(2, 3))),
      tensor: 'lm_head.weight',
    });
    const links = await h.conn.sendRequest<DocumentLink[]>('textDocument/documentLink', {
      textDocument: { uri: d.uri },
    });
    assert.equal(links.length, Object.keys(m.weightMap).length);
    for (const l of links) assert.equal(l.target, uriOf(path.join(m.dir, rangeText(d.text, l.range))));
    const lenses = await h.conn.sendRequest<CodeLens[]>('textDocument/codeLens', { textDocument: { uri: d.uri } });
    assert.deepEqual(
      lenses.map((l) => [l.command!.title, l.command!.command]),
      [
        ['Open whole-model view', LensCommands.openModelView],
        ['Compress all shards (3)', LensCommands.compress],
      ],
    );
    assert.deepEqual(lenses[1]!.command!.arguments, [
      uriOf(path.join(m.dir, shardName(0, 3))),
      m.shardNames.map((s) => uriOf(path.join(m.dir, s))),
    ]);
    assert.equal(rangeText(d.text, lenses[0]!.range), '"weight_map"');
    // a .tzip beside a shard adds "Verify all shards"
    writeFileSync(path.join(m.dir, shardName(1, 3) + '.tzip'), 'x');
    await h.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri: uriOf(path.join(m.dir, shardName(1, 3) + '.tzip')), type: 1 }],
    });
    const lenses2 = await h.conn.sendRequest<CodeLens[]>('textDocument/codeLens', { textDocument: { uri: d.uri } });
    assert.deepEqual(lenses2[2]!.command, {
      title: 'Verify all shards (1 .tzip)',
      command: LensCommands.verify,
      arguments: [
        uriOf(path.join(m.dir, shardName(1, 3) + '.tzip')),
        [uriOf(path.join(m.dir, shardName(1, 3) + '.tzip'))],
      ],
    });
    rmSync(path.join(m.dir, shardName(1, 3) + '.tzip'));
    await close(d.uri);
  });

  test("hover shows what jobs found: analysis figures on a tensor, the verify state of a shard's .tzip", async () => {
    const m = writeShardedModel(path.join(tmp, 'facts'), THREE);
    const d = await open(m.index);
    await diagnostics(d.uri, () => true, d.v);
    const hoverText = async (needle: string) =>
      (
        (
          await h.conn.sendRequest<Hover>('textDocument/hover', {
            textDocument: { uri: d.uri },
            position: posOf(d.text, needle),
          })
        ).contents as { value: string }
      ).value;
    assert.doesNotMatch(await hoverText('"lm_head.weight"'), /exponent entropy/);
    const a = await h.conn.sendRequest<{
      tensors: { name: string; exponentEntropy: number | null; boundBytes: number }[];
    }>('tensorzip/analyze', { path: m.index });
    const t = a.tensors.find((x) => x.name === 'lm_head.weight')!;
    assert.match(
      await hoverText('"lm_head.weight"'),
      new RegExp(`exponent entropy ${t.exponentEntropy!.toFixed(2)} bits · estimated ${t.boundBytes} B coded`),
    );
    const shard = path.join(m.dir, shardName(1, 3));
    await h.conn.sendRequest('tensorzip/compress', { path: shard });
    await h.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri: uriOf(shard + '.tzip'), type: 1 }],
    });
    assert.match(await hoverText(`"${shardName(1, 3)}"`), /`model-00002-of-00003\.safetensors\.tzip`: not verified/);
    await h.conn.sendRequest('tensorzip/verify', { path: shard + '.tzip' });
    assert.match(await hoverText(`"${shardName(1, 3)}"`), /`model-00002-of-00003\.safetensors\.tzip`: verified/);
    await close(d.uri);
  });

  test('document symbols: layers, then tensors', async () => {
    const m = writeShardedModel(path.join(tmp, 'outline'), THREE);
    const d = await open(m.index);
    const syms = await h.conn.sendRequest<DocumentSymbol[]>('textDocument/documentSymbol', {
      textDocument: { uri: d.uri },
    });
    assert.deepEqual(
      syms.map((s) => [s.name, s.children?.length ?? 0]),
      [
        ['total_size', 0],
        ['lm_head', 1],
        ['model.embed_tokens', 1],
        ['model.layers.0', 4],
        ['model.layers.1', 4],
        ['model.layers.2', 4],
      ],
    );
    const q = syms[3]!.children!.find((c) => c.name === 'model.layers.0.self_attn.q_proj.weight')!;
    assert.equal(q.detail, 'BF16 [8, 8]');
    assert.equal(rangeText(d.text, q.selectionRange), '"model.layers.0.self_attn.q_proj.weight"');
    await close(d.uri);
  });

  test('quick fixes: the edit regenerates weight_map and total_size; the fixed text checks clean', async () => {
    const m = writeShardedModel(path.join(tmp, 'fix'), THREE, {
      skipShards: [1],
      edit: (ix) => {
        ix.weight_map['model.layers.5.ghost.weight'] = shardName(0, 3);
        ix.metadata.total_size = 1;
      },
    });
    const d = await open(m.index);
    const diags = await diagnostics(d.uri, (x) => x.length >= 2, d.v);
    const actions = await h.conn.sendRequest<CodeAction[]>('textDocument/codeAction', {
      textDocument: { uri: d.uri },
      range: diags[0]!.range,
      context: { diagnostics: diags },
    });
    assert.equal(actions.length, 1);
    assert.equal(actions[0]!.title, 'Regenerate weight_map and total_size from the 2 shards present');
    assert.equal(actions[0]!.kind, 'quickfix');
    const fixed = applyEdits(d.text, actions[0]!.edit!.changes![d.uri]!);
    const j = JSON.parse(fixed) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    const want: Record<string, string> = {};
    for (const i of [0, 2]) for (const [n] of THREE[i]!.tensors) want[n] = shardName(i, 3);
    assert.deepEqual(j.weight_map, Object.fromEntries(Object.entries(want).sort(([a], [b]) => (a < b ? -1 : 1))));
    // shards 1 and 3: 2 x (q 128 + k 128 + down 256 + norm 16 bytes) + embed 512 + head 512
    assert.equal(j.metadata.total_size, 2 * 528 + 512 + 512);
    const v = version++;
    await h.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri: d.uri, version: v },
      contentChanges: [{ text: fixed }],
    });
    assert.deepEqual(await diagnostics(d.uri, () => true, v), []);
    await close(d.uri);
  });
});
