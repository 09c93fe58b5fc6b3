import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import { ggufReader, type ArraySummary } from '../../engine/formats/gguf';
import { GGML_TYPES } from '../../engine/formats/ggml';
import { openModel } from '../../engine/formats/index';
import { TzError } from '../../engine/core/errors';
import { CORPUS, HAS_CORPUS, checkLayout, safetensorsHeader, fuzzFile, tempFile } from './formats-helpers';
import { G, gguf } from '../helpers/gguf';

const skip = !HAS_CORPUS && 'no ../shared/corpus';

/** llama2.c names (corpus safetensors) → llama.cpp GGUF names */
function ggufName(st: string): string {
  const map: [RegExp, string][] = [
    [/^tok_embeddings\.weight$/, 'token_embd.weight'],
    [/^norm\.weight$/, 'output_norm.weight'],
    [/^output\.weight$/, 'output.weight'],
    [/^layers\.(\d+)\.attention_norm\.weight$/, 'blk.$1.attn_norm.weight'],
    [/^layers\.(\d+)\.ffn_norm\.weight$/, 'blk.$1.ffn_norm.weight'],
    [/^layers\.(\d+)\.attention\.wq\.weight$/, 'blk.$1.attn_q.weight'],
    [/^layers\.(\d+)\.attention\.wk\.weight$/, 'blk.$1.attn_k.weight'],
    [/^layers\.(\d+)\.attention\.wv\.weight$/, 'blk.$1.attn_v.weight'],
    [/^layers\.(\d+)\.attention\.wo\.weight$/, 'blk.$1.attn_output.weight'],
    [/^layers\.(\d+)\.feed_forward\.w1\.weight$/, 'blk.$1.ffn_gate.weight'],
    [/^layers\.(\d+)\.feed_forward\.w2\.weight$/, 'blk.$1.ffn_down.weight'],
    [/^layers\.(\d+)\.feed_forward\.w3\.weight$/, 'blk.$1.ffn_up.weight'],
  ];
  for (const [re, to] of map) if (re.test(st)) return st.replace(re, to);
  return st;
}

for (const variant of ['f32', 'f16', 'bf16']) {
  test(
    `stories260k.${variant}.gguf matches stories260k.${variant}.safetensors (shapes reversed, bytes)`,
    { skip },
    async () => {
      const file = path.join(CORPUS, `stories260k.${variant}.gguf`);
      const l = await openModel(file);
      assert.equal(l.format, 'gguf');
      checkLayout(l);
      const meta = l.metadata as { version: number; alignment: number; kv: Record<string, unknown> };
      assert.equal(meta.version, 3);
      assert.equal(meta.kv['general.architecture'], 'llama');
      assert.equal(meta.kv['llama.block_count'], 5);
      const { header, dataStart, buf } = safetensorsHeader(path.join(CORPUS, `stories260k.${variant}.safetensors`));
      const gg = readFileSync(file);
      const byName = new Map(l.tensors.map((t) => [t.name, t]));
      assert.equal(l.tensors.length, Object.keys(header).length);
      let sameBytes = 0;
      let permuted = 0;
      for (const [name, h] of Object.entries(header)) {
        const t = byName.get(ggufName(name));
        assert.ok(t, `missing ${ggufName(name)} (${name})`);
        assert.deepEqual([...t.shape].reverse(), h.shape, `${name} shape`);
        assert.deepEqual(t.extra?.rowMajorShape, h.shape);
        const want = buf.subarray(dataStart + h.data_offsets[0], dataStart + h.data_offsets[1]);
        const got = gg.subarray(t.offset, t.offset + t.bytes);
        if (t.dtype !== h.dtype) {
          // 1-D norm weights stay F32 in the GGUF even in the f16/bf16 files
          assert.ok(t.dtype === 'F32' && h.shape.length === 1, `${name}: ${t.dtype} vs ${h.dtype}`);
          continue;
        }
        assert.equal(got.length, want.length, `${name} size`);
        if (got.equals(want)) sameBytes++;
        else {
          // llama.cpp's converter permutes the rows of wq/wk for its RoPE layout: same rows, other order
          assert.match(name, /attention\.w[qk]\.weight$/, `${name} bytes differ`);
          const rowBytes = want.length / h.shape[0]!;
          const rows = (b: Buffer) =>
            Array.from({ length: h.shape[0]! }, (_, i) =>
              b.subarray(i * rowBytes, (i + 1) * rowBytes).toString('hex'),
            ).sort();
          assert.deepEqual(rows(got), rows(want), `${name}: not a row permutation`);
          permuted++;
        }
      }
      assert.ok(sameBytes >= 30, `${sameBytes} tensors byte-identical, ${permuted} row-permuted`);
    },
  );
}

// --- synthetic GGUF files (test/helpers/gguf.ts) ---

test('quantized types: block layout, bits per weight, sizes; unknown types opaque; v2 accepted', async () => {
  const bytes = gguf({
    version: 2,
    alignment: 64,
    tensors: [
      { name: 'q4k', ne: [512, 4], type: 12, bytes: ((512 * 4) / 256) * 144 },
      { name: 'q8', ne: [64, 2], type: 8, bytes: ((64 * 2) / 32) * 34 },
      { name: 'q6k', ne: [256], type: 14, bytes: 210 },
      { name: 'iq2xxs', ne: [256], type: 16, bytes: 66 },
      { name: 'future', ne: [100], type: 99, bytes: 77 },
      { name: 'f16', ne: [3, 5], type: 1, bytes: 30 },
    ],
  });
  const { file, done } = tempFile('q.gguf', bytes);
  try {
    const l = await ggufReader.read(file);
    checkLayout(l);
    const t = Object.fromEntries(l.tensors.map((x) => [x.name, x]));
    assert.equal(t.q4k!.dtype, 'Q4_K');
    assert.equal(t.q4k!.bytes, 1152);
    assert.equal(t.q4k!.extra?.bitsPerWeight, 4.5);
    assert.deepEqual(
      (t.q4k!.extra?.block as { fields: { name: string }[] }).fields.map((f) => f.name),
      ['d', 'dmin', 'scales', 'qs'],
    );
    assert.equal(t.q8!.extra?.bitsPerWeight, 8.5);
    assert.equal(t.q6k!.extra?.bitsPerWeight, 6.5625);
    assert.equal(t.iq2xxs!.dtype, 'IQ2_XXS');
    assert.equal(t.future!.dtype, 'GGML_TYPE_99');
    assert.equal(t.future!.extra?.sizeInferred, true);
    assert.equal(t.f16!.dtype, 'F16');
    assert.equal(t.f16!.bytes, 30);
    assert.equal((l.metadata as { alignment: number }).alignment, 64);
    for (const x of l.tensors) assert.equal((x.offset - (l.metadata as { dataOffset: number }).dataOffset) % 64, 0);
  } finally {
    done();
  }
});

test(
  'alignment: the data section starts at the next multiple of general.alignment, each tensor at its ' + 'offset there',
  async () => {
    for (const alignment of [8, 64, 256]) {
      // a name length that puts the end of the tensor infos where rounding to 32 (the default) differs
      for (let pad = 0; pad < 64; pad++) {
        const a = new Float32Array([1, 2, 3, 4, 5]);
        const b = new Float32Array([7, 8, 9]);
        const h = new G();
        h.raw(Buffer.from('GGUF')).u32(3).u64(2).u64(2);
        h.str('general.alignment').u32(4).u32(alignment);
        h.str('general.name').u32(8).str('x'.repeat(pad));
        h.str('a').u32(1).u64(5).u32(0).u64(0);
        h.str('b')
          .u32(1)
          .u64(3)
          .u32(0)
          .u64(Math.ceil(20 / alignment) * alignment);
        const end = h.length;
        const start = Math.ceil(end / alignment) * alignment;
        if (start === Math.ceil(end / 32) * 32) continue;
        const file = Buffer.alloc(start + Math.ceil(20 / alignment) * alignment + 12, 0xee);
        h.build().copy(file, 0);
        Buffer.from(a.buffer).copy(file, start);
        Buffer.from(b.buffer).copy(file, start + Math.ceil(20 / alignment) * alignment);
        const { file: f, done } = tempFile(`align${alignment}.gguf`, file);
        try {
          const l = await ggufReader.read(f);
          assert.equal((l.metadata as { dataOffset: number }).dataOffset, start, `alignment ${alignment}`);
          const got = Object.fromEntries(
            l.tensors.map((t) => [
              t.name,
              new Float32Array(new Uint8Array(file.subarray(t.offset, t.offset + t.bytes)).buffer),
            ]),
          );
          assert.deepEqual([...got.a!], [...a], `alignment ${alignment}: tensor a read at its place`);
          assert.deepEqual([...got.b!], [...b], `alignment ${alignment}: tensor b read at its place`);
        } finally {
          done();
        }
        break;
      }
    }
    // a tensor offset that is not a multiple of the alignment is refused
    const h = new G();
    h.raw(Buffer.from('GGUF'))
      .u32(3)
      .u64(1)
      .u64(1)
      .str('general.alignment')
      .u32(4)
      .u32(64)
      .str('a')
      .u32(1)
      .u64(8)
      .u32(0)
      .u64(32);
    const mis = Buffer.concat([h.build(), Buffer.alloc(256)]);
    const { file: f2, done: d2 } = tempFile('misaligned.gguf', mis);
    try {
      await assert.rejects(
        ggufReader.read(f2),
        (e: unknown) => e instanceof TzError && /not a multiple of the alignment 64/.test(e.message),
      );
    } finally {
      d2();
    }
  },
);

test('every ggml type with fields has a consistent block layout', () => {
  for (const t of Object.values(GGML_TYPES)) {
    if (!t.fields) continue;
    let end = 0;
    for (const f of [...t.fields].sort((a, b) => a.offset - b.offset)) {
      assert.equal(f.offset, end, `${t.name}.${f.name} offset`);
      end = f.offset + f.bytes;
    }
    assert.equal(end, t.typeSize, `${t.name} fields cover the block`);
  }
});

test('a 150,000-token vocabulary is summarized, not materialized; nested arrays kept', async () => {
  const N = 150_000;
  const bytes = gguf({
    kv: (g) => {
      g.str('tokenizer.ggml.tokens').u32(9).u32(8).u64(N);
      for (let i = 0; i < N; i++) g.str(`tok${i}`);
      g.str('tokenizer.ggml.scores')
        .u32(9)
        .u32(6)
        .u64(N)
        .raw(Buffer.alloc(N * 4));
      g.str('nested').u32(9).u32(9).u64(2);
      g.u32(4).u64(2).u32(7).u32(8);
      g.u32(8).u64(1).str('x');
      g.str('name').u32(8).str('tiny');
      return 4;
    },
    tensors: [{ name: 'w', ne: [8], type: 0, bytes: 32 }],
  });
  const { file, done } = tempFile('vocab.gguf', bytes);
  try {
    const l = await ggufReader.read(file);
    const kv = (l.metadata as { kv: Record<string, unknown> }).kv;
    const tokens = kv['tokenizer.ggml.tokens'] as ArraySummary;
    assert.equal(tokens.type, 'array');
    assert.equal(tokens.elementType, 'string');
    assert.equal(tokens.length, N);
    assert.deepEqual(tokens.first, ['tok0', 'tok1', 'tok2', 'tok3', 'tok4', 'tok5', 'tok6', 'tok7']);
    assert.equal((kv['tokenizer.ggml.scores'] as ArraySummary).length, N);
    assert.deepEqual(kv.nested, [[7, 8], ['x']]);
    assert.equal(kv.name, 'tiny');
    assert.equal(JSON.stringify(l.metadata).length < 2000, true);
    assert.equal(l.tensors[0]!.offset, l.size - 32);
  } finally {
    done();
  }
});

test('hostile GGUF: lying counts and lengths, bad alignment, overlaps, truncations, flips', async () => {
  const cases: [string, Buffer, RegExp][] = [
    ['absurd tensor count', gguf({ tensors: [], tensorCount: 2 ** 40 }), /absurd tensor count/],
    ['count beyond file', gguf({ tensors: [], tensorCount: 5000 }), /more than fit/],
    [
      'lying string length',
      gguf({
        kv: (g) => {
          g.u64(2 ** 50).raw(Buffer.from('k'));
          return 1;
        },
        tensors: [],
      }),
      /claims|larger than/,
    ],
    [
      'lying array length',
      gguf({
        kv: (g) => {
          g.str('a')
            .u32(9)
            .u32(8)
            .u64(2 ** 45);
          return 1;
        },
        tensors: [],
      }),
      /more than fit/,
    ],
    [
      'deep array nesting',
      gguf({
        kv: (g) => {
          g.str('a').u32(9);
          for (let i = 0; i < 20; i++) g.u32(9).u64(1);
          g.u32(4).u64(0);
          return 1;
        },
        tensors: [],
      }),
      /deeper than/,
    ],
    [
      'alignment not a power of two',
      gguf({
        kv: (g) => {
          g.str('general.alignment').u32(4).u32(48);
          return 1;
        },
        tensors: [],
      }),
      /power of two/,
    ],
    ['bad version', Buffer.concat([Buffer.from('GGUF'), Buffer.from([9, 0, 0, 0]), Buffer.alloc(16)]), /version 9/],
    ['big-endian', Buffer.concat([Buffer.from('GGUF'), Buffer.from([0, 0, 0, 3]), Buffer.alloc(16)]), /big-endian/],
    [
      'block size mismatch',
      gguf({ tensors: [{ name: 'q', ne: [100], type: 12, bytes: 144 }] }),
      /not a multiple of the Q4_K block size/,
    ],
  ];
  // overlapping tensors: two infos pointing at the same offset
  const ov = gguf({
    tensors: [
      { name: 'a', ne: [16], type: 0, bytes: 64 },
      { name: 'b', ne: [16], type: 0, bytes: 64 },
    ],
  });
  const at = ov.indexOf(Buffer.from('b')) + 1 + 4 + 8 + 4;
  ov.writeBigUInt64LE(0n, at);
  cases.push(['overlap', ov, /overlap/]);
  for (const [label, bytes, re] of cases) {
    const { file, done } = tempFile('h.gguf', bytes);
    try {
      await assert.rejects(ggufReader.read(file), (e: unknown) => {
        assert.ok(e instanceof TzError, `${label}: ${e}`);
        assert.match(e.message, re, label);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
    } finally {
      done();
    }
  }
  if (HAS_CORPUS) {
    const r = await fuzzFile(ggufReader, path.join(CORPUS, 'stories260k.f16.gguf'), {
      headerBytes: 3424,
      truncations: 40,
      flips: 60,
      seed: 3,
    });
    assert.equal(r.truncErrors, 40);
  }
});
