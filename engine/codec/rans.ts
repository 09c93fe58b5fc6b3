/**
 * Static order-0 rANS over bytes: the frequency model, its compact serialisation, and the readable
 * reference encoder/decoder. The WebAssembly kernels (wasm/kernels.ts) implement the same coder and
 * must produce identical bytes.
 *
 * State x is a 32-bit integer kept in [L, 2^31) with L = 2^15; renormalisation moves 16-bit words.
 * Symbol i of a plane is coded by state i mod `ways` (interleaving, for instruction-level
 * parallelism when decoding). The encoder runs backwards from the last symbol, starting every state
 * at L and writing words from the end of the stream towards its start; the decoder reads forwards
 * and must end with every state back at L and the stream fully consumed (an integrity check).
 *
 * Block layout (see docs/format.md, "Chunk payload"):
 *   u8      scale (bits 0-3, 1..12) | log2(ways) << 4 (0..4; 4 = 16 lanes since format 2.0)
 *   bits    table: gamma(nsym-1); per present symbol ascending gamma(gap+1); gamma(freq) for all but
 *           the last symbol (whose frequency is 2^scale minus the others); padded to a byte
 *   u32 x ways  initial decoder states (little-endian)
 *   u16 ...     renormalisation words (little-endian), to the end of the block
 */
import { BitReader, BitWriter } from './bitio';
import { CodecError } from './errors';

export const RANS_L = 1 << 15;
export const MAX_SCALE = 12;

/** Probability resolution for a plane of n bytes with nsym distinct values. */
export function chooseScale(n: number): number {
  const bits = 32 - Math.clz32(Math.max(1, n - 1));
  return Math.max(1, Math.min(MAX_SCALE, bits));
}

/** Lanes: 16 on long planes (the SIMD decoder overlaps four vectors' table lookups, for 32 more
 *  bytes of states), 8 from 1 KiB, one below (docs/measurements.md, "rANS"). */
export function chooseWays(n: number): number {
  return n >= 65536 ? 16 : n >= 1024 ? 8 : 1;
}

/**
 * Quantises counts to frequencies summing to 2^scale, every present symbol at least 1, minimising
 * the coded size greedily (each +1/-1 goes where it changes sum(count * log2(1/f)) the most/least).
 * Deterministic: both encoder paths share it, so their payloads are identical.
 */
export function normalizeFreqs(counts: ArrayLike<number>, scale: number): Uint32Array {
  const m = 1 << scale;
  // present symbols, ascending: small planes have few, and every loop below runs over them only
  const syms = repairSyms;
  let nsym = 0;
  let total = 0;
  for (let s = 0; s < 256; s++) {
    const c = counts[s]!;
    if (c === 0) continue;
    total += c;
    syms[nsym++] = s;
  }
  const f = new Uint32Array(256);
  let sum = 0;
  for (let k = 0; k < nsym; k++) {
    const s = syms[k]!;
    f[s] = Math.max(1, Math.floor((counts[s]! * m) / total));
    sum += f[s]!;
  }
  // Greedy repair. The number of steps is at most the number of symbols (floor loses < 1 per
  // symbol; forced 1s add at most 1 per symbol). Each step changes the symbol with the largest gain
  // (or smallest loss) by one, the lowest symbol winning a tie: a scan of 256 keys per step, kept
  // here in a binary heap ordered the same way (only the changed symbol's key is recomputed), so a
  // chunk of small planes does not pay 256 x steps comparisons per plane. The heap and keys are
  // module scratch (no allocation per plane: tiny tensors code thousands of planes).
  if (sum !== m) {
    const up = sum < m;
    const key = repairKey;
    const heap = repairHeap;
    let size = 0;
    // only symbols a step can pick: present ones (up), present ones above 1 (down)
    for (let k = 0; k < nsym; k++) {
      const s = syms[k]!;
      key[s] = repairKeyOf(counts[s]!, f[s]!, up);
      if (up || key[s] !== Infinity) size = heapPush(heap, key, size, s, up);
    }
    while (sum !== m) {
      if (size === 0) throw new Error('normalizeFreqs: no symbol can change');
      const best = heap[0]!;
      heap[0] = heap[--size]!;
      heapSiftDown(heap, key, size, 0, up);
      if (up) {
        f[best]!++;
        sum++;
      } else {
        f[best]!--;
        sum--;
      }
      key[best] = repairKeyOf(counts[best]!, f[best]!, up);
      if (up || key[best] !== Infinity) size = heapPush(heap, key, size, best, up);
    }
  }
  return f;
}

const repairSyms = new Int32Array(256);
const repairKey = new Float64Array(256);
const repairHeap = new Int32Array(256);

/** What one step on a present symbol (count c, frequency f) gains (up) or loses (down). */
function repairKeyOf(c: number, f: number, up: boolean): number {
  if (up) return c * Math.log2((f + 1) / f);
  return f <= 1 ? Infinity : c * Math.log2(f / (f - 1));
}

/** a before b: larger gain (up) or smaller loss (down), then the lower symbol */
function repairBefore(key: Float64Array, a: number, b: number, up: boolean): boolean {
  const ka = key[a]!,
    kb = key[b]!;
  return ka === kb ? a < b : up ? ka > kb : ka < kb;
}

function heapSiftDown(heap: Int32Array, key: Float64Array, size: number, i: number, up: boolean): void {
  const x = heap[i]!;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= size) break;
    if (c + 1 < size && repairBefore(key, heap[c + 1]!, heap[c]!, up)) c++;
    if (!repairBefore(key, heap[c]!, x, up)) break;
    heap[i] = heap[c]!;
    i = c;
  }
  heap[i] = x;
}

/** Adds s to the heap of `size` entries; returns the new size. */
function heapPush(heap: Int32Array, key: Float64Array, size: number, s: number, up: boolean): number {
  let i = size;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!repairBefore(key, s, heap[parent]!, up)) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = s;
  return size + 1;
}

/** Coded size in bits of the plane's symbols under freqs (excluding table and states). */
export function codedBits(counts: ArrayLike<number>, freqs: Uint32Array, scale: number): number {
  let bits = 0;
  for (let s = 0; s < 256; s++) {
    const c = counts[s]!;
    if (c) bits += c * (scale - Math.log2(freqs[s]!));
  }
  return bits;
}

export function writeTable(freqs: Uint32Array, scale: number, ways: number): Uint8Array {
  const w = new BitWriter();
  w.write(scale, 4);
  w.write(31 - Math.clz32(ways), 4);
  const syms: number[] = [];
  for (let s = 0; s < 256; s++) if (freqs[s]) syms.push(s);
  w.gamma(syms.length - 1);
  let prev = -1;
  for (const s of syms) {
    w.gamma(s - prev);
    prev = s;
  }
  for (let i = 0; i < syms.length - 1; i++) w.gamma(freqs[syms[i]!]!);
  return w.finish();
}

export interface RansTable {
  scale: number;
  ways: number;
  freqs: Uint32Array;
  /** bytes of the block taken by the header byte and table */
  size: number;
}

/** Parses and validates a table at buf[start..end). */
export function readTable(buf: Uint8Array, start: number, end: number): RansTable {
  const r = new BitReader(buf, start, end);
  const scale = r.read(4);
  const ways = 1 << r.read(4);
  if (scale < 1 || scale > MAX_SCALE || ways > 16) throw new CodecError('bad rANS header');
  const m = 1 << scale;
  const nsym = r.gamma() + 1;
  if (nsym < 2 || nsym > 256 || nsym > m) throw new CodecError('bad symbol count in frequency table');
  const syms: number[] = [];
  let prev = -1;
  for (let i = 0; i < nsym; i++) {
    prev += r.gamma();
    if (prev > 255) throw new CodecError('bad symbol in frequency table');
    syms.push(prev);
  }
  const freqs = new Uint32Array(256);
  let sum = 0;
  for (let i = 0; i < nsym - 1; i++) {
    const f = r.gamma();
    sum += f;
    if (sum >= m) throw new CodecError('frequencies exceed the total');
    freqs[syms[i]!] = f;
  }
  freqs[syms[nsym - 1]!] = m - sum;
  return { scale, ways, freqs, size: r.bytesUsed() };
}

// ---------------------------------------------------------------- reference coder

/** Reference encoder. Returns initial decoder states and the word stream (little-endian u16s). */
export function ransEncodeRef(
  src: Uint8Array,
  freqs: Uint32Array,
  scale: number,
  ways: number,
): { states: Uint32Array; words: Uint8Array } {
  const n = src.length;
  const start = new Uint32Array(256);
  for (let s = 0, acc = 0; s < 256; s++) {
    start[s] = acc;
    acc += freqs[s]!;
  }
  const states = new Uint32Array(ways).fill(RANS_L);
  const out = new Uint8Array(2 * n + 2);
  let p = out.length;
  for (let i = n - 1; i >= 0; i--) {
    const lane = i % ways;
    const s = src[i]!;
    const f = freqs[s]!;
    let x = states[lane]!;
    if (x >= f * 2 ** (31 - scale)) {
      out[--p] = (x >>> 8) & 0xff;
      out[--p] = x & 0xff;
      x >>>= 16;
    }
    states[lane] = Math.floor(x / f) * (1 << scale) + (x % f) + start[s]!;
  }
  return { states, words: out.subarray(p) };
}

/** Reference decoder into dst (n = dst.length). Throws CodecError on any inconsistency. */
export function ransDecodeRef(
  words: Uint8Array,
  states0: Uint32Array,
  freqs: Uint32Array,
  scale: number,
  dst: Uint8Array,
): void {
  const ways = states0.length;
  const m = 1 << scale;
  const slotSym = new Uint8Array(m);
  const start = new Uint32Array(256);
  for (let s = 0, acc = 0; s < 256; s++) {
    start[s] = acc;
    slotSym.fill(s, acc, acc + freqs[s]!);
    acc += freqs[s]!;
  }
  const states = Uint32Array.from(states0);
  let p = 0;
  for (let i = 0; i < dst.length; i++) {
    const lane = i % ways;
    let x = states[lane]!;
    const slot = x & (m - 1);
    const s = slotSym[slot]!;
    dst[i] = s;
    x = (freqs[s]! * (x >>> scale) + slot - start[s]!) >>> 0;
    if (x < RANS_L) {
      if (p + 2 > words.length) throw new CodecError('rANS stream truncated');
      x = ((x << 16) | words[p]! | (words[p + 1]! << 8)) >>> 0;
      p += 2;
    }
    states[lane] = x;
  }
  if (p !== words.length) throw new CodecError('rANS stream has trailing data');
  for (let k = 0; k < ways; k++) if (states[k] !== RANS_L) throw new CodecError('rANS final state mismatch');
}
