/**
 * Cancel from the batch notification: "Compress Models in Folder..." over a folder with a small
 * model and a large one; the notification's Cancel stops the batch, and the folder keeps no partial
 * or temporary file (a model finished before the cancel keeps its complete .tzip).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkip, menuTitle, waitFor, withSession } from './harness';
import { writeSyntheticSafetensors, CANCEL_MIB } from './fixtures';

const skip = e2eSkip();

test(
  "e2e batch cancel: the batch notification's Cancel stops the job and leaves no partial file",
  { skip, timeout: 15 * 60_000 },
  async (t) => {
    let dir = '';
    await withSession(
      {
        t,
        name: 'batch-cancel',
        populate: (ws) => {
          dir = join(ws, 'batch');
          const rows = 4096;
          // twice the single-file cancel's size: the batch reaches it only after the small model
          const n = Math.max(1, Math.round((2 * CANCEL_MIB * 2 ** 20) / (rows * 4096 * 2)));
          writeSyntheticSafetensors(join(dir, 'a-small.safetensors'), [
            { name: 'layers.0.mlp.weight', shape: [256, 1024] },
          ]);
          writeSyntheticSafetensors(
            join(dir, 'b-large.safetensors'),
            Array.from({ length: n }, (_, i) => ({ name: `layers.${i}.mlp.up_proj.weight`, shape: [rows, 4096] })),
          );
        },
      },
      async (s) => {
        await s.explorerContextMenu('batch', menuTitle('tensorzip.compressFolder'));
        const toast = s.page.locator('.notifications-toasts .notification-toast', {
          hasText: /TensorZip: Compressing \d+ models/,
        });
        await toast.waitFor({ timeout: 60_000 });
        // cancel while the large model is being coded
        await waitFor(
          'the large model under way',
          async () => {
            const text = (await toast.innerText().catch(() => '')).replace(/\s+/g, ' ');
            return /b-large/.test(text) ? text : null;
          },
          120_000,
          200,
        );
        // Cancel at once: a fast machine finishes the large model within a second or two.
        await s.screenshot('before-cancel');
        if (/Compressed \d+ of \d+ file/.test((await s.notifications()).join('\n')))
          throw new Error('the batch finished before it could be cancelled; raise TENSORZIP_E2E_CANCEL_MIB');
        await toast.hover();
        await toast.getByRole('button', { name: 'Cancel' }).click();
        const end = await s.waitForNotification(/cancelled/, 60_000);
        await s.screenshot('after-cancel');
        await waitFor('no temporary file', () => readdirSync(dir).every((n) => !n.includes('.tmp-')), 15_000).catch(
          () => {},
        );
        const left = readdirSync(dir).sort();
        assert.ok(
          !left.includes('b-large.safetensors.tzip'),
          `the cancelled model has no .tzip: ${left.join(', ')} (${end})`,
        );
        assert.deepEqual(
          left.filter((n) => n.includes('.tmp-')),
          [],
          'no temporary file',
        );
        assert.ok(left.includes('a-small.safetensors') && left.includes('b-large.safetensors'), 'inputs untouched');
      },
    );
  },
);
