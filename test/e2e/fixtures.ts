/**
 * Workspace contents for the scenarios: real weights copied from ../shared/corpus when present
 * (registry ONNX files from node_modules otherwise), and synthetic safetensors files written at
 * test time (the large one for the cancel scenario, a corrupt one for the batch scenario).
 * Everything is written into the session's temporary workspace, never into the repository.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** Tests run from the repository root; the desktop VS Code suite says where it is (cwd is VS Code's there). */
const REPO = process.env.TENSORZIP_REPO ?? process.cwd();
export const CORPUS = resolve(REPO, '../shared/corpus');
export const HAS_CORPUS = existsSync(join(CORPUS, 'stories260k.bf16.safetensors'));
export const VAD_ONNX = resolve(REPO, 'node_modules/@ricky0123/vad-web/dist/silero_vad_v6.onnx');

export function copyInto(dir: string, src: string, as = basename(src)): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, as);
  copyFileSync(src, p);
  return p;
}

export interface HeaderTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  index: number;
}

/** Tensor list of a safetensors file read here, independently of the engine under test. */
export function safetensorsTensors(path: string): HeaderTensor[] {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE());
    const json = Buffer.alloc(n);
    readSync(fd, json, 0, n, 8);
    const header = JSON.parse(json.toString('utf8')) as Record<
      string,
      { dtype: string; shape: number[]; data_offsets: [number, number] }
    >;
    return Object.entries(header)
      .filter(([k]) => k !== '__metadata__')
      .sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0])
      .map(([name, t], index) => ({
        name,
        dtype: t.dtype,
        shape: t.shape,
        bytes: t.data_offsets[1] - t.data_offsets[0],
        index,
      }));
  } finally {
    closeSync(fd);
  }
}

/**
 * A real small model for the viewer and round-trip scenarios: stories260k (BF16) from the corpus,
 * or, without ../shared, a synthetic LLaMA-shaped BF16 file (the engine's formats are all tested on
 * real data elsewhere; here the UI is under test).
 */
export function smallModel(dir: string, as = 'stories260k.bf16.safetensors'): string {
  if (HAS_CORPUS) return copyInto(dir, join(CORPUS, 'stories260k.bf16.safetensors'), as);
  const p = join(dir, as);
  mkdirSync(dir, { recursive: true });
  const tensors: SynthTensor[] = [{ name: 'tok_embeddings.weight', shape: [512, 64] }];
  for (let l = 0; l < 5; l++) {
    for (const w of ['attention.wq', 'attention.wk', 'attention.wv', 'attention.wo'])
      tensors.push({ name: `layers.${l}.${w}.weight`, shape: [64, 64] });
    tensors.push(
      { name: `layers.${l}.feed_forward.w1.weight`, shape: [172, 64] },
      { name: `layers.${l}.attention_norm.weight`, shape: [64] },
    );
  }
  tensors.push({ name: 'norm.weight', shape: [64] }, { name: 'output.weight', shape: [512, 64] });
  writeSyntheticSafetensors(p, tensors);
  return p;
}

/**
 * MiB of the synthetic file a cancel scenario compresses (cancel, batch-cancel, views): large enough
 * that the job is still running when the test clicks Cancel, on a fast machine with a warm server.
 */
export const CANCEL_MIB = Number(process.env.TENSORZIP_E2E_CANCEL_MIB ?? 1536);

export interface SynthTensor {
  name: string;
  shape: number[];
}

/**
 * Writes a BF16 safetensors file whose values look like trained weights (random sign and mantissa,
 * exponents concentrated on a few values), so it compresses like a real model and every tensor
 * differs (no deduplication shortcut). Streams in 4 MiB chunks: files of any size in bounded memory.
 */
export function writeSyntheticSafetensors(path: string, tensors: SynthTensor[]): number {
  let off = 0;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', generator: 'tensorzip e2e' } };
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * 2;
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  try {
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    writeAll(fd, head);
    writeAll(fd, Buffer.from(json));
    // Exponent byte (sign + 7 exponent bits) drawn from a skewed table: ~2.7 bits of entropy, like the corpus.
    const table = Buffer.alloc(256);
    const exps = [
      [0x3c, 90],
      [0x3d, 70],
      [0x3b, 40],
      [0x3e, 20],
      [0x3a, 20],
      [0x39, 10],
      [0x3f, 4],
      [0x38, 2],
    ] as const;
    let k = 0;
    for (const [e, w] of exps) for (let i = 0; i < w && k < 128; i++) table[k++] = e;
    while (k < 256) {
      table[k] = table[k - 128]! | 0x80;
      k++;
    }
    let left = off;
    while (left > 0) {
      const n = Math.min(left, 4 << 20);
      const buf = randomBytes(n);
      for (let i = 1; i < n; i += 2) buf[i] = table[buf[i]!]!;
      writeAll(fd, buf);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
  return off;
}

/** A safetensors file whose header promises more bytes than the file has (a truncated download). */
export function writeCorruptSafetensors(path: string): void {
  const good = `${path}.src`;
  writeSyntheticSafetensors(good, [{ name: 'w', shape: [256, 256] }]);
  const all = readFileSync(good);
  const fd = openSync(path, 'w');
  writeAll(fd, all.subarray(0, Math.floor(all.length / 3)));
  closeSync(fd);
  rmSync(good);
}

function writeAll(fd: number, b: Buffer): void {
  let o = 0;
  while (o < b.length) o += writeSync(fd, b, o, b.length - o);
}
