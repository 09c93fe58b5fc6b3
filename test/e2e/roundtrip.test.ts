/**
 * Right-click Compress in the explorer writes a .tzip next to the file; opening the .tzip shows the
 * achieved ratio and a passing verify; Decompress restores a file with the original SHA-256.
 * Both scenarios share one VS Code session (the second needs the first's .tzip).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import {
  e2eSkip,
  menuTitle,
  PackageError,
  sha256File,
  skipUnpackaged,
  startSession,
  waitFor,
  type Session,
} from './harness';
import { safetensorsTensors, smallModel } from './fixtures';

const skip = e2eSkip();
let s: Session | undefined;
let model = '';
let originalSha = '';
let originalSize = 0;
let failed = false;
let unpackaged: PackageError | undefined;

before(async () => {
  if (skip) return;
  try {
    s = await startSession({
      name: 'roundtrip',
      populate: (ws) => {
        model = smallModel(`${ws}/rt`);
      },
    });
  } catch (e) {
    if (!(e instanceof PackageError)) throw e;
    unpackaged = e;
    return;
  }
  originalSha = sha256File(model);
  originalSize = statSync(model).size;
});
after(async () => {
  if (!s) return;
  s.failed = failed;
  await s.close();
});

async function step(t: { skip(m?: string): void }, name: string, body: (s: Session) => Promise<void>): Promise<void> {
  if (unpackaged) return skipUnpackaged(unpackaged, t);
  try {
    await body(s!);
    await s!.screenshot(`${name}-final`);
  } catch (e) {
    failed = true;
    await s!.screenshot(`${name}-failure`).catch(() => {});
    throw e;
  }
}

const tzip = () => `${model}.tzip`;
const leftovers = () => readdirSync(dirname(model)).filter((n) => n.includes('.tmp-'));

test(
  'e2e compress: explorer Compress writes a .tzip whose view shows the ratio and a passing verify',
  { skip, timeout: 15 * 60_000 },
  async (t) => {
    await step(t, 'compress', async (s) => {
      await s.explorerContextMenu(`rt/${basename(model)}`, menuTitle('tensorzip.compress'));
      await s.waitForNotification(/Compressed 1 of 1 file/, 120_000);
      assert.ok(existsSync(tzip()), `${tzip()} was not written`);
      assert.deepEqual(leftovers(), []);
      const stored = statSync(tzip()).size;
      assert.ok(stored < originalSize, `.tzip (${stored} B) is not smaller than the original (${originalSize} B)`);
      assert.equal(sha256File(model), originalSha, 'the input was modified');
      await s.screenshot('compressed-notification');

      await s.openFile(`rt/${basename(tzip())}`);
      const wv = s.webview();
      const ratio = wv.locator('#tz-ratio dd');
      await ratio.waitFor({ timeout: 60_000 });
      const shown = Number(/([\d.]+)\s*%/.exec(await ratio.innerText())?.[1]);
      const actual = (stored / originalSize) * 100;
      assert.ok(Math.abs(shown - actual) < 0.6, `ratio shown ${shown}% vs actual ${actual.toFixed(2)}%`);
      // The container's tensor index is shown like the original's header.
      const tensors = safetensorsTensors(model).length;
      await wv
        .locator(`#tz-tensor-count[data-count="${tensors}"]`)
        .waitFor({ state: 'attached', timeout: 30_000 })
        .catch(async () => {
          throw new Error(
            `the .tzip view shows ${await wv.locator('#tz-tensor-count').getAttribute('data-count')} ` +
              `tensors, the original has ${tensors}`,
          );
        });
      // A .tzip under 512 MiB is verified on open; then an explicit Verify runs again (its button is
      // disabled while a job on the file runs).
      await wv.locator('#tz-verify-status[data-status="ok"]').waitFor({ timeout: 120_000 });
      await wv.locator('#tz-btn-verify:not([disabled])').click({ timeout: 60_000 });
      await wv.locator('#tz-verify-status[data-status="ok"]').waitFor({ timeout: 120_000 });
      assert.match(await wv.locator('#tz-verify-status dd').innerText(), /verified/);
    });
  },
);

test(
  'e2e decompress: explorer Decompress restores a file with the original SHA-256',
  { skip, timeout: 15 * 60_000 },
  async (t) => {
    await step(t, 'decompress', async (s) => {
      assert.ok(existsSync(tzip()), 'needs the .tzip of the compress scenario');
      await s.closeAllEditors();
      rmSync(model); // the restored file takes the original's name
      await s.explorerContextMenu(`rt/${basename(tzip())}`, menuTitle('tensorzip.decompress'));
      await s.waitForNotification(/Decompressed 1 of 1 file/, 120_000);
      await waitFor('the restored file', () => existsSync(model), 10_000);
      assert.equal(sha256File(model), originalSha, 'restored file differs from the original');
      assert.deepEqual(leftovers(), []);
    });
  },
);
