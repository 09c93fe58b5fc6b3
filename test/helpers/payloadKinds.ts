/**
 * Test helper: which payload kinds a .tzip uses (its version and checksum, each chunk's mode, its
 * planes' codings, rANS lane counts, float transforms, duplicate records, delta modes), read by
 * walking the payload format of docs/format.md. The golden files (test/golden/) record theirs.
 */
import { readFileSync } from 'node:fs';
import { openContainer } from '../../engine/container/read';
import { readVarint } from '../../engine/codec/bitio';
import { readBlocksHeader, planeWidths, headBytes } from '../../engine/codec/blocks';
import { MODE_BLOCKS, MODE_PALETTE, MODE_PLANES, MODE_STORED, MODE_ZSTD } from '../../engine/codec/codec';
import { MODE_SAME, MODE_ULP, MODE_ULPG, MODE_XOR } from '../../engine/codec/delta';
import { CHUNK_FLAG_DUPLICATE } from '../../engine/container/format';

/** The payload kinds one chunk payload uses: its mode, its planes' codings, rANS lane counts, the
 *  float transform; delta modes name the payload they wrap too. Walks the format of docs/format.md. */
function payloadKinds(p: Uint8Array, rawLength: number, out: Set<string>): void {
  let pos = 0;
  const u8 = (): number => p[pos++]!;
  const varint = (): number => {
    const [v, next] = readVarint(p, pos);
    pos = next;
    return v;
  };
  const plane = (n: number): void => {
    const kind = u8();
    if (kind === 0) {
      out.add('plane RAW');
      pos += n;
    } else if (kind === 1) {
      out.add('plane CONST');
      pos += 1;
    } else if (kind === 2) {
      const len = varint();
      out.add('plane RANS');
      out.add(`rANS ${1 << (p[pos]! >> 4)} lanes`);
      pos += len;
    } else throw new Error(`unknown plane kind ${kind}`);
  };
  const mode = u8();
  if (mode === MODE_STORED) {
    out.add('STORED');
    return;
  }
  if (mode === MODE_ZSTD) {
    out.add('ZSTD');
    return;
  }
  if (mode === MODE_PLANES) {
    const transform = u8();
    const width = u8();
    out.add('PLANES');
    out.add(`transform ${transform} width ${width}`);
    const n = Math.floor(rawLength / width);
    for (let k = 0; k < width; k++) plane(n);
    if (pos + rawLength - n * width !== p.length) throw new Error('PLANES payload does not end with its tail');
    return;
  }
  if (mode === MODE_PALETTE) {
    out.add('PALETTE');
    const w = u8();
    const k = u8() + 1;
    pos += k * w;
    plane(Math.floor(rawLength / w));
    return;
  }
  if (mode === MODE_BLOCKS) {
    out.add('BLOCKS');
    const h = readBlocksHeader(p, pos);
    pos = h.pos;
    const head = headBytes(h.map, h.phase, rawLength);
    pos += head;
    const n = Math.floor((rawLength - head) / h.map.bytes);
    for (const w of planeWidths(h.map)) plane(w * n);
    return;
  }
  if (mode === MODE_SAME) {
    out.add('delta SAME');
    return;
  }
  if (mode === MODE_XOR) {
    out.add('delta XOR');
    payloadKinds(p.subarray(1), rawLength, out);
    return;
  }
  if (mode === MODE_ULP) {
    out.add('delta ULP');
    payloadKinds(p.subarray(2), rawLength, out);
    return;
  }
  if (mode === MODE_ULPG) {
    out.add('delta ULPG');
    pos += 2; // width, mantissa bits
    const groups = u8();
    for (let g = 0; g < groups; g++) {
      const len = varint();
      // a group's residuals: its element count is not in the payload, only its coded length
      const sub = p.subarray(pos, pos + len);
      out.add(MODE_NAMES[sub[0]!] ?? `mode ${sub[0]}`);
      pos += len;
    }
    return;
  }
  throw new Error(`unknown chunk mode ${mode}`);
}
const MODE_NAMES: Record<number, string> = {
  [MODE_STORED]: 'STORED',
  [MODE_PLANES]: 'PLANES',
  [MODE_ZSTD]: 'ZSTD',
  [MODE_PALETTE]: 'PALETTE',
  [MODE_BLOCKS]: 'BLOCKS',
};

export async function kindsOf(file: string): Promise<string[]> {
  const c = await openContainer(file);
  try {
    const out = new Set<string>();
    const bytes = readFileSync(file);
    out.add(`version ${c.index.version}`);
    out.add(`checksum ${c.index.checksum ?? 'crc32'}`);
    c.chunks.forEach((ch) => {
      if (ch.flags & CHUNK_FLAG_DUPLICATE) out.add('duplicate');
      payloadKinds(bytes.subarray(ch.payloadOffset, ch.payloadOffset + ch.payloadLength), ch.rawLength, out);
    });
    return [...out].sort();
  } finally {
    await c.file.close();
  }
}
