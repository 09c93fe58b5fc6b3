/**
 * Opening a safetensors file shows TensorZip's custom editor (not VS Code's binary placeholder):
 * the summary, the per-layer chart and the tensor table with the file's tensor count; sorting and
 * filtering the table work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { e2eSkip, waitFor, withSession } from './harness';
import { safetensorsTensors, smallModel } from './fixtures';

const skip = e2eSkip();

test(
  'e2e viewer: a safetensors file opens in the model view with summary, chart and a sortable, filterable table',
  { skip, timeout: 15 * 60_000 },
  async (t) => {
    let model = '';
    await withSession(
      {
        t,
        name: 'viewer',
        populate: (ws) => {
          model = smallModel(`${ws}/models`);
        },
      },
      async (s) => {
        const tensors = safetensorsTensors(model);
        const byName = new Map(tensors.map((t) => [t.name, t]));
        // the first model opened in this fresh window: its header is read in the extension host, so it
        // does not wait for the server to start (issue 19); the time is printed, the bound is loose
        const opened = await s.openFile(`models/${basename(model)}`);
        const wv = s.webview();

        // the webview's own script has run ('Loading…'), then the header arrived from the host
        await wv.locator('#tz-title').waitFor({ timeout: 60_000 });
        const shell = performance.now() - opened;
        // Summary: the file's name and its real tensor count (read from the header here).
        await wv.locator('#tz-tensor-count').waitFor({ timeout: 60_000 });
        const firstView = performance.now() - opened;
        console.log(
          `e2e viewer: first model view's header shown ${firstView.toFixed(0)} ms after the double click ` +
            `(webview script running after ${shell.toFixed(0)} ms)`,
        );
        assert.ok(firstView < 10_000, `the first header took ${firstView.toFixed(0)} ms`);
        assert.equal(await wv.locator('#tz-title').innerText(), basename(model));
        assert.equal(await wv.locator('#tz-tensor-count').getAttribute('data-count'), String(tensors.length));
        assert.equal(
          await s.page.getByText(/not displayed in the text editor because it is either binary/).count(),
          0,
          'binary placeholder shown',
        );

        // Analysis finishes and the per-layer chart has bars.
        await wv.locator('#tz-analysis-progress[data-state="done"]').waitFor({ state: 'attached', timeout: 90_000 });
        await waitFor(
          'layer chart bars',
          async () => (await wv.locator('#tz-layer-chart [data-layer-index]').count()) > 0,
          30_000,
        );
        assert.match(await wv.locator('#tz-predicted dd').innerText(), /%/);
        assert.equal(
          (await wv.locator('#tz-table-count').innerText()).trim(),
          `${tensors.length.toLocaleString('en-US')} tensors`,
        );
        await s.screenshot('model-view');

        // Sorting by bytes: the rows on screen are ordered by their real size, and a second click reverses it.
        const shownBytes = async () => {
          const names = await wv
            .locator('#tz-table-body .tz-row:not([hidden])')
            .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.name ?? ''));
          return names.map((n) => {
            const t = byName.get(n);
            assert.ok(t, `row ${n} is not a tensor of the file`);
            return t.bytes;
          });
        };
        const header = wv.locator('#tz-table-header [role="columnheader"]', {
          has: wv.locator('button[data-sort="bytes"]'),
        });
        for (const click of [1, 2]) {
          await wv.locator('#tz-table-header button[data-sort="bytes"]').click();
          const dir = await waitFor(
            'bytes column sorted',
            async () => {
              const a = await header.getAttribute('aria-sort');
              return a === 'ascending' || a === 'descending' ? a : null;
            },
            10_000,
          );
          const bytes = await waitFor(
            `rows sorted ${dir}`,
            async () => {
              const b = await shownBytes();
              const ok =
                b.length > 1 && b.every((v, i) => i === 0 || (dir === 'ascending' ? b[i - 1]! <= v : b[i - 1]! >= v));
              return ok ? b : null;
            },
            10_000,
          );
          const extreme =
            dir === 'ascending' ? Math.min(...tensors.map((t) => t.bytes)) : Math.max(...tensors.map((t) => t.bytes));
          assert.equal(bytes[0], extreme, `first row after sorting ${dir} (click ${click})`);
          await s.screenshot(`sorted-bytes-${dir}`);
        }

        // Filtering by a name term: the count and every row match what the header says.
        const words = new Map<string, number>();
        for (const t of tensors)
          for (const w of new Set(t.name.split(/[._]/).filter((x) => /[a-z]{3,}/i.test(x))))
            words.set(w, (words.get(w) ?? 0) + 1);
        const [term] = [...words.entries()]
          .filter(([, n]) => n > 1 && n < tensors.length)
          .sort((a, b) => b[1] - a[1])[0]!;
        const expected = tensors.filter((t) => t.name.toLowerCase().includes(term.toLowerCase()));
        await wv.locator('#tz-filter input').fill(term);
        await wv.locator(`#tz-table-count[data-shown="${expected.length}"]`).waitFor({ timeout: 10_000 });
        const names = await wv
          .locator('#tz-table-body .tz-row:not([hidden])')
          .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.name ?? ''));
        assert.ok(
          names.length > 0 && names.every((n) => n.toLowerCase().includes(term.toLowerCase())),
          `rows after filtering by "${term}": ${names.join(', ')}`,
        );
        assert.match(
          await wv.locator('#tz-table-count').innerText(),
          new RegExp(`^${expected.length} of ${tensors.length} tensors$`),
        );
        await s.screenshot(`filtered-${term}`);
      },
    );
  },
);
