import * as zlib from 'node:zlib';

/** CRC-32 (IEEE, as zlib). Uses node's native zlib.crc32 where present (Node >= 20.15), else a slice-by-8 table. */
let table: Uint32Array | undefined;
function tableOf(): Uint32Array {
  if (table) return table;
  const t = new Uint32Array(256 * 8);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++)
    for (let s = 1; s < 8; s++) t[s * 256 + i] = (t[(s - 1) * 256 + i]! >>> 8) ^ t[t[(s - 1) * 256 + i]! & 0xff]!;
  return (table = t);
}

export function crc32Reference(data: Uint8Array, seed = 0): number {
  const TABLE = tableOf();
  let c = ~seed >>> 0;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    c ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    c =
      TABLE[7 * 256 + (c & 0xff)]! ^
      TABLE[6 * 256 + ((c >>> 8) & 0xff)]! ^
      TABLE[5 * 256 + ((c >>> 16) & 0xff)]! ^
      TABLE[4 * 256 + (c >>> 24)]! ^
      TABLE[3 * 256 + data[i + 4]!]! ^
      TABLE[2 * 256 + data[i + 5]!]! ^
      TABLE[256 + data[i + 6]!]! ^
      TABLE[data[i + 7]!]!;
  }
  for (; i < n; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const native = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;

/** The one CRC-32 of the engine (zip members, .npz members, the .tzip 1.x checksums); `seed` continues a running CRC. */
export const crc32: (data: Uint8Array, seed?: number) => number = native
  ? (d, seed = 0) => native(d, seed) >>> 0
  : (d, seed = 0) => crc32Reference(d, seed);
