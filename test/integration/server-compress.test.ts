/**
 * Compress / decompress / verify / info through the bundled server, cancellation mid-compress,
 * output conflicts and corrupted containers.
 */
import { test, describe, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import * as api from '../../engine/api';
import {
  CompressRequest,
  DecompressRequest,
  InfoRequest,
  JOB_FAILED_ERROR,
  JobsRequest,
  VerifyRequest,
  WhatIfRequest,
} from '../../protocol/server';
import {
  CORPUS,
  HAVE_CORPUS,
  NO_BUILD,
  REQUEST_CANCELLED,
  assertProgressInOrder,
  isRunningWithBytes,
  rejection,
  startServer,
  tempDir,
  until,
  writeSyntheticSafetensors,
  type Harness,
} from './server-harness';
import { gaussianF32, safetensorsBytes, toBF16Bytes } from '../helpers/safetensors';
import { checkpointFiles, ensureCheckpoints } from '../helpers/checkpoints';

const HAVE_COMPRESS = ['compressFile', 'decompressFile', 'verifyFile'].every(
  (f) => typeof (api as unknown as Record<string, unknown>)[f] === 'function',
);
const SKIP = NO_BUILD || (!HAVE_COMPRESS && 'engine has no compressFile/decompressFile/verifyFile yet');
const HAVE_INFO = typeof (api as unknown as Record<string, unknown>).infoFile === 'function';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('server: compress, decompress, verify', { skip: SKIP }, () => {
  let h: Harness;
  let dir: string;
  before(async () => {
    h = await startServer();
    dir = tempDir();
  });
  after(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(h.stderr, []);
  });

  const sources = HAVE_CORPUS
    ? ['stories260k.bf16.safetensors', 'stories260k.f32.safetensors', 'stories260k.f16.gguf'].map((n) =>
        path.join(CORPUS, n),
      )
    : [];
  for (const src of sources) {
    test(`${path.basename(src)}: round trip through the server`, async () => {
      const input = path.join(dir, path.basename(src));
      copyFileSync(src, input);
      const progress = h.watchProgress(`wd-c-${input}`);
      const c = await h.conn.sendRequest(CompressRequest, { path: input, workDoneToken: `wd-c-${input}` });
      assert.equal(c.originalBytes, statSync(input).size);
      assert.equal(c.bytes, statSync(c.output).size);
      assert.ok(c.bytes < c.originalBytes, `${c.bytes} < ${c.originalBytes}`);
      assert.match(c.sha256, /^[0-9a-f]{64}$/);
      assertProgressInOrder(progress);

      const v = await h.conn.sendRequest(VerifyRequest, { path: c.output, against: input });
      assert.deepEqual({ ok: v.ok, problems: v.problems }, { ok: true, problems: [] });

      const restored = path.join(dir, `restored-${path.basename(src)}`);
      const d = await h.conn.sendRequest(DecompressRequest, { path: c.output, output: restored });
      assert.equal(d.output, restored);
      assert.equal(d.bytes, c.originalBytes);
      assert.equal(sha256(restored), sha256(src));
      assert.equal(d.sha256, c.sha256);
      if (HAVE_INFO) {
        const info = await h.conn.sendRequest(InfoRequest, { path: c.output });
        assert.deepEqual(
          [info.original.name, info.original.size, info.original.sha256, info.bytes],
          [path.basename(input), c.originalBytes, c.sha256, c.bytes],
        );
      }
    });
  }

  test(
    'a checkpoint chain member through the server: coded against both bases, the smaller kept, restored bit-exact',
    { skip: ensureCheckpoints() },
    async () => {
      const { steps } = checkpointFiles('bf16');
      const [kf, pred, member] = steps.slice(0, 3).map((f) => {
        const to = path.join(dir, path.basename(f));
        copyFileSync(f, to);
        return to;
      });
      const out = `${member}.tzip`;
      const c = await h.conn.sendRequest(CompressRequest, { path: member!, output: out, bases: [kf!, pred!] });
      const sizes = [];
      for (const b of [kf!, pred!])
        sizes.push(
          (await api.compressFile(member!, { base: b, output: path.join(dir, 'alt.tzip'), force: true, threads: 1 }))
            .bytes,
        );
      assert.equal(c.bytes, Math.min(...sizes), `kept ${c.bytes}, candidates ${sizes.join(', ')}`);
      assert.equal(statSync(out).size, c.bytes);
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.includes('.tmp-')),
        [],
      );
      const info = await h.conn.sendRequest(InfoRequest, { path: out });
      assert.equal(info.base?.name, path.basename(sizes[0]! <= sizes[1]! ? kf! : pred!));
      const restored = path.join(dir, 'restored-member.safetensors');
      await h.conn.sendRequest(DecompressRequest, { path: out, output: restored });
      assert.equal(sha256(restored), sha256(member!));
      const bad = await rejection(
        h.conn.sendRequest(CompressRequest, {
          path: member!,
          output: out,
          force: true,
          bases: ['relative.safetensors'],
        }),
      );
      assert.ok(bad, 'a relative base path is refused');
    },
  );

  test('lossy compress and the what-if estimate through the server', async () => {
    assert.equal(h.features?.lossy, true);
    assert.equal(h.features?.lossyWhatIf, true);
    // 2-D weight matrices: the default selection rounds them (1-D tensors and norms stay lossless)
    const input = path.join(dir, 'lossy.safetensors');
    writeFileSync(
      input,
      safetensorsBytes(
        [0, 1].map((i) => ({
          name: `layers.${i}.mlp.weight`,
          dtype: 'BF16',
          shape: [512, 512],
          data: toBF16Bytes(gaussianF32(512 * 512, 0.02, 20 + i)),
        })),
      ),
    );
    const w = await h.conn.sendRequest(WhatIfRequest, { path: input, bits: [3] });
    const p3 = w.points.find((p) => p.bits === 3)!;
    assert.ok(p3 && p3.error !== null, 'a point for k=3 with error figures');
    assert.ok(p3.error!.maxRelError <= 2 ** -4 + 1e-12, `max rel error ${p3.error!.maxRelError}`);
    const out = path.join(dir, 'lossy.k3.tzip');
    const c = await h.conn.sendRequest(CompressRequest, { path: input, output: out, lossyBits: 3 });
    assert.ok(
      Math.abs(p3.predictedBytes - c.bytes) / c.bytes < 0.02,
      `predicted ${p3.predictedBytes} vs actual ${c.bytes}`,
    );
    const lossless = w.points.find((p) => p.bits === null)!;
    assert.ok(c.bytes < lossless.predictedBytes * 0.8, `lossy ${c.bytes} vs lossless ${lossless.predictedBytes}`);
    const info = await h.conn.sendRequest(InfoRequest, { path: out });
    assert.equal(info.lossy?.bits, 3);
    const v = await h.conn.sendRequest(VerifyRequest, { path: out });
    assert.equal(v.ok, true);
  });

  test('lossyBits out of range for the file is a typed error and writes nothing', async () => {
    const input = writeSyntheticSafetensors(path.join(dir, 'lossy-bad.safetensors'), 1 << 20, 2);
    const e = await rejection(h.conn.sendRequest(CompressRequest, { path: input, lossyBits: 40 }));
    assert.equal(e.code, JOB_FAILED_ERROR);
    assert.equal(existsSync(`${input}.tzip`), false);
  });

  test('an existing output is refused (EXISTS) unless force', async () => {
    const input = writeSyntheticSafetensors(path.join(dir, 'exists.safetensors'), 1 << 20, 2);
    const first = await h.conn.sendRequest(CompressRequest, { path: input });
    const e = await rejection(h.conn.sendRequest(CompressRequest, { path: input }));
    assert.equal(e.code, JOB_FAILED_ERROR);
    assert.equal(e.data?.code, 'EXISTS');
    const again = await h.conn.sendRequest(CompressRequest, { path: input, force: true });
    assert.equal(again.output, first.output);
  });

  test('two jobs writing the same output: the second is refused as BUSY', async () => {
    const a = writeSyntheticSafetensors(path.join(dir, 'busy-a.safetensors'), 16 << 20, 4);
    const b = writeSyntheticSafetensors(path.join(dir, 'busy-b.safetensors'), 1 << 20, 2);
    const output = path.join(dir, 'busy.tzip');
    const first = h.conn.sendRequest(CompressRequest, { path: a, output });
    const e = await rejection(h.conn.sendRequest(CompressRequest, { path: b, output }));
    assert.equal(e.code, JOB_FAILED_ERROR);
    assert.equal(e.data?.code, 'BUSY');
    assert.match(e.message, /already being written by job \d+ \(compress\)/);
    assert.equal((await first).output, output);
  });

  test('a corrupted .tzip gives the typed error and leaves no output', async () => {
    const input = writeSyntheticSafetensors(path.join(dir, 'corrupt.safetensors'), 2 << 20, 2);
    const c = await h.conn.sendRequest(CompressRequest, { path: input, output: path.join(dir, 'corrupt.tzip') });
    const bytes = readFileSync(c.output);
    for (let i = 0; i < 64; i++) bytes[Math.floor(bytes.length / 2) + i * 97] ^= 0x5a;
    writeFileSync(c.output, bytes);
    const out = path.join(dir, 'corrupt-restored.safetensors');
    const e = await rejection(h.conn.sendRequest(DecompressRequest, { path: c.output, output: out }));
    assert.equal(e.code, JOB_FAILED_ERROR);
    assert.ok(['BAD_INPUT', 'VERIFY_FAILED'].includes(e.data!.code), e.data!.code);
    assert.ok(e.message.startsWith(c.output + ': ') && !e.message.includes('\n'), e.message);
    assert.equal(existsSync(out), false);
    const v = await h.conn
      .sendRequest(VerifyRequest, { path: c.output })
      .catch((err: { data?: { code: string } }) => err);
    if ('ok' in v) assert.equal(v.ok, false);
    else assert.ok(['BAD_INPUT', 'VERIFY_FAILED'].includes(v.data!.code));
  });

  test('4 concurrent compressions with a limit of 2 all finish and verify against their originals', async () => {
    const inputs = [0, 1, 2, 3].map((i) =>
      writeSyntheticSafetensors(path.join(dir, `four-${i}.safetensors`), (3 + i) << 20, 2 + i),
    );
    const pending = inputs.map((p) => h.conn.sendRequest(CompressRequest, { path: p }));
    const listed = await h.conn.sendRequest(JobsRequest);
    assert.deepEqual(
      listed.jobs.map((j) => j.state),
      ['running', 'running', 'queued', 'queued'],
    );
    assert.deepEqual(
      listed.jobs.map((j) => j.output),
      inputs.map((p) => `${p}.tzip`),
    );
    const results = await Promise.all(pending);
    for (let i = 0; i < 4; i++) {
      assert.equal(results[i].output, `${inputs[i]}.tzip`);
      const v = await h.conn.sendRequest(VerifyRequest, { path: results[i].output, against: inputs[i] });
      assert.deepEqual(v.problems, []);
      assert.equal(v.ok, true);
    }
  });

  test('cancel mid-compress answers RequestCancelled and leaves the folder as it was', async (t) => {
    const sub = tempDir('tz-server-cancel-');
    try {
      const input = writeSyntheticSafetensors(path.join(sub, 'big.safetensors'), 96 << 20, 16);
      const before = readdirSync(sub).sort();
      const progress = h.watchProgress('wd-cancel-compress');
      const cts = new CancellationTokenSource();
      const pending = rejection(
        h.conn.sendRequest(CompressRequest, { path: input, workDoneToken: 'wd-cancel-compress' }, cts.token),
      );
      await until(progress, isRunningWithBytes, 'compress progress');
      const t0 = performance.now();
      cts.cancel();
      const e = await pending;
      t.diagnostic(`compress cancel answered after ${(performance.now() - t0).toFixed(1)} ms`);
      assert.equal(e.code, REQUEST_CANCELLED);
      assert.deepEqual(readdirSync(sub).sort(), before);
      assert.deepEqual((await h.conn.sendRequest(JobsRequest)).jobs, []);
    } finally {
      rmSync(sub, { recursive: true, force: true });
    }
  });
});

describe('server: compress worker that ignores cancel', { skip: SKIP }, () => {
  test('is terminated after the grace period and its temp output is removed before the answer', async () => {
    const h = await startServer({ env: { TZ_SERVER_TEST_HANG: 'hang-me' } });
    const dir = tempDir();
    try {
      const input = writeSyntheticSafetensors(path.join(dir, 'hang-me.safetensors'), 1 << 20, 2);
      const before = readdirSync(dir).sort();
      const progress = h.watchProgress('wd-hang-c');
      const cts = new CancellationTokenSource();
      const pending = rejection(
        h.conn.sendRequest(CompressRequest, { path: input, workDoneToken: 'wd-hang-c' }, cts.token),
      );
      await until(progress, isRunningWithBytes, 'progress');
      assert.ok(
        readdirSync(dir).some((n) => n.includes('.tmp-')),
        'the stuck worker left a temp file',
      );
      cts.cancel();
      const e = await pending;
      assert.equal(e.code, REQUEST_CANCELLED);
      assert.deepEqual(readdirSync(dir).sort(), before);
      assert.ok(h.logs.some((l) => l.includes('removed temp file')));
    } finally {
      await h.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
