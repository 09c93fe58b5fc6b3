import type { BlockMap } from './blocks';
import type { Layout } from './layout';

/**
 * The hot loops of the codec behind one interface, so the format logic (codec.ts) is written once
 * and runs on either the readable TypeScript reference (referenceBackend.ts) or the WebAssembly
 * kernels (wasmBackend.ts). Views returned by a backend stay valid until its next begin*() call.
 */
export interface Backend {
  readonly name: 'wasm' | 'reference';
  /** Splits the first n elements of data into width planes. */
  beginEncode(data: Uint8Array, n: number, layout: Layout): void;
  plane(p: number): Uint8Array;
  /** Histogram of plane p: valid until the next histogram call (the wasm backend reuses it). */
  histogram(p: number): Uint32Array;
  /** Histogram of every step-th byte of plane p (valid until the next histogram call). */
  histogramSample(p: number, step: number): Uint32Array;
  /** rANS-codes plane p; the words stay valid until the next begin*() (also for other planes). */
  ransEncode(p: number, freqs: Uint32Array, scale: number, ways: number): { states: Uint32Array; words: Uint8Array };
  /** LZ potential: the fraction of sampled positions that repeat an earlier value (see kernels.ts). */
  repeatScore(data: Uint8Array, width: number): number;
  /** Exact number of distinct elements (width 4 or 8) among the first min(32768, n) of data. */
  distinctCount(data: Uint8Array, width: 4 | 8): number;
  /** XXH32 (seed 0) of data: the per-chunk checksum (xxh32.ts). Uses the dynamic area like begin*(). */
  xxh32(data: Uint8Array): number;

  beginDecode(n: number, layout: Layout): void;
  /** Writable view of plane p of the chunk being decoded. */
  planeOut(p: number): Uint8Array;
  /** Decodes into plane p; throws CodecError on inconsistent data. */
  ransDecode(p: number, words: Uint8Array, states: Uint32Array, freqs: Uint32Array, scale: number): void;
  /** Merges the planes into dst[0 .. n * width). */
  finishDecode(dst: Uint8Array): void;

  /** BLOCKS mode (blocks.ts): the planes of n whole blocks of src (new arrays), and the inverse. */
  splitBlocks(src: Uint8Array, n: number, map: BlockMap): Uint8Array[];
  mergeBlocks(planes: Uint8Array[], n: number, map: BlockMap, dst: Uint8Array): void;
}
