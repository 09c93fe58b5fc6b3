/** Lossy mode kernels and selection rules on hand-picked values (no corpus needed). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { measureBlock, roundValue } from '../../engine/lossy/block';
import { mergeAcc, newAcc, summarizeErrors } from '../../engine/lossy/errorStats';
import { roundBits, roundBitsF64, roundChunk } from '../../engine/lossy/round';
import { DEFAULT_LOSSLESS_GLOBS, globToRegExp, selectTensor } from '../../engine/lossy/select';
import { checkLossyOptions } from '../../engine/lossy/plan';
import { TzError } from '../../engine/core/errors';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (x: number) => {
  f32[0] = x;
  return u32[0]!;
};
const valOf = (b: number) => {
  u32[0] = b;
  return f32[0]!;
};
const bf16 = (x: number) => bitsOf(x) >>> 16; // exact for values with <= 7 mantissa bits
const bf16Val = (b: number) => valOf(b << 16);
const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
const f64Bits = (x: number) => {
  f64[0] = x;
  return u64[0]!;
};
const f64Val = (b: bigint) => {
  u64[0] = b;
  return f64[0]!;
};

describe('round to nearest, ties to even', () => {
  test('BF16 ties at k = 0..3 go to the even neighbour, non-ties to the nearest', () => {
    // k = 3: grid step 1/8 in [1, 2). 1 + 1/16 is a tie between 1 (even: last kept bit 0) and 1.125.
    assert.equal(bf16Val(roundBits(bf16(1 + 1 / 16), 'BF16', 3)), 1);
    assert.equal(bf16Val(roundBits(bf16(1 + 3 / 16), 'BF16', 3)), 1.25); // tie 1.125 | 1.25 -> 1.25 (even)
    assert.equal(bf16Val(roundBits(bf16(1 + 5 / 64), 'BF16', 3)), 1.125); // above the tie
    assert.equal(bf16Val(roundBits(bf16(1 + 3 / 64), 'BF16', 3)), 1); // below the tie
    assert.equal(bf16Val(roundBits(bf16(-(1 + 3 / 16)), 'BF16', 3)), -1.25); // sign kept
    // k = 1: 1.25 ties 1 | 1.5 -> 1; 1.75 ties 1.5 | 2 -> 2 (carry into the exponent)
    assert.equal(bf16Val(roundBits(bf16(1.25), 'BF16', 1)), 1);
    assert.equal(bf16Val(roundBits(bf16(1.75), 'BF16', 1)), 2);
    // k = 0: 1.5 ties 1 | 2; the exponent field of 1 (127) is odd, of 2 (128) even -> 2; 3 ties 2 | 4 -> 2
    assert.equal(bf16Val(roundBits(bf16(1.5), 'BF16', 0)), 2);
    assert.equal(bf16Val(roundBits(bf16(3), 'BF16', 0)), 2);
    assert.equal(bf16Val(roundBits(bf16(1.4375), 'BF16', 0)), 1);
  });

  test('F16, F32 and F64 ties and carries', () => {
    // F16 1 + 2^-10 * 64 = 1 + 1/16 with k = 3 -> 1; 1.9375 (= 1 + 15/16) with k = 3 -> 2 (carry)
    assert.equal(roundBits(0x3c00 + 64, 'F16', 3), 0x3c00);
    assert.equal(roundBits(0x3c00 + 960, 'F16', 3), 0x4000);
    assert.equal(roundBits(0x3c00 + 3 * 64, 'F16', 3), 0x3c00 + 256); // 1.1875 -> 1.25
    assert.equal(valOf(roundBits(bitsOf(1 + 2 ** -11), 'F32', 10)), 1); // tie -> even
    assert.equal(valOf(roundBits(bitsOf(1 + 3 * 2 ** -11), 'F32', 10)), 1 + 2 * 2 ** -10);
    assert.equal(valOf(roundBits(bitsOf(1 + 2 ** -11 + 2 ** -20), 'F32', 10)), 1 + 2 ** -10);
    assert.equal(f64Val(roundBitsF64(f64Bits(1 + 2 ** -31), 30)), 1); // tie -> even
    assert.equal(f64Val(roundBitsF64(f64Bits(1 + 3 * 2 ** -31), 30)), 1 + 2 ** -29);
    assert.equal(f64Val(roundBitsF64(f64Bits(-(2 - 2 ** -52)), 10)), -2);
  });

  test('round-to-nearest agrees with an arithmetic reference on every BF16 and F16 pattern, every k', () => {
    for (const [dtype, M, E] of [
      ['BF16', 7, 8],
      ['F16', 10, 5],
    ] as const) {
      const val =
        dtype === 'BF16'
          ? bf16Val
          : (b: number) => {
              const e = (b >> 10) & 31,
                m = b & 1023;
              return (b & 0x8000 ? -1 : 1) * (e ? (1 + m / 1024) * 2 ** (e - 15) : m * 2 ** -24);
            };
      const top = (1 << (M + E)) - (1 << M); // first Inf pattern
      for (let k = 0; k < M; k++) {
        for (let b = 1; b < top; b++) {
          const x = val(b);
          const y = val(roundBits(b, dtype, k));
          const step = 2 ** (Math.floor(Math.log2(x)) - k); // k significant bits after the leading one (subnormals too)
          if (!((Math.abs(y - x) <= step / 2 && Number.isInteger(y / step)) || y !== y)) {
            // the only exception: rounding up past the top of the range clamps to the largest finite value
            const maxK = val(((2 ** E - 2) << M) | ((1 << M) - (1 << (M - k))));
            assert.equal(y, maxK, `${dtype} k=${k} pattern ${b}: ${x} -> ${y}`);
            assert.ok(x > maxK);
          }
          // ties: the last kept bit of the pattern is 0 (with k = 0 that is the exponent's lowest bit)
          const clamped = y === val(((2 ** E - 2) << M) | ((1 << M) - (1 << (M - k)))) && x > y;
          if (Math.abs(y - x) === step / 2 && b >= 1 << M && !clamped)
            assert.equal((roundBits(b, dtype, k) >> (M - k)) & 1, 0, `${dtype} k=${k} tie ${x} -> ${y} not even`);
        }
      }
    }
  });
});

describe('special values', () => {
  test('overflow clamps to the largest finite value with k bits; NaN and Inf keep their exact bits', () => {
    // BF16 max finite 0x7f7f (3.3895e38); k = 3 rounds it up -> clamp to 0x7f78
    assert.equal(roundBits(0x7f7f, 'BF16', 3), 0x7f70);
    assert.equal(roundBits(0xff7f, 'BF16', 3), 0xff70);
    assert.equal(roundBits(0x7f7f, 'BF16', 0), 0x7f00);
    assert.equal(roundBits(0x7f74, 'BF16', 3), 0x7f70); // below the midpoint: ordinary rounding down
    assert.equal(roundBits(0x7bff, 'F16', 5), 0x7be0); // F16 65504 -> clamp (not Inf 0x7c00)
    assert.equal(roundBits(0x7f7fffff, 'F32', 10), 0x7f7fe000);
    assert.equal(roundBitsF64(0x7fefffffffffffffn, 20), 0x7fefffff00000000n);
    for (const b of [0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffff, 0x7fa5])
      for (let k = 0; k < 7; k++) assert.equal(roundBits(b, 'BF16', k), b);
    for (const b of [0x7c00, 0xfc00, 0x7e00, 0x7c01]) assert.equal(roundBits(b, 'F16', 2), b);
    for (const b of [0x7f800000, 0xff800000, 0x7fc00001, 0x7f800001]) assert.equal(roundBits(b, 'F32', 4), b);
    for (const b of [0x7ff0000000000000n, 0x7ff8000000000001n]) assert.equal(roundBitsF64(b, 4), b);
    assert.equal(roundBits(0, 'BF16', 0), 0);
    assert.equal(roundBits(0x8000, 'BF16', 0), 0x8000); // -0 stays -0
  });

  test(
    'subnormals keep k significant bits (relative error bound holds); the top carry reaches the ' + 'smallest normal',
    () => {
      // BF16 subnormal with mantissa 0b1011011 (lead at bit 6): k = 2 keeps 0b101 + round -> 0b1100000
      assert.equal(roundBits(0b1011011, 'BF16', 2), 0b1100000);
      assert.equal(roundBits(0b0000101, 'BF16', 2), 0b0000101); // only 2 bits after its leading one: unchanged
      assert.equal(roundBits(0b0000111, 'BF16', 1), 0b0001000); // 7 -> 8
      assert.equal(roundBits(0b1111111, 'BF16', 3), 0b10000000); // carries into the smallest normal
      assert.equal(roundBits(0x8000 | 0b1011011, 'BF16', 2), 0x8000 | 0b1100000);
      assert.equal(f64Val(roundBitsF64(0x000fffffffffffffn, 3)), 2 ** -1022);
    },
  );

  test('roundChunk rounds in place, leaves NaN/Inf and a partial tail alone, and measures the error', () => {
    const vals = [1 + 1 / 16, 1.75, NaN, Infinity, -3, 0, 1 + 3 / 64];
    const u = new Uint16Array(vals.map((x) => (Number.isNaN(x) ? 0x7fc1 : bf16(x))));
    const data = new Uint8Array(u.length * 2 + 1);
    data.set(new Uint8Array(u.buffer));
    data[data.length - 1] = 0xab;
    const acc = roundChunk(data, 'BF16', 1);
    const out = new Uint16Array(data.buffer, 0, u.length);
    assert.deepEqual(
      [...out].map(bf16Val).map((x) => (Number.isNaN(x) ? 'NaN' : x)),
      [1, 2, 'NaN', Infinity, -3, 0, 1],
    );
    assert.equal(out[2], 0x7fc1);
    assert.equal(data[data.length - 1], 0xab);
    assert.equal(acc.elements, 7);
    assert.equal(acc.nonFinite, 2);
    assert.equal(acc.changed, 3);
    assert.equal(acc.maxAbs, 0.25);
    assert.equal(acc.maxRel, 0.25 / 1.75);
    const s = summarizeErrors(mergeAcc(newAcc(), acc));
    assert.ok(Math.abs(s.rmse - Math.sqrt((1 / 256 + 1 / 16 + 9 / 4096) / 5)) < 1e-12);
    assert.equal(s.changedFraction, 3 / 7);
    assert.ok(s.snrDb! > 10 && s.snrDb! < 30);
    // F32 and F64 chunks, including an unaligned view
    const f = new Float32Array([1 + 2 ** -11, -(1 + 3 * 2 ** -11), 3.14159]);
    const buf = new Uint8Array(13);
    buf.set(new Uint8Array(f.buffer), 1);
    roundChunk(buf.subarray(1), 'F32', 10);
    const g = new Float32Array(buf.slice(1).buffer);
    assert.deepEqual([...g], [1, -(1 + 2 ** -9), roundValue(Math.fround(3.14159), 10)]);
    const d = new Float64Array([Math.PI, -Math.E]);
    roundChunk(new Uint8Array(d.buffer), 'F64', 5);
    assert.deepEqual([...d], [3.125, -2.6875]);
  });

  test('bad k is refused', () => {
    assert.throws(() => roundBits(1, 'BF16', 7), RangeError);
    assert.throws(() => roundChunk(new Uint8Array(4), 'I32', 1), RangeError);
    assert.throws(() => roundChunk(new Uint8Array(4), 'F16', -1), RangeError);
    assert.throws(
      () => checkLossyOptions('m', { lossyBits: 1.5 }),
      (e) => e instanceof TzError && e.code === 'USAGE',
    );
    assert.throws(
      () => checkLossyOptions('m', { lossyBits: 3, lossyBlock: 8 }),
      (e) => e instanceof TzError && e.code === 'USAGE',
    );
    assert.throws(
      () => checkLossyOptions('m', { lossyBits: 3, lossyBlock: 64 }),
      (e) => e instanceof TzError && e.code === 'UNSUPPORTED',
    );
    assert.throws(
      () => checkLossyOptions('m', { lossyInclude: ['*'] }),
      (e) => e instanceof TzError && e.code === 'USAGE',
    );
  });
});

describe('selection', () => {
  test('defaults keep embeddings, norms, biases and 1-D tensors lossless; include/exclude override', () => {
    const sel = { bits: 3 };
    const pick = (name: string, shape: number[], dtype = 'BF16', s: Parameters<typeof selectTensor>[1] = sel) =>
      selectTensor({ name, dtype, shape }, s).bits;
    assert.equal(pick('layers.0.attention.wq.weight', [64, 64]), 3);
    assert.equal(pick('tok_embeddings.weight', [512, 64]), undefined);
    assert.equal(pick('model.embed_tokens.weight', [512, 64]), undefined);
    assert.equal(pick('transformer.wte.weight', [512, 64]), undefined);
    assert.equal(pick('layers.0.attention_norm.weight', [64]), undefined);
    assert.equal(pick('blk.0.ffn_norm.weight', [64, 64]), undefined);
    assert.equal(pick('conv1.bias', [64, 1]), undefined);
    assert.equal(pick('linear_3.b_0', [64, 10]), undefined);
    assert.equal(pick('conv1.weight', [64]), undefined);
    assert.equal(pick('conv1.weight', [1, 1, 64]), undefined); // one dimension > 1 counts as 1-D
    assert.equal(pick('conv1.weight', [16, 1, 3, 3]), 3);
    assert.equal(pick('ids', [64, 64], 'I64'), undefined);
    assert.equal(pick('w', [64, 64], 'BF16', { bits: 7 }), undefined); // k not below the mantissa width
    assert.equal(pick('w', [64, 64], 'F32', { bits: 7 }), 7);
    assert.equal(pick('tok_embeddings.weight', [512, 64], 'BF16', { bits: 2, include: ['tok_*'] }), 2);
    assert.equal(pick('norm.weight', [64], 'BF16', { bits: 2, include: ['*'] }), 2);
    assert.equal(
      pick('layers.0.attention.wq.weight', [64, 64], 'BF16', { bits: 2, include: ['*'], exclude: ['layers.0.*'] }),
      undefined,
    );
    // case-insensitive, ? = one char
    assert.equal(pick('Layers.1.W', [64, 64], 'BF16', { bits: 2, exclude: ['layers.?.w'] }), undefined);
    assert.ok(globToRegExp('a.b*').test('a.b/c.d'));
    assert.ok(!globToRegExp('a.b').test('axb'));
    assert.ok(DEFAULT_LOSSLESS_GLOBS.includes('*norm*'));
  });
});

describe('block normalisation (measurement only)', () => {
  test('the block maximum survives exactly; other values keep the plain bound plus the final rounding', () => {
    const vals = new Float64Array([0.3, -1.7, 0.01, 0.123, 1.7, -0.5, 0.2, 0.9]);
    const acc = measureBlock(vals, 'F32', 2, 4);
    assert.ok(acc.maxRel <= 2 ** -3 * (1 + 2 ** -20));
    // 1.75 is its block's maximum: exact, where plain rounding to 0 bits makes it 2
    const plain = newAcc();
    const one = measureBlock(new Float64Array([1.75, 0.875]), 'F32', 0, 2, newAcc(), plain);
    assert.equal(one.changed, 0);
    assert.equal(plain.changed, 2);
    assert.equal(roundValue(1.75, 0), 2);
  });
});
