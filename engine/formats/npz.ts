import * as path from 'node:path';
import { TzError } from '../core/errors';
import type { FormatReader, ModelLayout, TensorEntry } from './types';
import { withWindow, type FileWindow } from './window';
import { ZipArchive, isZipHead, firstMemberName, inflateBounded, MAX_DEFLATE_RATIO, type ZipMember } from './zip';
import { npyHeaderLength, parseNpyHeader, npyTensor, npyDtype } from './npy';

/**
 * NumPy .npz (a zip of .npy members, `np.savez` stores them, `np.savez_compressed` deflates them).
 *
 * Stored members are plain .npy payloads: their tensor ranges are reported directly.
 * Deflated members cannot be coded in place (their bytes are a deflate stream): they are reported
 * with dtype "DEFLATE", `bytes` = the compressed size and `extra.deflated = true`, so the container
 * keeps those bytes exactly as they are; shape and the inner dtype come from the member's .npy
 * header (inflating only its first bytes). `inflateMember()` lets analysis look inside.
 */

const MAX_HEADER_PEEK = 1 << 20; // compressed bytes fed to find an .npy header

export const npzReader: FormatReader = {
  format: 'npz',
  detect(file, head) {
    if (!isZipHead(head)) return false;
    return path.extname(file).toLowerCase() === '.npz' || /\.npy$/.test(firstMemberName(head) ?? '');
  },
  async read(file) {
    return withWindow(file, async (w): Promise<ModelLayout> => {
      const zip = await ZipArchive.open(w);
      const tensors: TensorEntry[] = [];
      const others: string[] = [];
      for (const m of zip.members) {
        if (!m.name.endsWith('.npy')) {
          if (!m.name.endsWith('/')) others.push(m.name);
          continue;
        }
        tensors.push(await memberTensor(zip, w, m));
      }
      tensors.sort((a, b) => a.offset - b.offset);
      const metadata: Record<string, unknown> = {
        members: zip.members.length,
        deflated: tensors.filter((t) => t.extra?.deflated).length,
      };
      if (others.length) metadata.otherMembers = others.slice(0, 20);
      return { path: file, format: 'npz', size: w.size, tensors, metadata };
    });
  },
};

async function memberTensor(zip: ZipArchive, w: FileWindow, m: ZipMember): Promise<TensorEntry> {
  const file = w.file;
  const name = m.name.slice(0, -'.npy'.length);
  const start = await zip.dataOffset(m);
  if (m.method === 0) {
    if (m.compressedSize !== m.size)
      throw new TzError('BAD_INPUT', file, `stored member "${m.name}" has different compressed and uncompressed sizes`);
    const first = await w.bytes(start, Math.min(12, m.size), `header of "${m.name}"`);
    const { total } = npyHeaderLength(first, `${file}:${m.name}`);
    if (total > m.size) throw new TzError('BAD_INPUT', file, `member "${m.name}": .npy header runs past the member`);
    const h = parseNpyHeader((await w.bytes(start, total, `header of "${m.name}"`)).slice(), `${file}:${m.name}`);
    const t = npyTensor(name, h, start + total, m.size - total, file);
    t.extra = { ...t.extra, member: m.name };
    return t;
  }
  if (m.method !== 8)
    throw new TzError(
      'UNSUPPORTED',
      file,
      `member "${m.name}" uses zip compression method ${m.method} (stored and deflate are supported)`,
    );
  if (m.size > Math.max(1, m.compressedSize) * MAX_DEFLATE_RATIO) {
    throw new TzError(
      'BAD_INPUT',
      file,
      `member "${m.name}" claims a deflate ratio of ` +
        `${Math.round(m.size / Math.max(1, m.compressedSize))}:1 (impossible; refused)`,
    );
  }
  const header = await peekInflated(w, start, m, `${file}:${m.name}`);
  const h = parseNpyHeader(header, `${file}:${m.name}`);
  // validates dtype/shape against the declared uncompressed size
  const inner = npyTensor(name, h, 0, m.size - h.headerBytes, file);
  const dt = npyDtype(h.descr, file);
  return {
    name,
    dtype: 'DEFLATE',
    shape: h.shape,
    offset: start,
    bytes: m.compressedSize,
    extra: {
      ...inner.extra,
      deflated: true,
      member: m.name,
      innerDtype: dt.dtype,
      innerBytes: inner.bytes,
      uncompressedBytes: m.size,
      npyHeaderBytes: h.headerBytes,
      crc32: m.crc32,
    },
  };
}

/** Inflates just enough of a deflated member to get its whole .npy header. */
async function peekInflated(w: FileWindow, start: number, m: ZipMember, what: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let have = 0;
  let need = 12;
  let ended = false;
  let failure: Error | undefined;
  // loaded on first use: its tables cost every process's start otherwise
  const { Inflate } = await import('fflate');
  const inf = new Inflate((chunk, final) => {
    chunks.push(chunk);
    have += chunk.length;
    if (final) ended = true;
  });
  const joined = (): Uint8Array => {
    const out = new Uint8Array(have);
    let p = 0;
    for (const c of chunks) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  };
  let fed = 0;
  const limit = Math.min(m.compressedSize, MAX_HEADER_PEEK);
  while (have < need && !ended) {
    if (fed >= limit) break;
    const n = Math.min(16 * 1024, limit - fed);
    const chunk = (await w.bytes(start + fed, n, what)).slice();
    fed += n;
    try {
      inf.push(chunk, fed === m.compressedSize);
    } catch (e) {
      failure = e as Error;
      break;
    }
    if (have >= 12 && need === 12) {
      const first = joined();
      need = npyHeaderLength(first, what).total;
      if (need > m.size) throw new TzError('BAD_INPUT', w.file, `member "${m.name}": .npy header runs past the member`);
    }
  }
  if (failure)
    throw new TzError('BAD_INPUT', w.file, `member "${m.name}" is not a valid deflate stream (${failure.message})`);
  if (have < need) throw new TzError('BAD_INPUT', w.file, `member "${m.name}": could not inflate its .npy header`);
  return joined().subarray(0, need);
}

export interface InflateOptions {
  /** refuse members whose declared uncompressed size exceeds this (default 1 GiB) */
  maxBytes?: number;
}

/**
 * Inflates a deflated .npz member reported by `npzReader` and returns its element data (the .npy
 * payload after the header), for analysis. Bounded by the declared size; checks the CRC-32.
 */
export async function inflateMember(file: string, t: TensorEntry, opts: InflateOptions = {}): Promise<Uint8Array> {
  const ex = t.extra ?? {};
  const size = ex.uncompressedBytes;
  const headerBytes = ex.npyHeaderBytes;
  const crc = ex.crc32;
  if (!ex.deflated || typeof size !== 'number' || typeof headerBytes !== 'number' || typeof crc !== 'number') {
    throw new TzError('USAGE', file, `tensor "${t.name}" is not a deflated .npz member`);
  }
  const max = opts.maxBytes ?? 1 << 30;
  if (size > max)
    throw new TzError(
      'BAD_INPUT',
      file,
      `member "${t.name}" inflates to ${size} bytes, more than the ${max}-byte limit`,
    );
  return withWindow(file, async (w) => {
    const packed = await w.bytes(t.offset, t.bytes, `member "${t.name}"`);
    const out = inflateBounded(packed, size, crc, file, `member "${t.name}"`);
    return out.subarray(headerBytes);
  });
}
