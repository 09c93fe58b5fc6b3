import * as path from 'node:path';
import { TzError } from '../core/errors';
import { elementCount } from '../core/dtypes';
import type { FormatReader, ModelLayout, TensorEntry } from './types';
import { withWindow, dv } from './window';

/**
 * NumPy .npy reader (format versions 1.0, 2.0, 3.0). The header is a Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`; it is parsed by a tiny literal
 * parser (never eval'd). Data runs from the end of the header to the end of the file.
 */

export interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** total header length including magic; data starts here */
  headerBytes: number;
  version: string;
}

export interface NpyDtype {
  /** canonical name, or the numpy descr for types the engine does not know (big-endian, strings...) */
  dtype: string;
  /** bytes per element (0 when unknown) */
  itemSize: number;
  bigEndian?: boolean;
}

const MAX_HEADER = 1 << 20;
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function isNpyHead(head: Uint8Array): boolean {
  return head.length >= 6 && MAGIC.every((b, i) => head[i] === b);
}

/** Length of the header given its first 12 bytes (or throws). */
export function npyHeaderLength(first: Uint8Array, file: string): { total: number; version: string } {
  if (first.length < 10 || !isNpyHead(first)) throw new TzError('BAD_INPUT', file, 'not a .npy file (bad magic)');
  const major = first[6]!;
  const minor = first[7]!;
  const version = `${major}.${minor}`;
  if (major === 1) return { total: 10 + dv(first).getUint16(8, true), version };
  if (major === 2 || major === 3) {
    if (first.length < 12) throw new TzError('BAD_INPUT', file, 'truncated .npy header');
    const n = dv(first).getUint32(8, true);
    if (n > MAX_HEADER) throw new TzError('BAD_INPUT', file, `.npy header claims ${n} bytes`);
    return { total: 12 + n, version };
  }
  throw new TzError('UNSUPPORTED', file, `.npy format version ${version} is not supported (1.0, 2.0 and 3.0 are)`);
}

/** Parses a complete .npy header (magic included). */
export function parseNpyHeader(b: Uint8Array, file: string): NpyHeader {
  const { total, version } = npyHeaderLength(b, file);
  if (b.length < total) throw new TzError('BAD_INPUT', file, `truncated .npy header (${b.length} of ${total} bytes)`);
  const start = version.startsWith('1.') ? 10 : 12;
  const textHeader = new TextDecoder(version.startsWith('3.') ? 'utf-8' : 'latin1').decode(b.subarray(start, total));
  let lit: Lit;
  try {
    lit = new LitParser(textHeader).parseAll();
  } catch (e) {
    throw new TzError('BAD_INPUT', file, `malformed .npy header: ${(e as Error).message}`);
  }
  if (!(lit instanceof Map)) throw new TzError('BAD_INPUT', file, '.npy header is not a dict');
  const descr = lit.get('descr');
  const fo = lit.get('fortran_order');
  const shape = lit.get('shape');
  if (Array.isArray(descr))
    throw new TzError('UNSUPPORTED', file, 'structured .npy dtypes (record arrays) are not supported');
  if (typeof descr !== 'string') throw new TzError('BAD_INPUT', file, ".npy header has no 'descr' string");
  if (typeof fo !== 'boolean') throw new TzError('BAD_INPUT', file, ".npy header has no 'fortran_order' boolean");
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new TzError('BAD_INPUT', file, ".npy header 'shape' is not a tuple of non-negative integers");
  }
  if (shape.length > 64) throw new TzError('BAD_INPUT', file, `.npy shape has ${shape.length} dimensions`);
  return { descr, fortranOrder: fo, shape: shape as number[], headerBytes: total, version };
}

const KIND: Record<string, string> = {
  f2: 'F16',
  f4: 'F32',
  f8: 'F64',
  i1: 'I8',
  i2: 'I16',
  i4: 'I32',
  i8: 'I64',
  u1: 'U8',
  u2: 'U16',
  u4: 'U32',
  u8: 'U64',
  b1: 'BOOL',
  c8: 'C64',
};

export function npyDtype(descr: string, file: string): NpyDtype {
  const m = /^([<>|=]?)([a-zA-Z])(\d*)(\[.*\])?$/.exec(descr);
  if (!m) throw new TzError('BAD_INPUT', file, `unrecognized .npy dtype "${descr.slice(0, 40)}"`);
  const [, order, kind, digits] = m;
  if (kind === 'O')
    throw new TzError(
      'UNSUPPORTED',
      file,
      'object arrays (dtype "O") hold pickled Python objects, which TensorZip never unpickles',
    );
  const n = digits ? Number(digits) : 0;
  const itemSize = kind === 'U' ? n * 4 : n; // numpy 'U<n>' is n UCS-4 code points
  const big = order === '>' && itemSize > 1;
  const canonical = KIND[`${kind}${digits}`];
  if (canonical && !big && !m[4]) return { dtype: canonical, itemSize };
  // numpy's own name for anything the engine does not code as numbers
  return big ? { dtype: descr, itemSize, bigEndian: true } : { dtype: descr, itemSize };
}

/** Tensor entry for an .npy payload starting at `dataStart` and running `available` bytes. */
export function npyTensor(name: string, h: NpyHeader, dataStart: number, available: number, file: string): TensorEntry {
  const dt = npyDtype(h.descr, file);
  const count = elementCount(h.shape);
  if (Number.isNaN(count))
    throw new TzError('BAD_INPUT', file, `.npy shape [${h.shape.join(', ')}] has more than 2^53 elements`);
  const extra: Record<string, unknown> = { descr: h.descr, npyVersion: h.version };
  if (h.fortranOrder) extra.fortranOrder = true;
  if (dt.bigEndian) extra.bigEndian = true;
  let bytes: number;
  if (dt.itemSize > 0) {
    bytes = count * dt.itemSize;
    if (bytes > available)
      throw new TzError(
        'BAD_INPUT',
        file,
        `"${name}": ${h.descr}[${h.shape.join(', ')}] needs ${bytes} bytes but only ${available} follow the header`,
      );
    if (bytes < available) extra.trailingBytes = available - bytes;
  } else {
    bytes = available;
  }
  return { name, dtype: dt.dtype, shape: h.shape, offset: dataStart, bytes, extra };
}

export const npyReader: FormatReader = {
  format: 'npy',
  detect(file, head) {
    return isNpyHead(head) || path.extname(file).toLowerCase() === '.npy';
  },
  async read(file) {
    return withWindow(file, async (w): Promise<ModelLayout> => {
      if (w.size < 10) throw new TzError('BAD_INPUT', file, `too short for a .npy file (${w.size} bytes)`);
      const first = await w.bytes(0, Math.min(12, w.size), 'npy magic');
      const { total } = npyHeaderLength(first, file);
      if (total > w.size) w.truncated('.npy header', 0);
      const h = parseNpyHeader((await w.bytes(0, total, '.npy header')).slice(), file);
      const name = path.basename(file).replace(/\.npy$/i, '');
      const t = npyTensor(name, h, total, w.size - total, file);
      return {
        path: file,
        format: 'npy',
        size: w.size,
        tensors: [t],
        metadata: { version: h.version, descr: h.descr, fortranOrder: h.fortranOrder },
      };
    });
  },
};

// --- a tiny Python literal parser: dict, tuple, list, str, int, True/False/None ---
type Lit = string | number | boolean | null | Lit[] | Map<string, Lit>;

class LitParser {
  private i = 0;
  private depth = 0;
  constructor(private readonly s: string) {}
  parseAll(): Lit {
    const v = this.value();
    this.ws();
    if (this.i !== this.s.length) throw new Error(`unexpected "${this.s.slice(this.i, this.i + 10)}"`);
    return v;
  }
  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }
  private value(): Lit {
    this.ws();
    if (++this.depth > 16) throw new Error('nested too deep');
    try {
      const c = this.s[this.i];
      if (c === '{') return this.dict();
      if (c === '(' || c === '[') return this.seq(c === '(' ? ')' : ']');
      if (c === "'" || c === '"') return this.str();
      const m = /^(-?\d+)L?|^(True|False|None)/.exec(this.s.slice(this.i, this.i + 40));
      if (!m) throw new Error(`unexpected "${this.s.slice(this.i, this.i + 10)}"`);
      this.i += m[0].length;
      if (m[1] !== undefined) {
        const n = Number(m[1]);
        if (!Number.isSafeInteger(n)) throw new Error(`integer ${m[1]} out of range`);
        return n;
      }
      return m[2] === 'True' ? true : m[2] === 'False' ? false : null;
    } finally {
      this.depth--;
    }
  }
  private str(): string {
    const q = this.s[this.i++];
    let out = '';
    while (this.i < this.s.length && this.s[this.i] !== q) {
      if (this.s[this.i] === '\\') this.i++;
      out += this.s[this.i++] ?? '';
    }
    if (this.s[this.i] !== q) throw new Error('unterminated string');
    this.i++;
    return out;
  }
  private seq(close: string): Lit[] {
    this.i++;
    const out: Lit[] = [];
    for (;;) {
      this.ws();
      if (this.s[this.i] === close) {
        this.i++;
        return out;
      }
      if (out.length > 1024) throw new Error('sequence too long');
      out.push(this.value());
      this.ws();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== close) throw new Error('expected "," or closing bracket');
    }
  }
  private dict(): Map<string, Lit> {
    this.i++;
    const out = new Map<string, Lit>();
    for (;;) {
      this.ws();
      if (this.s[this.i] === '}') {
        this.i++;
        return out;
      }
      if (out.size > 64) throw new Error('dict too long');
      const k = this.value();
      if (typeof k !== 'string') throw new Error('dict key is not a string');
      this.ws();
      if (this.s[this.i++] !== ':') throw new Error('expected ":"');
      out.set(k, this.value());
      this.ws();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== '}') throw new Error('expected "," or "}"');
    }
  }
}
