/**
 * The .tzip container, versions 1.0 to 3.0 (specified in docs/format.md). All integers little-endian.
 *
 *   Header (16)  | chunk payloads ... | index JSON | chunk table (32 x chunkCount) | Footer (32)
 *
 * The index is at the end so the file is written in one streaming pass; a reader starts from the
 * footer and can decode any one region (tensor) without touching the others.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { badInput, TzError } from '../core/errors';
import { TOOL } from '../core/version';
import type { ChunkChecksum } from '../codec/checksum';
import { crc32 } from '../core/crc32';

export const MAGIC = 0x50495a54; // "TZIP" read as u32 LE
export const FOOTER_MAGIC = 'TZIPEND\0';
/** 2.0: 16-lane rANS blocks and XXH32 chunk checksums, which 1.x readers cannot read (docs/format.md). */
export const VERSION_MAJOR = 2;
export const VERSION_MINOR = 0;
/** 3.0: a delta file (index `base`, delta chunk payloads): decoding needs the base model, so 2.x
 *  readers must refuse it by its version rather than misread it. Files without a base stay 2.0. */
export const VERSION_DELTA_MAJOR = 3;
/** Major versions this reader reads: 1.x files are read unchanged. */
export const READABLE_MAJORS = [1, 2, 3];
export const HEADER_BYTES = 16;
export const FOOTER_BYTES = 32;
export const CHUNK_RECORD_BYTES = 32;
export const FLAG_LOSSY = 1;
export const CHUNK_FLAG_DUPLICATE = 1;
/** default raw bytes per chunk; every chunk of a region has this size except its last */
export const DEFAULT_CHUNK_BYTES = 1 << 20;
/** limits a reader enforces before allocating anything a lying index asks for */
export const MAX_CHUNK_BYTES = 64 << 20;
export const MAX_INDEX_JSON_BYTES = 512 << 20;
export const MAX_CHUNKS = 1 << 26;

export interface RegionRecord {
  kind: 'tensor' | 'raw';
  /** tensor name (kind 'tensor') */
  name?: string;
  /** dtype the chunks were coded with ('RAW' for structure bytes) */
  dtype: string;
  shape?: number[];
  /** byte range in the original file */
  offset: number;
  length: number;
  /** index of the region's first chunk in the chunk table, and how many */
  chunk: number;
  chunks: number;
  /** lossy regions: mantissa bits kept (issue 4) */
  lossyBits?: number;
  /** delta files: offset in the base file of the partner tensor (same name, dtype, shape), whose
   *  bytes at the same position delta chunks are coded against */
  baseOffset?: number;
}

/** The file a delta .tzip was coded against: decoding needs exactly this file. */
export interface BaseRecord {
  name: string;
  size: number;
  sha256: string;
  format: string;
}

export interface IndexJson {
  format: 'tzip';
  version: string;
  tool: string;
  original: { name: string; size: number; sha256: string; format: string };
  chunkBytes: number;
  regions: RegionRecord[];
  /** lossy files: the SHA-256 above is of the rounded result, not of the input */
  lossy?: { bits: number; inputSha256: string };
  /** per-chunk checksum algorithm (since 2.0; absent: "crc32", as in 1.x files) */
  checksum?: ChunkChecksum;
  /** delta files (3.0): the base model */
  base?: BaseRecord;
}

export interface ChunkRecord {
  payloadOffset: number;
  payloadLength: number;
  rawLength: number;
  rawCrc: number;
  payloadCrc: number;
  flags: number;
}

/** The index of a new file (compress, and the what-if prediction of its size). */
export function buildIndex(a: {
  name: string;
  size: number;
  sha256: string;
  format: string;
  chunkBytes: number;
  regions: RegionRecord[];
  checksum: ChunkChecksum;
  lossy?: IndexJson['lossy'];
  base?: BaseRecord;
}): IndexJson {
  const index: IndexJson = {
    format: 'tzip',
    version: a.base ? `${VERSION_DELTA_MAJOR}.0` : `${VERSION_MAJOR}.${VERSION_MINOR}`,
    tool: TOOL,
    original: { name: a.name, size: a.size, sha256: a.sha256, format: a.format },
    chunkBytes: a.chunkBytes,
    regions: a.regions,
    // absent means CRC-32 (as in 1.x files)
    ...(a.checksum !== 'crc32' ? { checksum: a.checksum } : {}),
  };
  if (a.lossy) index.lossy = a.lossy;
  if (a.base) index.base = a.base;
  return index;
}

export function encodeHeader(flags: number, major = VERSION_MAJOR): Uint8Array {
  const b = new Uint8Array(HEADER_BYTES);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint16(4, major, true);
  dv.setUint16(6, VERSION_MINOR, true);
  dv.setUint32(8, flags, true);
  return b;
}

export function encodeChunkTable(chunks: ChunkRecord[]): Uint8Array {
  const b = new Uint8Array(chunks.length * CHUNK_RECORD_BYTES);
  const dv = new DataView(b.buffer);
  chunks.forEach((c, i) => {
    const o = i * CHUNK_RECORD_BYTES;
    dv.setBigUint64(o, BigInt(c.payloadOffset), true);
    dv.setUint32(o + 8, c.payloadLength, true);
    dv.setUint32(o + 12, c.rawLength, true);
    dv.setUint32(o + 16, c.rawCrc, true);
    dv.setUint32(o + 20, c.payloadCrc, true);
    dv.setUint32(o + 24, c.flags, true);
  });
  return b;
}

export function encodeFooter(f: Footer): Uint8Array {
  const b = new Uint8Array(FOOTER_BYTES);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, BigInt(f.indexOffset), true);
  dv.setUint32(8, f.storedLength, true);
  dv.setUint32(12, f.chunkCount, true);
  dv.setUint32(16, f.indexCrc, true);
  dv.setUint32(20, f.jsonLength, true);
  b.set(new TextEncoder().encode(FOOTER_MAGIC), 24);
  return b;
}

/**
 * The stored index: JSON followed by the chunk table, compressed with raw DEFLATE (RFC 1951; many
 * small tensors with long names make the index a noticeable share of a small model), plus the footer.
 * Level 6: level 9 costs several times the time for a fraction of a percent of the index
 * (docs/measurements.md).
 */
export function encodeIndex(
  index: IndexJson,
  chunks: ChunkRecord[],
  indexOffset: number,
): { stored: Uint8Array; footer: Uint8Array } {
  const json = new TextEncoder().encode(JSON.stringify(index));
  const table = encodeChunkTable(chunks);
  const plain = new Uint8Array(json.length + table.length);
  plain.set(json, 0);
  plain.set(table, json.length);
  const stored = new Uint8Array(deflateRawSync(plain, { level: 6 }));
  const footer = encodeFooter({
    indexOffset,
    storedLength: stored.length,
    chunkCount: chunks.length,
    indexCrc: crc32(stored),
    jsonLength: json.length,
  });
  return { stored, footer };
}

export interface Footer {
  indexOffset: number;
  storedLength: number;
  chunkCount: number;
  indexCrc: number;
  jsonLength: number;
}

export function parseHeader(file: string, b: Uint8Array): { flags: number; major: number; minor: number } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < HEADER_BYTES || dv.getUint32(0, true) !== MAGIC) throw badInput(file, 'not a .tzip file (bad magic)');
  const major = dv.getUint16(4, true);
  const minor = dv.getUint16(6, true);
  if (!READABLE_MAJORS.includes(major))
    throw new TzError(
      'UNSUPPORTED',
      file,
      `unsupported .tzip version ${major}.${minor} (this TensorZip reads ` +
        `${READABLE_MAJORS.map((m) => `${m}.x`).join(' and ')}; a newer TensorZip may read it)`,
    );
  const flags = dv.getUint32(8, true);
  if ((flags & ~FLAG_LOSSY) !== 0 || dv.getUint32(12, true) !== 0)
    throw badInput(file, 'corrupted .tzip header (unknown flags or non-zero reserved bytes)');
  return { flags, major, minor };
}

export function parseFooter(file: string, b: Uint8Array, fileSize: number): Footer {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (new TextDecoder().decode(b.subarray(24, 32)) !== FOOTER_MAGIC)
    throw badInput(file, 'truncated or corrupted .tzip (footer not found at the end of the file)');
  const indexOffset = Number(dv.getBigUint64(0, true));
  const storedLength = dv.getUint32(8, true);
  const chunkCount = dv.getUint32(12, true);
  const indexCrc = dv.getUint32(16, true);
  const jsonLength = dv.getUint32(20, true);
  if (jsonLength > MAX_INDEX_JSON_BYTES || chunkCount > MAX_CHUNKS)
    throw badInput(file, `corrupted .tzip: index of ${jsonLength} bytes and ${chunkCount} chunks exceeds the limits`);
  if (indexOffset < HEADER_BYTES || indexOffset + storedLength + FOOTER_BYTES !== fileSize) {
    throw badInput(file, 'corrupted .tzip: index position does not match the file size (truncated or appended to?)');
  }
  return { indexOffset, storedLength, chunkCount, indexCrc, jsonLength };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const isUint = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Parses and cross-checks the index; every inconsistency is a one-line BAD_INPUT. */
export function parseIndex(
  file: string,
  footer: Footer,
  stored: Uint8Array,
): { index: IndexJson; chunks: ChunkRecord[] } {
  if (crc32(stored) !== footer.indexCrc) throw badInput(file, 'corrupted .tzip: index checksum mismatch');
  const plainLength = footer.jsonLength + footer.chunkCount * CHUNK_RECORD_BYTES;
  let indexBytes: Uint8Array;
  try {
    indexBytes = new Uint8Array(inflateRawSync(stored, { maxOutputLength: Math.max(1, plainLength) }));
  } catch {
    throw badInput(file, 'corrupted .tzip: index does not decompress to its stated size');
  }
  if (indexBytes.length !== plainLength)
    throw badInput(file, 'corrupted .tzip: index does not decompress to its stated size');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(indexBytes.subarray(0, footer.jsonLength)));
  } catch {
    throw badInput(file, 'corrupted .tzip: index is not valid JSON');
  }
  const bad = (what: string) => badInput(file, `corrupted .tzip index: ${what}`);
  if (!isObj(json) || json.format !== 'tzip') throw bad('not a tzip index');
  const o = json.original;
  if (
    !isObj(o) ||
    typeof o.name !== 'string' ||
    !isUint(o.size) ||
    typeof o.sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(o.sha256)
  )
    throw bad('bad "original"');
  if (o.name === '' || o.name.includes('/') || o.name.includes('\\') || o.name === '.' || o.name === '..')
    throw bad(`unsafe original name "${o.name}"`);
  if (!isUint(json.chunkBytes) || json.chunkBytes === 0 || json.chunkBytes > MAX_CHUNK_BYTES)
    throw bad('bad chunk size');
  if (!Array.isArray(json.regions)) throw bad('no regions');
  if (json.checksum !== undefined && json.checksum !== 'crc32' && json.checksum !== 'xxh32')
    throw bad(`unknown chunk checksum "${String(json.checksum)}"`);
  const base = json.base;
  if (
    base !== undefined &&
    (!isObj(base) ||
      typeof base.name !== 'string' ||
      base.name === '' ||
      !isUint(base.size) ||
      typeof base.sha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(base.sha256) ||
      typeof base.format !== 'string')
  )
    throw bad('bad "base"');
  const dv = new DataView(
    indexBytes.buffer,
    indexBytes.byteOffset + footer.jsonLength,
    footer.chunkCount * CHUNK_RECORD_BYTES,
  );
  const chunks: ChunkRecord[] = [];
  for (let i = 0; i < footer.chunkCount; i++) {
    const p = i * CHUNK_RECORD_BYTES;
    const c: ChunkRecord = {
      payloadOffset: Number(dv.getBigUint64(p, true)),
      payloadLength: dv.getUint32(p + 8, true),
      rawLength: dv.getUint32(p + 12, true),
      rawCrc: dv.getUint32(p + 16, true),
      payloadCrc: dv.getUint32(p + 20, true),
      flags: dv.getUint32(p + 24, true),
    };
    if ((c.flags & ~CHUNK_FLAG_DUPLICATE) !== 0 || dv.getUint32(p + 28, true) !== 0)
      throw bad(`chunk ${i} has unknown flags`);
    if (c.payloadOffset < HEADER_BYTES || c.payloadOffset + c.payloadLength > footer.indexOffset)
      throw bad(`chunk ${i} payload out of range`);
    if (c.rawLength > json.chunkBytes) throw bad(`chunk ${i} is larger than the chunk size`);
    if (c.payloadLength > json.chunkBytes + 65536 + c.rawLength) throw bad(`chunk ${i} payload is implausibly large`);
    chunks.push(c);
  }
  let pos = 0;
  let next = 0;
  for (const [ri, r] of (json.regions as unknown[]).entries()) {
    if (
      !isObj(r) ||
      (r.kind !== 'tensor' && r.kind !== 'raw') ||
      typeof r.dtype !== 'string' ||
      !isUint(r.offset) ||
      !isUint(r.length) ||
      !isUint(r.chunk) ||
      !isUint(r.chunks)
    )
      throw bad(`region ${ri} malformed`);
    if (r.offset !== pos) throw bad(`region ${ri} does not start where the previous one ended`);
    if (
      r.baseOffset !== undefined &&
      (!isObj(base) || r.kind !== 'tensor' || !isUint(r.baseOffset) || r.baseOffset + r.length > (base.size as number))
    )
      throw bad(`region ${ri} has a bad base offset`);
    if (r.chunk !== next || r.chunk + r.chunks > chunks.length) throw bad(`region ${ri} chunk range is inconsistent`);
    let sum = 0;
    for (let k = r.chunk; k < r.chunk + r.chunks; k++) sum += chunks[k]!.rawLength;
    if (sum !== r.length) throw bad(`region ${ri} chunks do not add up to its length`);
    pos += r.length;
    next += r.chunks;
  }
  if (pos !== o.size) throw bad('regions do not cover the original file');
  if (next !== chunks.length) throw bad('chunks not owned by any region');
  return { index: json as unknown as IndexJson, chunks };
}
