/**
 * XXH32 with seed 0: the readable reference of the per-chunk checksum of .tzip 2.0 (docs/format.md,
 * "Chunk table"). The WebAssembly kernel (wasm/kernels.ts, `xxh32`) must give the same values; both
 * are tested against Debian's `xxhsum -H0`.
 */
const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

const rotl = (x: number, r: number): number => ((x << r) | (x >>> (32 - r))) >>> 0;
const mul = (a: number, b: number): number => Math.imul(a, b) >>> 0;
const round = (acc: number, input: number): number => mul(rotl((acc + mul(input, P2)) >>> 0, 13), P1);

export function xxh32Ref(data: Uint8Array): number {
  const n = data.length;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let p = 0;
  let h: number;
  if (n >= 16) {
    let v1 = (P1 + P2) >>> 0,
      v2 = P2,
      v3 = 0,
      v4 = (0 - P1) >>> 0;
    for (; p + 16 <= n; p += 16) {
      v1 = round(v1, dv.getUint32(p, true));
      v2 = round(v2, dv.getUint32(p + 4, true));
      v3 = round(v3, dv.getUint32(p + 8, true));
      v4 = round(v4, dv.getUint32(p + 12, true));
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) >>> 0;
  } else {
    h = P5;
  }
  h = (h + n) >>> 0;
  for (; p + 4 <= n; p += 4) h = mul(rotl((h + mul(dv.getUint32(p, true), P3)) >>> 0, 17), P4);
  for (; p < n; p++) h = mul(rotl((h + mul(data[p]!, P5)) >>> 0, 11), P1);
  h = (h ^ (h >>> 15)) >>> 0;
  h = mul(h, P2);
  h = (h ^ (h >>> 13)) >>> 0;
  h = mul(h, P3);
  return (h ^ (h >>> 16)) >>> 0;
}
