/** Cancel during a large compress: the job stops and leaves neither a .tzip nor a temporary file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkip, menuTitle, sleep, waitFor, withSession } from './harness';
import { writeSyntheticSafetensors, CANCEL_MIB } from './fixtures';

const skip = e2eSkip();

test(
  `e2e cancel: cancelling the compress of a ${CANCEL_MIB} MiB file leaves no partial file`,
  { skip, timeout: 15 * 60_000 },
  async (t) => {
    let dir = '';
    await withSession(
      {
        t,
        name: 'cancel',
        populate: (ws) => {
          dir = join(ws, 'big');
          const rows = 4096;
          const n = Math.max(1, Math.round((CANCEL_MIB * 2 ** 20) / (rows * 4096 * 2)));
          writeSyntheticSafetensors(
            join(dir, 'large.safetensors'),
            Array.from({ length: n }, (_, i) => ({ name: `layers.${i}.mlp.up_proj.weight`, shape: [rows, 4096] })),
          );
        },
      },
      async (s) => {
        await s.explorerContextMenu('big/large.safetensors', menuTitle('tensorzip.compress'));
        const toast = s.page.locator('.notifications-toasts .notification-toast', {
          hasText: 'TensorZip: Compressing large.safetensors',
        });
        await toast.waitFor({ timeout: 60_000 });
        // Cancel once the job is really under way (some bytes written), not while it is queued.
        const shown = await waitFor(
          'compress under way',
          async () => {
            const t = (await toast.innerText().catch(() => '')).replace(/\s+/g, ' ');
            const pct = Number(/(\d+)% ·/.exec(t)?.[1] ?? 0);
            if (/Compressed 1 of 1/.test((await s.notifications()).join('\n')))
              throw new Error(`the compress finished before it could be cancelled; raise TENSORZIP_E2E_CANCEL_MIB`);
            return pct >= 2 ? t : null;
          },
          120_000,
          200,
        );
        await s.screenshot('before-cancel');
        await toast.hover();
        await toast.getByRole('button', { name: 'Cancel' }).click();
        const end = await s.waitForNotification(/Compressed 0 of 1 file|cancelled/, 60_000);
        const atNotice = Date.now();
        const tmpAtNotice = readdirSync(dir).filter((n) => n.includes('.tmp-'));
        await s.screenshot('after-cancel');
        assert.match(end, /cancelled/, `notification after cancel: ${end} (progress when cancelled: ${shown})`);
        // The server removes its temporary file when the job ends; give the file system a moment.
        await waitFor('only the input left in the folder', () => readdirSync(dir).length === 1, 15_000).catch(() => {});
        if (tmpAtNotice.length)
          process.stderr.write(
            `[e2e] cancel: ${tmpAtNotice.join(', ')} still existed when the cancelled notice showed; gone ` +
              `${Date.now() - atNotice} ms later\n`,
          );
        await sleep(500);
        assert.deepEqual(readdirSync(dir), ['large.safetensors']);
        await s.refreshExplorer();
        await sleep(500);
      },
    );
  },
);
