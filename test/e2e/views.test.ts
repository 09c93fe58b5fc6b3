/**
 * The model view on the models people have (issue 16), in one VS Code session:
 * - a 3-shard model shows its shards' total; with a shard missing the present shards are listed,
 *   the missing one marked, Compress disabled with the reason, the index's problem in Problems;
 * - a 10,000-tensor, 5,000-layer file shows its header (the time is printed, asserted loosely: a bench,
 *   not a test) and a chart of at most one bar per 3 px;
 * - a corrupted .tzip is verified on open: the damaged tensor marked in the table, a Problems entry
 *   naming the file relative to the workspace, one notification; one Decompress click, one more;
 * - a compress started from the Explorer shows in the file's open view (progress, Cancel, the
 *   view's Compress disabled) and Cancel there stops it without leftovers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { basename, join } from 'node:path';
import { e2eSkip, menuTitle, PackageError, ROOT, skipUnpackaged, startSession, waitFor, type Session } from './harness';
import { smallModel, writeSyntheticSafetensors, CANCEL_MIB } from './fixtures';
import { layerTensors, writeShardedModel } from '../helpers/shardedModel';
import { formatBytes } from '../../shared/format';

// These four scenarios share one code-server session. They once timed out waiting for Explorer rows:
// compact folders ("models / broken" as one row) hid the path segments the walk looks for; the
// harness now turns compact folders off.
const skip = e2eSkip();
let s: Session | undefined;
let failed = false;
let unpackaged: PackageError | undefined;
let shardTotal = 0;
let damagedTensor = '';

/** Flips bytes in the middle of a .tzip (a chunk's payload) and returns the tensor the CLI's verify names. */
function corrupt(tzip: string): string {
  const b = readFileSync(tzip);
  const o = Math.floor(b.length / 2);
  b[o] ^= 0xff;
  b[o + 1] ^= 0x55;
  writeFileSync(tzip, b);
  const v = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'verify', tzip], { encoding: 'utf8' });
  const m = /corrupted chunk \d+ \(tensor "(.*)"\)/.exec(v.stderr);
  if (v.status === 0 || !m) throw new Error(`corrupting ${tzip} did not hit a tensor chunk: ${v.stderr}`);
  return m[1]!;
}

before(async () => {
  if (skip) return;
  try {
    s = await startSession({
      name: 'views',
      populate: (ws) => {
        const full = writeShardedModel(
          join(ws, 'sharded'),
          [0, 1, 2].map((l) => ({ tensors: layerTensors(l, 64) })),
        );
        shardTotal = [full.index, ...full.shardNames.map((n) => join(full.dir, n))].reduce(
          (a, f) => a + statSync(f).size,
          0,
        );
        writeShardedModel(
          join(ws, 'partial'),
          [0, 1, 2].map((l) => ({ tensors: layerTensors(l, 64) })),
          { skipShards: [1], prefix: 'part' },
        );
        writeSyntheticSafetensors(
          join(ws, 'many', 'many.safetensors'),
          Array.from({ length: 10_000 }, (_, i) => ({
            name: `blocks.${Math.floor(i / 2)}.op${i % 2}.weight`,
            shape: [16, 8],
          })),
        );
        const model = smallModel(join(ws, 'bad'), 'model.safetensors');
        const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'compress', model], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`compress fixture: ${r.stderr}`);
        damagedTensor = corrupt(`${model}.tzip`);
        rmSync(model); // Decompress would ask to overwrite it
        const rows = 4096;
        const n = Math.max(1, Math.round((CANCEL_MIB * 2 ** 20) / (rows * 4096 * 2)));
        writeSyntheticSafetensors(
          join(ws, 'big', 'large.safetensors'),
          Array.from({ length: n }, (_, i) => ({ name: `layers.${i}.mlp.up_proj.weight`, shape: [rows, 4096] })),
        );
      },
    });
  } catch (e) {
    if (!(e instanceof PackageError)) throw e;
    unpackaged = e;
  }
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
  } finally {
    await s!.closeAllEditors().catch(() => {});
  }
}

/** Texts of the Problems panel's rows. */
async function problems(s: Session): Promise<string[]> {
  await s.runCommand('View: Focus Problems (Errors, Warnings, Infos)');
  return s.page.locator('.markers-panel .monaco-list-row').allInnerTexts();
}

/** Every notification so far, newest first (the Notification Center keeps those whose toast has hidden). */
async function notificationTexts(s: Session): Promise<string[]> {
  await s.runCommand('Notifications: Show Notifications');
  await s.page.locator('.notifications-center').waitFor({ state: 'visible', timeout: 10_000 });
  const texts = (await s.page.locator('.notifications-center .notification-list-item').allInnerTexts()).map((t) =>
    t.replace(/\s+/g, ' ').trim(),
  );
  await s.page.keyboard.press('Escape');
  return texts;
}

test(
  "e2e views: a 3-shard model shows its shards' total; with a shard missing the present shards, the " +
    'missing one marked, Compress disabled, the problem in Problems',
  { skip, timeout: 20 * 60_000 },
  async (t) => {
    await step(t, 'sharded', async (s) => {
      await s.explorerContextMenu('sharded/model.safetensors.index.json', menuTitle('tensorzip.analyze'));
      const wv = s.webview();
      await wv.locator('#tz-shards .tz-shard').nth(2).waitFor({ timeout: 60_000 });
      assert.equal(await wv.locator('#tz-size dd').innerText(), formatBytes(shardTotal));
      assert.equal(await wv.locator('#tz-tensor-count').getAttribute('data-count'), '12');
      assert.equal(await wv.locator('#tz-shards .tz-shard[data-state="present"]').count(), 3);
      await wv.locator('#tz-analysis-progress[data-state="done"]').waitFor({ state: 'attached', timeout: 90_000 });
      await s.screenshot('sharded-complete');
      await s.closeAllEditors();

      await s.explorerContextMenu('partial/part.safetensors.index.json', menuTitle('tensorzip.analyze'));
      await wv.locator('#tz-shards .tz-shard').nth(2).waitFor({ timeout: 60_000 });
      const missing = wv.locator('#tz-shards .tz-shard[data-state="missing"]');
      assert.equal(await missing.count(), 1);
      assert.equal(await missing.getAttribute('data-file'), 'part-00002-of-00003.safetensors');
      assert.equal(await wv.locator('#tz-shards .tz-shard[data-state="present"]').count(), 2);
      assert.equal(await wv.locator('#tz-tensor-count').getAttribute('data-count'), '8', "the present shards' tensors");
      assert.equal(await wv.locator('#tz-format').innerText(), 'safetensors-index');
      const compress = wv.locator('#tz-btn-compress');
      await waitFor('Compress disabled', async () => (await compress.getAttribute('disabled')) !== null, 10_000);
      assert.match((await compress.getAttribute('title')) ?? '', /part-00002-of-00003\.safetensors.*need every shard/);
      assert.match(await wv.locator('#tz-write-note').innerText(), /1 shard is missing/);
      await wv.locator('#tz-analysis-error:not([hidden])').waitFor({ timeout: 30_000 });
      assert.match(await wv.locator('#tz-analysis-error').innerText(), /need every shard/);
      await s.screenshot('sharded-missing-view');
      const rows = await waitFor(
        'the missing shard in Problems',
        async () => {
          const all = await problems(s);
          return all.some((x) => /part-00002-of-00003\.safetensors" is missing/.test(x)) ? all : null;
        },
        60_000,
        500,
      );
      assert.equal(
        rows.filter((x) => /part-00002-of-00003\.safetensors" is missing/.test(x)).length,
        1,
        `one entry: ${rows.join(' | ')}`,
      );
      await s.screenshot('sharded-missing-problems');
    });
  },
);

test('e2e views: the header of a 10,000-tensor file', { skip, timeout: 20 * 60_000 }, async (t) => {
  await step(t, 'many', async (s) => {
    const row = await s.explorerRow('many/many.safetensors');
    const started = Date.now();
    await row.dblclick();
    const wv = s.webview();
    await wv.locator('#tz-tensor-count[data-count="10000"]').waitFor({ state: 'attached', timeout: 60_000 });
    await wv.locator('#tz-table-body .tz-row').first().waitFor({ timeout: 30_000 });
    const ms = Date.now() - started;
    process.stderr.write(
      `[e2e] views: 10,000-tensor header shown ${ms} ms after the double click (workbench, webview and ` +
        `extension host included)\n`,
    );
    // loose: the bench (bench/views.mts) measures the figure; this only catches a stall
    assert.ok(ms < 30_000, `header after ${ms} ms`);
    assert.ok((await wv.locator('#tz-table-body .tz-row').count()) < 1000, 'the table renders only the rows on screen');
    await s.screenshot('many-header');
    await wv.locator('#tz-analysis-progress[data-state="done"]').waitFor({ state: 'attached', timeout: 180_000 });
    await waitFor(
      'layer chart bars',
      async () => (await wv.locator('#tz-layer-chart [data-layer-index]').count()) > 0,
      30_000,
    );
    // 5,000 layers: never more bars than 3 px slots, labels that fit
    const bars = Number(await wv.locator('#tz-layer-chart').getAttribute('data-bar-count'));
    const width = await wv.locator('#tz-layer-chart').evaluate((e) => e.getBoundingClientRect().width);
    assert.ok(bars > 0 && bars <= width / 3, `${bars} bars in ${width} px`);
    assert.match(await wv.locator('#tz-layer-chart-section').innerText(), /5,000 layers/);
    await s.screenshot('many-analysed-5000-layers');
  });
});

test(
  'e2e views: a corrupted .tzip is verified on open: damaged tensor marked, one Problems entry, one ' +
    'notification; one Decompress click, one notification',
  { skip, timeout: 20 * 60_000 },
  async (t) => {
    await step(t, 'corrupted', async (s) => {
      const before = (await notificationTexts(s)).length;
      await s.openFile('bad/model.safetensors.tzip');
      const wv = s.webview();
      await wv.locator('#tz-verify-status[data-status="failed"]').waitFor({ timeout: 120_000 });
      await wv.locator(`#tz-table-body .tz-row.tz-damaged[data-name="${damagedTensor}"]`).waitFor({ timeout: 30_000 });
      assert.equal(await wv.locator('#tz-table-body .tz-row.tz-damaged').count(), 1);
      await waitFor(
        'a damaged bar in the layer chart',
        async () => (await wv.locator('#tz-layer-chart .tz-damaged').count()) > 0,
        30_000,
      );
      const toast = await s.waitForNotification(/Verify failed: .*corrupted chunk/, 30_000);
      assert.match(toast, /bad\/model\.safetensors\.tzip/);
      assert.ok(!toast.includes(s.workspace), `absolute path in: ${toast}`);
      assert.equal(toast.split('model.safetensors.tzip').length - 1, 1, `the path once: ${toast}`);
      await s.screenshot('corrupted-verified');
      const rows = await waitFor(
        'the damage in Problems',
        async () => {
          const all = await problems(s);
          return all.some((x) => /damaged tensor/.test(x)) ? all : null;
        },
        30_000,
        500,
      );
      assert.ok(
        rows.some((x) => x.includes(damagedTensor)),
        rows.join(' | '),
      );
      assert.ok(!rows.some((x) => x.includes(s.workspace)), `absolute path in Problems: ${rows.join(' | ')}`);
      await s.screenshot('corrupted-problems');
      const afterVerify = await notificationTexts(s);
      assert.equal(afterVerify.length, before + 1, `one notification for the verify: ${afterVerify.join(' | ')}`);

      await wv.locator('#tz-btn-decompress:not([disabled])').waitFor({ timeout: 30_000 });
      await wv.locator('#tz-btn-decompress').click();
      await wv.locator('#tz-job[data-state="failed"]').waitFor({ timeout: 60_000 });
      await new Promise((r) => setTimeout(r, 1500)); // a second toast would come now
      const afterDecompress = await notificationTexts(s);
      assert.equal(
        afterDecompress.length,
        before + 2,
        `one more notification for one Decompress click: ${afterDecompress.join(' | ')}`,
      );
      const last = afterDecompress.find((x) => /Decompress failed/.test(x)) ?? '';
      assert.match(last, /Decompress failed: bad\/model\.safetensors\.tzip: corrupted chunk/);
      assert.ok(!last.includes(s.workspace), `absolute path in: ${last}`);
      assert.ok(
        !(await wv.locator('#tz-job-text').innerText()).includes(s.workspace),
        "absolute path in the view's job line",
      );
      assert.deepEqual(
        readdirSync(s.ws('bad')).filter((n) => n.includes('.tmp-')),
        [],
        'no temp file left',
      );
      await s.screenshot('corrupted-decompress');
    });
  },
);

test(
  'e2e views: a compress started from the Explorer shows in the open view, which disables its Compress and cancels it',
  { skip, timeout: 20 * 60_000 },
  async (t) => {
    await step(t, 'explorer-job', async (s) => {
      await s.openFile('big/large.safetensors');
      const wv = s.webview();
      await wv.locator('#tz-btn-compress:not([disabled])').waitFor({ timeout: 60_000 });
      await s.explorerContextMenu('big/large.safetensors', menuTitle('tensorzip.compress'));
      await wv.locator('#tz-job[data-kind="compress"][data-state="running"]').waitFor({ timeout: 60_000 });
      await waitFor(
        "Compress disabled while the Explorer's job runs",
        async () => (await wv.locator('#tz-btn-compress').getAttribute('disabled')) !== null,
        10_000,
      );
      await wv.locator('#tz-btn-cancel:not([hidden])').waitFor({ timeout: 10_000 });
      await waitFor(
        'progress in the view',
        async () => Number((await wv.locator('#tz-job-progress').getAttribute('aria-valuenow')) ?? 0) >= 1,
        120_000,
        200,
      );
      await s.screenshot('explorer-job-in-view');
      await wv.locator('#tz-btn-cancel').click();
      await wv.locator('#tz-job[data-state="cancelled"]').waitFor({ timeout: 60_000 });
      await s.waitForNotification(/cancelled/, 60_000);
      await wv.locator('#tz-btn-compress:not([disabled])').waitFor({ timeout: 10_000 });
      await waitFor('only the input left', () => readdirSync(s.ws('big')).length === 1, 15_000);
      assert.deepEqual(readdirSync(s.ws('big')), [basename('large.safetensors')]);
      await s.screenshot('explorer-job-cancelled');
    });
  },
);
