/** decompressFile, verifyFile and infoFile over an opened .tzip (see read.ts). */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { JobOptions } from '../core/job';
import { cancelled, TzError, toTzError } from '../core/errors';
import { InputFile } from '../io/read';
import type { RegionRecord } from './format';
import { createSafeOutput } from './output';
import { decodeAll, openContainer } from './read';
import { openBaseFor, type ByteSource } from './base';

export interface DecompressOptions extends JobOptions {
  /** output path (default: the original name stored in the container, next to the .tzip) */
  output?: string;
  force?: boolean;
  /** fsync the output before it is renamed into place (as CompressOptions.durable) */
  durable?: boolean;
  /** delta files: the base model (default: found by name and SHA-256 next to the .tzip) */
  base?: string;
}

export interface DecompressResult {
  output: string;
  bytes: number;
  sha256: string;
  seconds: number;
}

export interface VerifyOptions extends JobOptions {
  /**
   * compare with this original file too: every byte for a lossless .tzip; for a lossy one (which
   * restores rounded values) its SHA-256 must be the stored input SHA-256 (the file it was made from)
   */
  against?: string;
  /** delta files: the base model (default: found by name and SHA-256 next to the .tzip) */
  base?: string;
}

export interface VerifyResult {
  ok: boolean;
  problems: string[];
  sha256?: string;
  /** a lossy .tzip: the mantissa bits kept and the SHA-256 of the file it was made from */
  lossy?: { bits: number; inputSha256: string };
  /** tensors (region names) with corrupted chunks */
  damaged?: string[];
}

export async function decompressFile(input: string, opts: DecompressOptions = {}): Promise<DecompressResult> {
  const t0 = performance.now();
  const c = await openContainer(input);
  const output = opts.output ?? path.join(path.dirname(input), c.index.original.name);
  let out: Awaited<ReturnType<typeof createSafeOutput>> | undefined;
  let base: ByteSource | undefined;
  try {
    // the base is found and its SHA-256 checked before any output exists
    if (c.index.base) base = await openBaseFor(input, c.index.base, opts.base, opts.signal);
    out = await createSafeOutput(output, { force: !!opts.force, input, needBytes: c.index.original.size });
    const fh = out.fh;
    const sha256 = await decodeAll(
      c,
      async (data, offset) => {
        await fh.write(data, 0, data.length, offset);
      },
      {
        checkChunkCrc: false,
        ...(base ? { readBase: base.read } : {}),
        ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        onChunk: (done, total, r) =>
          opts.onProgress?.({
            phase: 'decompress',
            file: input,
            bytesDone: done,
            bytesTotal: total,
            ...(r.name ? { tensor: r.name } : {}),
          }),
      },
    );
    await out.commit(!!opts.durable);
    return { output: out.path, bytes: c.index.original.size, sha256, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    await out?.discard();
    throw e instanceof TzError ? e : toTzError(e, input);
  } finally {
    await base?.close();
    await c.file.close();
  }
}

/**
 * Checks every checksum and the SHA-256. With `against`: every byte of that original for a lossless
 * .tzip; a lossy one restores rounded values, so there the original must be the file it was made
 * from (its SHA-256 is the stored input SHA-256). Never writes. The one verify rule for CLI and server.
 */
export async function verifyFile(input: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const problems: string[] = [];
  const damaged: string[] = [];
  let sha256: string | undefined;
  let c;
  try {
    c = await openContainer(input);
  } catch (e) {
    if (e instanceof TzError && (e.code === 'BAD_INPUT' || e.code === 'UNSUPPORTED'))
      return { ok: false, problems: [e.message] };
    throw e;
  }
  const lossy = c.index.lossy;
  let orig: InputFile | undefined;
  let base: ByteSource | undefined;
  try {
    if (c.index.base) base = await openBaseFor(input, c.index.base, opts.base, opts.signal);
    if (opts.against) {
      orig = await InputFile.open(opts.against);
      if (!lossy && orig.size !== c.index.original.size)
        problems.push(`${opts.against}: size ${orig.size} differs from the original's ${c.index.original.size}`);
    }
    const against = problems.length === 0 && !lossy ? orig : undefined;
    let firstDiff: number | undefined;
    sha256 = await decodeAll(
      c,
      async (data, offset) => {
        if (!against || firstDiff !== undefined) return;
        const o = await against.readExact(offset, data.length, 'original');
        if (
          !Buffer.from(o.buffer, o.byteOffset, o.length).equals(Buffer.from(data.buffer, data.byteOffset, data.length))
        ) {
          for (let k = 0; k < data.length; k++)
            if (o[k] !== data[k]) {
              firstDiff = offset + k;
              break;
            }
        }
      },
      {
        ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(base ? { readBase: base.read } : {}),
        onChunk: (done, total, r) =>
          opts.onProgress?.({
            phase: 'verify',
            file: input,
            bytesDone: done,
            bytesTotal: total,
            ...(r.name ? { tensor: r.name } : {}),
          }),
      },
    );
    if (firstDiff !== undefined) problems.push(`${opts.against}: differs from the decoded data at byte ${firstDiff}`);
    if (lossy && orig && (await sha256Of(orig, opts.signal)) !== lossy.inputSha256) {
      problems.push(
        `${opts.against}: not the file this lossy .tzip was made from (SHA-256 differs from the stored input SHA-256)`,
      );
    }
  } catch (e) {
    if (e instanceof TzError && (e.code === 'BAD_INPUT' || e.code === 'VERIFY_FAILED')) {
      problems.push(e.message);
      // decoding stops at the first corrupted chunk; its message names the tensor (read.ts describeChunk)
      const m = /corrupted chunk \d+ \(tensor "(.*)"\)/.exec(e.message);
      if (m) damaged.push(m[1]!);
    } else throw e;
  } finally {
    await orig?.close();
    await base?.close();
    await c.file.close();
  }
  return {
    ok: problems.length === 0,
    problems,
    ...(sha256 ? { sha256 } : {}),
    ...(lossy ? { lossy } : {}),
    ...(damaged.length ? { damaged } : {}),
  };
}

/** SHA-256 of a whole file, read in 4 MiB pieces. */
async function sha256Of(f: InputFile, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  const step = 4 << 20;
  const buf = new Uint8Array(Math.min(step, f.size));
  for (let off = 0; off < f.size; off += step) {
    if (signal?.aborted) throw cancelled(f.path);
    h.update(await f.readExact(off, Math.min(step, f.size - off), 'original', buf));
  }
  return h.digest('hex');
}

export interface TzipRegionInfo {
  kind: RegionRecord['kind'];
  name?: string;
  dtype: string;
  shape?: number[];
  bytes: number;
  /** payload bytes this region adds to the container (duplicated chunks count 0) */
  compressedBytes: number;
  chunks: number;
  duplicateChunks: number;
  lossyBits?: number;
}

export interface TzipInfo {
  path: string;
  bytes: number;
  version: string;
  tool: string;
  original: { name: string; size: number; sha256: string; format: string };
  lossy?: { bits: number; inputSha256: string };
  /** delta files: the base model decoding needs */
  base?: { name: string; size: number; sha256: string; format: string };
  chunkBytes: number;
  regions: TzipRegionInfo[];
  tensorBytes: number;
  tensorCompressedBytes: number;
}

export async function infoFile(input: string): Promise<TzipInfo> {
  const c = await openContainer(input);
  try {
    let tb = 0,
      tc = 0;
    const regions = c.index.regions.map((r): TzipRegionInfo => {
      let comp = 0,
        dups = 0;
      for (let k = r.chunk; k < r.chunk + r.chunks; k++) {
        const ch = c.chunks[k]!;
        if (ch.flags & 1) dups++;
        else comp += ch.payloadLength;
      }
      if (r.kind === 'tensor') {
        tb += r.length;
        tc += comp;
      }
      const ri: TzipRegionInfo = {
        kind: r.kind,
        dtype: r.dtype,
        bytes: r.length,
        compressedBytes: comp,
        chunks: r.chunks,
        duplicateChunks: dups,
      };
      if (r.name !== undefined) ri.name = r.name;
      if (r.shape) ri.shape = r.shape;
      if (r.lossyBits !== undefined) ri.lossyBits = r.lossyBits;
      return ri;
    });
    const info: TzipInfo = {
      path: input,
      bytes: c.file.size,
      version: c.index.version,
      tool: c.index.tool,
      original: c.index.original,
      chunkBytes: c.index.chunkBytes,
      regions,
      tensorBytes: tb,
      tensorCompressedBytes: tc,
    };
    if (c.index.lossy) info.lossy = c.index.lossy;
    if (c.index.base) info.base = c.index.base;
    return info;
  } finally {
    await c.file.close();
  }
}
