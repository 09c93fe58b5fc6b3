/** The metadata card's rows: real GGUF and safetensors metadata from the corpus, long values folded, token lists
 * summarized. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { openModel } from '../../engine/formats/index';
import { FOLD_CHARS, metadataEntries } from '../../webview/model/metadata';

const CORPUS = path.resolve(process.cwd(), '../shared/corpus');
const gguf = path.join(CORPUS, 'stories260k.f32.gguf');

test(
  'GGUF: key/values first (real file), reader facts after',
  { skip: !existsSync(gguf) && 'no ../shared/corpus' },
  async () => {
    const layout = await openModel(gguf);
    const e = metadataEntries(layout.metadata);
    const keys = e.map((x) => x.key);
    assert.equal(keys[0], 'general.architecture');
    assert.equal(e.find((x) => x.key === 'general.architecture')!.short, 'llama');
    assert.equal(e.find((x) => x.key === 'llama.context_length')!.short, '512');
    assert.ok(keys.indexOf('version') > keys.indexOf('llama.vocab_size'), 'kv first');
    assert.ok(!keys.some((k) => k.startsWith('kv.')), 'the kv object is spread, not nested');
  },
);

test('GGUF token lists (the reader array summary) show their length and first tokens', () => {
  const first = Array.from({ length: 64 }, (_, i) => (i === 0 ? '<unk>' : i === 1 ? '<s>' : `tok${i}`));
  const e = metadataEntries({
    kv: { 'tokenizer.ggml.tokens': { type: 'array', elementType: 'STRING', length: 151936, first } },
  });
  assert.equal(e.length, 1);
  assert.match(e[0]!.short, /^151,936 strings: "<unk>", "<s>", "tok2"/);
  assert.ok(e[0]!.short.endsWith(', …'));
  assert.ok(e[0]!.folded && e[0]!.full.includes('first 64'));
});

test('safetensors __metadata__ strings; long values fold with the full text kept for copying', () => {
  const long = 'x'.repeat(500);
  const e = metadataEntries({
    format: 'pt',
    license: 'apache-2.0',
    chat_template: long,
    opsets: { 'ai.onnx': 13 },
    inputs: ['input', 'state'],
  });
  assert.deepEqual(
    e.map((x) => x.key),
    ['format', 'license', 'chat_template', 'opsets.ai.onnx', 'inputs'],
  );
  const t = e.find((x) => x.key === 'chat_template')!;
  assert.ok(t.folded && t.short.length === FOLD_CHARS + 1 && t.full === long);
  assert.equal(e.find((x) => x.key === 'inputs')!.short, 'input, state');
  assert.equal(e.find((x) => x.key === 'format')!.folded, false);
  assert.deepEqual(metadataEntries(undefined), []);
});
