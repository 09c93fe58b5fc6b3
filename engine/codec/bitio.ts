import { CodecError } from './errors';

/** LSB-first bit writer for the compact rANS frequency tables. */
export class BitWriter {
  private bytes: number[] = [];
  private acc = 0;
  private nbits = 0;

  write(value: number, bits: number): void {
    for (let i = 0; i < bits; i++) {
      this.acc |= ((value >>> i) & 1) << this.nbits;
      if (++this.nbits === 8) {
        this.bytes.push(this.acc);
        this.acc = 0;
        this.nbits = 0;
      }
    }
  }

  /** Elias gamma code of v >= 1: (len-1) zero bits, a one bit, then the low len-1 bits of v. */
  gamma(v: number): void {
    const len = 32 - Math.clz32(v);
    this.write(0, len - 1);
    this.write(1, 1);
    this.write(v, len - 1);
  }

  finish(): Uint8Array {
    if (this.nbits > 0) this.bytes.push(this.acc);
    this.acc = 0;
    this.nbits = 0;
    return Uint8Array.from(this.bytes);
  }
}

export class BitReader {
  private pos = 0; // bit position
  constructor(
    private readonly buf: Uint8Array,
    private readonly start: number,
    private readonly end: number,
  ) {}

  read(bits: number): number {
    let v = 0;
    for (let i = 0; i < bits; i++) {
      const byte = this.start + (this.pos >>> 3);
      if (byte >= this.end) throw new CodecError('frequency table truncated');
      v |= ((this.buf[byte]! >>> (this.pos & 7)) & 1) << i;
      this.pos++;
    }
    return v >>> 0;
  }

  gamma(): number {
    let zeros = 0;
    while (this.read(1) === 0) {
      if (++zeros > 16) throw new CodecError('bad code in frequency table');
    }
    return (1 << zeros) | this.read(zeros);
  }

  /** Bytes consumed, rounded up to a whole byte. */
  bytesUsed(): number {
    return (this.pos + 7) >>> 3;
  }
}

/** Unsigned LEB128, at most 5 bytes (values < 2^32). */
export function writeVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

export function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 5; i++) {
    if (pos >= buf.length) throw new CodecError('truncated length field');
    const b = buf[pos++]!;
    v += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [v, pos];
    mul *= 128;
  }
  throw new CodecError('bad length field');
}

export function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}
