/**
 * The comparison view in real VS Code on two really trained checkpoints (scripts/make-checkpoints.py,
 * BF16 steps 175 and 200): two files selected in the Explorer, "TensorZip: Compare Models" from the
 * context menu; the view fills in and its figures equal `tensorzip diff A B --json` (computed here with
 * the CLI): changed elements, the delta and standalone estimates, per-layer fractions, a tensor's
 * changed-element count and ULP-distance histogram; sorting by changed elements. Then a big synthetic
 * pair: Cancel while it streams keeps the rows so far and offers "Compare again". Screenshot of the view.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DiffResult } from '../../engine/api';
import { ROOT, e2eSkip, menuTitle, waitFor, withSession, type Session } from './harness';
import { writeSyntheticSafetensors } from './fixtures';
import { CHECKPOINTS, ensureCheckpoints } from '../helpers/checkpoints';

const skip = e2eSkip() || ensureCheckpoints();
const A = 'step-00175.safetensors';
const B = 'step-00200.safetensors';
/** the cancel pair: big enough that the comparison is still streaming when Cancel is clicked */
const BIG_MIB = Number(process.env.TENSORZIP_E2E_COMPARE_MIB ?? 96);

function cliDiff(a: string, b: string): DiffResult {
  const out = execFileSync(process.execPath, [join(ROOT, 'dist/cli.js'), 'diff', a, b, '--json'], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  return JSON.parse(out) as DiffResult;
}

/**
 * Selects two Explorer rows (click, Ctrl+click) and runs Compare Models from the second one's menu. The
 * workspace opens files on double click only and does not reveal the active editor (populate), so nothing
 * resets the selection between the clicks; a lost click is retried.
 */
async function compareInExplorer(s: Session, first: string, second: string): Promise<void> {
  const r1 = await s.explorerRow(first);
  const r2 = await s.explorerRow(second);
  const both = async () =>
    (await r1.getAttribute('aria-selected')) === 'true' && (await r2.getAttribute('aria-selected')) === 'true';
  for (let attempt = 1; ; attempt++) {
    await r1.click();
    await r2.click({ modifiers: ['Control'] });
    const ok = await waitFor('both rows selected', both, 5000).then(
      () => true,
      () => false,
    );
    if (ok) {
      try {
        await s.explorerContextMenu(second, menuTitle('tensorzip.compareModels'));
        return;
      } catch (e) {
        if (attempt >= 3) throw e;
        await s.page.keyboard.press('Escape');
      }
    } else if (attempt >= 3) throw new Error(`${first} and ${second} could not both be selected in the Explorer`);
  }
}

const near = (x: number, y: number) => Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y));

test(
  'e2e compare: two checkpoints selected in the Explorer open the comparison view with the CLI diff figures; Cancel',
  { skip, timeout: 15 * 60_000 },
  async (t) => {
    let dir = '';
    await withSession(
      {
        t,
        name: 'compare',
        populate: (ws) => {
          // single clicks select (no preview editor), and the active editor does not move the selection
          mkdirSync(join(ws, '.vscode'), { recursive: true });
          writeFileSync(
            join(ws, '.vscode', 'settings.json'),
            JSON.stringify({ 'workbench.list.openMode': 'doubleClick', 'explorer.autoReveal': false }),
          );
          dir = join(ws, 'ckpt');
          mkdirSync(dir, { recursive: true });
          for (const f of [A, B]) copyFileSync(join(CHECKPOINTS, 'pretrain/bf16', f), join(dir, f));
          const big = join(ws, 'big');
          for (const f of ['a.safetensors', 'b.safetensors'])
            writeSyntheticSafetensors(
              join(big, f),
              Array.from({ length: 24 }, (_, i) => ({
                name: `layers.${i}.w`,
                shape: [Math.floor((BIG_MIB * 1024) / 48), 1024],
              })),
            );
        },
      },
      async (s) => {
        const want = cliDiff(join(dir, A), join(dir, B));
        assert.ok(want.summary.changedElements > 0, 'the checkpoints differ');
        await compareInExplorer(s, `ckpt/${A}`, `ckpt/${B}`);
        await s.page
          .locator('.tabs-container .tab', { hasText: `${A} ↔ ${B}` })
          .first()
          .waitFor({ state: 'visible', timeout: 30_000 });
        const wv = s.webview();
        await wv.locator('#tz-cmp-progress[data-state="done"]').waitFor({ state: 'attached', timeout: 120_000 });
        assert.equal(await wv.locator('#tz-cmp-title').innerText(), `${A} ↔ ${B}`);

        // summary figures = the CLI's
        const stat = (k: string, attr: string) => wv.locator(`#tz-cmp-summary dd[data-stat="${k}"]`).getAttribute(attr);
        assert.equal(Number(await stat('changed', 'data-value')), want.summary.changedElements);
        assert.equal(Number(await stat('changed', 'data-elements')), want.summary.elements);
        assert.equal(Number(await stat('delta', 'data-bytes')), want.summary.bounds.best);
        assert.equal(Number(await stat('standalone', 'data-bytes')), want.summary.bounds.standalone);
        assert.ok(want.summary.bounds.best < want.summary.bounds.standalone);
        assert.match(await wv.locator('#tz-cmp-summary').innerText(), /estimate/);
        assert.equal(Number(await wv.locator('#tz-cmp-count').getAttribute('data-shown')), want.tensors.length);

        // per-layer chart: one group per layer with the engine's changed fraction
        const layers = await wv
          .locator('#tz-cmp-chart g.tz-cmp-layer')
          .evaluateAll((gs) => gs.map((g) => [g.getAttribute('data-layer'), Number(g.getAttribute('data-fraction'))]));
        assert.equal(layers.length, want.layers.length);
        for (const [i, [name, fraction]] of layers.entries()) {
          assert.equal(name, want.layers[i]!.layer);
          assert.ok(near(fraction as number, want.layers[i]!.changedFraction), `${name}: ${fraction}`);
        }

        // the tensor with the most changed elements: its row and ULP-distance histogram
        const top = [...want.tensors].sort((x, y) => (y.changedElements ?? -1) - (x.changedElements ?? -1))[0]!;
        const row = wv.locator(`#tz-cmp-body tr[data-name="${top.name}"]`);
        await row.click();
        assert.equal(
          Number(await row.locator('td[data-col="changed"]').getAttribute('data-value')),
          top.changedElements,
        );
        await waitFor(
          'the histogram of the selected tensor',
          async () => (await wv.locator('#tz-cmp-ulp').getAttribute('data-tensor')) === top.name,
          10_000,
        );
        const bars = await wv
          .locator('#tz-cmp-ulp rect.tz-hist-bar')
          .evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('data-count'))));
        const hist = top.ulpHistogram!;
        let last = hist.length - 1;
        while (last > 0 && !hist[last]) last--;
        assert.deepEqual(bars, hist.slice(0, last + 1));
        assert.equal(bars[0], top.elements - top.changedElements!);

        // sort by changed elements (largest first)
        await wv.locator('#tz-cmp-head th[data-key="changed"] button').click();
        await waitFor(
          'sorted by changed elements',
          async () =>
            (await wv.locator('#tz-cmp-head th[data-key="changed"]').getAttribute('aria-sort')) === 'descending',
          10_000,
        );
        const shown = await wv
          .locator('#tz-cmp-body td[data-col="changed"]')
          .evaluateAll((tds) => tds.map((td) => Number(td.getAttribute('data-value') || -1)));
        assert.deepEqual(
          shown,
          [...shown].sort((x, y) => y - x),
          'non-increasing',
        );
        assert.equal(shown[0], top.changedElements);
        await wv.locator(`#tz-cmp-body tr[data-name="${top.name}"]`).click();
        const shot = await s.screenshot('compare-view');
        if (process.env.TENSORZIP_README_SHOT) copyFileSync(shot, process.env.TENSORZIP_README_SHOT);

        // a big pair: Cancel while it streams
        await s.closeAllEditors();
        await compareInExplorer(s, 'big/a.safetensors', 'big/b.safetensors');
        const big = s.webview();
        await waitFor(
          'the big comparison under way',
          async () => /Comparing: \d+ of 24 tensors, /.test(await big.locator('#tz-cmp-progress-text').innerText()),
          60_000,
        );
        await big.locator('#tz-cmp-cancel').click();
        await big.locator('#tz-cmp-progress[data-state="cancelled"]').waitFor({ state: 'attached', timeout: 30_000 });
        const kept = Number(await big.locator('#tz-cmp-count').getAttribute('data-shown'));
        assert.ok(kept < 24, `cancelled before the end (${kept} of 24 tensors)`);
        assert.match(await big.locator('#tz-cmp-progress-text').innerText(), /^Cancelled after \d+ of 24 tensors/);
        assert.ok(await big.locator('#tz-cmp-rerun').isVisible(), '"Compare again" offered');
        await s.screenshot('compare-cancelled');
      },
    );
  },
);
