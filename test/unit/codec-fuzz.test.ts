// decodeChunk on corrupted, truncated and random payloads must throw CodecError (or, when a
// mutation happens to stay valid, return exactly rawLength bytes) — never hang or crash otherwise.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  initCodec,
  encodeChunk,
  decodeChunk,
  CodecError,
  createBackends,
  loadKernels,
  decodeWith,
} from '../../engine/codec/index';
import { rng } from './codec-helpers';
import type { Backend } from '../../engine/codec/backend';

let ref: Backend;
before(async () => {
  await initCodec();
  ref = createBackends(await loadKernels()).reference;
});

function samples(): [Uint8Array, string][] {
  const r = rng(42);
  const gauss = () => {
    let s = 0;
    for (let i = 0; i < 6; i++) s += r();
    return (s - 3) * 0.02;
  };
  const f32 = new Float32Array(3000).map(gauss);
  const bf16 = new Uint16Array(4001).map(() => {
    const b = new Float32Array([gauss()]);
    return new Uint32Array(b.buffer)[0]! >>> 16;
  });
  const pal = new Float32Array(2000).map(() => [0.5, -1, 2, 0][(r() * 4) | 0]!);
  const json = new TextEncoder().encode(
    JSON.stringify({ tensors: Array.from({ length: 80 }, (_, i) => ({ name: `w${i}`, shape: [i, 2] })) }),
  );
  const clean = new Float32Array(2500).map(gauss).map((x) => Math.fround(x));
  new Uint32Array(clean.buffer).forEach((v, i, a) => {
    a[i] = v & 0xffff0000;
  });
  return [
    [new Uint8Array(f32.buffer), 'F32'],
    [new Uint8Array(bf16.buffer).subarray(0, 8001), 'BF16'],
    [new Uint8Array(pal.buffer), 'F32'],
    [json, 'RAW'],
    [new Uint8Array(clean.buffer), 'F32'],
    [Uint8Array.from({ length: 3000 }, () => (r() * 256) | 0), 'U8'],
  ];
}

function check(payload: Uint8Array, dtype: string, rawLength: number): 'ok' | 'rejected' {
  try {
    const out = decodeChunk(payload, dtype, rawLength);
    assert.equal(out.length, rawLength);
    return 'ok';
  } catch (e) {
    if (!(e instanceof CodecError))
      throw new Error(`non-CodecError ${(e as Error).name}: ${(e as Error).message}`, { cause: e });
    assert.ok(!/\n/.test(e.message), 'one-line message');
    return 'rejected';
  }
}

test('byte flips, truncations, extensions and random payloads are rejected cleanly', () => {
  const r = rng(1234);
  let rejected = 0,
    total = 0;
  const modes = new Set<number>();
  for (const [data, dtype] of samples()) {
    const payload = encodeChunk(data, dtype);
    modes.add(payload[0]!);
    for (let k = 0; k < 500; k++) {
      const m = payload.slice();
      const flips = 1 + ((r() * 3) | 0);
      for (let f = 0; f < flips; f++) m[(r() * m.length) | 0] ^= 1 + ((r() * 255) | 0);
      if (check(m, dtype, data.length) === 'rejected') rejected++;
      total++;
    }
    for (let k = 0; k < 100; k++) {
      const cut = (r() * payload.length) | 0;
      assert.equal(
        check(payload.subarray(0, cut), dtype, data.length),
        'rejected',
        `truncation at ${cut} of ${payload.length} accepted`,
      );
      total++;
    }
    const longer = new Uint8Array(payload.length + 3);
    longer.set(payload);
    assert.equal(check(longer, dtype, data.length), 'rejected', 'trailing bytes accepted');
    // lying lengths
    assert.equal(check(payload, dtype, data.length + 1 + ((r() * 1000) | 0)), 'rejected');
  }
  for (let k = 0; k < 1000; k++) {
    const len = (r() * 300) | 0;
    const rnd = Uint8Array.from({ length: len }, () => (r() * 256) | 0);
    if (len > 0) rnd[0] = (r() * 4) | 0; // a valid mode byte, so the parsers below it are exercised
    check(rnd, 'BF16', (r() * 5000) | 0);
    total++;
  }
  assert.ok(modes.size >= 3, `only modes ${[...modes]}`);
  assert.ok(rejected > total * 0.3, `${rejected} of ${total} mutations rejected`);
});

test('the reference decoder rejects the same corruptions as the WebAssembly one', () => {
  const r = rng(77);
  for (const [data, dtype] of samples().slice(0, 3)) {
    const payload = encodeChunk(data, dtype);
    for (let k = 0; k < 150; k++) {
      const m = payload.slice();
      m[(r() * m.length) | 0] ^= 1 + ((r() * 255) | 0);
      let a: string, b: string;
      try {
        decodeChunk(m, dtype, data.length);
        a = 'ok';
      } catch {
        a = 'rejected';
      }
      try {
        decodeWith(ref, m, data.length);
        b = 'ok';
      } catch (e) {
        assert.ok(e instanceof CodecError);
        b = 'rejected';
      }
      assert.equal(a, b);
    }
  }
});
