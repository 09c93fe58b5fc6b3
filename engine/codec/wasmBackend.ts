/// <reference path="./webassembly.d.ts" />
import type { Backend } from './backend';
import { planeWidths, runPlacement } from './blocks';
import { CodecError } from './errors';
import type { Layout } from './layout';

interface Kernels {
  memory: WebAssembly.Memory;
  heapBase(): number;
  statesPtr(): number;
  split(src: number, n: number, width: number, transform: number, dst: number): void;
  strided(src: number, srcStride: number, dst: number, dstStride: number, len: number, n: number): void;
  merge(src: number, n: number, width: number, transform: number, dst: number): void;
  histogram(src: number, n: number, out: number, tmp: number): void;
  histogramSample(src: number, n: number, step: number, out: number): void;
  repeatScore(src: number, n: number, width: number): number;
  distinctCount(src: number, n: number, width: number): number;
  xxh32(src: number, n: number): number;
  ransEncInit(freqPtr: number, scale: number): void;
  ransEncode(src: number, n: number, ways: number, outEnd: number): number;
  ransDecInit(freqPtr: number, scale: number): void;
  ransDecode(src: number, srcEnd: number, n: number, ways: number, scale: number, dst: number): number;
}

import { repeatPositions } from './referenceBackend';

const align = (x: number) => (x + 15) & ~15;
const SLACK = 64; // the decoder may read up to 16 bytes past the end of a word stream

/** Start of each plane of a BLOCKS split in wasm memory, from `base` on, 16-byte aligned. */
function planeStarts(widths: number[], n: number, base: number): number[] {
  const out: number[] = [];
  for (const w of widths) {
    out.push(base);
    base += align(w * n);
  }
  return out;
}

/** Instantiates the kernels (synchronously; the module is a few KiB) and wraps them as a Backend. */
export function createWasmBackend(wasm: Uint8Array): Backend {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>), {
    env: {
      abort() {
        throw new CodecError('wasm abort');
      },
    },
  });
  const k = instance.exports as unknown as Kernels;
  const base = align(k.heapBase());
  const HIST_TMP = base;
  const HIST_OUT = base + 4096;
  const FREQ = HIST_OUT + 1024;
  const DYN = FREQ + 1024;
  let u8 = new Uint8Array(k.memory.buffer);
  // the histogram output, viewed once (a view per call costs more than a small plane's histogram)
  let hist = new Uint32Array(k.memory.buffer, HIST_OUT, 256);

  function ensure(bytes: number): void {
    const need = DYN + bytes;
    const have = k.memory.buffer.byteLength;
    if (need > have) k.memory.grow(Math.ceil((need - have) / 65536));
    if (u8.buffer !== k.memory.buffer) {
      u8 = new Uint8Array(k.memory.buffer);
      hist = new Uint32Array(k.memory.buffer, HIST_OUT, 256);
    }
  }
  function u32(ptr: number, len: number): Uint32Array {
    return new Uint32Array(k.memory.buffer, ptr, len);
  }

  // layout of the dynamic area for the current chunk
  let n = 0;
  let layout: Layout = { width: 1, transform: 0 };
  let inPtr = DYN,
    planesPtr = DYN,
    outPtr = DYN,
    auxPtr = DYN;

  return {
    name: 'wasm',
    beginEncode(data, count, lay) {
      n = count;
      layout = lay;
      const inSize = align(data.length);
      const planeSize = align(n * lay.width);
      // one rANS output area per plane, so the words of every plane stay valid until the payload is built
      ensure(inSize + planeSize + lay.width * align(2 * n + SLACK) + SLACK);
      inPtr = DYN;
      planesPtr = DYN + inSize;
      auxPtr = planesPtr + planeSize; // rANS output, written backwards from its end
      u8.set(data, inPtr);
      k.split(inPtr, n, lay.width, lay.transform, planesPtr);
    },
    plane: (p) => u8.subarray(planesPtr + p * n, planesPtr + (p + 1) * n),
    histogram(p) {
      k.histogram(planesPtr + p * n, n, HIST_OUT, HIST_TMP);
      return hist;
    },
    histogramSample(p, step) {
      k.histogramSample(planesPtr + p * n, n, step, HIST_OUT);
      return hist;
    },
    ransEncode(p, freqs, scale, ways) {
      u32(FREQ, 256).set(freqs);
      k.ransEncInit(FREQ, scale);
      const end = auxPtr + (p + 1) * align(2 * n + SLACK);
      const start = k.ransEncode(planesPtr + p * n, n, ways, end);
      const states = u32(k.statesPtr(), ways).slice();
      return { states, words: u8.subarray(start, end) };
    },
    repeatScore(data, width) {
      ensure(align(data.length));
      u8.set(data, DYN);
      return k.repeatScore(DYN, data.length, width) / repeatPositions(data.length, width);
    },
    distinctCount(data, width) {
      const m = Math.min(32768, Math.floor(data.length / width));
      ensure(align(m * width));
      u8.set(data.subarray(0, m * width), DYN);
      return k.distinctCount(DYN, m, width);
    },
    xxh32(data) {
      ensure(align(data.length));
      u8.set(data, DYN);
      return k.xxh32(DYN, data.length) >>> 0;
    },
    beginDecode(count, lay) {
      n = count;
      layout = lay;
      const size = align(n * lay.width);
      // planes, merged output, then room for one word stream (at most 2 bytes per symbol)
      ensure(2 * size + align(2 * n + SLACK) + SLACK);
      planesPtr = DYN;
      outPtr = DYN + size;
      auxPtr = outPtr + size;
    },
    planeOut: (p) => u8.subarray(planesPtr + p * n, planesPtr + (p + 1) * n),
    ransDecode(p, words, states, freqs, scale) {
      if (words.length > 2 * n) throw new CodecError('rANS stream longer than its plane');
      u8.set(words, auxPtr);
      u8.fill(0, auxPtr + words.length, auxPtr + words.length + 16);
      u32(FREQ, 256).set(freqs);
      k.ransDecInit(FREQ, scale);
      u32(k.statesPtr(), states.length).set(states);
      const ok = k.ransDecode(auxPtr, auxPtr + words.length, n, states.length, scale, planesPtr + p * n);
      if (!ok) throw new CodecError('rANS stream corrupt');
    },
    // BLOCKS: both use the dynamic area only for the duration of the call
    splitBlocks(src, count, map) {
      const widths = planeWidths(map);
      const B = map.bytes;
      const starts = planeStarts(widths, count, DYN + align(count * B));
      ensure(2 * align(count * B) + 16 * widths.length);
      u8.set(src.subarray(0, count * B), DYN);
      for (const [o, len, p, at] of runPlacement(map)) k.strided(DYN + o, B, starts[p]! + at, widths[p]!, len, count);
      return widths.map((w, p) => u8.slice(starts[p]!, starts[p]! + w * count));
    },
    mergeBlocks(planes, count, map, dst) {
      const widths = planeWidths(map);
      const B = map.bytes;
      const starts = planeStarts(widths, count, DYN + align(count * B));
      ensure(2 * align(count * B) + 16 * widths.length);
      planes.forEach((pl, p) => u8.set(pl.subarray(0, widths[p]! * count), starts[p]!));
      for (const [o, len, p, at] of runPlacement(map)) k.strided(starts[p]! + at, widths[p]!, DYN + o, B, len, count);
      dst.set(u8.subarray(DYN, DYN + count * B));
    },
    finishDecode(dst) {
      k.merge(planesPtr, n, layout.width, layout.transform, outPtr);
      dst.set(u8.subarray(outPtr, outPtr + n * layout.width));
    },
  };
}
