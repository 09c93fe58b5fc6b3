/**
 * The lossy command shows, for every k (mantissa bits kept), the predicted size and the error
 * before anything is written; backing out writes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { e2eSkip, menuTitle, sleep, waitFor, withSession } from './harness';
import { smallModel } from './fixtures';

const skip = e2eSkip();

test(
  'e2e lossy: Compress (lossy) lists predicted size and error per k before writing anything',
  { skip, timeout: 15 * 60_000 },
  async (t) => {
    let dir = '';
    let model = '';
    await withSession(
      {
        t,
        name: 'lossy',
        populate: (ws) => {
          dir = join(ws, 'lossy');
          model = smallModel(dir);
        },
      },
      async (s) => {
        await s.explorerContextMenu(`lossy/${basename(model)}`, menuTitle('tensorzip.compressLossy'));
        const rows = s.page.locator('.quick-input-widget .monaco-list-row');
        const outcome = await waitFor(
          'the k picker or a notice',
          async () => {
            if (
              await rows
                .first()
                .isVisible()
                .catch(() => false)
            )
              return 'picker';
            const n = (await s.notifications()).find((x) => /lossy/i.test(x));
            return n ? `notice: ${n}` : null;
          },
          120_000,
          300,
        );
        if (outcome !== 'picker') {
          await s.screenshot('lossy-unavailable');
          // The lossy engine (issue 4) has not landed in the server: say so instead of failing.
          t.skip(`lossy not offered by this build (${outcome})`);
          return;
        }
        // Items may fill in as the prediction arrives: wait until every row carries a size and an error.
        const texts = await waitFor(
          'predicted size and error on every k',
          async () => {
            const all = (await rows.allInnerTexts()).map((x) => x.replace(/\s+/g, ' ').trim());
            const ok =
              all.length >= 2 &&
              all.every(
                (x) =>
                  /\d(?:[\d.,]*)\s?(?:B|KB|MB|GB|KiB|MiB|GiB)\b/.test(x) &&
                  /%/.test(x) &&
                  /(error|RMSE|SNR|≤)/i.test(x),
              );
            return ok ? all : null;
          },
          60_000,
          500,
        ).catch(async (e) => {
          await s.screenshot('lossy-picker-incomplete');
          throw new Error(`${(e as Error).message}; rows: ${(await rows.allInnerTexts()).join(' | ')}`);
        });
        assert.ok(
          texts.some((x) => /k\s*=\s*0\b/.test(x)) && texts.some((x) => /k\s*=\s*3\b/.test(x)),
          `k values offered: ${texts.join(' | ')}`,
        );
        await s.screenshot('lossy-picker');
        assert.deepEqual(readdirSync(dir), [basename(model)], 'something was written before a k was picked');
        await s.page.keyboard.press('Escape');
        await sleep(1000);
        assert.deepEqual(readdirSync(dir), [basename(model)], 'something was written after backing out');
      },
    );
  },
);
