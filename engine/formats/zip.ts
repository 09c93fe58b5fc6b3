import { TzError } from '../core/errors';
import { inflateRawSync } from 'node:zlib';
import { crc32 } from '../core/crc32';
import { FileWindow, dv, u64 } from './window';

/**
 * Bounded zip reader for PyTorch checkpoints and .npz: reads the end-of-central-directory record
 * (ZIP64 too) and the central directory, then each needed member's local header to find where its
 * data starts. Member data is never read here. Unsafe names (`../`, absolute, drive letters, NUL)
 * are rejected for the whole archive: TensorZip never extracts, but such an archive is hostile.
 */

export interface ZipMember {
  name: string;
  /** 0 stored, 8 deflated, anything else unsupported */
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_Z64_LOCATOR = 0x07064b50;
const SIG_Z64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const MAX_CD_BYTES = 256 << 20;
const MAX_MEMBERS = 2_000_000;

export class ZipArchive {
  readonly members: ZipMember[];
  private readonly byName = new Map<string, ZipMember>();
  private constructor(
    readonly w: FileWindow,
    members: ZipMember[],
  ) {
    this.members = members;
    for (const m of members) {
      if (this.byName.has(m.name)) throw new TzError('BAD_INPUT', w.file, `zip has two members named "${m.name}"`);
      this.byName.set(m.name, m);
    }
  }

  get(name: string): ZipMember | undefined {
    return this.byName.get(name);
  }

  static async open(w: FileWindow): Promise<ZipArchive> {
    const file = w.file;
    if (w.size < 22) throw new TzError('BAD_INPUT', file, 'too short for a zip archive');
    const tailLen = Math.min(w.size, 22 + 0xffff);
    const tailStart = w.size - tailLen;
    const tail = (await w.bytes(tailStart, tailLen, 'zip end record')).slice();
    const td = dv(tail);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (td.getUint32(i, true) === SIG_EOCD && i + 22 + td.getUint16(i + 20, true) <= tail.length) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0)
      throw new TzError('BAD_INPUT', file, 'zip end-of-central-directory record not found (truncated or not a zip)');
    let count = td.getUint16(eocd + 10, true);
    let cdSize = td.getUint32(eocd + 12, true);
    let cdOffset = td.getUint32(eocd + 16, true);
    const eocdAbs = tailStart + eocd;
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      if (eocdAbs < 20) throw new TzError('BAD_INPUT', file, 'ZIP64 locator missing');
      const loc = await w.bytes(eocdAbs - 20, 20, 'ZIP64 locator');
      if (dv(loc).getUint32(0, true) !== SIG_Z64_LOCATOR) throw new TzError('BAD_INPUT', file, 'ZIP64 locator missing');
      const z64 = u64(loc, 8);
      if (!(z64 + 56 <= eocdAbs))
        throw new TzError('BAD_INPUT', file, `ZIP64 end record offset ${z64} is out of range`);
      const rec = await w.bytes(z64, 56, 'ZIP64 end record');
      if (dv(rec).getUint32(0, true) !== SIG_Z64_EOCD)
        throw new TzError('BAD_INPUT', file, 'ZIP64 end record signature mismatch');
      count = u64(rec, 32);
      cdSize = u64(rec, 40);
      cdOffset = u64(rec, 48);
    }
    if (!Number.isSafeInteger(count) || count > MAX_MEMBERS)
      throw new TzError('BAD_INPUT', file, `absurd zip member count ${count}`);
    if (!Number.isSafeInteger(cdSize) || cdSize > MAX_CD_BYTES)
      throw new TzError('BAD_INPUT', file, `absurd zip central directory size ${cdSize}`);
    if (!Number.isSafeInteger(cdOffset) || cdOffset + cdSize > w.size)
      throw new TzError(
        'BAD_INPUT',
        file,
        `zip central directory [${cdOffset}, ${cdOffset + cdSize}) is outside the file`,
      );
    if (count * 46 > cdSize)
      throw new TzError('BAD_INPUT', file, `zip claims ${count} members in a ${cdSize}-byte central directory`);
    const cd = (await w.bytes(cdOffset, cdSize, 'zip central directory')).slice();
    const d = dv(cd);
    const members: ZipMember[] = [];
    const utf8 = new TextDecoder('utf-8');
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || d.getUint32(p, true) !== SIG_CENTRAL)
        throw new TzError('BAD_INPUT', file, `zip central directory entry ${i} is malformed`);
      const flags = d.getUint16(p + 8, true);
      const method = d.getUint16(p + 10, true);
      const crc32 = d.getUint32(p + 16, true);
      let compressedSize = d.getUint32(p + 20, true);
      let size = d.getUint32(p + 24, true);
      const nameLen = d.getUint16(p + 28, true);
      const extraLen = d.getUint16(p + 30, true);
      const commentLen = d.getUint16(p + 32, true);
      let localHeaderOffset = d.getUint32(p + 42, true);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cd.length)
        throw new TzError('BAD_INPUT', file, `zip central directory entry ${i} runs past the directory`);
      const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // ZIP64 extra field: sizes/offset present only when the 32-bit field is saturated
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = d.getUint16(e, true);
        const len = d.getUint16(e + 2, true);
        if (e + 4 + len > eEnd) break;
        if (id === 0x0001) {
          let q = e + 4;
          const next = (): number => {
            if (q + 8 > e + 4 + len)
              throw new TzError('BAD_INPUT', file, `zip member "${name}" has a short ZIP64 extra field`);
            const v = u64(cd, q);
            q += 8;
            return v;
          };
          if (size === 0xffffffff) size = next();
          if (compressedSize === 0xffffffff) compressedSize = next();
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
        }
        e += 4 + len;
      }
      checkName(file, name);
      if (
        !Number.isSafeInteger(size) ||
        !Number.isSafeInteger(compressedSize) ||
        !Number.isSafeInteger(localHeaderOffset)
      ) {
        throw new TzError('BAD_INPUT', file, `zip member "${name}" has sizes beyond 2^53`);
      }
      if (localHeaderOffset + 30 + compressedSize > w.size) {
        throw new TzError(
          'BAD_INPUT',
          file,
          `zip member "${name}" [${localHeaderOffset}, +${compressedSize}) runs past the end of the file`,
        );
      }
      members.push({ name, method, flags, crc32, compressedSize, size, localHeaderOffset });
      p = end;
    }
    return new ZipArchive(w, members);
  }

  /** Absolute offset of a member's (possibly compressed) data, from its local header. */
  async dataOffset(m: ZipMember): Promise<number> {
    const file = this.w.file;
    const h = await this.w.bytes(m.localHeaderOffset, 30, `local header of "${m.name}"`);
    const d = dv(h);
    if (d.getUint32(0, true) !== SIG_LOCAL)
      throw new TzError(
        'BAD_INPUT',
        file,
        `zip member "${m.name}": local header signature mismatch at byte ${m.localHeaderOffset}`,
      );
    const start = m.localHeaderOffset + 30 + d.getUint16(26, true) + d.getUint16(28, true);
    if (start + m.compressedSize > this.w.size)
      throw new TzError('BAD_INPUT', file, `zip member "${m.name}" data runs past the end of the file`);
    if (m.flags & 1) throw new TzError('UNSUPPORTED', file, `zip member "${m.name}" is encrypted`);
    return start;
  }
}

function checkName(file: string, name: string): void {
  const parts = name.split(/[\\/]/);
  if (
    name.length === 0 ||
    name.includes('\0') ||
    name.startsWith('/') ||
    name.startsWith('\\') ||
    /^[a-zA-Z]:/.test(name) ||
    parts.includes('..')
  ) {
    // eslint-disable-next-line no-control-regex -- control characters are what is replaced
    const shown = name.replace(/[\0-\x1f]/g, '?');
    throw new TzError('BAD_INPUT', file, `zip member name "${shown}" is unsafe (absolute path or "..")`);
  }
}

/** True when the first bytes are a zip local header. */
export function isZipHead(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/** Name of the first member, from the first local header (for detect()). */
export function firstMemberName(head: Uint8Array): string | undefined {
  if (!isZipHead(head) || head.length < 30) return undefined;
  const n = dv(head).getUint16(26, true);
  if (30 + n > head.length) return undefined;
  return new TextDecoder().decode(head.subarray(30, 30 + n));
}

/** Deflate can expand at most ~1032:1; a member claiming more is lying (or a bomb). */
export const MAX_DEFLATE_RATIO = 1100;

/**
 * Reads a whole member into memory (stored or deflated), bounded: refuses members larger than
 * `limit`, deflate ratios beyond what deflate can produce, output that differs from the declared
 * size, and CRC mismatches.
 */
/**
 * The one bounded inflate of the engine (zip and .npz members): refuses a declared size beyond what
 * deflate can produce from `packed`, never inflates past the declared size, and checks size and
 * CRC-32 of the result. `what` names the member in the error.
 */
export function inflateBounded(packed: Uint8Array, size: number, crc: number, file: string, what: string): Uint8Array {
  if (size > Math.max(1, packed.length) * MAX_DEFLATE_RATIO) {
    throw new TzError(
      'BAD_INPUT',
      file,
      `${what} claims a deflate ratio of ${Math.round(size / Math.max(1, packed.length))}:1 (impossible; refused)`,
    );
  }
  let out: Uint8Array;
  try {
    out = new Uint8Array(inflateRawSync(packed, { maxOutputLength: Math.max(1, size) }));
  } catch (e) {
    throw new TzError(
      'BAD_INPUT',
      file,
      `${what} does not inflate to its declared ${size} bytes (${(e as Error).message.split('\n')[0]})`,
    );
  }
  if (out.length !== size)
    throw new TzError('BAD_INPUT', file, `${what} inflates to ${out.length} bytes, declared ${size}`);
  if (crc32(out) !== crc) throw new TzError('BAD_INPUT', file, `${what} fails its CRC-32 check`);
  return out;
}

export async function readMember(zip: ZipArchive, m: ZipMember, limit: number): Promise<Uint8Array> {
  const file = zip.w.file;
  if (m.size > limit)
    throw new TzError(
      'BAD_INPUT',
      file,
      `zip member "${m.name}" is ${m.size} bytes, more than the ${limit}-byte limit for it`,
    );
  const start = await zip.dataOffset(m);
  let out: Uint8Array;
  if (m.method === 0) {
    if (m.compressedSize !== m.size)
      throw new TzError(
        'BAD_INPUT',
        file,
        `stored zip member "${m.name}" has different compressed and uncompressed sizes`,
      );
    out = (await zip.w.bytes(start, m.size, `zip member "${m.name}"`)).slice();
  } else if (m.method === 8) {
    const packed = await zip.w.bytes(start, m.compressedSize, `zip member "${m.name}"`);
    return inflateBounded(packed, m.size, m.crc32, file, `zip member "${m.name}"`);
  } else {
    throw new TzError(
      'UNSUPPORTED',
      file,
      `zip member "${m.name}" uses compression method ${m.method} (only stored and deflate are supported)`,
    );
  }
  if (crc32(out) !== m.crc32) throw new TzError('BAD_INPUT', file, `zip member "${m.name}" fails its CRC-32 check`);
  return out;
}
