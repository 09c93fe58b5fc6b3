/**
 * The ggml type table (ggml-common.h): block size, bytes per block and the field layout of every
 * quantized block. The one copy: the GGUF reader (gguf.ts), dequantization (dequant.ts) and the
 * codec's BLOCKS maps (codec/blocks.ts) all read it. Pure data, no imports.
 */

export interface GgmlField {
  name: string;
  offset: number;
  bytes: number;
  /** element type of the field when it is a scale (F16/F32/E8M0) or a plain array */
  type?: string;
}

export interface GgmlType {
  name: string;
  /** elements per block (1 for plain types) */
  blockSize: number;
  /** bytes per block */
  typeSize: number;
  /** field layout of one block (quantized types) */
  fields?: GgmlField[];
}

const F = (name: string, offset: number, bytes: number, type?: string): GgmlField =>
  type ? { name, offset, bytes, type } : { name, offset, bytes };
const Q = (name: string, blockSize: number, typeSize: number, fields?: GgmlField[]): GgmlType =>
  fields ? { name, blockSize, typeSize, fields } : { name, blockSize, typeSize };

/** ggml_type ids → block layout (ggml-common.h). Ids 4/5 (Q4_2/Q4_3) and 36-38 were removed upstream. */
export const GGML_TYPES: Record<number, GgmlType> = {
  0: Q('F32', 1, 4),
  1: Q('F16', 1, 2),
  2: Q('Q4_0', 32, 18, [F('d', 0, 2, 'F16'), F('qs', 2, 16)]),
  3: Q('Q4_1', 32, 20, [F('d', 0, 2, 'F16'), F('m', 2, 2, 'F16'), F('qs', 4, 16)]),
  6: Q('Q5_0', 32, 22, [F('d', 0, 2, 'F16'), F('qh', 2, 4), F('qs', 6, 16)]),
  7: Q('Q5_1', 32, 24, [F('d', 0, 2, 'F16'), F('m', 2, 2, 'F16'), F('qh', 4, 4), F('qs', 8, 16)]),
  8: Q('Q8_0', 32, 34, [F('d', 0, 2, 'F16'), F('qs', 2, 32, 'I8')]),
  9: Q('Q8_1', 32, 36, [F('d', 0, 2, 'F16'), F('s', 2, 2, 'F16'), F('qs', 4, 32, 'I8')]),
  10: Q('Q2_K', 256, 84, [F('scales', 0, 16), F('qs', 16, 64), F('d', 80, 2, 'F16'), F('dmin', 82, 2, 'F16')]),
  11: Q('Q3_K', 256, 110, [F('hmask', 0, 32), F('qs', 32, 64), F('scales', 96, 12), F('d', 108, 2, 'F16')]),
  12: Q('Q4_K', 256, 144, [F('d', 0, 2, 'F16'), F('dmin', 2, 2, 'F16'), F('scales', 4, 12), F('qs', 16, 128)]),
  13: Q('Q5_K', 256, 176, [
    F('d', 0, 2, 'F16'),
    F('dmin', 2, 2, 'F16'),
    F('scales', 4, 12),
    F('qh', 16, 32),
    F('qs', 48, 128),
  ]),
  14: Q('Q6_K', 256, 210, [F('ql', 0, 128), F('qh', 128, 64), F('scales', 192, 16, 'I8'), F('d', 208, 2, 'F16')]),
  15: Q('Q8_K', 256, 292, [F('d', 0, 4, 'F32'), F('qs', 4, 256, 'I8'), F('bsums', 260, 32, 'I16')]),
  16: Q('IQ2_XXS', 256, 66, [F('d', 0, 2, 'F16'), F('qs', 2, 64)]),
  17: Q('IQ2_XS', 256, 74, [F('d', 0, 2, 'F16'), F('qs', 2, 64), F('scales', 66, 8)]),
  18: Q('IQ3_XXS', 256, 98, [F('d', 0, 2, 'F16'), F('qs', 2, 96)]),
  19: Q('IQ1_S', 256, 50, [F('d', 0, 2, 'F16'), F('qs', 2, 32), F('qh', 34, 16)]),
  20: Q('IQ4_NL', 32, 18, [F('d', 0, 2, 'F16'), F('qs', 2, 16)]),
  21: Q('IQ3_S', 256, 110, [
    F('d', 0, 2, 'F16'),
    F('qs', 2, 64),
    F('qh', 66, 8),
    F('signs', 74, 32),
    F('scales', 106, 4),
  ]),
  22: Q('IQ2_S', 256, 82, [F('d', 0, 2, 'F16'), F('qs', 2, 64), F('qh', 66, 8), F('scales', 74, 8)]),
  23: Q('IQ4_XS', 256, 136, [F('d', 0, 2, 'F16'), F('scales_h', 2, 2), F('scales_l', 4, 4), F('qs', 8, 128)]),
  24: Q('I8', 1, 1),
  25: Q('I16', 1, 2),
  26: Q('I32', 1, 4),
  27: Q('I64', 1, 8),
  28: Q('F64', 1, 8),
  29: Q('IQ1_M', 256, 56, [F('qs', 0, 32), F('qh', 32, 16), F('scales', 48, 8)]),
  30: Q('BF16', 1, 2),
  // interleaved repacks of Q4_0 (removed upstream, still in old files): 4 or 8 blocks share a layout
  31: Q('Q4_0_4_4', 32, 18),
  32: Q('Q4_0_4_8', 32, 18),
  33: Q('Q4_0_8_8', 32, 18),
  34: Q('TQ1_0', 256, 54, [F('qs', 0, 48), F('qh', 48, 4), F('d', 52, 2, 'F16')]),
  35: Q('TQ2_0', 256, 66, [F('qs', 0, 64), F('d', 64, 2, 'F16')]),
  39: Q('MXFP4', 32, 17, [F('e', 0, 1, 'F8_E8M0'), F('qs', 1, 16)]),
};

const BY_NAME = new Map(Object.values(GGML_TYPES).map((t) => [t.name, t]));
/** The block layout of a ggml type name ("Q8_0"), as a GGUF layout reports it in `dtype`. */
export function ggmlTypeByName(name: string): GgmlType | undefined {
  return BY_NAME.get(name);
}
