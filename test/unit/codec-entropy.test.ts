// The rANS coder must land within 1% of the order-0 entropy of the planes it codes, table and
// states included, on real exponent planes (the planes that carry the gain).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initCodec } from '../../engine/codec/index';
import { layoutFor } from '../../engine/codec/layout';
import { splitRef } from '../../engine/codec/planes';
import {
  chooseScale,
  chooseWays,
  normalizeFreqs,
  ransEncodeRef,
  writeTable,
  readTable,
  ransDecodeRef,
} from '../../engine/codec/rans';
import { order0Bits } from '../../engine/codec/entropy';
import { CHUNK, HAVE_CORPUS, corpusFiles, equalBytes, readSafetensors } from './codec-helpers';

before(() => initCodec());

/** Full rANS block size for a plane, as the payload stores it (table + states + words). */
function ransBlock(plane: Uint8Array): { bytes: number; entropyBytes: number } {
  const hist = new Uint32Array(256);
  for (const b of plane) hist[b]!++;
  const scale = chooseScale(plane.length);
  const ways = chooseWays(plane.length);
  const freqs = normalizeFreqs(hist, scale);
  const table = writeTable(freqs, scale, ways);
  const { states, words } = ransEncodeRef(plane, freqs, scale, ways);
  // and it decodes
  const t = readTable(table, 0, table.length);
  const back = new Uint8Array(plane.length);
  ransDecodeRef(words, states, t.freqs, t.scale, back);
  assert.ok(equalBytes(back, plane));
  return { bytes: table.length + 4 * ways + words.length, entropyBytes: order0Bits(hist) / 8 };
}

test(
  'rANS is within 1% of the order-0 entropy on real exponent planes (>= 64 KiB)',
  { skip: !HAVE_CORPUS && 'no ../shared/corpus' },
  () => {
    let planes = 0;
    let worst = 0;
    let sumCoded = 0,
      sumEntropy = 0;
    for (const file of corpusFiles()) {
      for (const t of readSafetensors(file).tensors) {
        if (!['BF16', 'F32', 'F16'].includes(t.dtype) || t.data.length < 2 * 65536) continue;
        const layout = layoutFor(t.dtype);
        const chunk = t.data.subarray(0, Math.min(CHUNK, t.data.length));
        const n = Math.floor(chunk.length / layout.width);
        if (n < 65536) continue;
        const planesBytes = splitRef(chunk, n, layout);
        // the top byte plane (exponent); its first 128 Ki elements keep the reference coder quick
        const exp = planesBytes.subarray((layout.width - 1) * n, (layout.width - 1) * n + Math.min(n, 131072));
        const { bytes, entropyBytes } = ransBlock(exp);
        worst = Math.max(worst, bytes / entropyBytes);
        sumCoded += bytes;
        sumEntropy += entropyBytes;
        planes++;
        assert.ok(
          bytes <= entropyBytes * 1.01,
          `${t.name} (${t.dtype}): ${bytes} bytes vs entropy ${entropyBytes.toFixed(0)} (` +
            `${((bytes / entropyBytes - 1) * 100).toFixed(2)}% over)`,
        );
      }
    }
    assert.ok(planes >= 10, `only ${planes} planes`);
    // overall overhead is far below the bar; printed for the record
    console.log(
      `# ${planes} exponent planes: coded/entropy total ${(sumCoded / sumEntropy).toFixed(4)}, worst ` +
        `${worst.toFixed(4)}`,
    );
  },
);

test('rANS on synthetic skewed data is within 1% of entropy; tables stay compact', () => {
  // geometric-like distribution over 40 symbols, 512 Ki symbols, like a BF16 exponent plane
  const n = 1 << 19;
  const plane = new Uint8Array(n);
  let seed = 1;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const u = seed / 2 ** 32;
    plane[i] = 100 + Math.min(39, Math.floor(-Math.log2(1 - u) * 1.3));
  }
  const { bytes, entropyBytes } = ransBlock(plane);
  assert.ok(bytes <= entropyBytes * 1.01, `${bytes} vs ${entropyBytes}`);
  const hist = new Uint32Array(256);
  for (const b of plane) hist[b]!++;
  const table = writeTable(normalizeFreqs(hist, 12), 12, 8);
  assert.ok(table.length < 80, `table ${table.length} bytes`);
});

/** normalizeFreqs as first written (a log2 per symbol per repair step): the tables must not change. */
function normalizeFreqsGreedy(counts: ArrayLike<number>, scale: number): Uint32Array {
  const m = 1 << scale;
  let total = 0;
  for (let s = 0; s < 256; s++) total += counts[s]!;
  const f = new Uint32Array(256);
  let sum = 0;
  for (let s = 0; s < 256; s++) {
    const c = counts[s]!;
    if (c === 0) continue;
    f[s] = Math.max(1, Math.floor((c * m) / total));
    sum += f[s]!;
  }
  while (sum < m) {
    let best = -1,
      bestGain = -1;
    for (let s = 0; s < 256; s++) {
      const c = counts[s]!;
      if (c === 0) continue;
      const gain = c * Math.log2((f[s]! + 1) / f[s]!);
      if (gain > bestGain) {
        bestGain = gain;
        best = s;
      }
    }
    f[best]!++;
    sum++;
  }
  while (sum > m) {
    let best = -1,
      bestLoss = Infinity;
    for (let s = 0; s < 256; s++) {
      const c = counts[s]!;
      if (c === 0 || f[s]! <= 1) continue;
      const loss = c * Math.log2(f[s]! / (f[s]! - 1));
      if (loss < bestLoss) {
        bestLoss = loss;
        best = s;
      }
    }
    f[best]!--;
    sum--;
  }
  return f;
}

test(
  'normalizeFreqs gives the same tables as the original greedy repair (random, skewed, tiny and real ' + 'histograms)',
  () => {
    let seed = 12345;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const cases: Uint32Array[] = [];
    for (let k = 0; k < 3000; k++) {
      const h = new Uint32Array(256);
      const symbols = 1 + Math.floor(rnd() * 256);
      const n = 2 + Math.floor(rnd() ** 3 * 200000);
      const skew = 1 + rnd() * 6;
      for (let i = 0; i < n; i++) h[Math.floor(rnd() ** skew * symbols)]!++;
      cases.push(h);
    }
    // forced 1s push the sum above m: many rare symbols next to one dominant one
    const over = new Uint32Array(256).fill(1);
    over[0] = 1 << 20;
    cases.push(over);
    if (HAVE_CORPUS) {
      for (const file of corpusFiles().slice(0, 3)) {
        for (const t of readSafetensors(file).tensors.slice(0, 40)) {
          const h = new Uint32Array(256);
          for (const b of t.data.subarray(0, CHUNK)) h[b]!++;
          cases.push(h);
        }
      }
    }
    let up = 0,
      down = 0;
    for (const h of cases) {
      let n = 0;
      for (const c of h) n += c;
      if (n < 2) continue;
      for (const scale of new Set([chooseScale(n), 10, 12])) {
        const m = 1 << scale;
        const nsym = h.filter((c) => c > 0).length;
        if (nsym > m) continue;
        const floorSum = h.reduce((a, c) => a + (c ? Math.max(1, Math.floor((c * m) / n)) : 0), 0);
        if (floorSum < m) up++;
        else if (floorSum > m) down++;
        assert.deepEqual(normalizeFreqs(h, scale), normalizeFreqsGreedy(h, scale));
      }
    }
    assert.ok(up > 1000 && down > 0, `both repair directions exercised (up ${up}, down ${down})`);
  },
);
