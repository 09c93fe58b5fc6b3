/**
 * Values of the small float formats from their bit patterns: the one decoder of each (IEEE half,
 * bfloat16, OCP FP8 E4M3FN / E5M2). Their field widths are those of dtypes.ts.
 */

/** IEEE binary16 bits -> value (subnormals are m * 2^-24). */
export function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const bfv = new Float32Array(1);
const bfu = new Uint32Array(bfv.buffer);
/** bfloat16 bits -> value (the high half of an F32). */
export function bf16Value(v: number): number {
  bfu[0] = v << 16;
  return bfv[0]!;
}

/** FP8 bits -> value: E4M3FN (no infinities, only S.1111.111 is NaN) or E5M2 (IEEE-like). */
export function f8Value(v: number, e4m3: boolean): number {
  const eb = e4m3 ? 4 : 5;
  const mb = e4m3 ? 3 : 2;
  const s = v & 0x80 ? -1 : 1;
  const e = (v >> mb) & ((1 << eb) - 1);
  const m = v & ((1 << mb) - 1);
  const bias = (1 << (eb - 1)) - 1;
  const emax = (1 << eb) - 1;
  if (e4m3) {
    if (e === emax && m === (1 << mb) - 1) return NaN;
  } else if (e === emax) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** (1 - bias - mb);
  return s * (1 + m / (1 << mb)) * 2 ** (e - bias);
}

let f16Table: Float64Array | undefined;
let bf16Table: Float64Array | undefined;
/** The value of every 16-bit pattern of F16 or BF16 (built once). */
export function values16(dtype: 'F16' | 'BF16'): Float64Array {
  if (dtype === 'BF16') {
    if (!bf16Table) {
      bf16Table = new Float64Array(65536);
      for (let v = 0; v < 65536; v++) bf16Table[v] = bf16Value(v);
    }
    return bf16Table;
  }
  if (!f16Table) {
    f16Table = new Float64Array(65536);
    for (let v = 0; v < 65536; v++) f16Table[v] = f16Value(v);
  }
  return f16Table;
}
