/**
 * Temp files of killed runs (engine/container/output.ts): named so they are never taken for an
 * output, found, and removed only when their writer is gone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { compressFile } from '../../engine/api';
import {
  createSafeOutput,
  findTempFiles,
  OTHER_HOST_STALE_MS,
  removeStaleTemps,
  removeTempsOf,
  tempPathFor,
} from '../../engine/container/output';
import { REGISTRY_ONNX, tempDir } from '../helpers/safetensors';

const tmp = tempDir('tz-temps-');
after(() => tmp.cleanup());

/** The pid of a process that has exited (its number is not reused this soon on Linux). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('stale temp files', () => {
  test(
    "a dead process's temp is stale, a running one's and an unrelated file are not; other hosts go " + 'by age',
    async () => {
      const dir = tempDir('tz-temps-find-');
      try {
        const out = path.join(dir.dir, 'm.safetensors.tzip');
        const dead = tempPathFor(out, deadPid());
        const live = tempPathFor(out, process.pid);
        const legacy = `${out}.tmp-${deadPid()}-0123abcd`; // before the host part
        const otherOld = `${out}.tmp-00000000-1-89abcdef`;
        const otherNew = `${out}.tmp-00000000-2-89abcdef`;
        for (const p of [
          dead,
          live,
          legacy,
          otherOld,
          otherNew,
          `${out}.tmp-notours`,
          path.join(dir.dir, 'x.tmp-12-zz'),
        ])
          writeFileSync(p, 'partial');
        const old = (Date.now() - OTHER_HOST_STALE_MS - 60_000) / 1000;
        utimesSync(otherOld, old, old);
        const found = await findTempFiles(dir.dir);
        const byPath = new Map(found.map((t) => [t.path, t]));
        assert.deepEqual([...byPath.keys()].sort(), [dead, live, legacy, otherOld, otherNew].sort());
        assert.equal(byPath.get(dead)!.stale, true);
        assert.equal(byPath.get(dead)!.output, out);
        assert.equal(byPath.get(legacy)!.stale, true);
        assert.equal(byPath.get(live)!.stale, false);
        assert.equal(byPath.get(otherOld)!.stale, true);
        assert.equal(byPath.get(otherNew)!.stale, false);
        assert.equal(byPath.get(otherNew)!.thisHost, false);
        const removed = (await removeStaleTemps(dir.dir)).map((t) => t.path).sort();
        assert.deepEqual(removed, [dead, legacy, otherOld].sort());
        assert.ok(existsSync(live) && existsSync(otherNew) && existsSync(`${out}.tmp-notours`));
        assert.deepEqual(await removeTempsOf(out), [live]);
        assert.ok(existsSync(otherNew));
      } finally {
        dir.cleanup();
      }
    },
  );

  test(
    'a new output removes the stale temps of the same output only; the job itself writes none ' + 'that stay',
    async () => {
      const dir = tempDir('tz-temps-new-');
      try {
        const out = path.join(dir.dir, 'vad.onnx.tzip');
        const otherOut = path.join(dir.dir, 'other.tzip');
        const staleSame = tempPathFor(out, deadPid());
        const staleOther = tempPathFor(otherOut, deadPid());
        const liveSame = tempPathFor(out, process.pid);
        for (const p of [staleSame, staleOther, liveSame]) writeFileSync(p, 'partial');
        await compressFile(REGISTRY_ONNX, { output: out, threads: 1 });
        const left = readdirSync(dir.dir).sort();
        assert.deepEqual(left, [path.basename(staleOther), path.basename(out), path.basename(liveSame)].sort());
        const so = await createSafeOutput(path.join(dir.dir, 'discarded'), { needBytes: 0 });
        assert.ok(so.tempPath.startsWith(path.join(dir.dir, 'discarded.tmp-')) && existsSync(so.tempPath));
        assert.equal(
          (await findTempFiles(dir.dir, { output: so.path }))[0]!.stale,
          false,
          "a running job's temp is not stale",
        );
        await so.discard();
        assert.ok(!existsSync(so.tempPath));
      } finally {
        dir.cleanup();
      }
    },
  );
});
