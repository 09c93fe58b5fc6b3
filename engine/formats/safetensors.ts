/**
 * safetensors: `u64 LE header length N`, `N bytes of UTF-8 JSON`, then the data buffer.
 * Header: { "__metadata__"?: {string: string}, name: {dtype, shape, data_offsets: [begin, end]} }
 * with offsets relative to the start of the data buffer. Sharded models have a
 * `model.safetensors.index.json` with `weight_map: {tensor: shard file}`.
 */
import * as path from 'node:path';
import { DTYPES, dtypeInfo, elementCount } from '../core/dtypes';
import { badInput, TzError } from '../core/errors';
import { InputFile, withInput } from '../io/read';
import type { FormatReader, ModelLayout, TensorEntry } from './types';

/** Headers larger than this are refused before allocating (the reference implementation uses 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Keys of the top-level JSON object in source order, to catch duplicates that JSON.parse would merge. */
export function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let i = 0;
  const n = json.length;
  while (i < n) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      i++;
      while (i < n) {
        const d = json.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      const str = json.slice(start, i + 1);
      i++;
      if (depth === 1) {
        let j = i;
        while (
          j < n &&
          (json.charCodeAt(j) === 0x20 ||
            json.charCodeAt(j) === 0x0a ||
            json.charCodeAt(j) === 0x0d ||
            json.charCodeAt(j) === 0x09)
        )
          j++;
        if (json.charCodeAt(j) === 0x3a /* : */) keys.push(JSON.parse(str) as string);
      }
      continue;
    }
    if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
    i++;
  }
  return keys;
}

function describe(v: unknown): string {
  return Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
}

export interface SafetensorsHeader {
  headerBytes: number;
  dataStart: number;
  metadata: Record<string, string> | undefined;
  tensors: TensorEntry[];
}

/** Parses and validates the header of one safetensors file. */
export async function readSafetensorsHeader(f: InputFile): Promise<SafetensorsHeader> {
  const file = f.path;
  if (f.size < 8) throw badInput(file, `too small for a safetensors file (${f.size} bytes, need at least 8)`);
  const lenBuf = await f.readExact(0, 8, 'header length');
  const n = new DataView(lenBuf.buffer, lenBuf.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw badInput(file, `header length ${n} exceeds the 100 MB limit`);
  const headerBytes = Number(n);
  if (8 + headerBytes > f.size)
    throw badInput(file, `header length ${headerBytes} is larger than the file (${f.size} bytes)`);
  if (headerBytes < 2) throw badInput(file, `header length ${headerBytes} is too small for a JSON object`);
  const raw = await f.readExact(8, headerBytes, 'header');
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw badInput(file, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw badInput(file, `header is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw badInput(file, `header must be a JSON object, found ${describe(json)}`);
  const keys = topLevelKeys(text);
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) throw badInput(file, `duplicate tensor name "${k}" in header`);
    seen.add(k);
  }
  const dataStart = 8 + headerBytes;
  const dataBytes = f.size - dataStart;
  const obj = json as Record<string, unknown>;
  let metadata: Record<string, string> | undefined;
  const tensors: TensorEntry[] = [];
  for (const [name, value] of Object.entries(obj)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw badInput(file, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw badInput(file, `__metadata__["${k}"] must be a string, found ${describe(v)}`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw badInput(file, `tensor "${name}" must be an object, found ${describe(value)}`);
    const t = value as Record<string, unknown>;
    for (const k of Object.keys(t)) {
      if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets')
        throw badInput(file, `tensor "${name}" has unknown field "${k}"`);
    }
    const { dtype, shape, data_offsets: offs } = t;
    if (typeof dtype !== 'string') throw badInput(file, `tensor "${name}" is missing a string "dtype"`);
    if (!(dtype in DTYPES)) throw badInput(file, `tensor "${name}" has unknown dtype "${dtype}"`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw badInput(file, `tensor "${name}" has an invalid "shape" (must be an array of non-negative integers)`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw badInput(file, `tensor "${name}" has invalid "data_offsets" (must be [begin, end])`);
    const [begin, end] = offs as [number, number];
    if (begin > end) throw badInput(file, `tensor "${name}" has data_offsets [${begin}, ${end}] with begin after end`);
    if (end > dataBytes)
      throw badInput(
        file,
        `tensor "${name}" data_offsets [${begin}, ${end}] out of range (data section is ${dataBytes} bytes)`,
      );
    const count = elementCount(shape as number[]);
    const size = dtypeInfo(dtype).size;
    if (!Number.isSafeInteger(count) || count * size !== end - begin) {
      throw badInput(
        file,
        `tensor "${name}" has ${end - begin} bytes but shape [${(shape as number[]).join(', ')}] x ` +
          `${dtype} needs ${Number.isSafeInteger(count) ? count * size : 'an absurd number of'} bytes`,
      );
    }
    tensors.push({ name, dtype, shape: shape as number[], offset: dataStart + begin, bytes: end - begin });
  }
  tensors.sort((a, b) => a.offset - b.offset || a.bytes - b.bytes);
  for (let i = 1; i < tensors.length; i++) {
    const p = tensors[i - 1]!;
    const c = tensors[i]!;
    if (c.offset < p.offset + p.bytes && c.bytes > 0 && p.bytes > 0)
      throw badInput(file, `tensors "${p.name}" and "${c.name}" overlap`);
  }
  return { headerBytes, dataStart, metadata, tensors };
}

export const safetensorsReader: FormatReader = {
  format: 'safetensors',
  detect(file, head) {
    if (/\.safetensors$/i.test(file)) return true;
    // Header length followed by '{': a safetensors file under another name.
    if (head.length >= 9 && head[8] === 0x7b) {
      const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
      return n > 1n && n < BigInt(MAX_HEADER_BYTES);
    }
    return false;
  },
  async read(file) {
    return withInput(file, async (f) => {
      const h = await readSafetensorsHeader(f);
      const layout: ModelLayout = { path: file, format: 'safetensors', size: f.size, tensors: h.tensors };
      if (h.metadata) layout.metadata = h.metadata;
      return layout;
    });
  },
};

/** `*.safetensors.index.json`: resolves every shard and lists all tensors, each with its shard file. */
export const safetensorsIndexReader: FormatReader = {
  format: 'safetensors-index',
  detect(file) {
    return /\.safetensors\.index\.json$/i.test(file);
  },
  async read(file) {
    const dir = path.dirname(file);
    const { index, size } = await withInput(file, async (f) => {
      if (f.size > MAX_HEADER_BYTES) throw badInput(file, `index file is ${f.size} bytes, over the 100 MB limit`);
      const raw = await f.readExact(0, f.size, 'index');
      let parsed: unknown;
      try {
        parsed = JSON.parse(utf8.decode(raw));
      } catch (e) {
        throw badInput(file, `index is not valid UTF-8 JSON (${(e as Error).message.split('\n')[0]})`);
      }
      return { index: parsed, size: f.size };
    });
    if (typeof index !== 'object' || index === null || Array.isArray(index))
      throw badInput(file, 'index must be a JSON object');
    const wm = (index as Record<string, unknown>).weight_map;
    if (typeof wm !== 'object' || wm === null || Array.isArray(wm))
      throw badInput(file, 'index has no "weight_map" object');
    const byShard = new Map<string, string[]>();
    for (const [tensor, shard] of Object.entries(wm)) {
      if (typeof shard !== 'string' || shard === '')
        throw badInput(file, `weight_map["${tensor}"] must be a shard file name`);
      const resolved = path.resolve(dir, shard);
      if (path.dirname(resolved) !== path.resolve(dir) && !resolved.startsWith(path.resolve(dir) + path.sep)) {
        throw badInput(file, `shard "${shard}" points outside the model folder`);
      }
      const list = byShard.get(resolved) ?? [];
      list.push(tensor);
      byShard.set(resolved, list);
    }
    const tensors: TensorEntry[] = [];
    const files: string[] = [];
    for (const [shard, names] of byShard) {
      let h: SafetensorsHeader;
      try {
        h = await withInput(shard, (f) => readSafetensorsHeader(f));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw badInput(file, `missing shard "${path.relative(dir, shard)}"`);
        // the name in the index cannot be opened at all (too long, through a file, a loop...)
        if (!(e instanceof TzError) && typeof code === 'string')
          throw new TzError('IO', file, `cannot open shard "${path.relative(dir, shard)}" (${code})`);
        throw e;
      }
      files.push(shard);
      const have = new Set(h.tensors.map((t) => t.name));
      for (const n of names)
        if (!have.has(n))
          throw badInput(
            file,
            `tensor "${n}" is mapped to shard "${path.relative(dir, shard)}" but that shard does not contain it`,
          );
      for (const t of h.tensors) tensors.push({ ...t, file: shard });
    }
    const meta = (index as Record<string, unknown>).metadata;
    const layout: ModelLayout = { path: file, format: 'safetensors-index', size, tensors, files };
    if (meta && typeof meta === 'object') layout.metadata = meta as Record<string, unknown>;
    return layout;
  },
};
