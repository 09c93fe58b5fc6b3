/**
 * The edge guards: a CLI command or a server job whose promise never settles must fail loudly
 * (exit 1 / INTERNAL) and leave no temp file, never end as a silent success. The stall is injected
 * with TZ_TEST_STALL_AFTER_TEMP (engine/container/output.ts), which parks the job forever right
 * after its temp output was created, as a lost reply deep in a pipeline would.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { CompressRequest, JOB_FAILED_ERROR } from '../../protocol/server';
import { CLI, NO_BUILD, rejection, startServer, tempDir, writeSyntheticSafetensors } from './server-harness';

describe('edge guards: an operation that never settles fails loudly', { skip: NO_BUILD }, () => {
  test('CLI: exit 1 with a one-line internal error, temp output removed (5 runs)', () => {
    const dir = tempDir('tz-guard-');
    try {
      const input = writeSyntheticSafetensors(path.join(dir, 'm.safetensors'), 1 << 20, 2);
      for (let run = 0; run < 5; run++) {
        const r = spawnSync(process.execPath, [CLI, 'compress', '--force', input], {
          encoding: 'utf8',
          env: { ...process.env, TZ_TEST_STALL_AFTER_TEMP: '1' },
          timeout: 30_000,
        });
        assert.equal(r.status, 1, `run ${run}: exit ${r.status}, stderr ${r.stderr}`);
        assert.match(
          r.stderr,
          /^tensorzip: internal error: compress ended without an answer \(removed 1 temp file\)\n$/,
        );
        assert.deepEqual(readdirSync(dir), ['m.safetensors'], 'no temp file, no output');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('server: the job answers INTERNAL, its temp file is removed, the server keeps serving', async () => {
    const h = await startServer({ env: { TZ_TEST_STALL_AFTER_TEMP: '1' } });
    const dir = tempDir('tz-guard-');
    try {
      const input = writeSyntheticSafetensors(path.join(dir, 'm.safetensors'), 1 << 20, 2);
      for (let run = 0; run < 3; run++) {
        const e = await rejection(h.conn.sendRequest(CompressRequest, { path: input, force: true }));
        assert.equal(e.code, JOB_FAILED_ERROR);
        assert.equal(e.data?.code, 'INTERNAL');
        assert.match(e.message, /m\.safetensors: internal error: the job ended without an answer/);
        assert.deepEqual(readdirSync(dir), ['m.safetensors'], 'no temp file, no output');
      }
      assert.ok(h.proc.exitCode === null, 'server still running');
    } finally {
      await h.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
