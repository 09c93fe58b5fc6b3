/** Test helpers: synthetic GGUF files (v2/v3 header, key-values, tensor infos, aligned data). */
export class G {
  parts: Buffer[] = [];
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
    return this;
  }
  u64(v: number | bigint) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.parts.push(b);
    return this;
  }
  str(s: string) {
    const b = Buffer.from(s);
    this.u64(b.length);
    this.parts.push(b);
    return this;
  }
  raw(b: Buffer) {
    this.parts.push(b);
    return this;
  }
  get length() {
    return this.parts.reduce((s, p) => s + p.length, 0);
  }
  build() {
    return Buffer.concat(this.parts);
  }
}

export function gguf(opts: {
  version?: number;
  kv?: (g: G) => number;
  tensors: { name: string; ne: number[]; type: number; bytes: number }[];
  alignment?: number;
  tensorCount?: number;
}): Buffer {
  const g = new G();
  g.raw(Buffer.from('GGUF')).u32(opts.version ?? 3);
  const kvBody = new G();
  let kvCount = opts.kv ? opts.kv(kvBody) : 0;
  if (opts.alignment) {
    kvBody.str('general.alignment').u32(4).u32(opts.alignment);
    kvCount++;
  }
  g.u64(opts.tensorCount ?? opts.tensors.length)
    .u64(kvCount)
    .raw(kvBody.build());
  const align = opts.alignment ?? 32;
  let rel = 0;
  for (const t of opts.tensors) {
    g.str(t.name).u32(t.ne.length);
    for (const d of t.ne) g.u64(d);
    g.u32(t.type).u64(rel);
    rel += Math.ceil(t.bytes / align) * align;
  }
  const pad = (align - (g.length % align)) % align;
  g.raw(Buffer.alloc(pad));
  for (const t of opts.tensors) g.raw(Buffer.alloc(Math.ceil(t.bytes / align) * align, 0x3c));
  return g.build();
}
