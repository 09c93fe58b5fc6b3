/**
 * Issue 8 acceptance: float data stored in GGUF, ONNX or TorchScript compresses as well as the same
 * tensors stored in safetensors (within 0.5% of their size), and every such file round-trips.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { compressFile, infoFile, verifyFile } from '../../engine/api';
import { CORPUS, NO_CORPUS, tempDir } from '../helpers/safetensors';

const tmp = tempDir('tz-parity-');
after(() => tmp.cleanup());
const FLOATS = new Set(['F32', 'F16', 'BF16', 'F64']);

async function floatRatio(file: string): Promise<{ ratio: number; bytes: number }> {
  const out = path.join(tmp.dir, `${path.basename(file)}.tzip`);
  await compressFile(file, { output: out, force: true });
  assert.ok((await verifyFile(out, { against: file })).ok, `${file} round trip`);
  const info = await infoFile(out);
  let raw = 0,
    comp = 0;
  for (const r of info.regions) {
    if (r.kind !== 'tensor' || !FLOATS.has(r.dtype) || r.bytes < 4096) continue;
    raw += r.bytes;
    comp += r.compressedBytes;
  }
  return { ratio: comp / raw, bytes: raw };
}

const PAIRS: Array<[string, string]> = [
  ['stories260k.bf16.gguf', 'stories260k.bf16.safetensors'],
  ['stories260k.f16.gguf', 'stories260k.f16.safetensors'],
  ['stories260k.f32.gguf', 'stories260k.f32.safetensors'],
  ['originals/ch_PP-OCRv4_rec_infer.onnx', 'ppocrv4_rec.f32.safetensors'],
  ['originals/silero_vad_v6.onnx', 'silero_vad_v6.f32.safetensors'],
  ['originals/silero_vad.jit', 'silero_vad_v6.f32.safetensors'],
];

describe('float tensors compress alike in every format', { skip: NO_CORPUS }, () => {
  for (const [other, st] of PAIRS) {
    test(`${other} vs ${st}`, async () => {
      const a = await floatRatio(path.join(CORPUS, other));
      const b = await floatRatio(path.join(CORPUS, st));
      // the same weights: comparable amounts of float data (the .jit is a different export of Silero)
      assert.ok(a.bytes > 0.8 * b.bytes && a.bytes < 1.25 * b.bytes, `${a.bytes} vs ${b.bytes} float bytes`);
      assert.ok(
        Math.abs(a.ratio - b.ratio) <= 0.005,
        `${(100 * a.ratio).toFixed(2)}% vs ${(100 * b.ratio).toFixed(2)}%`,
      );
    });
  }
});
