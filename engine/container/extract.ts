/**
 * extract / export: chosen tensors of any readable model (a .tzip, a sharded index) written as a
 * plain .safetensors (or one tensor as .npy), bytes exactly as stored. Written through
 * createSafeOutput (temp file + rename); before the rename the temp file is read back and each
 * tensor's SHA-256 compared with that of the bytes read from the source.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import type { JobOptions } from '../core/job';
import { DTYPES } from '../core/dtypes';
import { cancelled, TzError, toTzError } from '../core/errors';
import { globToRegExp } from '../lossy/select';
import { createSafeOutput } from './output';
import { openTensors, type TensorInfo, type TensorSource } from './tensorReader';

export interface ExtractOptions extends JobOptions {
  /** exact tensor names */
  names?: string[];
  /** name globs (`*`, `?`) */
  globs?: string[];
  /** every tensor (export) */
  all?: boolean;
  /** .safetensors or .npy (one tensor) */
  output: string;
  force?: boolean;
}

export interface ExtractResult {
  output: string;
  tensors: string[];
  /** `all`: tensors left out because the output format cannot hold them, with the reason */
  skipped: Array<{ name: string; reason: string }>;
  bytes: number;
  seconds: number;
}

interface Planned {
  t: TensorInfo;
  dtype: string;
  shape: number[];
  /** set for GGUF block types written as U8 bytes */
  ggmlType?: string;
}

function plan(src: TensorSource, t: TensorInfo, npy: boolean): Planned {
  if (t.extra?.bigEndian)
    throw new TzError(
      'UNSUPPORTED',
      src.path,
      `tensor "${t.name}" is stored big-endian; its bytes copied into a little-endian ` +
        `${npy ? '.npy' : '.safetensors'} would change its values`,
    );
  if (t.extra?.fortranOrder && !npy)
    throw new TzError(
      'UNSUPPORTED',
      src.path,
      `tensor "${t.name}" is in Fortran (column-major) order, which .safetensors cannot express; extract it to a .npy`,
    );
  if (DTYPES[t.dtype]) return { t, dtype: t.dtype, shape: t.rowMajorShape };
  if (t.block && !npy) return { t, dtype: 'U8', shape: [t.bytes], ggmlType: t.dtype };
  if (t.dtype === 'DEFLATE')
    throw new TzError(
      'UNSUPPORTED',
      src.path,
      `tensor "${t.name}" is a deflated zip member inside the compressed file; decompress the .tzip and ` +
        `extract from the original`,
    );
  throw new TzError(
    'UNSUPPORTED',
    src.path,
    `tensor "${t.name}" has dtype ${t.dtype}, which ${npy ? '.npy' : '.safetensors'} cannot hold`,
  );
}

const NPY_DESCR: Record<string, string> = {
  F64: '<f8',
  F32: '<f4',
  F16: '<f2',
  I64: '<i8',
  I32: '<i4',
  I16: '<i2',
  I8: '|i1',
  U64: '<u8',
  U32: '<u4',
  U16: '<u2',
  U8: '|u1',
  BOOL: '|b1',
  C64: '<c8',
};

function npyHeader(p: Planned, src: TensorSource): Uint8Array {
  const descr = NPY_DESCR[p.dtype];
  if (!descr)
    throw new TzError(
      'UNSUPPORTED',
      src.path,
      `tensor "${p.t.name}" has dtype ${p.dtype}, which NumPy has no type for; extract it to a .safetensors`,
    );
  const shape = p.t.extra?.fortranOrder ? p.t.shape : p.shape;
  const dict =
    `{'descr': '${descr}', 'fortran_order': ${p.t.extra?.fortranOrder ? 'True' : 'False'}, ` +
    `'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  let len = 10 + dict.length + 1;
  const pad = (64 - (len % 64)) % 64;
  len += pad;
  const b = new Uint8Array(len);
  b.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(b.buffer).setUint16(8, len - 10, true);
  b.set(new TextEncoder().encode(dict + ' '.repeat(pad) + '\n'), 10);
  return b;
}

function safetensorsHeader(items: Planned[], source: string): Uint8Array {
  const header: Record<string, unknown> = {};
  const meta: Record<string, string> = { source: path.basename(source), writer: 'tensorzip extract' };
  let off = 0;
  for (const p of items) {
    header[p.t.name] = { dtype: p.dtype, shape: p.shape, data_offsets: [off, off + p.t.bytes] };
    if (p.ggmlType) meta[`ggml_type.${p.t.name}`] = `${p.ggmlType} [${p.t.rowMajorShape.join(', ')}] (raw GGUF blocks)`;
    off += p.t.bytes;
  }
  header.__metadata__ = meta;
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  return out;
}

export function selectTensors(src: TensorSource, o: Pick<ExtractOptions, 'names' | 'globs' | 'all'>): TensorInfo[] {
  if (o.all) return src.tensors();
  const out: TensorInfo[] = [];
  const seen = new Set<string>();
  for (const n of o.names ?? []) {
    const t = src.tensor(n);
    if (!seen.has(t.name)) {
      seen.add(t.name);
      out.push(t);
    }
  }
  for (const g of o.globs ?? []) {
    const re = globToRegExp(g);
    const hits = src.tensors().filter((t) => re.test(t.name));
    if (!hits.length) throw new TzError('USAGE', src.path, `no tensor matches "${g}"`);
    for (const t of hits)
      if (!seen.has(t.name)) {
        seen.add(t.name);
        out.push(t);
      }
  }
  if (!out.length) throw new TzError('USAGE', src.path, 'no tensor chosen (give --tensor NAME or --match GLOB)');
  return out;
}

export async function extractTensors(input: string, opts: ExtractOptions): Promise<ExtractResult> {
  const t0 = performance.now();
  const npy = /\.npy$/i.test(opts.output);
  if (!npy && !/\.safetensors$/i.test(opts.output))
    throw new TzError('USAGE', opts.output, 'output must end in .safetensors or .npy');
  const src = await openTensors(input, opts.threads !== undefined ? { threads: opts.threads } : {});
  let out: Awaited<ReturnType<typeof createSafeOutput>> | undefined;
  try {
    const chosen: Planned[] = [];
    const skipped: ExtractResult['skipped'] = [];
    for (const t of selectTensors(src, opts)) {
      try {
        chosen.push(plan(src, t, npy));
      } catch (e) {
        // a whole-model export leaves out (and names) what cannot be written; a chosen tensor fails
        if (!opts.all || !(e instanceof TzError) || e.code !== 'UNSUPPORTED') throw e;
        skipped.push({ name: t.name, reason: e.message.slice(src.path.length + 2) });
      }
    }
    if (!chosen.length)
      throw new TzError(
        'UNSUPPORTED',
        input,
        `none of the tensors can be written to ${npy ? '.npy' : '.safetensors'}` +
          `${skipped[0] ? ` (${skipped[0].reason})` : ''}`,
      );
    if (npy && chosen.length !== 1)
      throw new TzError(
        'USAGE',
        opts.output,
        `a .npy holds one tensor; ${chosen.length} chosen (write a .safetensors)`,
      );
    const head = npy ? npyHeader(chosen[0]!, src) : safetensorsHeader(chosen, input);
    const total = chosen.reduce((a, p) => a + p.t.bytes, 0);
    out = await createSafeOutput(opts.output, { force: !!opts.force, input, needBytes: head.length + total });
    const fh = out.fh;
    await fh.write(head, 0, head.length, 0);
    let pos = head.length;
    let done = 0;
    const digests: string[] = [];
    for (const p of chosen) {
      const h = createHash('sha256');
      const base = pos;
      await src.readBytes(
        p.t.name,
        0,
        p.t.bytes,
        async (piece, at) => {
          h.update(piece);
          await fh.write(piece, 0, piece.length, base + at);
          opts.onProgress?.({
            phase: 'decompress',
            file: input,
            bytesDone: done + at + piece.length,
            bytesTotal: total,
            tensor: p.t.name,
          });
        },
        opts.signal ? { signal: opts.signal } : {},
      );
      digests.push(h.digest('hex'));
      pos += p.t.bytes;
      done += p.t.bytes;
    }
    // read the written bytes back: the file says what the source holds, or nothing is committed
    await checkWritten(out.tempPath, opts.output, head.length, chosen, digests, opts.signal);
    await out.commit();
    return {
      output: out.path,
      tensors: chosen.map((p) => p.t.name),
      skipped,
      bytes: head.length + total,
      seconds: (performance.now() - t0) / 1000,
    };
  } catch (e) {
    await out?.discard();
    throw e instanceof TzError ? e : toTzError(e, input);
  } finally {
    await src.close();
  }
}

async function checkWritten(
  temp: string,
  output: string,
  start: number,
  chosen: Planned[],
  digests: string[],
  signal?: AbortSignal,
): Promise<void> {
  const back = await open(temp, 'r');
  try {
    const buf = new Uint8Array(4 << 20);
    let pos = start;
    for (const [i, p] of chosen.entries()) {
      const h = createHash('sha256');
      for (let o = 0; o < p.t.bytes;) {
        if (signal?.aborted) throw cancelled(output);
        const { bytesRead } = await back.read(buf, 0, Math.min(buf.length, p.t.bytes - o), pos + o);
        if (bytesRead <= 0) throw new TzError('VERIFY_FAILED', output, `written tensor "${p.t.name}" is short`);
        h.update(buf.subarray(0, bytesRead));
        o += bytesRead;
      }
      if (h.digest('hex') !== digests[i])
        throw new TzError('VERIFY_FAILED', output, `written tensor "${p.t.name}" differs from the source`);
      pos += p.t.bytes;
    }
  } finally {
    await back.close();
  }
}

/** Default output of `export FILE.tzip --to safetensors`: the original's name as .safetensors, next to the .tzip. */
export function exportOutputName(tzip: string, originalName: string): string {
  const base = originalName.replace(/\.[^.]+$/, '');
  const name = /\.safetensors$/i.test(originalName) ? `${base}.exported.safetensors` : `${base}.safetensors`;
  return path.join(path.dirname(tzip), name);
}
