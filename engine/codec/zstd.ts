/// <reference path="./webassembly.d.ts" />
/**
 * zstd through @bokuweb/zstd-wasm (zstd 1.5.x compiled to wasm by emscripten). We drive its
 * emscripten Module directly instead of the package's `decompress()` helper, which allocates
 * whatever size a frame header claims: here the destination is exactly the caller's rawLength.
 * The package's exports map only exposes its index, whose init() reads zstd.wasm next to the
 * script (absent in our bundles), hence the relative import of its module and the wasm binary
 * embedded by scripts/build-wasm.mjs.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Module } from '../../node_modules/@bokuweb/zstd-wasm/dist/common/module.js';
import { CodecError } from './errors';

let ok = false;

function loadBinary(): Uint8Array {
  try {
    // require (not import()): tsx may evaluate this file from a data: URL, against which a relative
    // import() does not resolve; esbuild bundles a literal require like an import.
    const gen = require('./wasm/zstd.generated') as { ZSTD_WASM_BASE64: string };
    return Buffer.from(gen.ZSTD_WASM_BASE64, 'base64');
  } catch {
    const req = createRequire(path.join(process.cwd(), 'package.json'));
    return readFileSync(path.join(path.dirname(req.resolve('@bokuweb/zstd-wasm')), 'zstd.wasm'));
  }
}

/**
 * Instantiates zstd on first use, synchronously: most chunks of weights never need it, and compiling
 * its wasm is a noticeable part of each thread's start-up. Emscripten's instantiateWasm hook lets
 * the module be built with the synchronous WebAssembly API; the runtime then initialises at once.
 */
function requireReady(): void {
  if (ok) return;
  const binary = loadBinary();
  const m = Module as unknown as { instantiateWasm?: unknown; init(b: Uint8Array): void; calledRun?: boolean };
  m.instantiateWasm = (imports: WebAssembly.Imports, receive: (i: WebAssembly.Instance) => void) => {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(binary as Uint8Array<ArrayBuffer>), imports);
    receive(instance);
    return instance.exports;
  };
  m.init(binary);
  if (!m.calledRun) throw new Error('codec: zstd did not initialise synchronously');
  ok = true;
}

// One compression context and one pair of heap buffers per thread, reused: a fresh context and
// buffers per call cost more than compressing a 16 KiB sample at level 1.
let cctx = 0;
let heapSrc = 0,
  heapSrcBytes = 0,
  heapDst = 0,
  heapDstBytes = 0;
function heapBuffers(src: number, dst: number): void {
  if (src > heapSrcBytes) {
    if (heapSrc) Module._free(heapSrc);
    heapSrcBytes = Math.max(src, 64 * 1024);
    heapSrc = Module._malloc(heapSrcBytes);
  }
  if (dst > heapDstBytes) {
    if (heapDst) Module._free(heapDst);
    heapDstBytes = Math.max(dst, 64 * 1024);
    heapDst = Module._malloc(heapDstBytes);
  }
  if (!heapSrc || !heapDst) throw new Error('zstd: out of memory');
}

/** zstd frame of `data` (identical to ZSTD_compress: ZSTD_compress_usingDict without a dictionary). */
export function zstdCompress(data: Uint8Array, level: number): Uint8Array {
  requireReady();
  if (!cctx) cctx = Module._ZSTD_createCCtx();
  const bound: number = Module._ZSTD_compressBound(data.length);
  heapBuffers(Math.max(1, data.length), bound);
  Module.HEAPU8.set(data, heapSrc);
  const size: number = Module._ZSTD_compress_usingDict(cctx, heapDst, bound, heapSrc, data.length, 0, 0, level);
  if (Module._ZSTD_isError(size)) throw new Error(`zstd compression failed (${size})`);
  return (Module.HEAPU8 as Uint8Array).slice(heapDst, heapDst + size);
}

/** Frame_Content_Size of the first frame (RFC 8878 3.1.1.1), or -1 when absent or malformed. */
export function zstdContentSize(frame: Uint8Array): number {
  if (frame.length < 6 || frame[0] !== 0x28 || frame[1] !== 0xb5 || frame[2] !== 0x2f || frame[3] !== 0xfd) return -1;
  const fhd = frame[4]!;
  const fcsFlag = fhd >>> 6;
  const single = (fhd >>> 5) & 1;
  if ((fhd >>> 3) & 1) return -1; // reserved bit
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const pos = 5 + (single ? 0 : 1) + dictBytes;
  const fcsBytes = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0 || pos + fcsBytes > frame.length) return -1;
  let v = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) v = v * 256 + frame[pos + i]!;
  if (fcsBytes === 2) v += 256;
  return v;
}

export function zstdDecompress(frame: Uint8Array, rawLength: number): Uint8Array {
  requireReady();
  if (zstdContentSize(frame) !== rawLength) throw new CodecError('zstd frame size does not match the chunk');
  const src: number = Module._malloc(Math.max(1, frame.length));
  const dst: number = Module._malloc(Math.max(1, rawLength));
  try {
    Module.HEAPU8.set(frame, src);
    const size: number = Module._ZSTD_decompress(dst, rawLength, src, frame.length);
    if (Module._ZSTD_isError(size) || size !== rawLength) throw new CodecError('zstd data corrupt');
    return (Module.HEAPU8 as Uint8Array).slice(dst, dst + rawLength);
  } finally {
    Module._free(src);
    Module._free(dst);
  }
}
