/**
 * The chunk payload format (docs/format.md, "Chunk payload") on top of a Backend. Encoding tries
 * the candidates that cheap statistics say can win and keeps the smallest; decoding validates every
 * field before using it and throws CodecError on anything inconsistent.
 */
import type { Backend } from './backend';
import { readVarint, varintSize, writeVarint } from './bitio';
import {
  BLOCK_MAPS,
  BLOCKS_ENABLED,
  headBytes,
  planeWidths,
  readBlocksHeader,
  writeBlocksHeader,
  type BlockMap,
} from './blocks';
import { CodecError } from './errors';
import { layoutFor, validLayout, type Layout } from './layout';
import { order0Bits } from './entropy';
import { chooseScale, chooseWays, codedBits, normalizeFreqs, readTable, writeTable } from './rans';
import { zstdCompress, zstdContentSize, zstdDecompress } from './zstd';

export const MODE_STORED = 0;
export const MODE_PLANES = 1;
export const MODE_ZSTD = 2;
export const MODE_PALETTE = 3;
export const MODE_BLOCKS = 4;

export const KIND_RAW = 0;
export const KIND_CONST = 1;
export const KIND_RANS = 2;

export interface EncodeOptions {
  /** rANS is used on a plane only if it saves at least this fraction of the plane (decode speed vs size). */
  minRansGain: number;
  /** zstd level for the LZ candidate on tensor chunks up to 512 KiB (rare tables like an STFT basis,
   *  where optimal parsing pays), on larger tensor chunks, and on structure ("RAW") bytes up to
   *  128 KiB and above (level speeds: docs/measurements.md, "ZSTD candidate"). */
  zstdLevel: number;
  zstdLevelLarge: number;
  zstdLevelRaw: number;
  zstdLevelRawLarge: number;
  /** For 1/2-byte types, try zstd when this fraction of 8-byte windows repeats. */
  repeatThresholdShort: number;
  /** Disable candidates (for measurements). */
  noZstd?: boolean;
  noPalette?: boolean;
  noBlocks?: boolean;
  /** Try BLOCKS on every type with a block map, not only the measured ones (blocks.ts). */
  allBlockTypes?: boolean;
}

export const DEFAULT_OPTIONS: EncodeOptions = {
  minRansGain: 0.02,
  zstdLevel: 19,
  zstdLevelLarge: 9,
  zstdLevelRaw: 9,
  zstdLevelRawLarge: 6,
  repeatThresholdShort: 0.1,
};

/** The LZ test looks at this much of a chunk (repeats further apart are rare and costly to find). */
const REPEAT_SAMPLE = 128 * 1024;
const RAW_REPEAT_THRESHOLD = 0.02;

/** Chunks and planes this small are not worth a table. */
const MIN_RANS_PLANE = 16;
/** Planes at least this long are first judged on a sample. */
const SAMPLE_PLANE = 64 * 1024;

// ---------------------------------------------------------------- encoder

type Parts = Uint8Array[];

/** The parts joined, in `into` (from its start) when they fit, else in a new array. */
function concat(parts: Parts, into?: Uint8Array): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  if (into && into.length >= len && into.buffer instanceof SharedArrayBuffer) {
    // V8 copies into or out of shared memory byte by byte unless source and destination are
    // equally aligned (far slower than memmove): join in local scratch, then copy once,
    // both sides starting 8-byte aligned (callers' slots are).
    const s = scratch(len);
    joinInto(parts, s);
    into.set(s);
    return into.subarray(0, len);
  }
  return joinInto(parts, into && into.length >= len ? into.subarray(0, len) : new Uint8Array(len));
}

function joinInto(parts: Parts, out: Uint8Array): Uint8Array {
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

let scratchBuf = new Uint8Array(0);
function scratch(len: number): Uint8Array {
  if (scratchBuf.length < len) scratchBuf = new Uint8Array(Math.max(len, 2 * scratchBuf.length));
  return scratchBuf.subarray(0, len);
}

/** Codes plane p (already in the backend) as the smallest of CONST, RAW and rANS. */
function encodePlane(be: Backend, p: number, n: number, opt: EncodeOptions, parts: Parts): void {
  if (n >= SAMPLE_PLANE) {
    // Near-uniform planes (low mantissa bytes) are common and can never pay: a 1/8 sample
    // (biased low, if anything) rules them out at an eighth of the cost of a full histogram.
    const sample = be.histogramSample(p, 8);
    let count = 0;
    let present = 0;
    for (let s = 0; s < 256; s++) {
      count += sample[s]!;
      if (sample[s]) present++;
    }
    if (present > 1 && order0Bits(sample) / count / 8 > 1 - opt.minRansGain + 0.003) {
      parts.push(Uint8Array.of(KIND_RAW), be.plane(p));
      return;
    }
  }
  if (n < MIN_RANS_PLANE) {
    // too short for a table: CONST or RAW, told apart without a histogram (tiny tensors have many)
    const plane = be.plane(p);
    let same = n > 0;
    for (let i = 1; i < n && same; i++) same = plane[i] === plane[0];
    if (same) parts.push(Uint8Array.of(KIND_CONST, plane[0]!));
    else parts.push(Uint8Array.of(KIND_RAW), plane);
    return;
  }
  const hist = be.histogram(p);
  let nsym = 0;
  let sym = -1;
  // bits of the table's symbol list (gaps between present symbols): known before any frequency
  let gapBits = 0;
  for (let s = 0; s < 256; s++)
    if (hist[s]) {
      nsym++;
      gapBits += gammaBits(s - sym);
      sym = s;
    }
  if (nsym === 1) {
    parts.push(Uint8Array.of(KIND_CONST, sym));
    return;
  }
  {
    // The entropy is a lower bound of the coded bits, and the table holds at least its header, the
    // symbol list and a bit per frequency: skip the model build when even that cannot pay off.
    const limit = n * (1 - opt.minRansGain);
    const ways = chooseWays(n);
    const entropyBytes = (order0Bits(hist) * (1 - 1e-12)) / 8;
    const tableBits = 8 + gammaBits(nsym - 1) + gapBits + (nsym - 1);
    if (entropyBytes < limit && Math.ceil(entropyBytes) + Math.ceil(tableBits / 8) + 4 * ways + 2 < limit) {
      const scale = chooseScale(n);
      const freqs = normalizeFreqs(hist, scale);
      const table = writeTable(freqs, scale, ways);
      const estimate = Math.ceil(codedBits(hist, freqs, scale) / 8) + table.length + 4 * ways + 2;
      if (estimate < limit) {
        const { states, words } = be.ransEncode(p, freqs, scale, ways);
        const bodyLen = table.length + 4 * ways + words.length;
        if (1 + varintSize(bodyLen) + bodyLen < 1 + n) {
          const head: number[] = [KIND_RANS];
          writeVarint(head, bodyLen);
          const st = new Uint8Array(4 * ways);
          for (let k = 0; k < ways; k++) new DataView(st.buffer).setUint32(4 * k, states[k]!, true);
          parts.push(Uint8Array.from(head), table, st, words);
          return;
        }
      }
    }
  }
  parts.push(Uint8Array.of(KIND_RAW), be.plane(p));
}

/** Length of the Elias gamma code of x >= 1 (bitio.ts). */
function gammaBits(x: number): number {
  return 2 * (31 - Math.clz32(x)) + 1;
}

function encodePlanesMode(
  be: Backend,
  data: Uint8Array,
  layout: Layout,
  opt: EncodeOptions,
  into?: Uint8Array,
): Uint8Array {
  const n = Math.floor(data.length / layout.width);
  be.beginEncode(data, n, layout);
  const parts: Parts = [Uint8Array.of(MODE_PLANES, layout.transform, layout.width)];
  for (let p = 0; p < layout.width; p++) encodePlane(be, p, n, opt, parts);
  parts.push(data.subarray(n * layout.width));
  return concat(parts, into);
}

/** BLOCKS mode: head verbatim, the whole blocks' planes, tail verbatim (blocks.ts). Each plane is
 *  coded on its own (the backend's views are only valid until the next begin*(), so copied). */
function encodeBlocksMode(
  be: Backend,
  data: Uint8Array,
  map: BlockMap,
  phase: number,
  opt: EncodeOptions,
): Uint8Array | undefined {
  const head = headBytes(map, phase, data.length);
  const n = Math.floor((data.length - head) / map.bytes);
  if (n < 1) return undefined;
  const planes = be.splitBlocks(data.subarray(head), n, map);
  const parts: Parts = [Uint8Array.of(MODE_BLOCKS), writeBlocksHeader(map, phase), data.subarray(0, head)];
  for (const plane of planes) {
    be.beginEncode(plane, plane.length, { width: 1, transform: 0 });
    const own: Parts = [];
    encodePlane(be, 0, plane.length, opt, own);
    parts.push(concat(own));
  }
  parts.push(data.subarray(head + n * map.bytes));
  return concat(parts);
}

/** Element values of a chunk as numbers (w <= 4) or bigints (w = 8), for palette detection. */
function elementReader(data: Uint8Array, w: number): (i: number) => number | bigint {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (w === 2) return (i) => dv.getUint16(2 * i, true);
  if (w === 4) return (i) => dv.getUint32(4 * i, true);
  return (i) => dv.getBigUint64(8 * i, true);
}

/** The sorted distinct element values if there are at most `cap` (<= 256) of them (checked on a
 *  sample first). */
function smallPalette(data: Uint8Array, n: number, w: number, cap: number): (number | bigint)[] | undefined {
  const get = elementReader(data, w);
  const sample = new Set<number | bigint>();
  const step = Math.max(1, Math.floor(n / 1024));
  for (let i = 0; i < n; i += step) {
    sample.add(get(i));
    if (sample.size > cap) return undefined;
  }
  // a sample of every element is the whole set
  const all = step === 1 ? sample : new Set<number | bigint>();
  for (let i = 0; i < n && all !== sample; i++) {
    all.add(get(i));
    if (all.size > cap) return undefined;
  }
  return [...all].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function encodePaletteMode(
  be: Backend,
  data: Uint8Array,
  w: number,
  values: (number | bigint)[],
  opt: EncodeOptions,
): Uint8Array {
  const n = Math.floor(data.length / w);
  const get = elementReader(data, w);
  const index = new Map<number | bigint, number>();
  values.forEach((v, i) => index.set(v, i));
  const idx = new Uint8Array(n);
  if (w === 2) {
    const lut = new Uint8Array(65536);
    values.forEach((v, i) => {
      lut[v as number] = i;
    });
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let i = 0; i < n; i++) idx[i] = lut[dv.getUint16(2 * i, true)]!;
  } else {
    for (let i = 0; i < n; i++) idx[i] = index.get(get(i))!;
  }
  const pal = new Uint8Array(values.length * w);
  const pv = new DataView(pal.buffer);
  values.forEach((v, i) => {
    if (w === 2) pv.setUint16(2 * i, v as number, true);
    else if (w === 4) pv.setUint32(4 * i, v as number, true);
    else pv.setBigUint64(8 * i, v as bigint, true);
  });
  be.beginEncode(idx, n, { width: 1, transform: 0 });
  const parts: Parts = [Uint8Array.of(MODE_PALETTE, w, values.length - 1), pal];
  encodePlane(be, 0, n, opt, parts);
  parts.push(data.subarray(n * w));
  return concat(parts);
}

/**
 * For 4/8-byte elements: is an LZ coder worth a full pass? Trained weights almost never repeat an
 * element value, so an exact distinct count on a sample rules them out. Clean or quantized floats
 * repeat values but their byte planes already code them well; tables such as an STFT basis repeat
 * values in patterns that only LZ catches. zstd -3 on two 16 KiB samples tells them apart, each
 * sample first judged by its first 4 KiB (which LZ codes worse than the whole sample): only a near
 * pass, within LZ_ESCALATE of the limit, pays for the full sample (docs/measurements.md, "ZSTD
 * candidate"). The heads run first: they cost less than the distinct count and rule out most chunks.
 */
function lzLooksBetter(be: Backend, data: Uint8Array, w: 4 | 8, planesBytes: number): boolean {
  const n = Math.floor(data.length / w);
  if (n < 64) return false;
  const limit = LZ_MARGIN * (planesBytes / data.length);
  const near = lzSamples(data, w).filter((sample) => {
    if (sample.length <= LZ_PROBE) return true;
    const head = sample.subarray(0, LZ_PROBE);
    return zstdCompress(head, 3).length / head.length < LZ_ESCALATE * limit;
  });
  if (near.length === 0 || be.distinctCount(data, w) > 0.7 * Math.min(n, 32768)) return false;
  return near.some((sample) => zstdCompress(sample, 3).length / sample.length < limit);
}

/** For 1/2-byte elements past the repeat test: zstd -3 on the two 16 KiB samples (their 4 KiB heads
 *  misjudge some, so they are not used here). (zstd -1 is no cheaper on float weights in zstd-wasm,
 *  and misses an STFT basis that -3 finds.) */
function lzSampleBetter(data: Uint8Array, w: number, planesBytes: number): boolean {
  const limit = LZ_MARGIN * (planesBytes / data.length);
  // the better sample decides, so the second is needed only when the first does not pass
  return lzSamples(data, w).some((sample) => zstdCompress(sample, 3).length / sample.length < limit);
}

/** The LZ test's samples: LZ_SAMPLE bytes at the start and in the middle (LZ structure is usually local). */
function lzSamples(data: Uint8Array, w: number): Uint8Array[] {
  return [0, Math.max(0, Math.floor(data.length / 2 / w) * w - LZ_SAMPLE / 2)].map((at) =>
    data.subarray(at, at + LZ_SAMPLE),
  );
}
const LZ_SAMPLE = 16 * 1024;
const LZ_PROBE = 4 * 1024;
const LZ_MARGIN = 0.85;
const LZ_ESCALATE = 1.25;

/** `phase`: offset inside its block (for GGUF block types, blocks.ts) of the chunk's first byte.
 *  `into`: where to put the payload (the result is then a view of it) so a pipeline can reuse its
 *  buffers; a payload never exceeds 1 + data.length bytes (STORED), so that much room always fits.
 *  Without it, or if it is too short, the result is a new array. `data` and `into` must not overlap. */
export function encodeWith(
  be: Backend,
  data: Uint8Array,
  dtype: string,
  opt: EncodeOptions = DEFAULT_OPTIONS,
  phase = 0,
  into?: Uint8Array,
): Uint8Array {
  const placed = (payload: Uint8Array): Uint8Array => {
    if (
      !into ||
      payload.length > into.length ||
      (payload.buffer === into.buffer && payload.byteOffset === into.byteOffset)
    )
      return payload;
    return concat([payload], into);
  };
  const stored = (): Uint8Array => concat([Uint8Array.of(MODE_STORED), data], into);
  if (data.length < 4) return stored();
  const layout: Layout = dtype === 'RAW' ? { width: 1, transform: 0 } : layoutFor(dtype);
  // The first candidate is built in place (the common winner); a later, smaller one replaces it.
  let best = encodePlanesMode(be, data, layout, opt, into);
  const map = opt.noBlocks || !(opt.allBlockTypes || BLOCKS_ENABLED.has(dtype)) ? undefined : BLOCK_MAPS[dtype];
  if (map && Number.isInteger(phase) && phase >= 0 && phase < map.bytes) {
    const blocks = encodeBlocksMode(be, data, map, phase, opt);
    if (blocks && blocks.length < best.length) best = blocks;
  }

  const w = layout.width;
  const n = Math.floor(data.length / w);
  if (!opt.noPalette && w >= 2 && n >= 16) {
    // a palette payload holds its header, the values and at least a plane's kind and one byte:
    // more values than fit below the best payload so far cannot win
    const values = smallPalette(data, n, w, Math.min(256, Math.floor((best.length - 6) / w)));
    if (values) {
      const pal = encodePaletteMode(be, data, w, values, opt);
      if (pal.length < best.length) best = pal;
    }
  }

  // Structure bytes (headers, metadata) nearly always have LZ structure, but embedded compressed or
  // random bytes do not: small ones are simply tried, larger ones must show some 8-byte repeats.
  const score = (): number => be.repeatScore(data.subarray(0, REPEAT_SAMPLE), w);
  const tryZstd =
    dtype === 'RAW'
      ? !opt.noZstd && (data.length <= 4096 || score() >= RAW_REPEAT_THRESHOLD)
      : !opt.noZstd &&
        (w >= 4
          ? lzLooksBetter(be, data, w as 4 | 8, best.length)
          : // repeats alone are not enough: sign-flipped or zero-padded 16-bit data repeats 8-byte windows
            // yet codes better by planes, and a full zstd pass on 1 MiB costs 100+ ms; a sample decides
            score() >= opt.repeatThresholdShort && lzSampleBetter(data, w, best.length));
  if (tryZstd) {
    const level =
      dtype === 'RAW'
        ? data.length <= 128 * 1024
          ? opt.zstdLevelRaw
          : opt.zstdLevelRawLarge
        : data.length <= 512 * 1024
          ? opt.zstdLevel
          : opt.zstdLevelLarge;
    // Tensor chunks: a level-3 pass over the whole chunk first (a sample can mislead); the chunk's
    // slower level runs only when level 3 already beats the best so far.
    let frame = dtype !== 'RAW' && level > 3 ? zstdCompress(data, 3) : undefined;
    if (!frame || 1 + frame.length < best.length) {
      const slow = zstdCompress(data, level);
      if (!frame || slow.length < frame.length) frame = slow;
    }
    if (1 + frame.length < best.length) {
      const out = new Uint8Array(1 + frame.length);
      out[0] = MODE_ZSTD;
      out.set(frame, 1);
      best = out;
    }
  }
  return best.length < 1 + data.length ? placed(best) : stored();
}

// ---------------------------------------------------------------- decoder

class Cursor {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
  ) {}
  u8(): number {
    if (this.pos >= this.buf.length) throw new CodecError('payload truncated');
    return this.buf[this.pos++]!;
  }
  bytes(len: number): Uint8Array {
    if (len > this.buf.length - this.pos) throw new CodecError('payload truncated');
    const v = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }
  varint(): number {
    const [v, next] = readVarint(this.buf, this.pos);
    this.pos = next;
    return v;
  }
}

function decodePlane(be: Backend, c: Cursor, p: number, n: number): void {
  const out = be.planeOut(p);
  const kind = c.u8();
  if (kind === KIND_RAW) {
    out.set(c.bytes(n));
  } else if (kind === KIND_CONST) {
    out.fill(c.u8());
  } else if (kind === KIND_RANS) {
    const body = c.bytes(c.varint());
    const t = readTable(body, 0, body.length);
    const statesEnd = t.size + 4 * t.ways;
    if (statesEnd > body.length || (body.length - statesEnd) & 1) throw new CodecError('rANS block truncated');
    const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const states = new Uint32Array(t.ways);
    for (let k = 0; k < t.ways; k++) states[k] = dv.getUint32(t.size + 4 * k, true);
    be.ransDecode(p, body.subarray(statesEnd), states, t.freqs, t.scale);
  } else {
    throw new CodecError(`unknown plane coding ${kind}`);
  }
}

export function decodeWith(be: Backend, payload: Uint8Array, rawLength: number): Uint8Array {
  const out = new Uint8Array(rawLength);
  decodeInto(be, payload, rawLength, out);
  return out;
}

/** Decodes into out[0 .. rawLength) (out may be longer, e.g. a slot of a larger write buffer). */
export function decodeInto(be: Backend, payload: Uint8Array, rawLength: number, out: Uint8Array): void {
  if (!Number.isSafeInteger(rawLength) || rawLength < 0 || rawLength > out.length)
    throw new CodecError('bad chunk length');
  const c = new Cursor(payload, 0);
  const mode = c.u8();
  if (mode === MODE_STORED) {
    if (payload.length !== 1 + rawLength) throw new CodecError('stored chunk has the wrong length');
    out.set(payload.subarray(1));
    return;
  }
  if (mode === MODE_ZSTD) {
    const frame = payload.subarray(1);
    if (zstdContentSize(frame) !== rawLength) throw new CodecError('zstd frame size does not match the chunk');
    out.set(zstdDecompress(frame, rawLength));
    return;
  }
  if (mode === MODE_PLANES) {
    const transform = c.u8();
    const width = c.u8();
    if (!validLayout(width, transform)) throw new CodecError('bad plane layout');
    const layout = { width, transform } as Layout;
    const n = Math.floor(rawLength / width);
    be.beginDecode(n, layout);
    for (let p = 0; p < width; p++) decodePlane(be, c, p, n);
    const tail = c.bytes(rawLength - n * width);
    if (c.pos !== payload.length) throw new CodecError('trailing bytes after chunk payload');
    be.finishDecode(out);
    out.set(tail, n * width);
    return;
  }
  if (mode === MODE_PALETTE) {
    const w = c.u8();
    if (w !== 2 && w !== 4 && w !== 8) throw new CodecError('bad palette width');
    const k = c.u8() + 1;
    const pal = c.bytes(k * w);
    const n = Math.floor(rawLength / w);
    be.beginDecode(n, { width: 1, transform: 0 });
    decodePlane(be, c, 0, n);
    const tail = c.bytes(rawLength - n * w);
    if (c.pos !== payload.length) throw new CodecError('trailing bytes after chunk payload');
    const idx = new Uint8Array(n);
    be.finishDecode(idx);
    for (let i = 0, o = 0; i < n; i++) {
      const j = idx[i]!;
      if (j >= k) throw new CodecError('palette index out of range');
      for (let b = 0, q = j * w; b < w; b++) out[o++] = pal[q + b]!;
    }
    out.set(tail, n * w);
    return;
  }
  if (mode === MODE_BLOCKS) {
    const h = readBlocksHeader(payload, c.pos);
    c.pos = h.pos;
    const map = h.map;
    const widths = planeWidths(map);
    const head = headBytes(map, h.phase, rawLength);
    const n = Math.floor((rawLength - head) / map.bytes);
    out.set(c.bytes(head), 0);
    const planes: Uint8Array[] = [];
    for (const w of widths) {
      const len = w * n;
      be.beginDecode(len, { width: 1, transform: 0 });
      decodePlane(be, c, 0, len);
      const plane = new Uint8Array(len);
      be.finishDecode(plane);
      planes.push(plane);
    }
    const tail = c.bytes(rawLength - head - n * map.bytes);
    if (c.pos !== payload.length) throw new CodecError('trailing bytes after chunk payload');
    be.mergeBlocks(planes, n, map, out.subarray(head));
    out.set(tail, head + n * map.bytes);
    return;
  }
  throw new CodecError(`unknown chunk mode ${mode}`);
}
