import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { compressFile } from '../../engine/container/compress';
import { readShardStates } from '../../engine/container/shards';
import {
  checkIndex,
  isInsideFolder,
  parseIndex,
  shardNames,
  type IndexCheck,
  type IndexProblemCode,
  type JsonEdit,
} from '../../engine/formats/indexCheck';
import { tempDir } from '../helpers/safetensors';
import { layerTensors, shardName, writeShardedModel, type ShardSpec } from '../helpers/shardedModel';

const tmp = tempDir('tz-indexcheck-');
after(() => tmp.cleanup());
let n = 0;
const fresh = () => path.join(tmp.dir, `m${n++}`);

const THREE: ShardSpec[] = [
  { tensors: [...layerTensors(0), ['model.embed_tokens.weight', 'BF16', [32, 8]]] },
  { tensors: layerTensors(1) },
  { tensors: [...layerTensors(2), ['lm_head.weight', 'F32', [32, 8]]] },
];

async function check(indexFile: string, text = readFileSync(indexFile, 'utf8')): Promise<IndexCheck> {
  const parsed = parseIndex(text);
  const shards = await readShardStates(indexFile, shardNames(parsed));
  return checkIndex(parsed, shards);
}

const codes = (c: IndexCheck) => c.problems.map((p) => p.code).sort();
const at = (c: IndexCheck, code: IndexProblemCode) => c.problems.filter((p) => p.code === code);
const slice = (text: string, r: { offset: number; length: number }) => text.slice(r.offset, r.offset + r.length);

function apply(text: string, edits: JsonEdit[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.offset - a.offset))
    out = out.slice(0, e.offset) + e.content + out.slice(e.offset + e.length);
  return out;
}

describe('index check', () => {
  test('a consistent index has no problems; entries carry their header facts', async () => {
    const m = writeShardedModel(fresh(), THREE);
    const c = await check(m.index);
    assert.deepEqual(c.problems, []);
    assert.equal(c.computedTotalSize, m.totalSize);
    assert.deepEqual(
      c.shards.map((s) => [s.name, s.state, s.mapped]),
      m.shardNames.map((s, i) => [s, 'present', THREE[i]!.tensors.length]),
    );
    const e = c.entries.find((x) => x.tensor === 'lm_head.weight')!;
    assert.deepEqual(e.header, { name: 'lm_head.weight', dtype: 'F32', shape: [32, 8], bytes: 32 * 8 * 4 });
    assert.deepEqual(c.fixes, []);
  });

  test('missing shard: one error on the first value naming it, the others related', async () => {
    const m = writeShardedModel(fresh(), THREE, { skipShards: [1] });
    const text = readFileSync(m.index, 'utf8');
    const c = await check(m.index);
    assert.deepEqual(codes(c), ['SHARD_MISSING']);
    const p = at(c, 'SHARD_MISSING')[0]!;
    assert.equal(p.severity, 'error');
    assert.equal(p.shard, m.shardNames[1]);
    assert.equal(slice(text, p.range), JSON.stringify(m.shardNames[1]));
    assert.match(p.message, /shard file "model-00002-of-00003\.safetensors" is missing \(4 tensors are mapped to it\)/);
    assert.equal(p.related!.length, 3);
    for (const r of p.related!) assert.equal(slice(text, r), JSON.stringify(m.shardNames[1]));
    assert.equal(c.shards[1]!.state, 'missing');
    assert.equal(c.computedTotalSize, undefined, 'total unknown while a shard is missing');
  });

  test('tensor absent from its shard, tensor not in the index, on the exact key', async () => {
    const m = writeShardedModel(fresh(), THREE, {
      edit: (ix) => {
        ix.weight_map['model.layers.9.ghost.weight'] = shardName(0, 3);
        delete ix.weight_map['model.layers.1.mlp.down_proj.weight'];
      },
    });
    const text = readFileSync(m.index, 'utf8');
    const c = await check(m.index);
    assert.deepEqual(codes(c), ['TENSOR_NOT_IN_INDEX', 'TENSOR_NOT_IN_SHARD']);
    const a = at(c, 'TENSOR_NOT_IN_SHARD')[0]!;
    assert.equal(slice(text, a.range), '"model.layers.9.ghost.weight"');
    assert.equal(a.tensor, 'model.layers.9.ghost.weight');
    assert.match(a.message, /mapped to "model-00001-of-00003\.safetensors" but that shard does not contain it/);
    const b = at(c, 'TENSOR_NOT_IN_INDEX')[0]!;
    assert.equal(b.tensor, 'model.layers.1.mlp.down_proj.weight');
    assert.equal(b.shard, shardName(1, 3));
    assert.equal(slice(text, b.range), '"weight_map"');
  });

  test('a tensor mapped to the wrong shard names the shard that has it', async () => {
    const m = writeShardedModel(fresh(), THREE, {
      edit: (ix) => void (ix.weight_map['lm_head.weight'] = shardName(1, 3)),
    });
    const c = await check(m.index);
    assert.deepEqual(
      codes(c),
      ['TENSOR_NOT_IN_SHARD'],
      'listed (under the wrong shard), so not "missing from the index"',
    );
    assert.match(at(c, 'TENSOR_NOT_IN_SHARD')[0]!.message, /it is in "model-00003-of-00003\.safetensors"/);
  });

  test('duplicate key in weight_map and a tensor stored in two shards', async () => {
    const dup: ShardSpec[] = [{ tensors: layerTensors(0) }, { tensors: [...layerTensors(1), layerTensors(0)[0]!] }];
    const m = writeShardedModel(fresh(), dup);
    // JSON.stringify cannot write a duplicate key: splice one in by hand
    let text = readFileSync(m.index, 'utf8');
    text = text.replace(
      '"weight_map": {',
      `"weight_map": {\n    "model.layers.1.mlp.down_proj.weight": "${shardName(0, 2)}",`,
    );
    const c = await check(m.index, text);
    const d = at(c, 'DUPLICATE_TENSOR');
    assert.equal(d.length, 2, JSON.stringify(c.problems));
    const key = d.find((p) => /listed twice/.test(p.message))!;
    assert.equal(key.tensor, 'model.layers.1.mlp.down_proj.weight');
    assert.equal(slice(text, key.range), '"model.layers.1.mlp.down_proj.weight"');
    assert.ok(key.related![0]!.offset < key.range.offset, 'the later key is flagged, the first is related');
    assert.equal(slice(text, key.related![0]!), '"model.layers.1.mlp.down_proj.weight"');
    const two = d.find((p) => /stored in 2 shards/.test(p.message))!;
    assert.equal(two.tensor, 'model.layers.0.self_attn.q_proj.weight');
    assert.equal(slice(text, two.range), '"model.layers.0.self_attn.q_proj.weight"');
    assert.deepEqual(c.fixes, [], 'no certain fix while a tensor is stored twice');
  });

  test('total_size mismatch: warning on the value, and a fix that sets the sum', async () => {
    const m = writeShardedModel(fresh(), THREE, { edit: (ix) => void (ix.metadata.total_size += 1000) });
    const text = readFileSync(m.index, 'utf8');
    const c = await check(m.index);
    assert.deepEqual(codes(c), ['TOTAL_SIZE_MISMATCH']);
    const p = c.problems[0]!;
    assert.equal(p.severity, 'warning');
    assert.equal(slice(text, p.range), String(m.totalSize + 1000));
    assert.match(
      p.message,
      new RegExp(`total_size is ${m.totalSize + 1000} but the listed tensors hold ${m.totalSize} bytes \\(-1000\\)`),
    );
    assert.equal(c.fixes.length, 1);
    assert.equal(c.fixes[0]!.kind, 'totalSize');
    const fixed = apply(text, c.fixes[0]!.edits);
    assert.equal(JSON.parse(fixed).metadata.total_size, m.totalSize);
    assert.deepEqual((await check(m.index, fixed)).problems, []);
    assert.equal(
      fixed.replace(String(m.totalSize), 'X'),
      text.replace(String(m.totalSize + 1000), 'X'),
      'only the number changed',
    );
  });

  test('regenerate fix: weight_map and total_size from the shards present, re-check clean', async () => {
    const m = writeShardedModel(fresh(), THREE, {
      skipShards: [2],
      edit: (ix) => {
        ix.weight_map['model.layers.7.ghost.weight'] = shardName(0, 3);
        delete ix.weight_map['model.layers.0.mlp.down_proj.weight'];
        ix.metadata.total_size = 5;
      },
    });
    const text = readFileSync(m.index, 'utf8');
    const c = await check(m.index);
    assert.deepEqual(codes(c), ['SHARD_MISSING', 'TENSOR_NOT_IN_INDEX', 'TENSOR_NOT_IN_SHARD']);
    const fix = c.fixes.find((f) => f.kind === 'regenerate')!;
    assert.equal(fix.title, 'Regenerate weight_map and total_size from the 2 shards present');
    assert.equal(fix.edits.length, 1);
    const fixed = apply(text, fix.edits);
    const j = JSON.parse(fixed);
    const want: Record<string, string> = {};
    for (const i of [0, 1]) for (const [name] of THREE[i]!.tensors) want[name] = shardName(i, 3);
    assert.deepEqual(j.weight_map, want);
    assert.deepEqual(Object.keys(j.weight_map), Object.keys(want).sort());
    const bytes = (await check(m.index, fixed)).computedTotalSize;
    assert.equal(j.metadata.total_size, bytes);
    assert.deepEqual((await check(m.index, fixed)).problems, []);
    assert.match(fixed, /\n {2}"weight_map": \{\n {4}"model\.embed_tokens\.weight"/, 'keeps the 2-space layout');
  });

  test('corrupt shard: the engine one-line message, no fix', async () => {
    const m = writeShardedModel(fresh(), THREE);
    const bad = path.join(m.dir, m.shardNames[1]!);
    const b = readFileSync(bad);
    writeFileSync(bad, b.subarray(0, 20)); // header length now exceeds the file
    const c = await check(m.index);
    assert.deepEqual(codes(c), ['SHARD_UNREADABLE']);
    const p = c.problems[0]!;
    assert.ok(p.message.includes(bad), p.message);
    assert.match(p.message, /header length \d+ is larger than the file \(20 bytes\)/);
    assert.ok(!p.message.includes('\n'));
    assert.equal(c.shards[1]!.state, 'unreadable');
    assert.deepEqual(c.fixes, []);
  });

  test('a shard present only as .tzip: info, tensors checked from the container index', async () => {
    const m = writeShardedModel(fresh(), THREE, {
      edit: (ix) => void (ix.weight_map['model.layers.1.nope'] = shardName(1, 3)),
    });
    const shard = path.join(m.dir, m.shardNames[1]!);
    await compressFile(shard, { output: shard + '.tzip', threads: 1 });
    rmSync(shard);
    const c = await check(m.index);
    assert.deepEqual(codes(c), ['SHARD_COMPRESSED', 'TENSOR_NOT_IN_SHARD']);
    assert.equal(at(c, 'SHARD_COMPRESSED')[0]!.severity, 'info');
    const s = c.shards[1]!;
    assert.equal(s.state, 'tzip');
    assert.equal(s.tzipName, m.shardNames[1] + '.tzip');
    assert.equal(s.tensorCount, 4);
    assert.ok(c.entries.find((e) => e.tensor === 'model.layers.1.mlp.down_proj.weight')!.header);
  });

  test('an HF-named sibling shard the index does not name is read and reported', async () => {
    const m = writeShardedModel(fresh(), THREE, {
      edit: (ix) => {
        for (const [k, v] of Object.entries(ix.weight_map)) if (v === shardName(2, 3)) delete ix.weight_map[k];
        ix.metadata.total_size -= 8 * 8 * 2 * 2 + 8 * 16 * 2 + 8 * 2 + 32 * 8 * 4;
      },
    });
    const c = await check(m.index);
    assert.equal(at(c, 'TENSOR_NOT_IN_INDEX').length, 5);
    assert.deepEqual(
      c.shards.map((s) => [s.name, s.mapped]),
      [
        [shardName(0, 3), 5],
        [shardName(1, 3), 4],
        [shardName(2, 3), 0],
      ],
    );
    assert.equal(c.computedTotalSize, (await check(m.index)).computedTotalSize);
    assert.equal(at(c, 'TOTAL_SIZE_MISMATCH').length, 0);
    assert.equal(c.fixes[0]!.kind, 'regenerate');
  });

  test('syntax errors, comments, wrong shapes and names outside the folder', () => {
    const c1 = checkIndex('{"weight_map": {"a": "x.safetensors",}}', new Map());
    assert.ok(c1.problems.length > 0 && c1.problems.every((p) => p.code === 'INVALID_JSON'));
    assert.equal(c1.problems[0]!.range.offset, 37, 'at the "}" where a property was expected');
    assert.deepEqual(codes(checkIndex('// hi\n{"weight_map": {}}', new Map())), ['INVALID_JSON']);
    assert.deepEqual(codes(checkIndex('[1]', new Map())), ['NOT_AN_OBJECT']);
    assert.deepEqual(codes(checkIndex('{"metadata": {}}', new Map())), ['NO_WEIGHT_MAP']);
    const text = '{"weight_map": {"a": "../x.safetensors", "b": 3, "c": ""}, "metadata": {"total_size": "12"}}';
    const c2 = checkIndex(text, new Map());
    assert.deepEqual(codes(c2), ['BAD_SHARD_NAME', 'BAD_SHARD_NAME', 'BAD_TOTAL_SIZE', 'SHARD_OUTSIDE']);
    assert.equal(slice(text, at(c2, 'SHARD_OUTSIDE')[0]!.range), '"../x.safetensors"');
    assert.deepEqual(shardNames(parseIndex(text)), []);
    assert.ok(isInsideFolder('a/b.safetensors') && isInsideFolder('./b.safetensors'));
    assert.ok(
      !isInsideFolder('/abs.safetensors') &&
        !isInsideFolder('C:\\x') &&
        !isInsideFolder('a/../../b') &&
        !isInsideFolder('.'),
    );
  });

  test('pure: a shard not supplied is not invented as a problem', () => {
    const c = checkIndex('{"weight_map": {"a": "s.safetensors"}, "metadata": {"total_size": 1}}', new Map());
    assert.deepEqual(c.problems, []);
    assert.equal(c.computedTotalSize, undefined);
  });
});
