/**
 * Delta coding against a base model (.tzip 3.0, docs/format.md "Delta files"): finding and
 * checking the base, matching tensors, and reading the base's bytes by their offset in the base
 * file, whether the base is the model file itself or a .tzip of it (a chain: the base may in turn
 * be a delta file, whose own base is looked up the same way).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { abortable, badInput, cancelled } from '../core/errors';
import { openModel } from '../formats/index';
import { InputFile } from '../io/read';
import type { DecodeReply } from '../../protocol/pool';
import { initTasks, runTask, ChunkCorrupt } from '../pool/tasks';
import { isDeltaPayload } from '../codec/index';
import type { BaseRecord, RegionRecord } from './format';
import type { PlannedRegion } from './plan';
import { openContainer, type OpenContainer } from './read';

/** Random access to the bytes of an original file, by offset in that file. */
export interface ByteSource {
  path: string;
  /** size and SHA-256 of the original (for a .tzip: as stored in its index) */
  size: number;
  record: BaseRecord;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export async function sha256File(file: InputFile, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  const step = 4 << 20;
  const buf = new Uint8Array(Math.min(step, Math.max(1, file.size)));
  for (let p = 0; p < file.size; p += step) {
    if (signal?.aborted) throw cancelled(file.path);
    const n = Math.min(step, file.size - p);
    h.update(await file.readExact(p, n, 'data', buf));
  }
  return h.digest('hex');
}

const isTzip = (p: string): boolean => /\.tzip$/i.test(p);

/** A model file as a ByteSource; its SHA-256 is computed here (one full read). */
async function rawSource(file: string, signal?: AbortSignal): Promise<ByteSource> {
  const f = await InputFile.open(file);
  try {
    const [sha256, layout] = [await sha256File(f, signal), await openModel(file).catch(() => undefined)];
    return {
      path: file,
      size: f.size,
      record: { name: path.basename(file), size: f.size, sha256, format: layout?.format ?? 'unknown' },
      read: (o, n) => f.readExact(o, n, 'base data'),
      close: () => f.close(),
    };
  } catch (e) {
    await f.close();
    throw e;
  }
}

/**
 * A .tzip as a ByteSource over its original: chunks are decoded on this thread as they are asked
 * for (the last one is kept, as reads come in file order). Chunk checksums are checked; the
 * caller's own SHA-256 of what it decodes from it is the end-to-end check.
 */
async function tzipSource(
  file: string,
  signal?: AbortSignal,
  baseHint?: string,
): Promise<ByteSource & { regions: RegionRecord[] }> {
  await initTasks();
  const c = await openContainer(file);
  let inner: ByteSource | undefined;
  try {
    if (c.index.base) inner = await openBaseFor(file, c.index.base, baseHint, signal);
    const starts = c.index.regions.map((r) => r.offset);
    const sum = c.index.checksum ?? 'crc32';
    let cached: { chunk: number; data: Uint8Array } | undefined;
    const chunkData = async (k: number, r: RegionRecord): Promise<Uint8Array> => {
      if (cached?.chunk === k) return cached.data;
      const ch = c.chunks[k]!;
      const payload = await c.file.readExact(ch.payloadOffset, ch.payloadLength, `chunk ${k}`);
      const at = r.offset + (k - r.chunk) * c.index.chunkBytes;
      const base =
        inner && r.baseOffset !== undefined && isDeltaPayload(payload)
          ? await inner.read(r.baseOffset + (at - r.offset), ch.rawLength)
          : undefined;
      let reply: DecodeReply;
      try {
        reply = runTask({
          op: 'decode',
          dtype: r.dtype,
          payload,
          rawLength: ch.rawLength,
          crc: ch.rawCrc,
          payloadCrc: ch.payloadCrc,
          sum,
          ...(base ? { base } : {}),
        }) as DecodeReply;
      } catch (e) {
        if (e instanceof ChunkCorrupt) throw badInput(file, `corrupted chunk ${k}: ${e.message}`);
        throw e;
      }
      cached = { chunk: k, data: reply.data };
      return reply.data;
    };
    const read = async (offset: number, length: number): Promise<Uint8Array> => {
      if (offset < 0 || offset + length > c.index.original.size)
        throw badInput(file, `base range ${offset}..${offset + length} outside the original`);
      const out = new Uint8Array(length);
      let pos = offset;
      while (pos < offset + length) {
        if (signal?.aborted) throw cancelled(file);
        let lo = 0,
          hi = starts.length - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          if (starts[mid]! <= pos) lo = mid;
          else hi = mid - 1;
        }
        const r = c.index.regions[lo]!;
        const k = r.chunk + Math.floor((pos - r.offset) / c.index.chunkBytes);
        const at = r.offset + (k - r.chunk) * c.index.chunkBytes;
        const data = await chunkData(k, r);
        const take = Math.min(data.length - (pos - at), offset + length - pos);
        out.set(data.subarray(pos - at, pos - at + take), pos - offset);
        pos += take;
      }
      return out;
    };
    const o = c.index.original;
    return {
      path: file,
      size: o.size,
      record: { name: o.name, size: o.size, sha256: o.sha256, format: o.format },
      regions: c.index.regions,
      read,
      close: async () => {
        await inner?.close();
        await c.file.close();
      },
    };
  } catch (e) {
    await inner?.close();
    await c.file.close();
    throw e;
  }
}

/** The tensors of a .tzip (a delta one with its base found next to it) and a reader of its original's bytes. */
export async function openTzipTensors(
  file: string,
  signal?: AbortSignal,
): Promise<{
  source: ByteSource;
  tensors: Array<{ name: string; dtype: string; shape: number[]; offset: number; length: number }>;
}> {
  const source = await tzipSource(file, signal);
  const tensors = source.regions
    .filter((r) => r.kind === 'tensor')
    .map((r) => ({ name: r.name ?? '', dtype: r.dtype, shape: r.shape ?? [], offset: r.offset, length: r.length }));
  return { source, tensors };
}

/** Opens a base given by the user (a model file or a .tzip of one). */
export function openSource(file: string, signal?: AbortSignal): Promise<ByteSource> {
  return isTzip(file) ? tzipSource(file, signal) : rawSource(file, signal);
}

const short = (sha: string): string => `${sha.slice(0, 12)}...`;

/**
 * The base a delta .tzip needs, checked (size and SHA-256) before anything is written: `given`
 * (--base) when set (a sharded model's index: its shard of the base's name), else `<name>` or `<name>.tzip` in the
 * .tzip's own folder. One-line BAD_INPUT
 * when it is missing or is another file.
 */
export async function openBaseFor(
  tzip: string,
  want: BaseRecord,
  given?: string,
  signal?: AbortSignal,
): Promise<ByteSource> {
  const check = async (candidate: string): Promise<ByteSource | string> => {
    const s = await abortable(openSource(candidate, signal), signal, candidate);
    if (s.size === want.size && s.record.sha256 === want.sha256) return s;
    await s.close();
    return `${candidate} is not that file (size ${s.size}, sha256 ${short(s.record.sha256)})`;
  };
  const needs = `needs its base ${want.name} (${want.size} bytes, sha256 ${short(want.sha256)})`;
  /** `<name>` or `<name>.tzip` in `dir` that is the base, else the reasons the ones there are not */
  const lookIn = async (dir: string): Promise<ByteSource | string[]> => {
    const tried: string[] = [];
    for (const name of [want.name, `${want.name}.tzip`]) {
      const cand = path.join(dir, name);
      if (!existsSync(cand) || path.resolve(cand) === path.resolve(tzip)) continue;
      const r = await check(cand);
      if (typeof r !== 'string') return r;
      tried.push(r);
    }
    return tried;
  };
  if (given && !existsSync(given)) throw badInput(tzip, `${needs}: ${given} does not exist`);
  if (given && /\.safetensors\.index\.json$/i.test(given)) {
    // a sharded base: its shard of that name, beside the index
    const r = await lookIn(path.dirname(given));
    if (!Array.isArray(r)) return r;
    throw badInput(tzip, `${needs}: ${r.length ? r.join('; ') : `no shard of that name beside ${given}`}`);
  }
  if (given) {
    const r = await check(given);
    if (typeof r === 'string') throw badInput(tzip, `${needs}: ${r}`);
    return r;
  }
  const r = await lookIn(path.dirname(tzip));
  if (!Array.isArray(r)) return r;
  throw badInput(tzip, `${needs}: ${r.length ? r.join('; ') : 'not found next to it'} (pass --base)`);
}

export interface BasePlan {
  source: ByteSource;
  /** region index -> offset of its partner tensor in the base file */
  offsets: Map<number, number>;
}

/**
 * Matches the regions of a new file with the tensors of a base (same name, dtype and shape). A
 * sharded base (safetensors index) is reduced to the one shard holding most of the matched bytes.
 */
export async function planBase(
  input: string,
  regions: PlannedRegion[],
  baseFile: string,
  signal?: AbortSignal,
): Promise<BasePlan> {
  if (path.resolve(baseFile) === path.resolve(input)) throw badInput(input, 'the base is the input itself');
  let file = baseFile;
  type Partner = { dtype: string; shape: number[]; offset: number; bytes: number; file: string };
  let partners = new Map<string, Partner>();
  if (isTzip(baseFile)) {
    const c: OpenContainer = await openContainer(baseFile);
    try {
      for (const r of c.index.regions)
        if (r.kind === 'tensor' && r.name !== undefined)
          partners.set(r.name, {
            dtype: r.dtype,
            shape: r.shape ?? [],
            offset: r.offset,
            bytes: r.length,
            file: baseFile,
          });
    } finally {
      await c.file.close();
    }
  } else {
    const layout = await openModel(baseFile);
    for (const t of layout.tensors)
      if (!partners.has(t.name))
        partners.set(t.name, {
          dtype: t.dtype,
          shape: t.shape,
          offset: t.offset,
          bytes: t.bytes,
          file: t.file ?? layout.path,
        });
    if (layout.files?.length) {
      const byFile = new Map<string, number>();
      for (const r of regions) {
        const p = r.name !== undefined ? partners.get(r.name) : undefined;
        if (p && p.bytes === r.length) byFile.set(p.file, (byFile.get(p.file) ?? 0) + r.length);
      }
      const best = [...byFile.entries()].sort((a, b) => b[1] - a[1])[0];
      if (!best) throw badInput(input, `no tensor of ${baseFile} matches one of this file (by name, dtype and shape)`);
      file = best[0];
      partners = new Map([...partners].filter(([, p]) => p.file === file));
    }
  }
  const offsets = new Map<number, number>();
  regions.forEach((r, ri) => {
    if (r.kind !== 'tensor' || r.name === undefined) return;
    const p = partners.get(r.name);
    if (p && p.dtype === r.dtype && p.bytes === r.length && sameShape(p.shape, r.shape ?? []))
      offsets.set(ri, p.offset);
  });
  const source = await openSource(file, signal);
  return { source, offsets };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
