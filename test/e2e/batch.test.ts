/**
 * The batch command over a folder with several models and one corrupt file: a progress
 * notification while it runs, every good file compressed, the corrupt one reported by name with
 * the problem, and nothing half-written left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkip, menuTitle, sleep, waitFor, withSession } from './harness';
import {
  copyInto,
  CORPUS,
  HAS_CORPUS,
  smallModel,
  VAD_ONNX,
  writeCorruptSafetensors,
  writeSyntheticSafetensors,
} from './fixtures';

const skip = e2eSkip();

test(
  'e2e batch: Compress Models in Folder compresses the good files and reports the corrupt one',
  { skip, timeout: 15 * 60_000 },
  async (t) => {
    let dir = '';
    const good: string[] = [];
    await withSession(
      {
        t,
        name: 'batch',
        populate: (ws) => {
          dir = join(ws, 'models');
          good.push(smallModel(dir));
          if (HAS_CORPUS) good.push(copyInto(dir, join(CORPUS, 'silero_vad_v6.f32.safetensors')));
          good.push(copyInto(dir, VAD_ONNX));
          // large enough (48 MiB) that the progress notification stays up for a while
          const big = join(dir, 'synthetic-48m.safetensors');
          writeSyntheticSafetensors(
            big,
            Array.from({ length: 12 }, (_, i) => ({ name: `layers.${i}.mlp.weight`, shape: [1024, 2048] })),
          );
          good.push(big);
          writeCorruptSafetensors(join(dir, 'corrupt.safetensors'));
        },
      },
      async (s) => {
        await s.explorerContextMenu('models', menuTitle('tensorzip.compressFolder'));
        // The cancellable progress notification, with per-file and total progress.
        const progress = await s.waitForNotification(/TensorZip: Compressing \d+ models/, 60_000);
        assert.match(progress, /\d+ of \d+ files done ·/);
        await s.screenshot('batch-progress');

        const done = await s.waitForNotification(/Compressed \d+ of \d+ files/, 300_000);
        await s.explorerRow('models/corrupt.safetensors'); // expands the folder: the .tzip files are in the evidence
        await sleep(800); // the toast's fade-in
        await s.screenshot('batch-summary');
        assert.match(done, new RegExp(`Compressed ${good.length} of ${good.length + 1} files`));
        assert.match(done, /1 failed/);
        assert.match(done, /corrupt\.safetensors: \S.*/, 'the failure names the corrupt file and its problem');
        for (const f of good) assert.ok(existsSync(`${f}.tzip`), `${f}.tzip missing`);
        assert.equal(
          existsSync(join(dir, 'corrupt.safetensors.tzip')),
          false,
          'a .tzip was written for the corrupt file',
        );
        await waitFor('no temporary files', () => readdirSync(dir).every((n) => !n.includes('.tmp-')), 10_000);
      },
    );
  },
);
