/**
 * Element types known to the engine, named as in safetensors (the canonical names used in
 * analysis JSON, the .tzip index and the protocol). Other formats map their own codes to these;
 * a type that is not listed here (e.g. a GGUF quantized block type) is carried as opaque bytes
 * under its own name with `DTypeInfo.size === 0`.
 */
export interface FloatLayout {
  /** bits of the IEEE exponent field */
  exponentBits: number;
  /** bits of the stored mantissa (fraction) field */
  mantissaBits: number;
}

export interface DTypeInfo {
  name: string;
  /** bytes per element; 0 for opaque/blocked types whose size is not per element */
  size: number;
  float?: FloatLayout;
  /** integer types: signed? */
  signed?: boolean;
}

const T = (name: string, size: number, extra: Partial<DTypeInfo> = {}): DTypeInfo => ({ name, size, ...extra });

// no prototype: a dtype string from a file ("toString", "__proto__") finds nothing here
export const DTYPES: Record<string, DTypeInfo> = Object.setPrototypeOf(
  {
    F64: T('F64', 8, { float: { exponentBits: 11, mantissaBits: 52 } }),
    F32: T('F32', 4, { float: { exponentBits: 8, mantissaBits: 23 } }),
    F16: T('F16', 2, { float: { exponentBits: 5, mantissaBits: 10 } }),
    BF16: T('BF16', 2, { float: { exponentBits: 8, mantissaBits: 7 } }),
    F8_E4M3: T('F8_E4M3', 1, { float: { exponentBits: 4, mantissaBits: 3 } }),
    F8_E5M2: T('F8_E5M2', 1, { float: { exponentBits: 5, mantissaBits: 2 } }),
    // safetensors also lists these; they are carried as bytes (byte-grouped by element size).
    F8_E8M0: T('F8_E8M0', 1),
    F6_E2M3: T('F6_E2M3', 1),
    F6_E3M2: T('F6_E3M2', 1),
    F4: T('F4', 1),
    C64: T('C64', 8),
    I64: T('I64', 8, { signed: true }),
    I32: T('I32', 4, { signed: true }),
    I16: T('I16', 2, { signed: true }),
    I8: T('I8', 1, { signed: true }),
    U64: T('U64', 8, { signed: false }),
    U32: T('U32', 4, { signed: false }),
    U16: T('U16', 2, { signed: false }),
    U8: T('U8', 1, { signed: false }),
    BOOL: T('BOOL', 1),
  },
  null,
);

export function dtypeInfo(name: string): DTypeInfo {
  return DTYPES[name] ?? { name, size: 0 };
}

export function isFloat(name: string): boolean {
  return DTYPES[name]?.float !== undefined;
}

/** Product of a shape as a JS number; returns NaN when it is not a safe integer. */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) return NaN;
    n *= d;
    if (!Number.isSafeInteger(n)) return NaN;
  }
  return n;
}
