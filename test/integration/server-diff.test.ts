/**
 * `tensorzip/diff` over the bundled server: the answer equals `tensorzip diff A B --json` on two real
 * checkpoints, partial results stream every tensor in the engine's order with the answer's figures,
 * progress arrives in order, and a cancel stops a running comparison with RequestCancelled.
 */
import { test, describe, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import {
  DiffPartialResultProgress,
  DiffRequest,
  JobsRequest,
  type DiffPartialResult,
  type DiffResult,
} from '../../protocol/server';
import { CHECKPOINTS, ensureCheckpoints } from '../helpers/checkpoints';
import {
  CLI,
  INVALID_PARAMS,
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

const NO_CHECKPOINTS = ensureCheckpoints();

function cliDiff(a: string, b: string): DiffResult {
  const r = spawnSync(process.execPath, [CLI, 'diff', a, b, '--json'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as DiffResult;
}

describe('server: diff', { skip: NO_BUILD }, () => {
  let h: Harness;
  let dir: string;
  before(async () => {
    h = await startServer();
    dir = tempDir();
  });
  after(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(h.stderr, [], 'the server writes nothing to stderr');
  });

  test('advertised', () => assert.equal(h.features?.diff, true));

  for (const pair of [
    ['pretrain/bf16/step-00175.safetensors', 'pretrain/bf16/step-00200.safetensors'],
    ['pretrain/f32/step-00200.safetensors', 'finetune/f32/finetune-step-00100.safetensors'],
  ] as const) {
    test(
      `${pair.join(' -> ')}: same JSON as \`diff --json\`, streamed tensor by tensor`,
      { skip: NO_CHECKPOINTS },
      async () => {
        const [a, b] = pair.map((p) => path.join(CHECKPOINTS, p)) as [string, string];
        const want = cliDiff(a, b);
        const token = `diff-${path.basename(b)}`;
        const progress = h.watchProgress(`wd-${token}`);
        const partials: DiffPartialResult[] = [];
        h.conn.onProgress(DiffPartialResultProgress, `pr-${token}`, (v) => partials.push(v));
        const got = await h.conn.sendRequest(DiffRequest, {
          a,
          b,
          workDoneToken: `wd-${token}`,
          partialResultToken: `pr-${token}`,
        });
        assert.deepEqual(got, want);
        assert.ok(want.summary.changedElements > 0 && want.tensors.length > 4, 'the checkpoints differ');
        // partials: every tensor once, in the answer's order, each equal to the answer's entry
        let next = 0;
        for (const p of partials) {
          assert.equal(p.index, next, 'batches are contiguous');
          assert.equal(p.total, want.tensors.length);
          assert.equal(p.a, a);
          assert.equal(p.b, b);
          next += p.tensors.length;
        }
        assert.deepEqual(
          partials.flatMap((p) => p.tensors),
          want.tensors,
        );
        assertProgressInOrder(progress);
        const begin = progress[0]!;
        assert.ok(begin.kind === 'begin' && begin.title.includes(path.basename(a)) && begin.cancellable);
      },
    );
  }

  test('$/cancelRequest stops a running comparison and answers RequestCancelled', async () => {
    const a = writeSyntheticSafetensors(path.join(dir, 'a.safetensors'), 128 << 20, 8);
    const b = writeSyntheticSafetensors(path.join(dir, 'b.safetensors'), 128 << 20, 8);
    const progress = h.watchProgress('wd-diff-cancel');
    const partials: DiffPartialResult[] = [];
    h.conn.onProgress(DiffPartialResultProgress, 'pr-diff-cancel', (v) => partials.push(v));
    const cts = new CancellationTokenSource();
    const pending = rejection(
      h.conn.sendRequest(
        DiffRequest,
        { a, b, workDoneToken: 'wd-diff-cancel', partialResultToken: 'pr-diff-cancel' },
        cts.token,
      ),
    );
    await until(progress, isRunningWithBytes, 'running progress');
    cts.cancel();
    const e = await pending;
    assert.equal(e.code, REQUEST_CANCELLED, e.message);
    assert.equal(e.data?.code, 'CANCELLED');
    assert.equal(progress.at(-1)!.kind, 'end');
    assert.ok(partials.flatMap((p) => p.tensors).length < 8, 'cancelled before the last tensor');
    assert.deepEqual((await h.conn.sendRequest(JobsRequest)).jobs, []);
  });

  test('bad params answer InvalidParams; an unreadable B answers the engine error', async () => {
    const e = await rejection(h.conn.sendRequest(DiffRequest, { a: 'relative.safetensors', b: '/x' }));
    assert.equal(e.code, INVALID_PARAMS);
    assert.equal(e.data?.code, 'USAGE');
    const a = writeSyntheticSafetensors(path.join(dir, 'small.safetensors'), 1 << 20, 2);
    const missing = path.join(dir, 'missing.safetensors');
    const f = await rejection(h.conn.sendRequest(DiffRequest, { a, b: missing }));
    assert.match(f.message, /missing\.safetensors/);
  });
});
