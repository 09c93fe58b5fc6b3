import type { Backend } from './backend';
import { mergeBlocks, splitBlocks } from './blocks';
import type { Layout } from './layout';
import { splitRef, mergeRef } from './planes';
import { ransDecodeRef, ransEncodeRef } from './rans';
import { xxh32Ref } from './xxh32';

/** Pure TypeScript backend: the readable definition of what the WebAssembly kernels compute. */
export function createReferenceBackend(): Backend {
  let planes: Uint8Array = new Uint8Array(0);
  let n = 0;
  let layout: Layout = { width: 1, transform: 0 };
  return {
    name: 'reference',
    splitBlocks,
    mergeBlocks,
    beginEncode(data, count, lay) {
      n = count;
      layout = lay;
      planes = splitRef(data, n, layout);
    },
    plane: (p) => planes.subarray(p * n, (p + 1) * n),
    xxh32: xxh32Ref,
    histogram(p) {
      const h = new Uint32Array(256);
      for (const b of planes.subarray(p * n, (p + 1) * n)) h[b]!++;
      return h;
    },
    histogramSample(p, step) {
      const h = new Uint32Array(256);
      for (let i = p * n; i < (p + 1) * n; i += step) h[planes[i]!]!++;
      return h;
    },
    ransEncode(p, freqs, scale, ways) {
      const r = ransEncodeRef(planes.subarray(p * n, (p + 1) * n), freqs, scale, ways);
      return { states: r.states, words: r.words.slice() };
    },
    repeatScore(data, width) {
      // same hashes and table as the kernel
      const slots = new Map<number, bigint>();
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      let hits = 0;
      if (width === 4) {
        for (let i = 0; i + 4 <= data.length; i += 4) {
          const x = view.getUint32(i, true);
          const h = Math.imul(x, 0x9e3779b1) >>> 20;
          const v = BigInt(x) + 1n; // the kernel stores x + 1 (wrapping at 2^32) next to a flag
          if (slots.get(h) === v) hits++;
          slots.set(h, v);
        }
      } else {
        const step = width === 8 ? 8 : 4;
        for (let i = 0; i + 8 <= data.length; i += step) {
          const v = view.getBigUint64(i, true);
          const h = Number(((v * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn) >> 52n);
          if (slots.get(h) === v) hits++;
          slots.set(h, v);
        }
      }
      return hits / repeatPositions(data.length, width);
    },
    distinctCount(data, width) {
      const m = Math.min(32768, Math.floor(data.length / width));
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const set = new Set<number | bigint>();
      for (let i = 0; i < m; i++) set.add(width === 8 ? view.getBigUint64(8 * i, true) : view.getUint32(4 * i, true));
      return set.size;
    },
    beginDecode(count, lay) {
      n = count;
      layout = lay;
      planes = new Uint8Array(n * layout.width);
    },
    planeOut: (p) => planes.subarray(p * n, (p + 1) * n),
    ransDecode(p, words, states, freqs, scale) {
      ransDecodeRef(words, states, freqs, scale, planes.subarray(p * n, (p + 1) * n));
    },
    finishDecode(dst) {
      mergeRef(planes, n, layout, dst);
    },
  };
}

/** Number of positions repeatScore examines. */
export function repeatPositions(len: number, width: number): number {
  if (width === 4) return Math.max(1, Math.floor(len / 4));
  const step = width === 8 ? 8 : 4;
  return Math.max(1, Math.floor((len - 8) / step) + 1);
}
