// Kernel ceilings on this machine (`node --import tsx bench/kernels.mjs`): memcpy, SHA-256 (node
// crypto), first touch of fresh memory, and the codec's rANS kernels on real BF16 chunks (the
// planes decode / encode alone, one thread). Prints one JSON line.
import { createHash } from 'node:crypto';
import { initCodec, encodeChunk, decodeChunkInto } from '../engine/codec/index.ts';
import { realBF16Pool } from './synthetic.mjs';

const MiB = 1 << 20;
const best = (f, n = 5) => {
  let b = Infinity;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    f();
    b = Math.min(b, performance.now() - t);
  }
  return b;
};
const src = Buffer.alloc(256 * MiB, 7);
const dst = Buffer.alloc(256 * MiB);
const gbs = (bytes, ms) => +(bytes / 1e6 / ms).toFixed(2); // GB/s
const out = {};
out.memcpyGBs = gbs(
  src.length,
  best(() => src.copy(dst)),
);
out.sha256GBs = gbs(
  src.length,
  best(() => createHash('sha256').update(src).digest(), 3),
);
out.firstTouchGBs = gbs(
  64 * MiB,
  best(() => new Uint8Array(new ArrayBuffer(64 * MiB)).fill(1), 3),
);
await initCodec();
const pool = realBF16Pool();
const chunks = [];
for (let o = 0; o + MiB / 2 <= pool.length && chunks.length < 16; o += MiB / 2)
  chunks.push(new Uint8Array(pool.buffer, pool.byteOffset + 2 * o, MiB));
const payloads = chunks.map((c) => encodeChunk(c, 'BF16'));
const into = new Uint8Array(MiB);
out.bf16EncodeMsPerMiB = +(best(() => chunks.forEach((c) => encodeChunk(c, 'BF16'))) / chunks.length).toFixed(3);
out.bf16DecodeMsPerMiB = +(
  best(() => payloads.forEach((p) => decodeChunkInto(p, 'BF16', MiB, into))) / chunks.length
).toFixed(3);
console.log(JSON.stringify(out));
