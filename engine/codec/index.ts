/**
 * Per-chunk codec of TensorZip: byte grouping per dtype, order-0 rANS / CONST / RAW per plane,
 * palette coding of chunks with at most 256 distinct values, zstd for repetitive data.
 * Payload format: docs/format.md, "Chunk payload".
 *
 * Each thread calls initCodec() once; encodeChunk/decodeChunk are then synchronous. The hot loops
 * run in WebAssembly when scripts/build-wasm.mjs has generated the kernels, otherwise in the
 * (much slower, byte-identical) TypeScript reference.
 */
import type { Backend } from './backend';
import { decodeInto, decodeWith, encodeWith, DEFAULT_OPTIONS, type EncodeOptions } from './codec';
import { CodecError } from './errors';
import { createReferenceBackend } from './referenceBackend';
import { createWasmBackend } from './wasmBackend';
import { decodeDeltaInto, encodeDeltaWith } from './delta';

export { CodecError } from './errors';
export type { EncodeOptions } from './codec';
export { DEFAULT_OPTIONS } from './codec';
export { blockBytesOf } from './blocks';

let backend: Backend | undefined;
let initPromise: Promise<void> | undefined;

async function loadKernels(): Promise<Uint8Array | undefined> {
  try {
    // require (not import()): tsx may evaluate this file from a data: URL, against which a relative
    // import() does not resolve; esbuild bundles a literal require like an import.
    const gen = require('./wasm/kernels.generated') as { KERNELS_WASM_BASE64: string };
    return Buffer.from(gen.KERNELS_WASM_BASE64, 'base64');
  } catch (e) {
    if (process.env.TZ_CODEC_DEBUG) console.error(e);
    return undefined;
  }
}

/** Once per thread before use: instantiates the WebAssembly kernels (zstd starts on first use). */
export function initCodec(): Promise<void> {
  initPromise ??= (async () => {
    const wasm = process.env.TZ_CODEC_REFERENCE ? undefined : await loadKernels();
    backend = wasm ? createWasmBackend(wasm) : createReferenceBackend();
  })();
  return initPromise;
}

function current(): Backend {
  if (!backend) throw new Error('codec: initCodec() must complete before encodeChunk/decodeChunk');
  return backend;
}

/** Which implementation of the hot loops is in use ('wasm' or 'reference'). */
export function codecBackendName(): string {
  return current().name;
}

/** Self-describing payload for one chunk of one tensor (or dtype "RAW" for non-tensor bytes).
 *  Never mutates `data`. `phase`: for GGUF block types (blockBytesOf(dtype) > 0), the offset
 *  inside its block of the chunk's first byte, i.e. (chunk offset in the tensor) mod blockBytes;
 *  a wrong phase still round-trips, it only codes worse. `into` (at least data.length + 1 bytes
 *  to be sure it is used): write the payload there and return a view of it (encodeWith). */
export function encodeChunk(
  data: Uint8Array,
  dtype: string,
  options: EncodeOptions = DEFAULT_OPTIONS,
  phase = 0,
  into?: Uint8Array,
): Uint8Array {
  return encodeWith(current(), data, dtype, options, phase, into);
}

/** Exactly rawLength bytes, or throws CodecError. `dtype` is informational (payloads are
 *  self-describing) and kept for symmetry with encodeChunk. */
export function decodeChunk(payload: Uint8Array, dtype: string, rawLength: number): Uint8Array {
  void dtype;
  const be = current();
  try {
    return decodeWith(be, payload, rawLength);
  } catch (e) {
    if (e instanceof CodecError) throw e;
    // a RangeError from a view or a wasm trap still means "this payload is corrupt"
    throw new CodecError(`corrupt chunk payload (${(e as Error).message})`);
  }
}

/** decodeChunk into out[0 .. rawLength) instead of a new array: the pipeline can reuse its
 *  buffers (a fresh 1 MiB allocation costs about as much as decoding it). */
export function decodeChunkInto(payload: Uint8Array, dtype: string, rawLength: number, out: Uint8Array): void {
  void dtype;
  const be = current();
  try {
    decodeInto(be, payload, rawLength, out);
  } catch (e) {
    if (e instanceof CodecError) throw e;
    throw new CodecError(`corrupt chunk payload (${(e as Error).message})`);
  }
}

/** Delta coding (.tzip 3.0, delta.ts): the smallest of standalone, XOR and ULP payloads of `data`
 *  against `base` (the partner tensor's same bytes in the base model). */
export function encodeDeltaChunk(
  data: Uint8Array,
  base: Uint8Array,
  dtype: string,
  options: EncodeOptions = DEFAULT_OPTIONS,
  phase = 0,
  into?: Uint8Array,
): Uint8Array {
  return encodeDeltaWith(current(), data, base, dtype, options, phase, into);
}

/** decodeChunkInto for payloads of a delta file: delta modes need `base` (rawLength bytes). */
export function decodeDeltaChunkInto(
  payload: Uint8Array,
  rawLength: number,
  base: Uint8Array | undefined,
  out: Uint8Array,
): void {
  const be = current();
  try {
    decodeDeltaInto(be, payload, rawLength, base, out);
  } catch (e) {
    if (e instanceof CodecError) throw e;
    throw new CodecError(`corrupt chunk payload (${(e as Error).message})`);
  }
}
export { isDeltaPayload } from './delta';

/** XXH32 (seed 0) of data, in WebAssembly when available: the per-chunk checksum of .tzip 2.0. */
export function xxh32(data: Uint8Array): number {
  return current().xxh32(data);
}

/** Both implementations side by side, for tests and benchmarks. */
export function createBackends(wasm: Uint8Array | undefined): { reference: Backend; wasm?: Backend } {
  return wasm
    ? { reference: createReferenceBackend(), wasm: createWasmBackend(wasm) }
    : { reference: createReferenceBackend() };
}
export { loadKernels, encodeWith, decodeWith, decodeInto };
