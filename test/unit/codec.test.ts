// Chunk codec: round trips on real corpus tensors and synthetic edge cases, candidate selection,
// and agreement of the WebAssembly kernels with the TypeScript reference.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { xxh32Ref } from '../../engine/codec/xxh32';
import {
  initCodec,
  encodeChunk,
  decodeChunk,
  decodeChunkInto,
  codecBackendName,
  createBackends,
  loadKernels,
  encodeWith,
  decodeWith,
  CodecError,
  DEFAULT_OPTIONS,
} from '../../engine/codec/index';
import { zstdCompress } from '../../engine/codec/zstd';
import { MODE_PALETTE, MODE_PLANES, MODE_STORED, MODE_ZSTD, KIND_CONST } from '../../engine/codec/codec';
import { CHUNK, HAVE_CORPUS, corpusFiles, equalBytes, readSafetensors, rng } from './codec-helpers';
import type { Backend } from '../../engine/codec/backend';
import { chooseScale, chooseWays, normalizeFreqs, ransDecodeRef, ransEncodeRef } from '../../engine/codec/rans';
import { mergeRef, splitRef } from '../../engine/codec/planes';
import type { Layout } from '../../engine/codec/layout';

const DTYPES = [
  'F64',
  'F32',
  'F16',
  'BF16',
  'F8_E4M3',
  'F8_E5M2',
  'I64',
  'I32',
  'I16',
  'I8',
  'U64',
  'U32',
  'U16',
  'U8',
  'BOOL',
  'Q4_K',
  'RAW',
];
let wasmBackend: Backend | undefined;
let refBackend: Backend;

before(async () => {
  await initCodec();
  const b = createBackends(await loadKernels());
  wasmBackend = b.wasm;
  refBackend = b.reference;
});

function roundTrip(data: Uint8Array, dtype: string): Uint8Array {
  const copy = data.slice();
  const payload = encodeChunk(data, dtype);
  assert.ok(equalBytes(data, copy), 'encodeChunk must not mutate its input');
  assert.ok(payload.length <= data.length + 1, `${dtype}: payload ${payload.length} > ${data.length} + 1`);
  const out = decodeChunk(payload, dtype, data.length);
  assert.ok(equalBytes(out, data), `${dtype}: round trip of ${data.length} bytes differs`);
  // Encoding into a caller's slot (the compress pipeline's SharedArrayBuffer) gives the same bytes,
  // whichever candidate wins, and uses the slot: data.length + 1 bytes always suffice.
  const slots = new SharedArrayBuffer(data.length + 1 + 24);
  new Uint8Array(slots).fill(0xa5);
  const into = new Uint8Array(slots, 8, data.length + 1);
  const placed = encodeChunk(data, dtype, undefined, 0, into);
  assert.ok(equalBytes(placed, payload), `${dtype}: payload written into a slot differs`);
  assert.ok(placed.buffer === slots && placed.byteOffset === 8, `${dtype}: payload not written into the slot`);
  assert.ok(
    new Uint8Array(slots, 0, 8).every((b) => b === 0xa5),
    `${dtype}: wrote before the slot`,
  );
  return payload;
}

test('the WebAssembly kernels are in use (build-wasm ran)', () => {
  // npm test builds first; a bare tsx run without scripts/build-wasm.mjs uses the reference
  if (!wasmBackend) return;
  assert.equal(codecBackendName(), 'wasm');
});

test(
  'every corpus tensor round-trips in 1 MiB chunks, and never expands beyond 1 byte',
  { skip: !HAVE_CORPUS && 'no ../shared/corpus' },
  () => {
    let tensors = 0;
    for (const file of corpusFiles()) {
      const { header, tensors: ts } = readSafetensors(file);
      roundTrip(header, 'RAW');
      for (const t of ts) {
        // every tensor's first and last chunk (most tensors are a single chunk)
        const last = Math.max(0, Math.ceil(t.data.length / CHUNK) - 1) * CHUNK;
        for (const o of new Set([0, last])) roundTrip(t.data.subarray(o, Math.min(t.data.length, o + CHUNK)), t.dtype);
        tensors++;
      }
    }
    assert.ok(tensors > 100, `only ${tensors} tensors found`);
  },
);

test(
  'every dtype round-trips on real bytes reinterpreted, with odd lengths and partial elements',
  { skip: !HAVE_CORPUS && 'no ../shared/corpus' },
  () => {
    const { tensors } = readSafetensors(path.join(path.dirname(corpusFiles()[0]!), 'stories260k.f32.safetensors'));
    const big = tensors.reduce((a, b) => (b.data.length > a.data.length ? b : a));
    for (const dtype of DTYPES) {
      for (const len of [0, 1, 2, 3, 7, 8, 9, 15, 17, 1023, 4097, 65537, 300001]) {
        roundTrip(big.data.subarray(0, Math.min(len, big.data.length)), dtype);
      }
    }
  },
);

test('synthetic edge cases round-trip for every dtype', () => {
  const r = rng(7);
  const cases: Record<string, Uint8Array> = {
    empty: new Uint8Array(0),
    one: Uint8Array.of(42),
    allZero: new Uint8Array(10000),
    allEqual: new Uint8Array(4099).fill(0xab),
    all256: Uint8Array.from({ length: 256 * 40 + 3 }, (_, i) => i & 255),
    random: Uint8Array.from({ length: 30001 }, () => (r() * 256) | 0),
    twoSymbols: Uint8Array.from({ length: 30000 }, () => (r() < 0.999 ? 1 : 200)),
  };
  // NaN / Inf / -0 / subnormal patterns for each float width
  const f32 = new Float32Array(5000);
  for (let i = 0; i < f32.length; i++)
    f32[i] = [NaN, Infinity, -Infinity, -0, 1e-45, 3.4e38, (r() - 0.5) * 0.02][i % 7]!;
  cases.f32special = new Uint8Array(f32.buffer);
  const f64 = new Float64Array(3000);
  for (let i = 0; i < f64.length; i++) f64[i] = [NaN, Infinity, -Infinity, -0, 5e-324, (r() - 0.5) * 0.02][i % 6]!;
  cases.f64special = new Uint8Array(f64.buffer);
  const u16 = new Uint16Array(9001);
  for (let i = 0; i < u16.length; i++)
    u16[i] = [0x7fc0, 0xffc0, 0x7f80, 0xff80, 0x8000, 0x0001, (r() * 65536) | 0][i % 7]!;
  cases.half16special = new Uint8Array(u16.buffer);
  for (const [name, data] of Object.entries(cases)) {
    for (const dtype of DTYPES) {
      try {
        roundTrip(data, dtype);
        roundTrip(data.subarray(0, Math.max(0, data.length - 1)), dtype);
      } catch (e) {
        throw new Error(`${name} as ${dtype}: ${(e as Error).message}`, { cause: e });
      }
    }
  }
});

test('candidates: CONST planes for clean floats, palette for few values, zstd for repeats, stored for noise', () => {
  const r = rng(3);
  // F32 upcast from BF16: the two low bytes are zero -> two CONST planes
  const clean = new Float32Array(50000);
  const cu = new Uint32Array(clean.buffer);
  for (let i = 0; i < clean.length; i++) {
    clean[i] = (r() - 0.5) * 0.1;
    cu[i]! &= 0xffff0000;
  }
  const p1 = roundTrip(new Uint8Array(clean.buffer), 'F32');
  assert.equal(p1[0], MODE_PLANES);
  assert.equal(p1[3], KIND_CONST);
  assert.equal(p1[5], KIND_CONST);
  assert.ok(p1.length < 0.5 * clean.byteLength * 0.72, `clean F32 payload ${p1.length}`);

  // 16 arbitrary F32 values -> palette (4 bits per element; byte planes would need 4 x 4 bits)
  const values = Array.from({ length: 16 }, () => (r() - 0.5) * 3);
  const pal = new Float32Array(100000).map(() => values[(r() * 16) | 0]!);
  const p2 = roundTrip(new Uint8Array(pal.buffer), 'F32');
  assert.equal(p2[0], MODE_PALETTE);
  assert.ok(p2.length < pal.length / 2 + 300, `palette payload ${p2.length}`);
  // a 0/1 mask: both palette and byte planes reach about 1 bit per element
  const mask = new Float32Array(100000).map(() => (r() < 0.5 ? 1 : 0));
  assert.ok(roundTrip(new Uint8Array(mask.buffer), 'F32').length < mask.length / 8 + 300);

  // repeated rows of random F32 -> zstd
  const row = new Float32Array(200).map(() => r() - 0.5);
  const rows = new Float32Array(200 * 50);
  for (let i = 0; i < 50; i++) rows.set(row, i * 200);
  const p3 = roundTrip(new Uint8Array(rows.buffer), 'F32');
  assert.equal(p3[0], MODE_ZSTD);
  assert.ok(p3.length < rows.byteLength / 20);

  // JSON-like structure bytes -> zstd
  const json = new TextEncoder().encode(
    JSON.stringify(
      Array.from({ length: 300 }, (_, i) => ({ name: `layer.${i}.weight`, dtype: 'BF16', shape: [64, 64] })),
    ),
  );
  assert.equal(roundTrip(json, 'RAW')[0], MODE_ZSTD);

  // uniform noise -> stored, exactly one byte of framing
  const noise = Uint8Array.from({ length: 50000 }, () => (r() * 256) | 0);
  for (const dtype of ['U8', 'I32', 'BF16', 'Q4_K']) {
    const p = roundTrip(noise, dtype);
    assert.equal(p[0], MODE_STORED);
    assert.equal(p.length, noise.length + 1);
  }
});

test(
  'BF16 real weights compress better than ZipNN per chunk (sanity: below 70%)',
  { skip: !HAVE_CORPUS && 'no ../shared/corpus' },
  () => {
    const { tensors } = readSafetensors(path.join(path.dirname(corpusFiles()[0]!), 'human_faceres.bf16.safetensors'));
    let raw = 0,
      coded = 0;
    for (const t of tensors) {
      if (t.data.length < 100000) continue;
      const chunk = t.data.subarray(0, CHUNK);
      raw += chunk.length;
      coded += roundTrip(chunk, t.dtype).length;
    }
    assert.ok(raw > 0);
    assert.ok(coded / raw < 0.7, `ratio ${coded / raw}`);
  },
);

test(
  'WebAssembly and reference produce identical payloads and decode each other',
  { skip: !HAVE_CORPUS && 'no ../shared/corpus' },
  (t) => {
    if (!wasmBackend) {
      t.skip('kernels not generated (run scripts/build-wasm.mjs)');
      return;
    }
    const inputs: [Uint8Array, string][] = [];
    for (const file of corpusFiles()) {
      const { tensors } = readSafetensors(file);
      // a few tensors per file, first 256 KiB each (the reference is slow)
      for (const tt of tensors.filter((x) => x.data.length > 1000).slice(0, 2))
        inputs.push([tt.data.subarray(0, 64 * 1024 + 3), tt.dtype]);
    }
    const r = rng(11);
    inputs.push([Uint8Array.from({ length: 30001 }, () => (r() < 0.9 ? 0 : (r() * 256) | 0)), 'U8']);
    inputs.push([Uint8Array.from({ length: 30000 }, () => (r() * 4) | 0), 'I16']);
    for (const [data, dtype] of inputs) {
      const a = encodeWith(wasmBackend, data, dtype);
      const b = encodeWith(refBackend, data, dtype);
      assert.ok(equalBytes(a, b), `${dtype} ${data.length}: payloads differ (${a.length} vs ${b.length})`);
      assert.ok(equalBytes(decodeWith(refBackend, a, data.length), data));
      assert.ok(equalBytes(decodeWith(wasmBackend, b, data.length), data));
    }
  },
);

test('the SIMD rANS encoders (8 and 16 lanes) emit exactly the reference words and states (synthetic planes)', (t) => {
  if (!wasmBackend) {
    t.skip('kernels not generated (run scripts/build-wasm.mjs)');
    return;
  }
  const r = rng(23);
  // lengths around the 8-way and scale thresholds; distributions from one dominant symbol with
  // frequency-1 outliers to all 256 symbols, so every renormalisation pattern of a group occurs
  const shapes: Array<[string, () => number]> = [
    ['exponent-like', () => (120 + Math.round(6 * Math.log(1 / (r() + 1e-9)) * (r() < 0.5 ? -1 : 1))) & 0xff],
    ['dominant+rare', () => (r() < 0.999 ? 7 : (r() * 256) | 0)],
    ['uniform-256', () => (r() * 256) | 0],
    ['two-symbols', () => (r() < 0.7 ? 1 : 200)],
  ];
  for (const n of [1024, 1031, 2047, 2048, 4099, 65535, 65536, 65536 + 16 * 7 + 5]) {
    for (const [name, gen] of shapes) {
      const plane = Uint8Array.from({ length: n }, gen);
      const counts = new Uint32Array(256);
      for (const v of plane) counts[v]!++;
      if (counts.filter((c) => c > 0).length < 2) continue;
      const scale = chooseScale(n),
        ways = chooseWays(n);
      const freqs = normalizeFreqs(counts, scale);
      const ref = ransEncodeRef(plane, freqs, scale, ways);
      wasmBackend.beginEncode(plane, n, { width: 1, transform: 0 });
      const got = wasmBackend.ransEncode(0, freqs, scale, ways);
      assert.deepEqual([...got.states], [...ref.states], `${name} n=${n}: states differ`);
      assert.ok(
        equalBytes(got.words, ref.words),
        `${name} n=${n}: words differ (${got.words.length} vs ${ref.words.length} bytes)`,
      );
      const back = new Uint8Array(n);
      ransDecodeRef(got.words, got.states, freqs, scale, back);
      assert.ok(equalBytes(back, plane), `${name} n=${n}: does not decode`);
    }
  }
});

const HAVE_XXHSUM = spawnSync('xxhsum', ['-V']).status === 0;

test(
  'XXH32: the WebAssembly kernel, the reference and xxhsum -H0 agree (every length 0..80, larger, unaligned)',
  { skip: !HAVE_XXHSUM && 'xxhsum not installed (Debian package xxhash; .ci/run installs it)' },
  (t) => {
    if (!wasmBackend) {
      t.skip('kernels not generated (run scripts/build-wasm.mjs)');
      return;
    }
    const r = rng(31);
    const big = Uint8Array.from({ length: (1 << 20) + 37 }, () => (r() * 256) | 0);
    const cases: Uint8Array[] = [];
    for (let n = 0; n <= 80; n++) cases.push(big.subarray(3, 3 + n));
    cases.push(big.subarray(1), big.subarray(0, 65536), new Uint8Array(4096));
    const dir = mkdtempSync(path.join(tmpdir(), 'tz-xxh-'));
    try {
      cases.forEach((c, i) => writeFileSync(path.join(dir, `c${i}`), c));
      const out = spawnSync('xxhsum', ['-H0', ...cases.map((_, i) => path.join(dir, `c${i}`))], {
        encoding: 'utf8',
      }).stdout;
      const want = new Map(
        out
          .trim()
          .split('\n')
          .map((l) => {
            const [h, f] = l.trim().split(/\s+/);
            return [path.basename(f!), parseInt(h!, 16)];
          }),
      );
      cases.forEach((c, i) => {
        const ref = xxh32Ref(c);
        assert.equal(ref, want.get(`c${i}`), `reference, ${c.length} bytes`);
        assert.equal(wasmBackend!.xxh32(c), ref, `wasm, ${c.length} bytes`);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('decodeChunkInto writes into a larger buffer; wrong rawLength is a CodecError', () => {
  const r = rng(5);
  const data = Uint8Array.from({ length: 20000 }, () => (r() * r() * 64) | 0);
  const payload = encodeChunk(data, 'BF16');
  const slot = new Uint8Array(CHUNK).fill(0xee);
  decodeChunkInto(payload, 'BF16', data.length, slot);
  assert.ok(equalBytes(slot.subarray(0, data.length), data));
  assert.equal(slot[data.length], 0xee);
  assert.throws(() => decodeChunk(payload, 'BF16', data.length + 2), CodecError);
  assert.throws(() => decodeChunk(payload, 'BF16', data.length - 2), CodecError);
  assert.throws(() => decodeChunkInto(payload, 'BF16', data.length, new Uint8Array(10)), CodecError);
});

test('an STFT basis (windowed cos/sin table): the 4 KiB probe escalates, level 3 beats planes, level 19 kept', () => {
  // the shapes of the Silero VAD bases, [258, 256] and [130, 128]: the case the LZ candidate exists for
  for (const [K, L] of [
    [258, 256],
    [130, 128],
  ] as const) {
    const basis = new Float32Array(K * L);
    const half = K / 2;
    for (let k = 0; k < K; k++)
      for (let n = 0; n < L; n++) {
        const f = k % half;
        const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / L);
        const a = (2 * Math.PI * f * n) / L;
        basis[k * L + n] = w * (k < half ? Math.cos(a) : -Math.sin(a));
      }
    const data = new Uint8Array(basis.buffer);
    const p = roundTrip(data, 'F32');
    assert.equal(p[0], MODE_ZSTD, `[${K}, ${L}]`);
    // exactly the slow level's frame: a probe or level-3 gate that wrongly stops keeps planes or level 3
    assert.equal(p.length, 1 + zstdCompress(data, DEFAULT_OPTIONS.zstdLevel).length, `[${K}, ${L}]`);
    assert.ok(p.length < 0.4 * encodeChunk(data, 'F32', { ...DEFAULT_OPTIONS, noZstd: true }).length);
  }
});

test('the codec works inside worker_threads (wasm kernels and zstd per thread)', async () => {
  const r = rng(9);
  const json = new TextEncoder().encode(JSON.stringify({ a: Array.from({ length: 400 }, (_, i) => `tensor.${i}`) }));
  const bf16 = Uint8Array.from({ length: 40000 }, (_, i) => (i & 1 ? 0x3c + ((r() * 4) | 0) : (r() * 256) | 0));
  const work: [Uint8Array, string][] = [
    [json, 'RAW'],
    [bf16, 'BF16'],
  ];
  // the worker loads TypeScript through tsx's CommonJS hook (the bundled dist/worker.js needs none)
  const boot = `require('tsx/cjs'); require(${JSON.stringify(path.resolve('test/unit/codec-worker.ts'))});`;
  const w = new Worker(boot, { eval: true, workerData: work });
  const msg = await new Promise<{ payloads?: Uint8Array[]; backend?: string; error?: string }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
  assert.equal(msg.error, undefined);
  assert.equal(msg.payloads![0]![0], MODE_ZSTD);
  work.forEach(([d, t], i) => assert.ok(equalBytes(decodeChunk(msg.payloads![i]!, t, d.length), d)));
  if (wasmBackend) assert.equal(msg.backend, 'wasm');
});

test('the SIMD plane split and merge of 4- and 8-byte elements equal the reference (every transform, tails)', (t) => {
  if (!wasmBackend) {
    t.skip('kernels not generated (run scripts/build-wasm.mjs)');
    return;
  }
  const r = rng(41);
  for (const [width, transform] of [
    [4, 0],
    [4, 2],
    [8, 0],
    [8, 3],
  ] as const) {
    const layout = { width, transform } as Layout;
    for (const n of [0, 1, 15, 16, 17, 31, 32, 33, 100, 1029]) {
      const src = Uint8Array.from({ length: n * width + 3 }, () => (r() * 256) | 0);
      const what = `width ${width}, transform ${transform}, ${n} elements`;
      wasmBackend.beginEncode(src, n, layout);
      const planes = new Uint8Array(n * width);
      for (let p = 0; p < width; p++) planes.set(wasmBackend.plane(p), p * n);
      assert.ok(equalBytes(planes, splitRef(src, n, layout)), `${what}: split`);
      wasmBackend.beginDecode(n, layout);
      for (let p = 0; p < width; p++) wasmBackend.planeOut(p).set(planes.subarray(p * n, (p + 1) * n));
      const back = new Uint8Array(n * width);
      wasmBackend.finishDecode(back);
      const ref = new Uint8Array(n * width);
      mergeRef(planes, n, layout, ref);
      assert.ok(equalBytes(back, ref), `${what}: merge`);
      assert.ok(equalBytes(back, src.subarray(0, n * width)), `${what}: round trip`);
    }
  }
});
