/**
 * BLOCKS mode (docs/format.md, "Chunk payload", mode 4): GGUF quantized block types are arrays of
 * fixed-size structs ([f16 d][32 x i8 qs] for Q8_0). Coded as bytes, the scale bytes and the codes
 * share one histogram; here each field (and each byte of a scale) gets a plane of its own.
 *
 * The payload carries its own byte→plane map as runs, so decoding needs no table of ggml types
 * (the table below is only the encoder's choice). A chunk is 1 MiB of a tensor, which is rarely a
 * whole number of blocks: `phase` (the offset inside its block of the chunk's first byte, given by
 * the container) says where the first whole block starts; the partial blocks at both ends are
 * stored verbatim.
 */
import { readVarint, writeVarint } from './bitio';
import { CodecError } from './errors';
import { GGML_TYPES, type GgmlField } from '../formats/ggml';

/** One block layout: bytes per block and the plane of each byte, as runs [length, plane]. */
export interface BlockMap {
  bytes: number;
  runs: Array<[number, number]>;
}

export const MAX_BLOCK_BYTES = 65535;
export const MAX_BLOCK_PLANES = 64;

/** The runs of a block of the given fields: an F16 field as planes (low byte, high byte), an F32
 *  as four byte planes, an I16 array as (all low bytes, all high bytes), any other field (codes,
 *  packed scales, int8 arrays) as one plane. */
function mapOf(fields: GgmlField[]): BlockMap {
  const runs: Array<[number, number]> = [];
  let plane = 0;
  let total = 0;
  for (const { bytes: n, type } of fields) {
    total += n;
    if (type === 'F16') {
      runs.push([1, plane], [1, plane + 1]);
      plane += 2;
    } else if (type === 'F32') {
      for (let k = 0; k < 4; k++) runs.push([1, plane + k]);
      plane += 4;
    } else if (type === 'I16') {
      for (let i = 0; i < n / 2; i++) runs.push([1, plane], [1, plane + 1]);
      plane += 2;
    } else {
      runs.push([n, plane++]);
    }
  }
  return { bytes: total, runs };
}

/**
 * ggml type name → block map, for every type of the ggml table (formats/ggml.ts) whose block has
 * fields (the decoder needs none of this: payloads carry their map). The interleaved Q4_0_x_y
 * repacks have no fields (their scales are grouped 4 or 8 blocks at a time), hence no map.
 */
export const BLOCK_MAPS: Record<string, BlockMap> = Object.setPrototypeOf(
  Object.fromEntries(
    Object.values(GGML_TYPES).flatMap((t) => (t.fields && t.blockSize > 1 ? [[t.name, mapOf(t.fields)]] : [])),
  ),
  null,
);

/**
 * The types the encoder tries BLOCKS on: those measured to gain on real weights quantized by
 * ggml's reference algorithms (bench/quant-blocks.mjs; figures in docs/measurements.md). The
 * others (IQ*, TQ*, MXFP4, Q3_K, and Q8_1/Q8_K which ggml uses only for activations) have no
 * measurement yet; EncodeOptions.allBlockTypes tries them too.
 */
export const BLOCKS_ENABLED = new Set(['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q4_K', 'Q5_K', 'Q6_K']);

/** Bytes per block of a dtype the encoder codes as BLOCKS, else 0 (the container's phase computation). */
export function blockBytesOf(dtype: string, all = false): number {
  return all || BLOCKS_ENABLED.has(dtype) ? (BLOCK_MAPS[dtype]?.bytes ?? 0) : 0;
}

/** Number of planes and the bytes each owns per block; throws CodecError if the map is invalid. */
export function planeWidths(map: BlockMap): number[] {
  if (!Number.isInteger(map.bytes) || map.bytes < 2 || map.bytes > MAX_BLOCK_BYTES)
    throw new CodecError('bad block size');
  const widths: number[] = [];
  let sum = 0;
  for (const [len, p] of map.runs) {
    if (len < 1 || p >= MAX_BLOCK_PLANES) throw new CodecError('bad block run');
    sum += len;
    if (sum > map.bytes) throw new CodecError('block runs exceed the block size');
    while (widths.length <= p) widths.push(0);
    widths[p]! += len;
  }
  if (sum !== map.bytes) throw new CodecError('block runs do not cover the block');
  if (widths.some((w) => w === 0)) throw new CodecError('block plane without bytes');
  return widths;
}

/** Byte length of the verbatim head: the rest of the block the chunk starts inside. */
export function headBytes(map: BlockMap, phase: number, rawLength: number): number {
  return Math.min(rawLength, (map.bytes - phase) % map.bytes);
}

/** Each run as (offset in the block, length, plane, offset in that plane's share of a block). */
export function runPlacement(map: BlockMap): Array<[number, number, number, number]> {
  const fill: number[] = [];
  let o = 0;
  return map.runs.map(([len, p]) => {
    const at = fill[p] ?? 0;
    fill[p] = at + len;
    const r: [number, number, number, number] = [o, len, p, at];
    o += len;
    return r;
  });
}

/** The planes of n whole blocks of src: plane p holds, block after block, the bytes p owns.
 *  (One strided loop per run: no per-block allocation.) */
export function splitBlocks(src: Uint8Array, n: number, map: BlockMap): Uint8Array[] {
  const widths = planeWidths(map);
  const planes = widths.map((w) => new Uint8Array(w * n));
  const B = map.bytes;
  for (const [o, len, p, at] of runPlacement(map)) {
    const dst = planes[p]!;
    const w = widths[p]!;
    if (len === 1) {
      for (let b = 0, s = o, d = at; b < n; b++, s += B, d += w) dst[d] = src[s]!;
    } else {
      for (let b = 0, s = o, d = at; b < n; b++, s += B, d += w) for (let k = 0; k < len; k++) dst[d + k] = src[s + k]!;
    }
  }
  return planes;
}

/** Inverse of splitBlocks into dst[0 .. n * bytes). */
export function mergeBlocks(planes: Uint8Array[], n: number, map: BlockMap, dst: Uint8Array): void {
  const widths = planeWidths(map);
  const B = map.bytes;
  for (const [o, len, p, at] of runPlacement(map)) {
    const src = planes[p]!;
    const w = widths[p]!;
    if (len === 1) {
      for (let b = 0, d = o, s = at; b < n; b++, d += B, s += w) dst[d] = src[s]!;
    } else {
      for (let b = 0, d = o, s = at; b < n; b++, d += B, s += w) for (let k = 0; k < len; k++) dst[d + k] = src[s + k]!;
    }
  }
}

/** Header of a BLOCKS body: block size, phase, runs. */
export function writeBlocksHeader(map: BlockMap, phase: number): Uint8Array {
  const h: number[] = [];
  writeVarint(h, map.bytes);
  writeVarint(h, phase);
  writeVarint(h, map.runs.length);
  for (const [len, p] of map.runs) {
    writeVarint(h, len);
    h.push(p);
  }
  return Uint8Array.from(h);
}

export function readBlocksHeader(buf: Uint8Array, pos: number): { map: BlockMap; phase: number; pos: number } {
  const varint = (): number => {
    const [v, next] = readVarint(buf, pos);
    pos = next;
    return v;
  };
  const bytes = varint();
  if (bytes < 2 || bytes > MAX_BLOCK_BYTES) throw new CodecError('bad block size');
  const phase = varint();
  if (phase >= bytes) throw new CodecError('block phase out of range');
  const nruns = varint();
  if (nruns < 1 || nruns > bytes) throw new CodecError('bad block run count');
  const runs: Array<[number, number]> = [];
  for (let i = 0; i < nruns; i++) {
    const len = varint();
    if (pos >= buf.length) throw new CodecError('payload truncated');
    runs.push([len, buf[pos++]!]);
  }
  const map = { bytes, runs };
  planeWidths(map); // validates
  return { map, phase, pos };
}
