import { dtypeInfo } from '../core/dtypes';

/**
 * Byte grouping of one element type: `width` byte planes after a sign `transform` that moves the
 * sign bit next to the mantissa (so the exponent gets a byte plane of its own):
 *   0 none (integers, F16, F8, opaque bytes)
 *   1 BF16: 16-bit rotate left by 1 -> planes [mantissa 7 bits | sign][exponent]
 *   2 F32:  exponent to bits 31-24, sign to bit 23 -> planes [m][m][sign | 7 mantissa bits][exponent]
 *   3 F64:  exponent to bits 63-53, sign to bit 52 -> byte 7 = 8 exponent bits, byte 6 = 3 exponent
 *           bits, sign, 4 mantissa bits
 * F16 is not rotated (as ZipNN): its high byte [sign | 5 exponent | 2 mantissa] codes as well.
 * Clean floats (zero low mantissa bits) keep their zero bytes in place, which become CONST planes.
 */
export interface Layout {
  width: 1 | 2 | 4 | 8;
  transform: 0 | 1 | 2 | 3;
}

export function layoutFor(dtype: string): Layout {
  switch (dtype) {
    case 'BF16':
      return { width: 2, transform: 1 };
    case 'F32':
      return { width: 4, transform: 2 };
    case 'F64':
      return { width: 8, transform: 3 };
  }
  const size = dtypeInfo(dtype).size;
  if (size === 2 || size === 4 || size === 8) return { width: size, transform: 0 };
  return { width: 1, transform: 0 };
}

export function validLayout(width: number, transform: number): boolean {
  if (width !== 1 && width !== 2 && width !== 4 && width !== 8) return false;
  return (
    transform === 0 ||
    (transform === 1 && width === 2) ||
    (transform === 2 && width === 4) ||
    (transform === 3 && width === 8)
  );
}
