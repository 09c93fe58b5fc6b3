// Makes the golden containers of test/golden/ (docs/format.md, "Compliance"): small originals built
// from seeded generators, their .tzip files as the current writer produces them, a 1.0 file in the
// 1.x layout, and files a reader must refuse. Deterministic: the same code gives the same bytes.
//
//   node scripts/make-golden.mjs [outDir]      (default test/golden; prints what it wrote)
//
// test/unit/golden.test.ts decodes the committed files and runs makeGolden() into a temp folder to
// check that the writer still produces them byte for byte. Rewrite the committed files only when a
// writer change is intended, and keep files of older versions: readers must keep reading them.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';

const here = import.meta.url;
const load = (p) => tsImport(p, here);

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

/** xorshift32 (as test/helpers/safetensors.ts rng), so the originals do not depend on Math.random. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}
const gaussian = (n, sigma, seed) => {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() + r() + r() + r() - 2) * sigma * 1.7;
  return a;
};
const bytesOf = (ta) => new Uint8Array(ta.buffer, ta.byteOffset, ta.byteLength);

/** The originals, by file name. Each tensor is there for one payload kind (the comment names it). */
async function originals() {
  const { safetensorsBytes, toBF16Bytes } = await load('../test/helpers/safetensors.ts');
  const { buildQuantGguf } = await load('../test/unit/quant-helpers.ts');
  const bf16 = (n, sigma, seed) => toBF16Bytes(gaussian(n, sigma, seed));
  // BF16 weights: rANS exponent plane, RAW (near-uniform) mantissa plane
  const weights = bf16(6000, 0.02, 1);
  // F32 / F64 / F16: the float plane transforms 2, 3 and 0
  const f32 = bytesOf(gaussian(3000, 1, 2));
  const f64 = bytesOf(Float64Array.from(gaussian(1000, 0.5, 3)));
  const f16 = new Uint8Array(4000);
  {
    const r = rng(4);
    for (let i = 0; i < 2000; i++) {
      const h = 0x2c00 + Math.floor(r() * 0x1400) + (r() < 0.5 ? 0x8000 : 0);
      f16[2 * i] = h & 0xff;
      f16[2 * i + 1] = h >> 8;
    }
  }
  // a mask of four float values: PALETTE
  const mask = new Float32Array(2048);
  {
    const r = rng(5);
    const vals = [0, 1, -1, 0.5];
    for (let i = 0; i < mask.length; i++) mask[i] = vals[Math.floor(r() * 4)];
  }
  // rows repeated with a few distinct row patterns: LZ (ZSTD) beats the byte planes
  const rows = new Uint8Array(16384);
  {
    const row = bf16(128, 0.05, 6);
    const row2 = bf16(128, 0.05, 7);
    for (let k = 0; k < rows.length / row.length; k++) rows.set(k % 3 ? row : row2, k * row.length);
  }
  // all zeros: CONST planes
  const zeros = new Uint8Array(4096);
  // 3 bytes: STORED
  const tiny = Uint8Array.of(1, 2, 3);
  // 64 Ki one-byte codes of low entropy: one plane of 65536 symbols, 16 rANS lanes (2.0)
  const codes = new Uint8Array(65536);
  {
    const r = rng(8);
    for (let i = 0; i < codes.length; i++) codes[i] = r() < 0.9 ? 0 : 1 + Math.floor(r() * 3);
  }
  const model = safetensorsBytes(
    [
      { name: 'blk.0.weight', dtype: 'BF16', shape: [60, 100], data: weights },
      { name: 'blk.0.weight_copy', dtype: 'BF16', shape: [60, 100], data: weights }, // duplicate chunk
      { name: 'blk.0.f32', dtype: 'F32', shape: [3000], data: f32 },
      { name: 'blk.0.f64', dtype: 'F64', shape: [1000], data: f64 },
      { name: 'blk.0.f16', dtype: 'F16', shape: [2000], data: f16 },
      { name: 'blk.0.mask', dtype: 'F32', shape: [2048], data: bytesOf(mask) },
      { name: 'blk.0.rows', dtype: 'BF16', shape: [64, 128], data: rows },
      { name: 'blk.0.zeros', dtype: 'F32', shape: [1024], data: zeros },
      { name: 'blk.0.tiny', dtype: 'U8', shape: [3], data: tiny },
      { name: 'blk.0.codes', dtype: 'U8', shape: [65536], data: codes },
    ],
    { metadata: { format: 'pt', note: 'TensorZip golden file' } },
  );
  // 1.0: 8 lanes at most (every plane under 65536 symbols), CRC-32 checksums
  const v1 = safetensorsBytes([
    { name: 'w', dtype: 'BF16', shape: [8, 1000], data: bf16(8000, 0.02, 9) },
    { name: 'mask', dtype: 'F32', shape: [2048], data: bytesOf(mask) },
    { name: 'w_tied', dtype: 'BF16', shape: [8, 1000], data: bf16(8000, 0.02, 9) },
  ]);
  // the source of the refusal cases: small, two regions at least
  const small = safetensorsBytes([
    { name: 'a', dtype: 'BF16', shape: [256], data: bf16(256, 0.02, 14) },
    { name: 'b', dtype: 'BF16', shape: [256], data: bf16(256, 0.02, 15) },
  ]);
  // GGUF Q8_0 / Q4_K: BLOCKS
  const quant = buildQuantGguf([{ name: 'blk.0.ffn', data: gaussian(8192, 0.02, 10) }], 'Q8_0');
  // delta: a base and a model a few steps of training later
  const baseW = gaussian(12000, 0.02, 11);
  const newW = baseW.map((x, i) => x + (((i * 2654435761) >>> 0) / 4294967296 - 0.5) * 2e-5);
  const smallBase = gaussian(1500, 0.02, 12);
  const smallNew = smallBase.map((x, i) => x * (1 + (((i * 40503) & 0xff) - 128) * 1e-6));
  const idsBase = new Int32Array(2048).map((_, i) => (i * 7919) % 50000);
  const idsNew = idsBase.map((v, i) => (i % 97 === 0 ? v ^ 4 : v));
  const frozen = bf16(3000, 0.02, 13);
  const tensors = (w, s, ids) => [
    { name: 'w', dtype: 'F32', shape: [12000], data: bytesOf(w) }, // ULPG (>= 8192 elements)
    { name: 'small', dtype: 'F32', shape: [1500], data: bytesOf(s) }, // ULP
    { name: 'ids', dtype: 'I32', shape: [2048], data: bytesOf(ids) }, // XOR (integers)
    { name: 'frozen', dtype: 'BF16', shape: [3000], data: frozen }, // SAME
  ];
  const base = safetensorsBytes(tensors(baseW, smallBase, idsBase));
  const next = safetensorsBytes(tensors(newW, smallNew, idsNew));
  return {
    'model-2.0.safetensors': model,
    'model-1.0.safetensors': v1,
    'small-2.0.safetensors': small,
    'quant-2.0.gguf': quant,
    'base.safetensors': base,
    'delta-3.0.safetensors': next,
  };
}

/** Writes the originals, their containers and the refusal cases into dir; returns the manifest. */
export async function makeGolden(dir) {
  const { compressFile } = await load('../engine/api.ts');
  const { openContainer } = await load('../engine/container/read.ts');
  const { encodeIndex } = await load('../engine/container/format.ts');
  mkdirSync(dir, { recursive: true });
  const files = await originals();
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(dir, name), bytes);
  const at = (n) => path.join(dir, n);
  const compress = (n, opts = {}) => compressFile(at(n), { output: at(`${n}.tzip`), force: true, threads: 1, ...opts });

  await compress('model-2.0.safetensors');
  await compress('quant-2.0.gguf');
  await compress('small-2.0.safetensors');
  await compress('delta-3.0.safetensors', { base: at('base.safetensors') });

  // 1.0: the layout 1.x writers produced (header major 1, index version "1.0", no "checksum" field,
  // CRC-32 chunk checksums, at most 8 rANS lanes), made from today's writer with CRC-32 checksums.
  const v1tmp = at('model-1.0.safetensors.tmp.tzip');
  await compress('model-1.0.safetensors', { output: v1tmp, chunkChecksum: 'crc32' });
  const rewrite = async (src, out, edit) => {
    const c = await openContainer(src);
    await c.file.close();
    const bytes = readFileSync(src);
    const end = c.chunks.reduce((m, ch) => Math.max(m, ch.payloadOffset + ch.payloadLength), 16);
    const body = Buffer.from(bytes.subarray(0, end));
    const e = edit({ index: structuredClone(c.index), chunks: c.chunks.map((ch) => ({ ...ch })), body });
    const { stored, footer } = encodeIndex(e.index, e.chunks, end);
    writeFileSync(out, Buffer.concat([e.body, stored, footer]));
  };
  await rewrite(v1tmp, at('model-1.0.safetensors.tzip'), (e) => {
    e.body.writeUInt16LE(1, 4);
    e.index.version = '1.0';
    delete e.index.checksum;
    return e;
  });
  rmSync(v1tmp);

  // Files a reader must refuse, each with the error code and a pattern of its one-line message.
  const src = at('small-2.0.safetensors.tzip');
  const good = readFileSync(src);
  const refuse = [];
  const bad = async (name, code, message, make) => {
    const out = at(`bad-${name}.tzip`);
    await make(out);
    refuse.push({ file: `bad-${name}.tzip`, code, message });
  };
  const patched = (edit) => (out) => {
    const b = Buffer.from(good);
    edit(b);
    writeFileSync(out, b);
  };
  await bad(
    'magic',
    'BAD_INPUT',
    'not a \\.tzip file \\(bad magic\\)',
    patched((b) => (b[0] = 0x58)),
  );
  await bad(
    'version-4',
    'UNSUPPORTED',
    'unsupported \\.tzip version 4\\.0',
    patched((b) => b.writeUInt16LE(4, 4)),
  );
  await bad(
    'header-flags',
    'BAD_INPUT',
    'unknown flags or non-zero reserved',
    patched((b) => (b[9] = 1)),
  );
  await bad('truncated', 'BAD_INPUT', 'footer not found|index position', (out) =>
    writeFileSync(out, good.subarray(0, good.length - 7)),
  );
  await bad('appended', 'BAD_INPUT', 'index position does not match the file size', (out) =>
    writeFileSync(
      out,
      Buffer.concat([good.subarray(0, good.length - 32), Buffer.alloc(5), good.subarray(good.length - 32)]),
    ),
  );
  await bad(
    'index-crc',
    'BAD_INPUT',
    'index checksum mismatch',
    patched((b) => (b[b.length - 40] ^= 0x10)),
  );
  await bad(
    'payload',
    'BAD_INPUT',
    'checksum mismatch.*chunk|chunk.*(corrupt|checksum)',
    patched((b) => (b[40] ^= 0x01)),
  );
  await bad('region-gap', 'BAD_INPUT', 'region 1 does not start where the previous one ended', (out) =>
    rewrite(src, out, (e) => {
      e.index.regions[1].offset += 1;
      return e;
    }),
  );
  await bad('region-short', 'BAD_INPUT', 'regions do not cover the original file', (out) =>
    rewrite(src, out, (e) => {
      e.index.original.size += 1;
      return e;
    }),
  );
  await bad('region-chunks', 'BAD_INPUT', 'chunks do not add up to its length', (out) =>
    rewrite(src, out, (e) => {
      e.index.regions[0].length -= 1;
      e.index.regions[1].offset -= 1;
      e.index.regions[1].length += 1;
      return e;
    }),
  );
  await bad('chunk-size', 'BAD_INPUT', 'larger than the chunk size', (out) =>
    rewrite(src, out, (e) => {
      e.index.chunkBytes = 100;
      return e;
    }),
  );
  await bad('name', 'BAD_INPUT', 'unsafe original name', (out) =>
    rewrite(src, out, (e) => {
      e.index.original.name = '../model.safetensors';
      return e;
    }),
  );
  await bad('checksum-name', 'BAD_INPUT', 'unknown chunk checksum "md5"', (out) =>
    rewrite(src, out, (e) => {
      e.index.checksum = 'md5';
      return e;
    }),
  );
  await bad('chunk-flags', 'BAD_INPUT', 'chunk 0 has unknown flags', (out) =>
    rewrite(src, out, (e) => {
      e.chunks[0].flags |= 2;
      return e;
    }),
  );
  await bad('base-in-2.0', 'BAD_INPUT', 'version 2 has a base model record', (out) =>
    rewrite(src, out, (e) => {
      e.index.base = { name: 'base.safetensors', size: 1, sha256: '0'.repeat(64), format: 'safetensors' };
      return e;
    }),
  );
  await bad('delta-no-base', 'BAD_INPUT', 'version 3 lacks a base model record', (out) =>
    rewrite(at('delta-3.0.safetensors.tzip'), out, (e) => {
      delete e.index.base;
      for (const r of e.index.regions) delete r.baseOffset;
      return e;
    }),
  );

  const { kindsOf } = await load('../test/helpers/payloadKinds.ts');
  const containers = {};
  for (const n of Object.keys(files)) {
    if (n === 'base.safetensors') continue;
    const tz = readFileSync(at(`${n}.tzip`));
    containers[`${n}.tzip`] = {
      sha256: sha256(tz),
      bytes: tz.length,
      original: n,
      originalSha256: sha256(files[n]),
      ...(n.startsWith('delta') ? { base: 'base.safetensors', baseSha256: sha256(files['base.safetensors']) } : {}),
      kinds: await kindsOf(at(`${n}.tzip`)),
    };
  }
  const manifest = { containers, refuse };
  writeFileSync(at('manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const dir = path.resolve(
    process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '../test/golden'),
  );
  const m = await makeGolden(dir);
  for (const [n, c] of Object.entries(m.containers)) console.log(`${n}  ${c.bytes} bytes  ${c.sha256}`);
  console.log(`${m.refuse.length} refusal cases`);
}
