/**
 * Element bytes -> numbers, for the tensor inspector: a converter per dtype that turns an
 * element-aligned piece into values (Float32Array, or Float64Array for F64/I64/U64) plus a 16-bit
 * histogram key per element. The key is the value's own bits for 16- and 8-bit floats (so the
 * value histogram is exact per value) and the top half of the float32 bits otherwise (fixed bins:
 * sign, exponent and 7 mantissa bits, i.e. bfloat16 resolution).
 */
import { dtypeInfo } from '../core/dtypes';
import { bf16Value, f8Value, values16 } from '../core/floats';
import { canDequantize, dequantize } from '../formats/dequant';
import { ggmlTypeByName } from '../formats/ggml';

export type KeyKind = 'bf16' | 'f16' | 'f8e4m3' | 'f8e5m2';

export interface Converted {
  values: Float32Array | Float64Array;
  /** histogram key of element i: keys[i * keyStride + keyOffset] */
  keys: Uint8Array | Uint16Array;
  keyStride: number;
  keyOffset: number;
}

export interface Converter {
  /** bytes per unit the converter takes (an element, or a GGUF block) */
  unitBytes: number;
  /** elements per unit */
  unitElements: number;
  keyKind: KeyKind;
  /** keys identify single values (16- and 8-bit floats) */
  exactKeys: boolean;
  dequantized: boolean;
  /** whole units only; the result is valid until the next call */
  convert(bytes: Uint8Array): Converted;
  /**
   * exact-key types (16- and 8-bit floats): each element's key without converting the values
   * (valid until the next call); the values are keyValue(keyKind, key)
   */
  keys16?(bytes: Uint8Array): Uint16Array;
}

/** The value a histogram key stands for (the lower end of its bin for bf16 keys of wider types). */
export function keyValue(kind: KeyKind, key: number): number {
  if (kind === 'f16') return values16('F16')[key]!;
  if (kind === 'f8e4m3') return f8Value(key, true);
  if (kind === 'f8e5m2') return f8Value(key, false);
  return bf16Value(key);
}

/** A key's exponent field is zero (zero or subnormal at the key's resolution). */
export function keyExponentZero(kind: KeyKind, key: number): boolean {
  if (kind === 'f16') return (key & 0x7c00) === 0;
  if (kind === 'f8e4m3') return (key & 0x78) === 0;
  if (kind === 'f8e5m2') return (key & 0x7c) === 0;
  return (key & 0x7f80) === 0;
}

class Scratch {
  f32 = new Float32Array(0);
  f64 = new Float64Array(0);
  u16 = new Uint16Array(0);
  needU16(n: number): Uint16Array {
    if (this.u16.length < n) this.u16 = new Uint16Array(Math.max(n, 1024));
    return this.u16.subarray(0, n);
  }
  needF32(n: number): Float32Array {
    if (this.f32.length < n) this.f32 = new Float32Array(Math.max(n, 1024));
    return this.f32.subarray(0, n);
  }
  needF64(n: number): Float64Array {
    if (this.f64.length < n) this.f64 = new Float64Array(Math.max(n, 1024));
    return this.f64.subarray(0, n);
  }
}

function aligned(b: Uint8Array, size: number): Uint8Array {
  return b.byteOffset % size === 0 ? b : b.slice();
}

/** undefined when the dtype's values are unknown (opaque bytes, an unsupported block type). */
export function converterFor(dtype: string): Converter | undefined {
  const info = dtypeInfo(dtype);
  const sc = new Scratch();
  const f32Keys = (v: Float32Array): Converted => ({
    values: v,
    keys: new Uint16Array(v.buffer, v.byteOffset, v.length * 2),
    keyStride: 2,
    keyOffset: 1,
  });
  const simple = (
    size: number,
    keyKind: KeyKind,
    exactKeys: boolean,
    convert: (b: Uint8Array) => Converted,
    keys16?: (b: Uint8Array) => Uint16Array,
  ): Converter => ({
    unitBytes: size,
    unitElements: 1,
    keyKind,
    exactKeys,
    dequantized: false,
    convert,
    ...(keys16 ? { keys16 } : {}),
  });
  const u16Of = (b: Uint8Array): Uint16Array => {
    const a = aligned(b, 2);
    return new Uint16Array(a.buffer, a.byteOffset, a.length >> 1);
  };
  switch (dtype) {
    case 'BF16':
      return simple(
        2,
        'bf16',
        true,
        (b) => {
          const u16 = new Uint16Array(aligned(b, 2).buffer, aligned(b, 2).byteOffset, b.length >> 1);
          const out = sc.needF32(u16.length);
          const o32 = new Uint32Array(out.buffer, out.byteOffset, u16.length);
          for (let i = 0; i < u16.length; i++) o32[i] = u16[i]! << 16;
          return { values: out, keys: u16, keyStride: 1, keyOffset: 0 };
        },
        u16Of,
      );
    case 'F16':
      return simple(
        2,
        'f16',
        true,
        (b) => {
          const a = aligned(b, 2);
          const u16 = new Uint16Array(a.buffer, a.byteOffset, a.length >> 1);
          const out = sc.needF32(u16.length);
          const table = values16('F16');
          for (let i = 0; i < u16.length; i++) out[i] = table[u16[i]!]!;
          return { values: out, keys: u16, keyStride: 1, keyOffset: 0 };
        },
        u16Of,
      );
    case 'F8_E4M3':
    case 'F8_E5M2': {
      const e4m3 = dtype === 'F8_E4M3';
      const table = new Float32Array(256);
      for (let v = 0; v < 256; v++) table[v] = f8Value(v, e4m3);
      return simple(
        1,
        e4m3 ? 'f8e4m3' : 'f8e5m2',
        true,
        (b) => {
          const out = sc.needF32(b.length);
          for (let i = 0; i < b.length; i++) out[i] = table[b[i]!]!;
          return { values: out, keys: b, keyStride: 1, keyOffset: 0 };
        },
        (b) => {
          const k = sc.needU16(b.length);
          k.set(b);
          return k;
        },
      );
    }
    case 'F32':
      return simple(4, 'bf16', false, (b) => {
        const a = aligned(b, 4);
        return f32Keys(new Float32Array(a.buffer, a.byteOffset, a.length >> 2));
      });
    case 'F64':
      return simple(8, 'bf16', false, (b) => {
        const a = aligned(b, 8);
        const v = new Float64Array(a.buffer, a.byteOffset, a.length >> 3);
        const k = sc.needF32(v.length);
        k.set(v);
        return { ...f32Keys(k), values: v };
      });
  }
  if (info.size && info.signed !== undefined && !info.float) {
    const size = info.size;
    const make = (b: Uint8Array) => {
      const a = aligned(b, size);
      const n = a.length / size;
      switch (dtype) {
        case 'I8':
          return new Int8Array(a.buffer, a.byteOffset, n);
        case 'U8':
          return a;
        case 'I16':
          return new Int16Array(a.buffer, a.byteOffset, n);
        case 'U16':
          return new Uint16Array(a.buffer, a.byteOffset, n);
        case 'I32':
          return new Int32Array(a.buffer, a.byteOffset, n);
        case 'U32':
          return new Uint32Array(a.buffer, a.byteOffset, n);
        case 'I64':
          return new BigInt64Array(a.buffer, a.byteOffset, n);
        default:
          return new BigUint64Array(a.buffer, a.byteOffset, n);
      }
    };
    return simple(size, 'bf16', false, (b) => {
      const src = make(b);
      const n = src.length;
      if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
        const v = sc.needF64(n);
        for (let i = 0; i < n; i++) v[i] = Number(src[i]!);
        const k = sc.needF32(n);
        k.set(v);
        return { ...f32Keys(k), values: v };
      }
      const v = sc.needF32(n);
      v.set(src as ArrayLike<number>);
      return f32Keys(v);
    });
  }
  if (dtype === 'BOOL') {
    return simple(1, 'bf16', false, (b) => {
      const v = sc.needF32(b.length);
      for (let i = 0; i < b.length; i++) v[i] = b[i] ? 1 : 0;
      return f32Keys(v);
    });
  }
  if (canDequantize(dtype)) {
    const g = ggmlTypeByName(dtype)!;
    return {
      unitBytes: g.typeSize,
      unitElements: g.blockSize,
      keyKind: 'bf16',
      exactKeys: false,
      dequantized: true,
      convert: (b) => f32Keys(dequantize(dtype, b, sc.needF32((b.length / g.typeSize) * g.blockSize))),
    };
  }
  return undefined;
}
