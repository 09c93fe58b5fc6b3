// AssemblyScript (compiled by scripts/build-wasm.mjs, not by tsc): the hot loops of the chunk codec.
// Memory is managed by the JS side (engine/codec/wasmCodec.ts): it places buffers above heapBase()
// and grows memory itself. Every function works on raw pointers; none allocates.
// The algorithms are exactly those of the readable TypeScript reference (planes.ts, rans.ts):
// tests check both produce identical bytes.

// rANS constants: 32-bit state kept in [L, 2^31), 16-bit renormalisation.
const RANS_L: u32 = 1 << 15;

// Static scratch: encoder symbol table (256 x 4 u32), decoder slot table (4096 u32), states (8 u32).
const ENC_TAB: usize = memory.data(256 * 16, 16);
// SIMD encoder: per symbol x_max, start, floor(2^32 / freq), freq (u32 each); ENC_SHUF: renormalisation word
// packing by lane mask; ENC_SCALE: the scale ENC_SIMD was built for
const ENC_SIMD: usize = memory.data(256 * 16, 16);
const ENC_SHUF: usize = memory.data(16 * 16, 16);
const ENC_SCALE: usize = memory.data(4, 4);
const DEC_TAB: usize = memory.data(4096 * 4, 16);
// scale-12 fast path: freq | bias << 12 | symbol << 24 per slot; SHUF: word swizzles by lane mask
const DEC_FB: usize = memory.data(4096 * 4, 16);
const DEC_SYM: usize = memory.data(4096, 16);
const SHUF: usize = memory.data(16 * 16, 16);
const STATES: usize = memory.data(16 * 4, 16); // up to 16 lanes
const REPEAT_TAB: usize = memory.data(4096 * 8, 16);
// exact distinct count of up to 32768 elements: open addressing, 65536 slots
const SET_VAL: usize = memory.data(65536 * 8, 16);
const SET_USED: usize = memory.data(65536, 16);

export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}

export function statesPtr(): usize {
  return STATES;
}

// ---------------------------------------------------------------- plane split / merge

/** Sign rotation: the sign moves next to the mantissa (see planes.ts for the layouts). */
@inline function rot16(v: u32): u32 { return ((v << 1) | (v >> 15)) & 0xffff; }
@inline function unrot16(r: u32): u32 { return (r >> 1) | ((r & 1) << 15); }
@inline function rot32(v: u32): u32 { return ((v << 1) & 0xff000000) | ((v >> 31) << 23) | (v & 0x7fffff); }
@inline function unrot32(r: u32): u32 { return ((r >> 1) & 0x7f800000) | ((r >> 23 & 1) << 31) | (r & 0x7fffff); }
@inline function rot64hi(h: u32): u32 { return ((h << 1) & 0xffe00000) | ((h >> 31) << 20) | (h & 0xfffff); }
@inline function unrot64hi(r: u32): u32 { return ((r >> 1) & 0x7ff00000) | ((r >> 20 & 1) << 31) | (r & 0xfffff); }

// SIMD forms of the rotations above and the byte regrouping of split/merge for 4- and 8-byte elements
@inline function rot32x4(v: v128): v128 {
  return v128.or(
    v128.or(v128.and(i32x4.shl(v, 1), i32x4.splat(0xff000000)), i32x4.shl(i32x4.shr_u(v, 31), 23)),
    v128.and(v, i32x4.splat(0x7fffff)),
  );
}
@inline function unrot32x4(r: v128): v128 {
  return v128.or(
    v128.or(v128.and(i32x4.shr_u(r, 1), i32x4.splat(0x7f800000)), i32x4.shl(i32x4.shr_u(r, 23), 31)),
    v128.and(r, i32x4.splat(0x7fffff)),
  );
}
/** rot64hi on the high 32-bit word of each 64-bit lane, the low words unchanged */
@inline function rot64x2(v: v128): v128 {
  const h = v128.or(
    v128.or(v128.and(i32x4.shl(v, 1), i32x4.splat(0xffe00000)), i32x4.shl(i32x4.shr_u(v, 31), 20)),
    v128.and(v, i32x4.splat(0xfffff)),
  );
  return v128.bitselect(h, v, i64x2.splat(-4294967296));
}
@inline function unrot64x2(r: v128): v128 {
  const h = v128.or(
    v128.or(v128.and(i32x4.shr_u(r, 1), i32x4.splat(0x7ff00000)), i32x4.shl(i32x4.shr_u(r, 20), 31)),
    v128.and(r, i32x4.splat(0xfffff)),
  );
  return v128.bitselect(h, r, i64x2.splat(-4294967296));
}
/** four 4-byte elements -> 32-bit lane k holds byte k of each (its own inverse) */
@inline function bytesByPlane4(v: v128): v128 {
  return i8x16.shuffle(v, v, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
}
/** two 8-byte elements -> 16-bit lane k holds byte k of each */
@inline function bytesByPlane8(v: v128): v128 {
  return i8x16.shuffle(v, v, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
}
/** 8 x 8 transpose of 16-bit lanes: vector k of the result (lane j = lane k of input j) stored at out + k * stride */
@inline function transpose8x16(
  w0: v128, w1: v128, w2: v128, w3: v128, w4: v128, w5: v128, w6: v128, w7: v128, out: usize, stride: usize,
): void {
  const s0 = i16x8.shuffle(w0, w1, 0, 8, 1, 9, 2, 10, 3, 11), s1 = i16x8.shuffle(w0, w1, 4, 12, 5, 13, 6, 14, 7, 15);
  const s2 = i16x8.shuffle(w2, w3, 0, 8, 1, 9, 2, 10, 3, 11), s3 = i16x8.shuffle(w2, w3, 4, 12, 5, 13, 6, 14, 7, 15);
  const s4 = i16x8.shuffle(w4, w5, 0, 8, 1, 9, 2, 10, 3, 11), s5 = i16x8.shuffle(w4, w5, 4, 12, 5, 13, 6, 14, 7, 15);
  const s6 = i16x8.shuffle(w6, w7, 0, 8, 1, 9, 2, 10, 3, 11), s7 = i16x8.shuffle(w6, w7, 4, 12, 5, 13, 6, 14, 7, 15);
  const u0 = i32x4.shuffle(s0, s2, 0, 4, 1, 5), u1 = i32x4.shuffle(s0, s2, 2, 6, 3, 7);
  const u2 = i32x4.shuffle(s1, s3, 0, 4, 1, 5), u3 = i32x4.shuffle(s1, s3, 2, 6, 3, 7);
  const u4 = i32x4.shuffle(s4, s6, 0, 4, 1, 5), u5 = i32x4.shuffle(s4, s6, 2, 6, 3, 7);
  const u6 = i32x4.shuffle(s5, s7, 0, 4, 1, 5), u7 = i32x4.shuffle(s5, s7, 2, 6, 3, 7);
  v128.store(out, i64x2.shuffle(u0, u4, 0, 2));
  v128.store(out + stride, i64x2.shuffle(u0, u4, 1, 3));
  v128.store(out + 2 * stride, i64x2.shuffle(u1, u5, 0, 2));
  v128.store(out + 3 * stride, i64x2.shuffle(u1, u5, 1, 3));
  v128.store(out + 4 * stride, i64x2.shuffle(u2, u6, 0, 2));
  v128.store(out + 5 * stride, i64x2.shuffle(u2, u6, 1, 3));
  v128.store(out + 6 * stride, i64x2.shuffle(u3, u7, 0, 2));
  v128.store(out + 7 * stride, i64x2.shuffle(u3, u7, 1, 3));
}

/** transform: 0 none, 1 BF16 (16-bit rotl 1), 2 F32 (sign to bit 23), 3 F64 (sign to bit 52). */
export function split(src: usize, n: u32, width: u32, transform: u32, dst: usize): void {
  // plane p of n bytes lives at dst + p * n
  const nn = <usize>n;
  if (width == 2) {
    const d1 = dst + nn;
    let i0: usize = 0;
    for (; i0 + 16 <= nn; i0 += 16) {
      let a = v128.load(src + (i0 << 1));
      let b = v128.load(src + (i0 << 1) + 16);
      if (transform == 1) {
        a = v128.or(i16x8.shl(a, 1), i16x8.shr_u(a, 15));
        b = v128.or(i16x8.shl(b, 1), i16x8.shr_u(b, 15));
      }
      v128.store(dst + i0, i8x16.shuffle(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30));
      v128.store(d1 + i0, i8x16.shuffle(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31));
    }
    if (transform == 1) {
      for (let i: usize = i0; i < nn; i++) {
        const r = rot16(<u32>load<u16>(src + (i << 1)));
        store<u8>(dst + i, r);
        store<u8>(d1 + i, r >> 8);
      }
    } else {
      for (let i: usize = i0; i < nn; i++) {
        const r = <u32>load<u16>(src + (i << 1));
        store<u8>(dst + i, r);
        store<u8>(d1 + i, r >> 8);
      }
    }
  } else if (width == 4) {
    const d1 = dst + nn, d2 = d1 + nn, d3 = d2 + nn;
    let i0: usize = 0;
    // 16 elements per step: bytes grouped per element vector, then a 4 x 4 transpose of 32-bit lanes
    for (; i0 + 16 <= nn; i0 += 16) {
      const p = src + (i0 << 2);
      let a = v128.load(p), b = v128.load(p, 16), c = v128.load(p, 32), d = v128.load(p, 48);
      if (transform == 2) {
        a = rot32x4(a); b = rot32x4(b); c = rot32x4(c); d = rot32x4(d);
      }
      a = bytesByPlane4(a); b = bytesByPlane4(b); c = bytesByPlane4(c); d = bytesByPlane4(d);
      const t0 = i32x4.shuffle(a, b, 0, 4, 1, 5), t1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
      const t2 = i32x4.shuffle(c, d, 0, 4, 1, 5), t3 = i32x4.shuffle(c, d, 2, 6, 3, 7);
      v128.store(dst + i0, i64x2.shuffle(t0, t2, 0, 2));
      v128.store(d1 + i0, i64x2.shuffle(t0, t2, 1, 3));
      v128.store(d2 + i0, i64x2.shuffle(t1, t3, 0, 2));
      v128.store(d3 + i0, i64x2.shuffle(t1, t3, 1, 3));
    }
    for (let i: usize = i0; i < nn; i++) {
      let r = load<u32>(src + (i << 2));
      if (transform == 2) r = rot32(r);
      store<u8>(dst + i, r);
      store<u8>(d1 + i, r >> 8);
      store<u8>(d2 + i, r >> 16);
      store<u8>(d3 + i, r >> 24);
    }
  } else if (width == 8) {
    let i0: usize = 0;
    // 16 elements per step: bytes paired per vector of two elements, then an 8 x 8 transpose of 16-bit lanes
    for (; i0 + 16 <= nn; i0 += 16) {
      const p = src + (i0 << 3);
      let w0 = v128.load(p), w1 = v128.load(p, 16), w2 = v128.load(p, 32), w3 = v128.load(p, 48);
      let w4 = v128.load(p, 64), w5 = v128.load(p, 80), w6 = v128.load(p, 96), w7 = v128.load(p, 112);
      if (transform == 3) {
        w0 = rot64x2(w0); w1 = rot64x2(w1); w2 = rot64x2(w2); w3 = rot64x2(w3);
        w4 = rot64x2(w4); w5 = rot64x2(w5); w6 = rot64x2(w6); w7 = rot64x2(w7);
      }
      w0 = bytesByPlane8(w0); w1 = bytesByPlane8(w1); w2 = bytesByPlane8(w2); w3 = bytesByPlane8(w3);
      w4 = bytesByPlane8(w4); w5 = bytesByPlane8(w5); w6 = bytesByPlane8(w6); w7 = bytesByPlane8(w7);
      transpose8x16(w0, w1, w2, w3, w4, w5, w6, w7, dst + i0, nn);
    }
    for (let i: usize = i0; i < nn; i++) {
      const lo = load<u32>(src + (i << 3));
      let hi = load<u32>(src + (i << 3) + 4);
      if (transform == 3) hi = rot64hi(hi);
      store<u8>(dst + i, lo);
      store<u8>(dst + nn + i, lo >> 8);
      store<u8>(dst + 2 * nn + i, lo >> 16);
      store<u8>(dst + 3 * nn + i, lo >> 24);
      store<u8>(dst + 4 * nn + i, hi);
      store<u8>(dst + 5 * nn + i, hi >> 8);
      store<u8>(dst + 6 * nn + i, hi >> 16);
      store<u8>(dst + 7 * nn + i, hi >> 24);
    }
  } else {
    memory.copy(dst, src, nn * <usize>width);
  }
}

export function merge(src: usize, n: u32, width: u32, transform: u32, dst: usize): void {
  const nn = <usize>n;
  if (width == 2) {
    const s1 = src + nn;
    let i0: usize = 0;
    for (; i0 + 16 <= nn; i0 += 16) {
      const lo = v128.load(src + i0);
      const hi = v128.load(s1 + i0);
      let a = i8x16.shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      let b = i8x16.shuffle(lo, hi, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      if (transform == 1) {
        a = v128.or(i16x8.shr_u(a, 1), i16x8.shl(a, 15));
        b = v128.or(i16x8.shr_u(b, 1), i16x8.shl(b, 15));
      }
      v128.store(dst + (i0 << 1), a);
      v128.store(dst + (i0 << 1) + 16, b);
    }
    if (transform == 1) {
      for (let i: usize = i0; i < nn; i++) {
        store<u16>(dst + (i << 1), unrot16(<u32>load<u8>(src + i) | (<u32>load<u8>(s1 + i) << 8)));
      }
    } else {
      for (let i: usize = i0; i < nn; i++) {
        store<u16>(dst + (i << 1), <u32>load<u8>(src + i) | (<u32>load<u8>(s1 + i) << 8));
      }
    }
  } else if (width == 4) {
    const s1 = src + nn, s2 = s1 + nn, s3 = s2 + nn;
    let i0: usize = 0;
    // split's steps undone: the 4 x 4 transpose and the byte grouping are their own inverses
    for (; i0 + 16 <= nn; i0 += 16) {
      const p0 = v128.load(src + i0), p1 = v128.load(s1 + i0), p2 = v128.load(s2 + i0), p3 = v128.load(s3 + i0);
      const t0 = i32x4.shuffle(p0, p1, 0, 4, 1, 5), t1 = i32x4.shuffle(p0, p1, 2, 6, 3, 7);
      const t2 = i32x4.shuffle(p2, p3, 0, 4, 1, 5), t3 = i32x4.shuffle(p2, p3, 2, 6, 3, 7);
      let a = bytesByPlane4(i64x2.shuffle(t0, t2, 0, 2)), b = bytesByPlane4(i64x2.shuffle(t0, t2, 1, 3));
      let c = bytesByPlane4(i64x2.shuffle(t1, t3, 0, 2)), d = bytesByPlane4(i64x2.shuffle(t1, t3, 1, 3));
      if (transform == 2) {
        a = unrot32x4(a); b = unrot32x4(b); c = unrot32x4(c); d = unrot32x4(d);
      }
      const q = dst + (i0 << 2);
      v128.store(q, a); v128.store(q, b, 16); v128.store(q, c, 32); v128.store(q, d, 48);
    }
    for (let i: usize = i0; i < nn; i++) {
      let r = <u32>load<u8>(src + i) | (<u32>load<u8>(s1 + i) << 8) | (<u32>load<u8>(s2 + i) << 16) | (<u32>load<u8>(s3 + i) << 24);
      if (transform == 2) r = unrot32(r);
      store<u32>(dst + (i << 2), r);
    }
  } else if (width == 8) {
    let i0: usize = 0;
    // split's steps undone: the 8 x 8 transpose is its own inverse (into dst), then the byte pairing
    for (; i0 + 16 <= nn; i0 += 16) {
      const q = dst + (i0 << 3);
      transpose8x16(
        v128.load(src + i0), v128.load(src + nn + i0), v128.load(src + 2 * nn + i0), v128.load(src + 3 * nn + i0),
        v128.load(src + 4 * nn + i0), v128.load(src + 5 * nn + i0), v128.load(src + 6 * nn + i0),
        v128.load(src + 7 * nn + i0), q, 16,
      );
      for (let k: usize = 0; k < 128; k += 16) {
        let w = i8x16.shuffle(v128.load(q + k), v128.load(q + k), 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        if (transform == 3) w = unrot64x2(w);
        v128.store(q + k, w);
      }
    }
    for (let i: usize = i0; i < nn; i++) {
      const lo = <u32>load<u8>(src + i) | (<u32>load<u8>(src + nn + i) << 8) | (<u32>load<u8>(src + 2 * nn + i) << 16) | (<u32>load<u8>(src + 3 * nn + i) << 24);
      let hi = <u32>load<u8>(src + 4 * nn + i) | (<u32>load<u8>(src + 5 * nn + i) << 8) | (<u32>load<u8>(src + 6 * nn + i) << 16) | (<u32>load<u8>(src + 7 * nn + i) << 24);
      if (transform == 3) hi = unrot64hi(hi);
      store<u32>(dst + (i << 3), lo);
      store<u32>(dst + (i << 3) + 4, hi);
    }
  } else {
    memory.copy(dst, src, nn * <usize>width);
  }
}

/** n records of len bytes from src + i * srcStride to dst + i * dstStride: one run of a BLOCKS
 *  split or merge (blocks.ts), e.g. the 32 code bytes of every Q8_0 block. */
export function strided(src: usize, srcStride: u32, dst: usize, dstStride: u32, len: u32, n: u32): void {
  const ss = <usize>srcStride, ds = <usize>dstStride, l = <usize>len;
  if (l == 1) {
    for (let i: u32 = 0; i < n; i++) { store<u8>(dst, load<u8>(src)); src += ss; dst += ds; }
    return;
  }
  for (let i: u32 = 0; i < n; i++) {
    let k: usize = 0;
    for (; k + 16 <= l; k += 16) v128.store(dst + k, v128.load(src + k));
    for (; k + 4 <= l; k += 4) store<u32>(dst + k, load<u32>(src + k));
    for (; k < l; k++) store<u8>(dst + k, load<u8>(src + k));
    src += ss; dst += ds;
  }
}

// ---------------------------------------------------------------- statistics

/** Byte histogram of n bytes into out[256] (u32). Four sub-tables hide store-to-load latency. */
export function histogram(src: usize, n: u32, out: usize, tmp: usize): void {
  memory.fill(tmp, 0, 4 * 1024);
  const nn = <usize>n;
  let i: usize = 0;
  for (; i + 4 <= nn; i += 4) {
    const w = load<u32>(src + i);
    const a = tmp + ((w & 0xff) << 2);
    const b = tmp + 1024 + ((w >> 8 & 0xff) << 2);
    const c = tmp + 2048 + ((w >> 16 & 0xff) << 2);
    const d = tmp + 3072 + ((w >> 24) << 2);
    store<u32>(a, load<u32>(a) + 1);
    store<u32>(b, load<u32>(b) + 1);
    store<u32>(c, load<u32>(c) + 1);
    store<u32>(d, load<u32>(d) + 1);
  }
  for (; i < nn; i++) {
    const a = tmp + (<usize>load<u8>(src + i) << 2);
    store<u32>(a, load<u32>(a) + 1);
  }
  for (let s: usize = 0; s < 256; s++) {
    store<u32>(out + (s << 2), load<u32>(tmp + (s << 2)) + load<u32>(tmp + 1024 + (s << 2)) + load<u32>(tmp + 2048 + (s << 2)) + load<u32>(tmp + 3072 + (s << 2)));
  }
}

/** Histogram of every step-th byte (a cheap sample to rule out near-uniform planes). */
export function histogramSample(src: usize, n: u32, step: u32, out: usize): void {
  memory.fill(out, 0, 1024);
  for (let i: usize = 0; i < <usize>n; i += <usize>step) {
    const a = out + (<usize>load<u8>(src + i) << 2);
    store<u32>(a, load<u32>(a) + 1);
  }
}

/** A cheap test for repeats an LZ coder could exploit: the number of positions whose value equals
 *  the last value seen with the same hash (4096 slots). width 4 / 8: whole elements (u32 / u64 at
 *  their own stride: random float weights almost never repeat, tables of a few thousand values do);
 *  otherwise 8-byte windows at a 4-byte stride (short elements repeat by chance, 8-byte runs do not). */
export function repeatScore(src: usize, n: u32, width: u32): u32 {
  memory.fill(REPEAT_TAB, 0, 4096 * 8);
  let hits: u32 = 0;
  const nn = <usize>n;
  if (width == 4) {
    for (let i: usize = 0; i + 4 <= nn; i += 4) {
      const v = load<u32>(src + i);
      const slot = REPEAT_TAB + (<usize>((v * 0x9E3779B1) >> 20) << 3);
      // u32 slots store v + 1 so the zero-filled table does not match a zero element
      if (load<u32>(slot) == v + 1 && load<u32>(slot + 4) == 1) hits++;
      store<u32>(slot, v + 1);
      store<u32>(slot + 4, 1);
    }
    return hits;
  }
  const step: usize = width == 8 ? 8 : 4;
  for (let i: usize = 0; i + 8 <= nn; i += step) {
    const v = load<u64>(src + i);
    const h = <usize>((v * 0x9E3779B97F4A7C15) >> 52);
    const slot = REPEAT_TAB + (h << 3);
    if (load<u64>(slot) == v) hits++;
    store<u64>(slot, v);
  }
  return hits;
}

/** Exact number of distinct elements among the n (<= 32768) elements of width 4 or 8 at src. */
export function distinctCount(src: usize, n: u32, width: u32): u32 {
  memory.fill(SET_USED, 0, 65536);
  let count: u32 = 0;
  for (let i: usize = 0; i < <usize>n; i++) {
    const v: u64 = width == 8 ? load<u64>(src + (i << 3)) : <u64>load<u32>(src + (i << 2));
    let h = <usize>((v * 0x9E3779B97F4A7C15) >> 48);
    while (true) {
      if (load<u8>(SET_USED + h) == 0) {
        store<u8>(SET_USED + h, 1);
        store<u64>(SET_VAL + (h << 3), v);
        count++;
        break;
      }
      if (load<u64>(SET_VAL + (h << 3)) == v) break;
      h = (h + 1) & 0xffff;
    }
  }
  return count;
}

// ---------------------------------------------------------------- rANS

/** Builds the encoder's per-symbol table from freq[256] (u32 at freqPtr); see rans.ts. */
export function ransEncInit(freqPtr: usize, scale: u32): void {
  let start: u32 = 0;
  const m: u32 = 1 << scale;
  for (let s: usize = 0; s < 256; s++) {
    const f = load<u32>(freqPtr + (s << 2));
    const e = ENC_TAB + (s << 4);
    if (f == 0) { store<u32>(e, 0); store<u32>(e + 4, 0); store<u32>(e + 8, 0); store<u32>(e + 12, 0); continue; }
    // x_max (renormalise while x >= x_max)
    store<u32>(e, f << (31 - scale));
    if (f < 2) {
      store<u32>(e + 4, 0xffffffff); // rcp
      store<u32>(e + 8, (start + m - 1) | (0 << 24)); // bias, shift 0
    } else {
      let shift: u32 = 0;
      while (f > (<u32>1 << shift)) shift++;
      store<u32>(e + 4, <u32>(((<u64>1 << (shift + 31)) + <u64>f - 1) / <u64>f));
      store<u32>(e + 8, start | ((shift - 1) << 24));
    }
    store<u32>(e + 12, m - f); // cmpl_freq
    const v = ENC_SIMD + (s << 4);
    store<u32>(v, f << (31 - scale));
    store<u32>(v + 4, start);
    // floor(2^32 / f) (2^32 - 1 for f = 1): mulhi(x, rcp) is floor(x / f) or one less (enc4)
    store<u32>(v + 8, f == 1 ? 0xffffffff : <u32>((<u64>1 << 32) / <u64>f));
    store<u32>(v + 12, f);
    start += f;
  }
  store<u32>(ENC_SCALE, scale);
  if (load<u32>(ENC_SHUF + 8) == 0) initEncShuf();
}

function initEncShuf(): void {
  // for lane mask m (bit k: lane k emits its low 16 bits), bytes 0-7 of the swizzled state vector
  // hold the emitted words in ascending lane order, packed against byte 8 (stored at p - 8, so
  // they end at p and nothing at or above p is touched); unused bytes select zero
  for (let m: u32 = 0; m < 16; m++) {
    const row = ENC_SHUF + (<usize>m << 4);
    for (let b: usize = 0; b < 16; b++) store<u8>(row + b, 0x80);
    const cnt = popcnt<u32>(m);
    let j: u32 = 0;
    for (let k: u32 = 0; k < 4; k++) {
      if (!(m & (1 << k))) continue;
      const at = row + <usize>(8 - 2 * cnt + 2 * j);
      store<u8>(at, 4 * k);
      store<u8>(at + 1, 4 * k + 1);
      j++;
    }
  }
}

// the SIMD encoder's output pointer (shared by the inlined per-vector steps)
let encP: usize = 0;

/** One i32x4 of lanes through an encoder step on symbols at src[0..3]: renormalise the lanes whose
 *  state reached x_max (their low words go below encP, in lane order), then
 *  x = x + start + floor(x / f) * (M - f). With rcp = floor(2^32 / f), q' = (x * rcp) >> 32 is
 *  floor(x / f) or one less (x / f - x * rcp / 2^32 < x / 2^32 < 1/2); one compare of the
 *  remainder x - q' * f against f corrects it. */
@inline function enc4(x: v128, src: usize, m: v128): v128 {
  const e0 = v128.load(ENC_SIMD + (<usize>load<u8>(src) << 4));
  const e1 = v128.load(ENC_SIMD + (<usize>load<u8>(src, 1) << 4));
  const e2 = v128.load(ENC_SIMD + (<usize>load<u8>(src, 2) << 4));
  const e3 = v128.load(ENC_SIMD + (<usize>load<u8>(src, 3) << 4));
  const t0 = i32x4.shuffle(e0, e1, 0, 4, 1, 5); // xmax0 xmax1 start0 start1
  const t1 = i32x4.shuffle(e2, e3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(e0, e1, 2, 6, 3, 7); // rcp0 rcp1 f0 f1
  const t3 = i32x4.shuffle(e2, e3, 2, 6, 3, 7);
  const xmax = i32x4.shuffle(t0, t1, 0, 1, 4, 5);
  const c = i32x4.ge_u(x, xmax);
  const mask = <usize>i32x4.bitmask(c);
  v128.store64_lane(encP - 8, i8x16.swizzle(x, v128.load(ENC_SHUF + (mask << 4))), 0);
  encP -= <usize>popcnt<u32>(<u32>mask) << 1;
  x = v128.bitselect(i32x4.shr_u(x, 16), x, c);
  const rcp = i32x4.shuffle(t2, t3, 0, 1, 4, 5);
  const f = i32x4.shuffle(t2, t3, 2, 3, 6, 7);
  let q = i32x4.shuffle(i64x2.extmul_low_i32x4_u(x, rcp), i64x2.extmul_high_i32x4_u(x, rcp), 1, 3, 5, 7);
  q = i32x4.sub(q, i32x4.ge_u(i32x4.sub(x, i32x4.mul(q, f)), f)); // a true compare is -1: q + 1
  return i32x4.add(i32x4.add(x, i32x4.shuffle(t0, t1, 2, 3, 6, 7)), i32x4.mul(q, i32x4.sub(m, f)));
}

/** The SIMD encoder's whole groups of 8 or 16 lanes: symbols [0, i) (i a multiple of `ways`),
 *  last group first, states at STATES as i32x4 vectors. Emits exactly the words of the scalar
 *  encoder (encPut), in the same order: the scalar encoder takes the highest lane first, so each
 *  group's higher vectors emit above its lower ones. Returns the start of the word stream. */
function ransEncodeSimd(src: usize, i: usize, p: usize, ways: u32): usize {
  const m = i32x4.splat(1 << load<u32>(ENC_SCALE));
  let a = v128.load(STATES);
  let b = v128.load(STATES + 16);
  encP = p;
  if (ways == 16) {
    let c = v128.load(STATES + 32);
    let d = v128.load(STATES + 48);
    while (i > 0) {
      i -= 16;
      d = enc4(d, src + i + 12, m);
      c = enc4(c, src + i + 8, m);
      b = enc4(b, src + i + 4, m);
      a = enc4(a, src + i, m);
    }
    v128.store(STATES + 32, c);
    v128.store(STATES + 48, d);
  } else {
    while (i > 0) {
      i -= 8;
      b = enc4(b, src + i + 4, m);
      a = enc4(a, src + i, m);
    }
  }
  v128.store(STATES, a);
  v128.store(STATES + 16, b);
  return encP;
}

@inline function encPut(x: u32, s: u32, outPtr: usize): u64 {
  // returns new state in low 32 bits and the new out pointer in the high bits
  const e = ENC_TAB + (<usize>s << 4);
  const xmax = load<u32>(e);
  let p = outPtr;
  if (x >= xmax) { p -= 2; store<u16>(p, x); x >>= 16; }
  const rcp = load<u32>(e + 4);
  const bs = load<u32>(e + 8);
  const q = <u32>((<u64>x * <u64>rcp) >> 32) >> (bs >> 24);
  x = x + (bs & 0xffffff) + q * load<u32>(e + 12);
  return (<u64>p << 32) | <u64>x;
}

/** Encodes n bytes at src with `ways` interleaved states, writing 16-bit words backwards ending at
 *  outEnd. Final states go to statesPtr(). Returns the start of the word stream. */
export function ransEncode(src: usize, n: u32, ways: u32, outEnd: usize): usize {
  let p = outEnd;
  const nn = <usize>n;
  if (ways == 8) {
    let x0: u32 = RANS_L, x1: u32 = RANS_L, x2: u32 = RANS_L, x3: u32 = RANS_L, x4: u32 = RANS_L, x5: u32 = RANS_L, x6: u32 = RANS_L, x7: u32 = RANS_L;
    let i = nn;
    // tail: symbols beyond the last full group of 8, in reverse
    while ((i & 7) != 0) {
      i--;
      const lane = i & 7;
      let x: u32 = lane == 0 ? x0 : lane == 1 ? x1 : lane == 2 ? x2 : lane == 3 ? x3 : lane == 4 ? x4 : lane == 5 ? x5 : lane == 6 ? x6 : x7;
      const r = encPut(x, <u32>load<u8>(src + i), p);
      p = <usize>(r >> 32); x = <u32>r;
      if (lane == 0) x0 = x; else if (lane == 1) x1 = x; else if (lane == 2) x2 = x; else if (lane == 3) x3 = x;
      else if (lane == 4) x4 = x; else if (lane == 5) x5 = x; else if (lane == 6) x6 = x; else x7 = x;
    }
    // the whole groups of 8, from the last one down: SIMD
    store<u32>(STATES, x0); store<u32>(STATES + 4, x1); store<u32>(STATES + 8, x2); store<u32>(STATES + 12, x3);
    store<u32>(STATES + 16, x4); store<u32>(STATES + 20, x5); store<u32>(STATES + 24, x6); store<u32>(STATES + 28, x7);
    return ransEncodeSimd(src, i, p, 8);
  }
  const mask = <usize>ways - 1;
  for (let k: usize = 0; k < <usize>ways; k++) store<u32>(STATES + (k << 2), RANS_L);
  // 16 lanes: the symbols beyond the last whole group here, the groups in SIMD
  const stop: usize = ways == 16 ? nn & ~15 : 0;
  for (let i = nn; i > stop;) {
    i--;
    const sp = STATES + ((i & mask) << 2);
    const r = encPut(load<u32>(sp), <u32>load<u8>(src + i), p);
    p = <usize>(r >> 32);
    store<u32>(sp, <u32>r);
  }
  return stop > 0 ? ransEncodeSimd(src, stop, p, 16) : p;
}


function initShuf(): void {
  // for lane mask m (bit k: lane k takes a word), lane k's u32 = the j-th 16-bit word at p, where j
  // counts the set bits below k; other lanes get 0 (swizzle index 0x80 selects zero)
  for (let m: u32 = 0; m < 16; m++) {
    let j: u32 = 0;
    for (let k: u32 = 0; k < 4; k++) {
      const b = SHUF + (<usize>m << 4) + (<usize>k << 2);
      if (m & (1 << k)) {
        store<u8>(b, 2 * j); store<u8>(b + 1, 2 * j + 1); store<u8>(b + 2, 0x80); store<u8>(b + 3, 0x80);
        j++;
      } else {
        store<u32>(b, 0x80808080);
      }
    }
  }
}

/** Builds the decoder slot table from freq[256]: entry = sym | freq << 8 | (slot - start) << 20. */
export function ransDecInit(freqPtr: usize, scale: u32): void {
  if (load<u32>(SHUF) == 0) initShuf();
  let slot: u32 = 0;
  for (let s: u32 = 0; s < 256; s++) {
    const f = load<u32>(freqPtr + (<usize>s << 2));
    for (let k: u32 = 0; k < f; k++) {
      store<u32>(DEC_TAB + (<usize>(slot + k) << 2), s | (f << 8) | (k << 20));
      store<u32>(DEC_FB + (<usize>(slot + k) << 2), f | (k << 12) | (s << 24));
    }
    slot += f;
  }
}

/** Decodes n symbols into dst from the word stream [src, srcEnd) with initial states at
 *  statesPtr(). Returns 1 when the stream was consumed exactly and every state returned to L,
 *  0 otherwise (corrupt data). Reads at most 16 bytes past srcEnd (the caller leaves that slack). */
export function ransDecode(src: usize, srcEnd: usize, n: u32, ways: u32, scale: u32, dst: usize): u32 {
  const mask: u32 = (1 << scale) - 1;
  let p = src;
  const nn = <usize>n;
  if (ways == 8 && scale == 12) return ransDecode8x12(src, srcEnd, nn, dst);
  if (ways == 16 && scale == 12) return ransDecode16x12(src, srcEnd, nn, dst);
  if (ways == 8) {
    let x0 = load<u32>(STATES), x1 = load<u32>(STATES + 4), x2 = load<u32>(STATES + 8), x3 = load<u32>(STATES + 12);
    let x4 = load<u32>(STATES + 16), x5 = load<u32>(STATES + 20), x6 = load<u32>(STATES + 24), x7 = load<u32>(STATES + 28);
    let i: usize = 0;
    const full = nn & ~7;
    for (; i < full; i += 8) {
      if (p > srcEnd) break; // corrupt: stop early, the final check fails
      let w: u64 = 0;
      let e: u32;
      e = load<u32>(DEC_TAB + (<usize>(x0 & mask) << 2)); w |= <u64>(e & 0xff); x0 = ((e >> 8) & 0xfff) * (x0 >> scale) + (e >> 20);
      e = load<u32>(DEC_TAB + (<usize>(x1 & mask) << 2)); w |= <u64>(e & 0xff) << 8; x1 = ((e >> 8) & 0xfff) * (x1 >> scale) + (e >> 20);
      e = load<u32>(DEC_TAB + (<usize>(x2 & mask) << 2)); w |= <u64>(e & 0xff) << 16; x2 = ((e >> 8) & 0xfff) * (x2 >> scale) + (e >> 20);
      e = load<u32>(DEC_TAB + (<usize>(x3 & mask) << 2)); w |= <u64>(e & 0xff) << 24; x3 = ((e >> 8) & 0xfff) * (x3 >> scale) + (e >> 20);
      e = load<u32>(DEC_TAB + (<usize>(x4 & mask) << 2)); w |= <u64>(e & 0xff) << 32; x4 = ((e >> 8) & 0xfff) * (x4 >> scale) + (e >> 20);
      e = load<u32>(DEC_TAB + (<usize>(x5 & mask) << 2)); w |= <u64>(e & 0xff) << 40; x5 = ((e >> 8) & 0xfff) * (x5 >> scale) + (e >> 20);
      e = load<u32>(DEC_TAB + (<usize>(x6 & mask) << 2)); w |= <u64>(e & 0xff) << 48; x6 = ((e >> 8) & 0xfff) * (x6 >> scale) + (e >> 20);
      e = load<u32>(DEC_TAB + (<usize>(x7 & mask) << 2)); w |= <u64>(e & 0xff) << 56; x7 = ((e >> 8) & 0xfff) * (x7 >> scale) + (e >> 20);
      store<u64>(dst + i, w);
      // branchless renormalisation, in lane order (matches the encoder's reverse order)
      let c: u32;
      c = <u32>(x0 < RANS_L); x0 = select((x0 << 16) | <u32>load<u16>(p), x0, c != 0); p += c << 1;
      c = <u32>(x1 < RANS_L); x1 = select((x1 << 16) | <u32>load<u16>(p), x1, c != 0); p += c << 1;
      c = <u32>(x2 < RANS_L); x2 = select((x2 << 16) | <u32>load<u16>(p), x2, c != 0); p += c << 1;
      c = <u32>(x3 < RANS_L); x3 = select((x3 << 16) | <u32>load<u16>(p), x3, c != 0); p += c << 1;
      c = <u32>(x4 < RANS_L); x4 = select((x4 << 16) | <u32>load<u16>(p), x4, c != 0); p += c << 1;
      c = <u32>(x5 < RANS_L); x5 = select((x5 << 16) | <u32>load<u16>(p), x5, c != 0); p += c << 1;
      c = <u32>(x6 < RANS_L); x6 = select((x6 << 16) | <u32>load<u16>(p), x6, c != 0); p += c << 1;
      c = <u32>(x7 < RANS_L); x7 = select((x7 << 16) | <u32>load<u16>(p), x7, c != 0); p += c << 1;
    }
    store<u32>(STATES, x0); store<u32>(STATES + 4, x1); store<u32>(STATES + 8, x2); store<u32>(STATES + 12, x3);
    store<u32>(STATES + 16, x4); store<u32>(STATES + 20, x5); store<u32>(STATES + 24, x6); store<u32>(STATES + 28, x7);
    if (i < full) return 0;
    // the remaining < 8 symbols go through the generic loop below
    return ransDecodeGeneric(p, srcEnd, i, nn, 7, scale, mask, dst);
  }
  if (ways == 4) {
    let x0 = load<u32>(STATES), x1 = load<u32>(STATES + 4), x2 = load<u32>(STATES + 8), x3 = load<u32>(STATES + 12);
    let i: usize = 0;
    const full = nn & ~3;
    for (; i < full; i += 4) {
      if (p > srcEnd) break;
      let e: u32, c: u32;
      e = load<u32>(DEC_TAB + (<usize>(x0 & mask) << 2)); store<u8>(dst + i + 0, e); x0 = ((e >> 8) & 0xfff) * (x0 >> scale) + (e >> 20);
      e = load<u32>(DEC_TAB + (<usize>(x1 & mask) << 2)); store<u8>(dst + i + 1, e); x1 = ((e >> 8) & 0xfff) * (x1 >> scale) + (e >> 20);
      e = load<u32>(DEC_TAB + (<usize>(x2 & mask) << 2)); store<u8>(dst + i + 2, e); x2 = ((e >> 8) & 0xfff) * (x2 >> scale) + (e >> 20);
      e = load<u32>(DEC_TAB + (<usize>(x3 & mask) << 2)); store<u8>(dst + i + 3, e); x3 = ((e >> 8) & 0xfff) * (x3 >> scale) + (e >> 20);
      c = <u32>(x0 < RANS_L); x0 = select((x0 << 16) | <u32>load<u16>(p), x0, c != 0); p += c << 1;
      c = <u32>(x1 < RANS_L); x1 = select((x1 << 16) | <u32>load<u16>(p), x1, c != 0); p += c << 1;
      c = <u32>(x2 < RANS_L); x2 = select((x2 << 16) | <u32>load<u16>(p), x2, c != 0); p += c << 1;
      c = <u32>(x3 < RANS_L); x3 = select((x3 << 16) | <u32>load<u16>(p), x3, c != 0); p += c << 1;
    }
    store<u32>(STATES, x0); store<u32>(STATES + 4, x1); store<u32>(STATES + 8, x2); store<u32>(STATES + 12, x3);
    if (i < full) return 0;
    return ransDecodeGeneric(p, srcEnd, i, nn, 3, scale, mask, dst);
  }
  return ransDecodeGeneric(p, srcEnd, 0, nn, <usize>ways - 1, scale, mask, dst);
}


/** ransDecode specialised for 8 lanes and 12-bit frequencies (the common case): constant shifts,
 *  separate freq|bias and symbol tables, symbols stored directly. */
function ransDecode8x12(src: usize, srcEnd: usize, nn: usize, dst: usize): u32 {
  // Lanes 0-3 and 4-7 as two i32x4 vectors. Table lookups stay scalar (wasm has no gather);
  // the state update, symbol packing and renormalisation are vectorised. Renormalisation of four
  // lanes reads up to four words at p and routes them to the lanes that need one, in lane order.
  decP = src;
  let a = v128.load(STATES);
  let b = v128.load(STATES + 16);
  let i: usize = 0;
  const full = nn & ~7;
  for (; i < full; i += 8) {
    if (decP > srcEnd) break; // corrupt: stop early, the final check fails
    const fa = lookup4(a);
    const fbv = lookup4(b);
    a = step4(a, fa);
    b = step4(b, fbv);
    v128.store64_lane(dst + i, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(i32x4.shr_u(fa, 24), i32x4.shr_u(fbv, 24)), i32x4.splat(0)), 0);
    // renormalise lanes 0-3, then 4-7
    a = renorm4(a);
    b = renorm4(b);
  }
  v128.store(STATES, a);
  v128.store(STATES + 16, b);
  if (i < full) return 0;
  return ransDecodeGeneric(decP, srcEnd, i, nn, 7, 12, 4095, dst);
}

/** The table entries (freq | bias << 12 | symbol << 24) of the four lanes of x (12-bit slots). */
@inline function lookup4(x: v128): v128 {
  const s = i32x4.shl(v128.and(x, i32x4.splat(0xfff)), 2);
  // each lane straight from memory into the vector (pinsrd with a memory operand)
  let f = v128.load32_zero(DEC_FB + <usize>i32x4.extract_lane(s, 0));
  f = v128.load32_lane(DEC_FB + <usize>i32x4.extract_lane(s, 1), f, 1);
  f = v128.load32_lane(DEC_FB + <usize>i32x4.extract_lane(s, 2), f, 2);
  return v128.load32_lane(DEC_FB + <usize>i32x4.extract_lane(s, 3), f, 3);
}

// the SIMD decoders' read pointer in the word stream (shared by the inlined renormalisations)
let decP: usize = 0;

/** Renormalises the lanes of x below 2^15: reads up to four words at decP and routes them to those
 *  lanes in lane order (SHUF), advancing decP past them. */
@inline function renorm4(x: v128): v128 {
  const lt = i32x4.lt_u(x, i32x4.splat(RANS_L));
  const m = <usize>i32x4.bitmask(lt);
  const w = i8x16.swizzle(v128.load64_zero(decP), v128.load(SHUF + (m << 4)));
  decP += <usize>popcnt<u32>(<u32>m) << 1;
  return v128.bitselect(v128.or(i32x4.shl(x, 16), w), x, lt);
}

/** x = freq * (x >> 12) + bias for the entries f of lanes x. */
@inline function step4(x: v128, f: v128): v128 {
  const m12 = i32x4.splat(0xfff);
  return i32x4.add(i32x4.mul(v128.and(f, m12), i32x4.shr_u(x, 12)), v128.and(i32x4.shr_u(f, 12), m12));
}

/** ransDecode for 16 lanes and 12-bit frequencies: four i32x4 vectors. With one word stream the
 *  renormalisation pointer chains every vector to the one before; 16 lanes give the table lookups
 *  and multiplies of four vectors to overlap with that chain (twice the work per pointer step of
 *  the 8-lane decoder). */
function ransDecode16x12(src: usize, srcEnd: usize, nn: usize, dst: usize): u32 {
  decP = src;
  let a = v128.load(STATES);
  let b = v128.load(STATES + 16);
  let c = v128.load(STATES + 32);
  let d = v128.load(STATES + 48);
  let i: usize = 0;
  const full = nn & ~15;
  for (; i < full; i += 16) {
    if (decP > srcEnd) break; // corrupt: stop early, the final check fails
    const fa = lookup4(a), fbb = lookup4(b), fc = lookup4(c), fd = lookup4(d);
    a = step4(a, fa);
    b = step4(b, fbb);
    c = step4(c, fc);
    d = step4(d, fd);
    v128.store(dst + i, i8x16.narrow_i16x8_u(
      i16x8.narrow_i32x4_u(i32x4.shr_u(fa, 24), i32x4.shr_u(fbb, 24)),
      i16x8.narrow_i32x4_u(i32x4.shr_u(fc, 24), i32x4.shr_u(fd, 24))));
    // renormalise lanes 0-3, 4-7, 8-11, 12-15 in that order (the encoder's reverse)
    a = renorm4(a);
    b = renorm4(b);
    c = renorm4(c);
    d = renorm4(d);
  }
  v128.store(STATES, a);
  v128.store(STATES + 16, b);
  v128.store(STATES + 32, c);
  v128.store(STATES + 48, d);
  if (i < full) return 0;
  return ransDecodeGeneric(decP, srcEnd, i, nn, 15, 12, 4095, dst);
}

function ransDecodeGeneric(p: usize, srcEnd: usize, from: usize, nn: usize, laneMask: usize, scale: u32, mask: u32, dst: usize): u32 {
  for (let i = from; i < nn; i++) {
    const sp = STATES + ((i & laneMask) << 2);
    let x = load<u32>(sp);
    const e = load<u32>(DEC_TAB + (<usize>(x & mask) << 2));
    store<u8>(dst + i, e);
    x = ((e >> 8) & 0xfff) * (x >> scale) + (e >> 20);
    if (x < RANS_L) {
      if (p + 2 > srcEnd) return 0;
      x = (x << 16) | <u32>load<u16>(p);
      p += 2;
    }
    store<u32>(sp, x);
  }
  if (p != srcEnd) return 0;
  for (let k: usize = 0; k <= laneMask; k++) if (load<u32>(STATES + (k << 2)) != RANS_L) return 0;
  return 1;
}

// ---------------------------------------------------------------- checksum

const XP1: u32 = 0x9E3779B1;
const XP2: u32 = 0x85EBCA77;
const XP3: u32 = 0xC2B2AE3D;
const XP4: u32 = 0x27D4EB2F;
const XP5: u32 = 0x165667B1;

/** XXH32 (seed 0) of n bytes at src, the per-chunk checksum of .tzip 2.0 (docs/format.md). The four
 *  accumulators are four scalar chains, one step per 16-byte stripe each: they run in parallel, where
 *  an i32x4 of them was one chain of slow vector multiplies (docs/measurements.md, "Container"). Same
 *  result as the reference (engine/codec/xxh32.ts). */
export function xxh32(src: usize, n: u32): u32 {
  const nn = <usize>n;
  let p: usize = 0;
  let h: u32;
  if (nn >= 16) {
    let v1: u32 = XP1 + XP2,
      v2: u32 = XP2,
      v3: u32 = 0,
      v4: u32 = 0 - XP1;
    for (; p + 16 <= nn; p += 16) {
      v1 = rotl<u32>(v1 + load<u32>(src + p) * XP2, 13) * XP1;
      v2 = rotl<u32>(v2 + load<u32>(src + p + 4) * XP2, 13) * XP1;
      v3 = rotl<u32>(v3 + load<u32>(src + p + 8) * XP2, 13) * XP1;
      v4 = rotl<u32>(v4 + load<u32>(src + p + 12) * XP2, 13) * XP1;
    }
    h = rotl<u32>(v1, 1) + rotl<u32>(v2, 7) + rotl<u32>(v3, 12) + rotl<u32>(v4, 18);
  } else {
    h = XP5;
  }
  h += n;
  for (; p + 4 <= nn; p += 4) h = rotl<u32>(h + load<u32>(src + p) * XP3, 17) * XP4;
  for (; p < nn; p++) h = rotl<u32>(h + <u32>load<u8>(src + p) * XP5, 11) * XP1;
  h ^= h >> 15;
  h *= XP2;
  h ^= h >> 13;
  h *= XP3;
  h ^= h >> 16;
  return h;
}
