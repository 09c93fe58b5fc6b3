/**
 * Delta payloads (docs/format.md, "Delta chunk payloads", .tzip 3.0): a chunk of a tensor coded
 * against the same bytes of its partner in a base model. Three more payload modes, each wrapping
 * an ordinary (standalone) payload of a residual:
 *
 *   mode 5 XOR   body = payload of (new XOR base), coded with the tensor's dtype layout (ZipLLM's BitX)
 *   mode 6 ULP   body = width:u8 payload of zigzag(ord(new) - ord(base) mod 2^(8 width)) per element,
 *                coded as a width-byte integer; ord is the order-preserving integer encoding of the
 *                float (so the residual is the signed distance in ULPs); a partial trailing element
 *                is XORed with the base instead
 *   mode 7 SAME  no body: the chunk equals the base bytes
 *   mode 8 ULPG  ULP residuals grouped by the base element's exponent: body = width:u8 mbits:u8
 *                groups:u8, then per group `length:varint payload[length]` (the group's residuals
 *                in element order, coded as for ULP), then the partial trailing element XOR base.
 *                Group g holds the elements whose base exponent is emax - g (emax: the largest
 *                exponent field among the chunk's base elements; the last group takes the rest).
 *                Optimizer steps are about the same size in value whatever the weight, so the ULP
 *                distance scales with 1 / |base|: one table per exponent keeps those distributions apart.
 *
 * The encoder tries standalone, XOR and (float dtypes) ULP and keeps the smallest.
 */
import type { Backend } from './backend';
import { decodeInto, encodeWith, DEFAULT_OPTIONS, type EncodeOptions } from './codec';
import { CodecError } from './errors';
import { readVarint, writeVarint } from './bitio';
import { dtypeInfo } from '../core/dtypes';

export const MODE_XOR = 5;
export const MODE_ULP = 6;
export const MODE_SAME = 7;
export const MODE_ULPG = 8;
/** chunks with fewer elements use plain ULP (a table per group would cost more than it saves) */
const ULPG_MIN_ELEMENTS = 8192;
const MAX_GROUPS = 16;

/** Does this payload need the base chunk to decode? */
export function isDeltaPayload(payload: Uint8Array): boolean {
  const m = payload[0];
  return m === MODE_XOR || m === MODE_ULP || m === MODE_SAME || m === MODE_ULPG;
}

export function xorInto(a: Uint8Array, b: Uint8Array, out: Uint8Array): void {
  const n = a.length;
  let i = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0 && out.byteOffset % 4 === 0) {
    const m = n >>> 2;
    const a4 = new Uint32Array(a.buffer, a.byteOffset, m),
      b4 = new Uint32Array(b.buffer, b.byteOffset, m),
      o4 = new Uint32Array(out.buffer, out.byteOffset, m);
    for (let k = 0; k < m; k++) o4[k] = a4[k]! ^ b4[k]!;
    i = m * 4;
  }
  for (; i < n; i++) out[i] = a[i]! ^ b[i]!;
}

/** Element views of width w over a byte range (copied when misaligned). */
function view16(a: Uint8Array, n: number): Uint16Array {
  return a.byteOffset % 2 === 0
    ? new Uint16Array(a.buffer, a.byteOffset, n)
    : new Uint16Array(a.slice(0, 2 * n).buffer);
}
function view32(a: Uint8Array, n: number): Uint32Array {
  return a.byteOffset % 4 === 0
    ? new Uint32Array(a.buffer, a.byteOffset, n)
    : new Uint32Array(a.slice(0, 4 * n).buffer);
}
function view64(a: Uint8Array, n: number): BigUint64Array {
  return a.byteOffset % 8 === 0
    ? new BigUint64Array(a.buffer, a.byteOffset, n)
    : new BigUint64Array(a.slice(0, 8 * n).buffer);
}

/**
 * out = zigzag(ord(a) - ord(b)) element-wise for width w (2, 4 or 8) sign-magnitude floats; the
 * trailing partial element is a XOR b. ord(x) = x with the sign bit set when x's sign is 0, else ~x.
 * out must be aligned to w (a fresh array is).
 */
export function ulpForward(a: Uint8Array, b: Uint8Array, w: 2 | 4 | 8, out: Uint8Array): void {
  const n = Math.floor(a.length / w);
  if (w === 2) {
    const x = view16(a, n),
      y = view16(b, n),
      o = new Uint16Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const p = x[i]!,
        q = y[i]!;
      const op = p & 0x8000 ? ~p & 0xffff : p | 0x8000;
      const oq = q & 0x8000 ? ~q & 0xffff : q | 0x8000;
      const d = ((op - oq) << 16) >> 16; // signed 16-bit difference
      o[i] = ((d << 1) ^ (d >> 15)) & 0xffff;
    }
  } else if (w === 4) {
    const x = view32(a, n),
      y = view32(b, n),
      o = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const p = x[i]!,
        q = y[i]!;
      const op = p & 0x80000000 ? ~p : p | 0x80000000;
      const oq = q & 0x80000000 ? ~q : q | 0x80000000;
      const d = (op - oq) | 0; // signed 32-bit difference
      o[i] = ((d << 1) ^ (d >> 31)) >>> 0;
    }
  } else {
    const x = view64(a, n),
      y = view64(b, n),
      o = new BigUint64Array(out.buffer, out.byteOffset, n);
    const S = 1n << 63n,
      M = (1n << 64n) - 1n;
    for (let i = 0; i < n; i++) {
      const p = x[i]!,
        q = y[i]!;
      const op = p & S ? ~p & M : p | S;
      const oq = q & S ? ~q & M : q | S;
      const d = BigInt.asIntN(64, op - oq);
      o[i] = BigInt.asUintN(64, (d << 1n) ^ (d >> 63n));
    }
  }
  for (let i = n * w; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
}

/** Inverse of ulpForward: out = the elements whose residuals against b are r. */
export function ulpInverse(r: Uint8Array, b: Uint8Array, w: 2 | 4 | 8, out: Uint8Array): void {
  const n = Math.floor(r.length / w);
  if (w === 2) {
    const z = view16(r, n),
      y = view16(b, n),
      o = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const zz = z[i]!,
        q = y[i]!;
      const d = (zz >>> 1) ^ -(zz & 1);
      const oq = q & 0x8000 ? ~q & 0xffff : q | 0x8000;
      const op = (oq + d) & 0xffff;
      o[i] = op & 0x8000 ? op & 0x7fff : ~op & 0xffff;
    }
    out.set(new Uint8Array(o.buffer));
  } else if (w === 4) {
    const z = view32(r, n),
      y = view32(b, n),
      o = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const zz = z[i]!,
        q = y[i]!;
      const d = (zz >>> 1) ^ -(zz & 1);
      const oq = q & 0x80000000 ? ~q : q | 0x80000000;
      const op = (oq + d) >>> 0;
      o[i] = op & 0x80000000 ? op & 0x7fffffff : ~op >>> 0;
    }
    out.set(new Uint8Array(o.buffer));
  } else {
    const z = view64(r, n),
      y = view64(b, n),
      o = new BigUint64Array(n);
    const S = 1n << 63n,
      M = (1n << 64n) - 1n;
    for (let i = 0; i < n; i++) {
      const zz = z[i]!,
        q = y[i]!;
      const d = (zz >> 1n) ^ -(zz & 1n);
      const oq = q & S ? ~q & M : q | S;
      const op = BigInt.asUintN(64, oq + d);
      o[i] = op & S ? op & ~S & M : ~op & M;
    }
    out.set(new Uint8Array(o.buffer));
  }
  for (let i = n * w; i < r.length; i++) out[i] = r[i]! ^ b[i]!;
}

/** Widths the ULP mode applies to: sign-magnitude float dtypes of 2, 4 or 8 bytes. */
export function ulpWidth(dtype: string): 2 | 4 | 8 | undefined {
  const info = dtypeInfo(dtype);
  if (!info.float) return undefined;
  return info.size === 2 || info.size === 4 || info.size === 8 ? info.size : undefined;
}

const UINT_OF_WIDTH = { 2: 'U16', 4: 'U32', 8: 'U64' } as const;

/** Exponent field of each of the n base elements (width w, mbits mantissa bits, exponent above it, sign on top). */
function exponents(base: Uint8Array, w: 2 | 4 | 8, mbits: number, n: number): Uint16Array {
  const ebits = 8 * w - 1 - mbits;
  const mask = (1 << ebits) - 1;
  const out = new Uint16Array(n);
  const dv = new DataView(base.buffer, base.byteOffset, base.byteLength);
  if (w === 2) for (let i = 0; i < n; i++) out[i] = (dv.getUint16(2 * i, true) >>> mbits) & mask;
  else if (w === 4) for (let i = 0; i < n; i++) out[i] = (dv.getUint32(4 * i, true) >>> mbits) & mask;
  else for (let i = 0; i < n; i++) out[i] = (dv.getUint32(8 * i + 4, true) >>> (mbits - 32)) & mask;
  return out;
}

/** Group of each element: emax - exponent, capped at groups - 1. */
function groupsOf(exp: Uint16Array, groups: number): Uint8Array {
  let emax = 0;
  for (let i = 0; i < exp.length; i++) if (exp[i]! > emax) emax = exp[i]!;
  const g = new Uint8Array(exp.length);
  for (let i = 0; i < exp.length; i++) g[i] = Math.min(groups - 1, emax - exp[i]!);
  return g;
}

function encodeUlpGrouped(
  be: Backend,
  data: Uint8Array,
  base: Uint8Array,
  w: 2 | 4 | 8,
  mbits: number,
  residual: Uint8Array,
  opt: EncodeOptions,
): Uint8Array {
  const n = Math.floor(data.length / w);
  const exp = exponents(base, w, mbits, n);
  // as many groups as there are exponents (from the top) holding at least 1/64 of the elements
  const full = groupsOf(exp, MAX_GROUPS);
  const count = new Uint32Array(MAX_GROUPS);
  for (let i = 0; i < n; i++) count[full[i]!]!++;
  let groups = 1;
  while (groups < MAX_GROUPS && count[groups - 1]! * 64 >= n) groups++;
  const gid = groupsOf(exp, groups);
  const sizes = new Uint32Array(groups);
  for (let i = 0; i < n; i++) sizes[gid[i]!]!++;
  const bufs = Array.from(sizes, (c) => new Uint8Array(c * w));
  const fill = new Uint32Array(groups);
  for (let i = 0; i < n; i++) {
    const g = gid[i]!;
    const o = fill[g]! * w;
    fill[g]!++;
    for (let k = 0; k < w; k++) bufs[g]![o + k] = residual[i * w + k]!;
  }
  const parts: Uint8Array[] = [Uint8Array.of(MODE_ULPG, w, mbits, groups)];
  for (const b of bufs) {
    const inner = encodeWith(be, b, UINT_OF_WIDTH[w], opt);
    const len: number[] = [];
    writeVarint(len, inner.length);
    parts.push(Uint8Array.from(len), inner);
  }
  parts.push(residual.subarray(n * w));
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function decodeUlpGrouped(
  be: Backend,
  payload: Uint8Array,
  rawLength: number,
  base: Uint8Array,
  dst: Uint8Array,
): void {
  const w = payload[1];
  const mbits = payload[2]!;
  const groups = payload[3]!;
  if (w !== 2 && w !== 4 && w !== 8) throw new CodecError('bad ULP width');
  if (mbits < 1 || mbits >= 8 * w - 2 || (w === 8 && mbits < 32) || groups < 1 || groups > MAX_GROUPS)
    throw new CodecError('bad ULPG header');
  const n = Math.floor(rawLength / w);
  const gid = groupsOf(exponents(base, w, mbits, n), groups);
  const sizes = new Uint32Array(groups);
  for (let i = 0; i < n; i++) sizes[gid[i]!]!++;
  let pos = 4;
  const bufs: Uint8Array[] = [];
  for (let g = 0; g < groups; g++) {
    const [len, next] = readVarint(payload, pos);
    if (len > payload.length - next) throw new CodecError('payload truncated');
    const b = new Uint8Array(sizes[g]! * w);
    decodeInto(be, payload.subarray(next, next + len), b.length, b);
    bufs.push(b);
    pos = next + len;
  }
  const tail = rawLength - n * w;
  if (payload.length - pos !== tail) throw new CodecError('ULPG payload has the wrong length');
  const r = new Uint8Array(rawLength);
  const fill = new Uint32Array(groups);
  for (let i = 0; i < n; i++) {
    const g = gid[i]!;
    const o = fill[g]! * w;
    fill[g]!++;
    for (let k = 0; k < w; k++) r[i * w + k] = bufs[g]![o + k]!;
  }
  r.set(payload.subarray(pos), n * w);
  ulpInverse(r, base, w, dst);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function prefixed(head: number[], inner: Uint8Array): Uint8Array {
  const out = new Uint8Array(head.length + inner.length);
  out.set(head, 0);
  out.set(inner, head.length);
  return out;
}

/**
 * The smallest of: SAME (data equals base), the standalone payload, XOR and ULP (float dtypes)
 * against `base` (exactly data.length bytes). Placed in `into` when given and large enough.
 */
export function encodeDeltaWith(
  be: Backend,
  data: Uint8Array,
  base: Uint8Array,
  dtype: string,
  opt: EncodeOptions = DEFAULT_OPTIONS,
  phase = 0,
  into?: Uint8Array,
): Uint8Array {
  if (base.length !== data.length) throw new CodecError('delta: base chunk length differs from the chunk');
  const place = (p: Uint8Array): Uint8Array => {
    if (!into || into.length < p.length) return p;
    into.set(p);
    return into.subarray(0, p.length);
  };
  if (equalBytes(data, base)) return place(Uint8Array.of(MODE_SAME));
  let best = encodeWith(be, data, dtype, opt, phase);
  const residual = new Uint8Array(data.length);
  xorInto(data, base, residual);
  const xor = prefixed([MODE_XOR], encodeWith(be, residual, dtype, opt, phase));
  if (xor.length < best.length) best = xor;
  const w = ulpWidth(dtype);
  if (w) {
    ulpForward(data, base, w, residual);
    const mbits = dtypeInfo(dtype).float!.mantissaBits;
    const ulp =
      Math.floor(data.length / w) >= ULPG_MIN_ELEMENTS
        ? encodeUlpGrouped(be, data, base, w, mbits, residual, opt)
        : prefixed([MODE_ULP, w], encodeWith(be, residual, UINT_OF_WIDTH[w], opt));
    if (ulp.length < best.length) best = ulp;
  }
  return place(best);
}

/** Decodes a payload of a delta file into out[0 .. rawLength): delta modes use `base`
 *  (rawLength bytes), standalone modes ignore it. */
export function decodeDeltaInto(
  be: Backend,
  payload: Uint8Array,
  rawLength: number,
  base: Uint8Array | undefined,
  out: Uint8Array,
): void {
  if (!isDeltaPayload(payload)) {
    decodeInto(be, payload, rawLength, out);
    return;
  }
  if (!base || base.length !== rawLength) throw new CodecError('delta chunk without its base chunk');
  if (rawLength > out.length) throw new CodecError('bad chunk length');
  const mode = payload[0];
  if (mode === MODE_SAME) {
    if (payload.length !== 1) throw new CodecError('trailing bytes after chunk payload');
    out.set(base);
    return;
  }
  const dst = out.subarray(0, rawLength);
  if (mode === MODE_XOR) {
    decodeInto(be, payload.subarray(1), rawLength, dst);
    xorInto(dst, base, dst);
    return;
  }
  if (mode === MODE_ULPG) {
    decodeUlpGrouped(be, payload, rawLength, base, dst);
    return;
  }
  const w = payload[1];
  if (w !== 2 && w !== 4 && w !== 8) throw new CodecError('bad ULP width');
  const r = new Uint8Array(rawLength);
  decodeInto(be, payload.subarray(2), rawLength, r);
  ulpInverse(r, base, w, dst);
}
