import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { analyzeFile } from '../../engine/analysis/analyze';
import { layerOf } from '../../shared/layers';
import {
  CORPUS,
  NO_CORPUS,
  gaussianF32,
  rng,
  safetensorsBytes,
  tempDir,
  toBF16Bytes,
  writeFile,
} from '../helpers/safetensors';

const tmp = tempDir();
after(() => tmp.cleanup());

/** Independent reference: per-element exponent extraction with DataView and a Map histogram. */
function refExponentEntropy(buf: Uint8Array, dtype: string): number {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const counts = new Map<number, number>();
  const spec: Record<string, [number, number, number]> = {
    F32: [4, 23, 0xff],
    BF16: [2, 7, 0xff],
    F16: [2, 10, 0x1f],
    F64: [8, 52, 0x7ff],
  };
  const [size, shift, mask] = spec[dtype]!;
  const n = buf.length / size;
  for (let i = 0; i < n; i++) {
    let e: number;
    if (size === 8) e = Number((dv.getBigUint64(i * 8, true) >> 52n) & 0x7ffn);
    else if (size === 4) e = (dv.getUint32(i * 4, true) >>> shift) & mask;
    else e = (dv.getUint16(i * 2, true) >>> shift) & mask;
    counts.set(e, (counts.get(e) ?? 0) + 1);
  }
  let h = 0;
  for (const c of counts.values()) h -= (c / n) * Math.log2(c / n);
  return h;
}

/** Independent order-0 bound of the byte planes the codec codes (docs/format.md, PLANES): BF16 and F32
 *  with the sign moved next to the mantissa, F16 as it is. */
function refBoundBytes(buf: Uint8Array, dtype: string): number {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const size = dtype === 'F32' ? 4 : 2;
  const n = buf.length / size;
  const planes = Array.from({ length: size }, () => new Map<number, number>());
  for (let i = 0; i < n; i++) {
    let rot: number;
    if (size === 4) {
      const x = dv.getUint32(i * 4, true);
      rot = ((((x >>> 23) & 0xff) << 24) | ((x >>> 31) << 23) | (x & 0x7fffff)) >>> 0;
    } else {
      const x = dv.getUint16(i * 2, true);
      rot = dtype === 'F16' ? x : ((x & 0x7fff) << 1) | (x >>> 15);
    }
    for (let p = 0; p < size; p++) {
      const b = (rot >>> (8 * p)) & 0xff;
      planes[p]!.set(b, (planes[p]!.get(b) ?? 0) + 1);
    }
  }
  let bits = 0;
  for (const m of planes) for (const c of m.values()) bits -= c * Math.log2(c / n);
  return bits / 8;
}

function readTensors(file: string): Array<{ name: string; dtype: string; data: Uint8Array }> {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  const hdr = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; data_offsets: [number, number] }
  >;
  return Object.entries(hdr)
    .filter(([k]) => k !== '__metadata__')
    .map(([name, t]) => ({
      name,
      dtype: t.dtype,
      data: new Uint8Array(b.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1])),
    }));
}

describe('analysis on real weights', { skip: NO_CORPUS }, () => {
  const files = NO_CORPUS ? [] : readdirSync(CORPUS).filter((f) => f.endsWith('.safetensors'));
  for (const f of files) {
    test(`${f}: exponent entropy within 0.001 bits and bound within 0.1% of an independent computation`, async () => {
      const p = path.join(CORPUS, f);
      const fa = await analyzeFile(p);
      const ref = new Map(readTensors(p).map((t) => [t.name, t]));
      assert.equal(fa.tensors.length, ref.size);
      for (const t of fa.tensors) {
        const r = ref.get(t.name)!;
        if (t.bytes === 0) continue;
        if (!['F32', 'F16', 'BF16', 'F64'].includes(t.dtype)) {
          assert.equal(t.exponentEntropy, null, `${t.name} (${t.dtype}) has no exponent`);
          continue;
        }
        assert.ok(t.exponentEntropy !== null, `${t.name}`);
        const re = refExponentEntropy(r.data, r.dtype);
        assert.ok(Math.abs(t.exponentEntropy - re) < 0.001, `${t.name}: ${t.exponentEntropy} vs ${re}`);
        const rb = refBoundBytes(r.data, r.dtype);
        assert.ok(Math.abs(t.boundBytes - rb) <= Math.max(2, rb * 0.001), `${t.name}: ${t.boundBytes} vs ${rb}`);
      }
    });
  }

  test('the clean F32 upcast is detected (13 low mantissa bits zero)', async () => {
    const fa = await analyzeFile(path.join(CORPUS, 'human_faceres.f32.safetensors'));
    const big = fa.tensors.filter((t) => t.elements > 1000);
    assert.ok(big.length > 10);
    for (const t of big) assert.ok((t.cleanLowBits ?? 0) >= 13, `${t.name}: ${t.cleanLowBits}`);
    const notClean = await analyzeFile(path.join(CORPUS, 'ppocrv4_rec.f32.safetensors'));
    assert.ok(notClean.tensors.filter((t) => t.elements > 1000).every((t) => (t.cleanLowBits ?? 0) < 8));
  });

  test('quick mode samples, is marked as an estimate, and lands near the full figure', async () => {
    const p = path.join(CORPUS, 'human_faceres.bf16.safetensors');
    const full = await analyzeFile(p);
    const quick = await analyzeFile(p, { quick: true });
    assert.equal(quick.estimate, true);
    assert.ok(Math.abs(quick.boundBytes - full.boundBytes) / full.boundBytes < 0.02);
  });
});

describe('analysis on synthetic data', () => {
  test('value statistics, special values and layers', async () => {
    const w = gaussianF32(4096, 0.02, 11);
    const special = new Float32Array([0, -0, NaN, Infinity, -Infinity, 1e-40, 3, -2]);
    const p = writeFile(
      tmp.dir,
      'syn.safetensors',
      safetensorsBytes([
        { name: 'model.layers.0.mlp.weight', dtype: 'F32', shape: [64, 64], data: new Uint8Array(w.buffer) },
        { name: 'model.layers.0.special', dtype: 'F32', shape: [8], data: new Uint8Array(special.buffer) },
        { name: 'model.layers.1.mlp.weight', dtype: 'BF16', shape: [64, 64], data: toBF16Bytes(w) },
        {
          name: 'lm_head.weight',
          dtype: 'I64',
          shape: [4],
          data: new Uint8Array(new BigInt64Array([1n, 2n, 3n, 1n]).buffer),
        },
      ]),
    );
    const fa = await analyzeFile(p);
    const [a, s, b, i] = fa.tensors;
    let mean = 0;
    for (const v of w) mean += v;
    mean /= w.length;
    assert.ok(Math.abs(a!.mean! - mean) < 1e-9);
    assert.ok(Math.abs(b!.mean! - mean) < 1e-4, 'bf16 mean close to f32 mean');
    assert.equal(s!.nans, 1);
    assert.equal(s!.infs, 2);
    assert.equal(s!.zeros, 2);
    assert.equal(s!.subnormals, 1);
    assert.equal(s!.max, 3);
    assert.equal(s!.min, -2);
    assert.equal(i!.exponentEntropy, null);
    assert.equal(b!.distinctValues! > 100, true);
    assert.deepEqual(
      fa.layers.map((l) => [l.name, l.tensors]),
      [
        ['model.layers.0', 2],
        ['model.layers.1', 1],
        ['lm_head', 1],
      ],
    );
    assert.equal(fa.parameters, 4096 + 8 + 4096 + 4);
  });

  test('F16 subnormals have their value (m * 2^-24): min, max, mean and the count', async () => {
    // 0x0001 = 2^-24, 0x03ff = 1023 * 2^-24, 0x8200 = -512 * 2^-24 (subnormals), 0x3c00 = 1, 0x0000 = 0
    const bits = new Uint16Array([0x0001, 0x03ff, 0x8200, 0x3c00, 0x0000, 0x03ff]);
    const p = writeFile(
      tmp.dir,
      'f16sub.safetensors',
      safetensorsBytes([{ name: 'h', dtype: 'F16', shape: [6], data: new Uint8Array(bits.buffer) }]),
    );
    const [t] = (await analyzeFile(p)).tensors;
    const u = 2 ** -24;
    assert.equal(t!.subnormals, 4);
    assert.equal(t!.zeros, 1);
    assert.equal(t!.min, -512 * u);
    assert.equal(t!.max, 1);
    assert.ok(Math.abs(t!.mean! - (u + 1023 * u - 512 * u + 1 + 0 + 1023 * u) / 6) < 1e-15, `mean ${t!.mean}`);
  });

  test('mantissa entropy: exact for 16-bit floats, the sum of the parts for F32 (independent reference)', async () => {
    const r = rng(31);
    const n = 4096;
    // BF16 / F16: mantissas from a skewed distribution over a few values, any exponent
    const ref = (m: number[]): number => {
      const c = new Map<number, number>();
      for (const v of m) c.set(v, (c.get(v) ?? 0) + 1);
      let h = 0;
      for (const k of c.values()) h -= (k / m.length) * Math.log2(k / m.length);
      return h;
    };
    const pick = (): number => {
      const x = r();
      return x < 0.5 ? 0 : x < 0.75 ? 1 : x < 0.875 ? 5 : 100;
    };
    const bf = new Uint16Array(n),
      f16 = new Uint16Array(n),
      f32 = new Uint32Array(n);
    const mb: number[] = [],
      mh: number[] = [],
      mfHi: number[] = [],
      mfLo: number[] = [];
    for (let i = 0; i < n; i++) {
      const m = pick() & 0x7f;
      bf[i] = (r() < 0.5 ? 0x8000 : 0) | ((120 + Math.floor(r() * 8)) << 7) | m;
      mb.push(m);
      const m10 = pick() * 7;
      f16[i] = (r() < 0.5 ? 0x8000 : 0) | ((10 + Math.floor(r() * 8)) << 10) | m10;
      mh.push(m10);
      const hi = pick(),
        lo = Math.floor(r() * 3) * 1000;
      f32[i] = (((120 + Math.floor(r() * 8)) << 23) | (hi << 16) | lo) >>> 0;
      mfHi.push(hi);
      mfLo.push(lo);
    }
    const p = writeFile(
      tmp.dir,
      'mant.safetensors',
      safetensorsBytes([
        { name: 'bf', dtype: 'BF16', shape: [n], data: new Uint8Array(bf.buffer) },
        { name: 'h', dtype: 'F16', shape: [n], data: new Uint8Array(f16.buffer) },
        { name: 'f', dtype: 'F32', shape: [n], data: new Uint8Array(f32.buffer) },
      ]),
    );
    const [a, b, c] = (await analyzeFile(p)).tensors;
    assert.ok(Math.abs(a!.mantissaEntropy! - ref(mb)) < 1e-9, `BF16 ${a!.mantissaEntropy} vs ${ref(mb)}`);
    assert.ok(Math.abs(b!.mantissaEntropy! - ref(mh)) < 1e-9, `F16 ${b!.mantissaEntropy} vs ${ref(mh)}`);
    assert.ok(
      Math.abs(c!.mantissaEntropy! - (ref(mfHi) + ref(mfLo))) < 1e-9,
      `F32 ${c!.mantissaEntropy} vs ${ref(mfHi) + ref(mfLo)}`,
    );
    assert.ok(ref(mb) > 1.5 && ref(mb) < 1.8, 'the reference is not trivial');
  });

  test('quick mode scales sampled counts to the whole tensor (exponent histogram, zeros)', async () => {
    const n = 1 << 20; // 2 MiB of BF16: sampled (16 windows of 64 KiB) in quick mode
    const w = toBF16Bytes(gaussianF32(n, 0.02, 41));
    const u = new Uint16Array(w.buffer);
    for (let i = 0; i < n; i += 4) u[i] = 0; // every fourth value zero
    const p = writeFile(
      tmp.dir,
      'quick.safetensors',
      safetensorsBytes([{ name: 'w', dtype: 'BF16', shape: [n], data: w }]),
    );
    const [full] = (await analyzeFile(p)).tensors;
    const [quick] = (await analyzeFile(p, { quick: true })).tensors;
    assert.equal(quick!.estimate, true);
    const total = (h: number[]): number => h.reduce((x, y) => x + y, 0);
    assert.equal(total(full!.exponentHistogram!), n);
    assert.ok(
      Math.abs(total(quick!.exponentHistogram!) - n) < 1e-6 * n,
      `quick histogram counts ${total(quick!.exponentHistogram!)} of ${n} elements`,
    );
    assert.equal(full!.zeros, n / 4);
    assert.ok(Math.abs(quick!.zeros! - n / 4) < 0.01 * n, `quick zeros ${quick!.zeros}`);
    assert.ok(
      Math.abs(quick!.boundBytes - full!.boundBytes) < 0.02 * full!.boundBytes,
      `quick bound ${quick!.boundBytes} vs ${full!.boundBytes}`,
    );
  });

  test('layer naming conventions', () => {
    assert.equal(layerOf('model.layers.12.self_attn.q_proj.weight'), 'model.layers.12');
    assert.equal(layerOf('transformer.h.3.attn.c_attn.weight'), 'transformer.h.3');
    assert.equal(layerOf('blocks.7.norm1.weight'), 'blocks.7');
    assert.equal(layerOf('bert.encoder.layer.5.output.dense.weight'), 'bert.encoder.layer.5');
    assert.equal(layerOf('blk.4.attn_q.weight'), 'blk.4');
    assert.equal(layerOf('conv1.weight'), 'conv1');
    assert.equal(layerOf('token_embd.weight'), 'token_embd');
    assert.equal(layerOf('scale'), 'scale');
  });
});

describe('analysis of every dtype', () => {
  test('each safetensors dtype is analyzed: floats get exponent figures, bounds never exceed the bytes', async () => {
    const { DTYPES } = await import('../../engine/core/dtypes');
    const { rng } = await import('../helpers/safetensors');
    const r = rng(77);
    const tensors = Object.values(DTYPES).map((d) => {
      const data = new Uint8Array(d.size * 4096);
      for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
      return { name: `t_${d.name}`, dtype: d.name, shape: [4096], data };
    });
    const p = writeFile(tmp.dir, 'every-dtype.safetensors', safetensorsBytes(tensors));
    const fa = await analyzeFile(p);
    assert.equal(fa.tensors.length, tensors.length);
    for (const t of fa.tensors) {
      const isFloat = ['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2'].includes(t.dtype);
      assert.equal(t.exponentEntropy !== null, isFloat, t.dtype);
      if (isFloat) {
        const bits = { F64: 11, F32: 8, F16: 5, BF16: 8, F8_E4M3: 4, F8_E5M2: 5 }[t.dtype as 'F64']!;
        assert.equal(t.exponentHistogram!.length, 2 ** bits, `${t.dtype} histogram size`);
        assert.ok(
          t.exponentEntropy! > Math.min(bits, 12) - 0.6 && t.exponentEntropy! <= bits,
          `${t.dtype}: random bits have ~${bits} bits of exponent entropy, got ${t.exponentEntropy}`,
        );
      }
      assert.ok(
        t.boundBytes <= t.bytes && t.boundBytes > 0.95 * t.bytes,
        `${t.dtype}: random data bound ${t.boundBytes} of ${t.bytes}`,
      );
    }
  });
});
