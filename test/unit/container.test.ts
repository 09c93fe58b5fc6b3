import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { compressFile, decompressFile, infoFile, verifyFile } from '../../engine/api';
import { TzError } from '../../engine/core/errors';
import { xxh32Ref } from '../../engine/codec/xxh32';
import { crc32Reference } from '../../engine/core/crc32';
import { openContainer } from '../../engine/container/read';
import { encodeIndex } from '../../engine/container/format';
import {
  CORPUS,
  NO_CORPUS,
  REGISTRY_ONNX,
  gaussianF32,
  rng,
  safetensorsBytes,
  tempDir,
  toBF16Bytes,
  writeFile,
} from '../helpers/safetensors';

const tmp = tempDir('tz-container-');
after(() => tmp.cleanup());
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const HEADER_OFFSET_OF_FIRST_PAYLOAD = 16; // payloads follow the 16-byte header (docs/format.md)

async function roundTrip(file: string, dir: string, threads?: number): Promise<{ tz: Uint8Array; size: number }> {
  const base = path.join(dir, path.basename(file));
  const tz = `${base}.${threads ?? 'd'}.tzip`;
  const c = await compressFile(file, { output: tz, force: true, ...(threads ? { threads } : {}) });
  const orig = readFileSync(file);
  assert.equal(c.sha256, sha(orig));
  const back = `${base}.${threads ?? 'd'}.back`;
  await decompressFile(tz, { output: back, force: true, ...(threads ? { threads } : {}) });
  assert.equal(sha(readFileSync(back)), sha(orig), `${file} round trip`);
  return { tz: readFileSync(tz), size: c.bytes };
}

function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.includes('.tmp-'));
}

describe('container round trips', () => {
  test('registry ONNX (Silero VAD): bit-exact, identical bytes with 1 and 2 threads', async () => {
    const a = await roundTrip(REGISTRY_ONNX, tmp.dir, 1);
    const b = await roundTrip(REGISTRY_ONNX, tmp.dir, 2);
    assert.ok(Buffer.from(a.tz).equals(Buffer.from(b.tz)), 'deterministic output');
    assert.ok(a.size < statSync(REGISTRY_ONNX).size * 0.9);
  });

  test(
    'every corpus file round-trips bit-exactly, same bytes with --threads 1 and default',
    { skip: NO_CORPUS },
    async () => {
      const files = readdirSync(CORPUS)
        .map((f) => path.join(CORPUS, f))
        .filter((f) => statSync(f).isFile() && !f.endsWith('.md'));
      files.push(...readdirSync(path.join(CORPUS, 'originals')).map((f) => path.join(CORPUS, 'originals', f)));
      for (const f of files) {
        const a = await roundTrip(f, tmp.dir, 1);
        const b = await roundTrip(f, tmp.dir);
        assert.ok(Buffer.from(a.tz).equals(Buffer.from(b.tz)), `${f}: thread count changed the output`);
      }
    },
  );

  test('identical tensors are stored once; few-valued and non-float data never expand', async () => {
    const w = toBF16Bytes(gaussianF32(1 << 20, 0.02, 5)); // 2 MiB
    const ids = new Uint8Array(new BigInt64Array(4096).map((_, i) => BigInt(i % 7)).buffer);
    const noise = new Uint8Array(65536).map(() => Math.floor(rng(3)() * 256));
    const r = rng(4);
    for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(r() * 256);
    const one = writeFile(
      tmp.dir,
      'one.safetensors',
      safetensorsBytes([{ name: 'a', dtype: 'BF16', shape: [1 << 20], data: w }]),
    );
    const two = writeFile(
      tmp.dir,
      'two.safetensors',
      safetensorsBytes([
        { name: 'a', dtype: 'BF16', shape: [1 << 20], data: w },
        { name: 'b', dtype: 'BF16', shape: [1 << 20], data: w },
        { name: 'ids', dtype: 'I64', shape: [4096], data: ids },
        { name: 'noise', dtype: 'U8', shape: [65536], data: noise },
      ]),
    );
    const s1 = (await compressFile(one, { output: one + '.tzip' })).bytes;
    const s2 = (await compressFile(two, { output: two + '.tzip' })).bytes;
    assert.ok(s2 - s1 < 65536 + 4096 + 2048, `second copy cost ${s2 - s1} bytes`);
    const info = await infoFile(two + '.tzip');
    const b = info.regions.find((x) => x.name === 'b')!;
    assert.equal(b.duplicateChunks, b.chunks);
    const n = info.regions.find((x) => x.name === 'noise')!;
    assert.ok(n.compressedBytes <= 65536 + 16, `random bytes expanded to ${n.compressedBytes}`);
    const idsR = info.regions.find((x) => x.name === 'ids')!;
    assert.ok(idsR.compressedBytes < 4096, `low-cardinality I64 stored in ${idsR.compressedBytes} bytes`);
    await decompressFile(two + '.tzip', { output: two + '.back' });
    assert.equal(sha(readFileSync(two + '.back')), sha(readFileSync(two)));
  });
});

describe('chunk checksums', () => {
  test(
    'XXH32 (2.0) by default; CRC-32 chunk checksums (as in 1.x files) still decode, verify and catch ' + 'corruption',
    async () => {
      const w = toBF16Bytes(gaussianF32(600_000, 0.02, 21)); // 1.2 MB: two chunks
      const file = writeFile(
        tmp.dir,
        'sums.safetensors',
        safetensorsBytes([{ name: 'w', dtype: 'BF16', shape: [600_000], data: w }]),
      );
      const orig = readFileSync(file);
      const xx = await compressFile(file, { output: `${file}.xx.tzip`, force: true, threads: 1 });
      const cr = await compressFile(file, {
        output: `${file}.crc.tzip`,
        force: true,
        threads: 1,
        chunkChecksum: 'crc32',
      });
      assert.equal((await infoFile(xx.output)).version, '2.0');
      // the chunk table holds each chunk's checksum in the algorithm the index names
      for (const [tz, alg, fn] of [
        [xx.output, 'xxh32', xxh32Ref],
        [cr.output, undefined, crc32Reference],
      ] as const) {
        const c = await openContainer(tz);
        try {
          assert.equal(c.index.checksum, alg);
          let checked = 0;
          for (const r of c.index.regions) {
            for (let k = 0; k < r.chunks; k++) {
              const ch = c.chunks[r.chunk + k]!;
              const off = r.offset + k * c.index.chunkBytes;
              assert.equal(ch.rawCrc, fn(orig.subarray(off, off + ch.rawLength)), `${tz}: chunk ${r.chunk + k}`);
              checked++;
            }
          }
          assert.ok(checked >= 3);
        } finally {
          await c.file.close();
        }
      }
      for (const tz of [xx.output, cr.output]) {
        const v = await verifyFile(tz);
        assert.ok(v.ok, `${tz}: ${v.problems.join('; ')}`);
        const back = `${tz}.back`;
        await decompressFile(tz, { output: back, force: true, threads: 1 });
        assert.equal(sha(readFileSync(back)), sha(orig));
        // a flipped payload byte fails the payload checksum, whichever algorithm the file uses
        const bad = Buffer.from(readFileSync(tz));
        bad[HEADER_OFFSET_OF_FIRST_PAYLOAD + 100]! ^= 0x10;
        writeFileSync(`${tz}.bad`, bad);
        const vb = await verifyFile(`${tz}.bad`);
        assert.ok(!vb.ok && vb.problems.some((p) => /checksum/.test(p)), `${tz}: ${vb.problems.join('; ')}`);
      }
    },
  );
});

test('an index naming an unknown chunk checksum is refused with a clear message', async () => {
  const w = toBF16Bytes(gaussianF32(4096, 0.02, 22));
  const file = writeFile(
    tmp.dir,
    'sumbad.safetensors',
    safetensorsBytes([{ name: 'w', dtype: 'BF16', shape: [4096], data: w }]),
  );
  const tz = (await compressFile(file, { output: `${file}.tzip`, force: true, threads: 1 })).output;
  const c = await openContainer(tz);
  const end = Math.max(...c.chunks.map((ch) => ch.payloadOffset + ch.payloadLength));
  await c.file.close();
  const { stored, footer } = encodeIndex({ ...c.index, checksum: 'md5' as never }, c.chunks, end);
  const bad = `${tz}.md5.tzip`;
  writeFileSync(bad, Buffer.concat([readFileSync(tz).subarray(0, end), stored, footer]));
  const v = await verifyFile(bad);
  assert.equal(v.ok, false);
  assert.match(v.problems.join(), /unknown chunk checksum "md5"/);
  // the same rewrite with the real algorithm is accepted, so only the name was refused
  const { stored: s2, footer: f2 } = encodeIndex(c.index, c.chunks, end);
  writeFileSync(`${tz}.same.tzip`, Buffer.concat([readFileSync(tz).subarray(0, end), s2, f2]));
  assert.ok((await verifyFile(`${tz}.same.tzip`)).ok);
});

test('versions: 1.0 files (8 lanes, CRC-32) still read; an unknown major version is refused by name', async () => {
  const w = toBF16Bytes(gaussianF32(20_000, 0.02, 23)); // planes of 20k symbols: 8-lane rANS, as 1.0 wrote
  const file = writeFile(
    tmp.dir,
    'v1.safetensors',
    safetensorsBytes([{ name: 'w', dtype: 'BF16', shape: [20_000], data: w }]),
  );
  const tz = (await compressFile(file, { output: `${file}.tzip`, force: true, threads: 1, chunkChecksum: 'crc32' }))
    .output;
  const c = await openContainer(tz);
  const end = Math.max(...c.chunks.map((ch) => ch.payloadOffset + ch.payloadLength));
  await c.file.close();
  const withHeader = (major: number, minor: number, version: string): string => {
    const body = Buffer.from(readFileSync(tz).subarray(0, end));
    body.writeUInt16LE(major, 4);
    body.writeUInt16LE(minor, 6);
    const { stored, footer } = encodeIndex({ ...c.index, version }, c.chunks, end);
    const out = `${tz}.v${major}.tzip`;
    writeFileSync(out, Buffer.concat([body, stored, footer]));
    return out;
  };
  const v1 = withHeader(1, 0, '1.0');
  assert.ok((await verifyFile(v1)).ok);
  await decompressFile(v1, { output: `${v1}.back`, force: true, threads: 1 });
  assert.equal(sha(readFileSync(`${v1}.back`)), sha(readFileSync(file)));
  // 3.x is the delta container (delta.test.ts): 4.0 is the first unknown major
  const v3 = withHeader(4, 0, '4.0');
  const v = await verifyFile(v3);
  assert.equal(v.ok, false);
  assert.match(v.problems.join(), /unsupported \.tzip version 4\.0 \(this TensorZip reads 1\.x and 2\.x and 3\.x/);
  await assert.rejects(
    decompressFile(v3, { output: `${v3}.back`, threads: 1 }),
    (e: unknown) => e instanceof TzError && e.code === 'UNSUPPORTED',
  );
  assert.ok(!existsSync(`${v3}.back`));
});

describe('container safety', () => {
  const small = () =>
    writeFile(
      tmp.dir,
      'small.safetensors',
      safetensorsBytes([
        { name: 'x', dtype: 'BF16', shape: [300000], data: toBF16Bytes(gaussianF32(300000, 0.05, 9)) },
        { name: 'y', dtype: 'F32', shape: [1000], data: new Uint8Array(gaussianF32(1000, 1, 10).buffer) },
      ]),
    );

  test('refuses to overwrite without force; force overwrites; the input is never touched', async () => {
    const f = small();
    const before = sha(readFileSync(f));
    const out = path.join(tmp.dir, 'exists.tzip');
    writeFileSync(out, 'precious');
    await assert.rejects(
      compressFile(f, { output: out }),
      (e: unknown) => e instanceof TzError && e.code === 'EXISTS' && /--force/.test(e.message),
    );
    assert.equal(readFileSync(out, 'utf8'), 'precious');
    await compressFile(f, { output: out, force: true });
    assert.ok((await verifyFile(out)).ok);
    assert.equal(sha(readFileSync(f)), before);
    assert.deepEqual(leftovers(tmp.dir), []);
  });

  test('cancellation leaves no output and no temp file', async () => {
    const f = small();
    const ac = new AbortController();
    const out = path.join(tmp.dir, 'cancelled.tzip');
    await assert.rejects(
      compressFile(f, { output: out, signal: ac.signal, onProgress: () => ac.abort() }),
      (e: unknown) => e instanceof TzError && e.code === 'CANCELLED',
    );
    assert.ok(!existsSync(out));
    assert.deepEqual(leftovers(tmp.dir), []);
  });

  test('any single flipped byte, any truncation, or a lying index is caught by verify and decompress', async () => {
    const f = small();
    const tz = path.join(tmp.dir, 'good.tzip');
    await compressFile(f, { output: tz, force: true });
    const good = readFileSync(tz);
    const r = rng(2024);
    const dir = tempDir('tz-corrupt-');
    try {
      for (let k = 0; k < 120; k++) {
        let bad: Uint8Array;
        if (k < 80) {
          bad = new Uint8Array(good);
          // half the flips target the index and footer, where lies are most dangerous
          const pos =
            k % 2 ? Math.floor(r() * good.length) : good.length - 1 - Math.floor(r() * Math.min(good.length, 2000));
          bad[pos] = bad[pos]! ^ (1 + Math.floor(r() * 255));
        } else {
          bad = good.subarray(0, Math.floor(r() * good.length));
        }
        const p = path.join(dir.dir, `c${k}.tzip`);
        writeFileSync(p, bad);
        const v = await verifyFile(p, { threads: 1 });
        assert.equal(v.ok, false, `case ${k} passed verify`);
        assert.ok(
          v.problems.every((m) => !m.includes('\n') && m.includes(p)),
          v.problems.join('|'),
        );
        const out = path.join(dir.dir, `c${k}.out`);
        await assert.rejects(
          decompressFile(p, { output: out, threads: 1 }),
          (e: unknown) => e instanceof TzError && !e.message.includes('\n'),
        );
        assert.ok(!existsSync(out), `case ${k} left an output`);
      }
      assert.deepEqual(leftovers(dir.dir), []);
    } finally {
      dir.cleanup();
    }
  });

  test('verify --against reports the first differing byte', async () => {
    const f = small();
    const tz = path.join(tmp.dir, 'against.tzip');
    await compressFile(f, { output: tz, force: true });
    assert.ok((await verifyFile(tz, { against: f })).ok);
    const changed = new Uint8Array(readFileSync(f));
    changed[5000] = changed[5000]! ^ 1;
    const other = writeFile(tmp.dir, 'changed.safetensors', changed);
    const v = await verifyFile(tz, { against: other });
    assert.equal(v.ok, false);
    assert.match(v.problems.join(), /at byte 5000/);
  });
});
