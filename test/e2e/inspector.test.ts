/**
 * The tensor inspector in real VS Code, from a .tzip: the view decodes the original's analysis
 * (exponent histogram of a tensor), a click on a table row shows the heatmap, its norm strips, the
 * value histogram and the first values (checked against the original's bytes, read here); hover
 * names an index range; a drag box zooms into a finer window. Screenshots of heatmap + histogram.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, openSync, readSync, closeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ROOT, e2eSkip, waitFor, withSession } from './harness';
import { safetensorsTensors, smallModel, type HeaderTensor } from './fixtures';

const skip = e2eSkip();

/** BF16 values of the first elements of a tensor, decoded here from the file's bytes. */
function firstBf16(file: string, t: HeaderTensor, count: number): number[] {
  const fd = openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const hdr = Number(len.readBigUInt64LE());
    const json = Buffer.alloc(hdr);
    readSync(fd, json, 0, hdr, 8);
    const off = (JSON.parse(json.toString('utf8')) as Record<string, { data_offsets: [number, number] }>)[t.name]!
      .data_offsets[0];
    const b = Buffer.alloc(count * 2);
    readSync(fd, b, 0, b.length, 8 + hdr + off);
    const f = Buffer.alloc(4);
    return Array.from({ length: count }, (_, i) => {
      f.writeUInt16LE(0, 0);
      f.writeUInt16LE(b.readUInt16LE(2 * i), 2);
      return f.readFloatLE(0);
    });
  } finally {
    closeSync(fd);
  }
}

test(
  'e2e inspector: a .tzip tensor shows its heatmap, norms, value histogram and first values; zoom re-requests a window',
  { skip, timeout: 15 * 60_000 },
  async (t) => {
    let model = '';
    await withSession(
      {
        t,
        name: 'inspector',
        populate: (ws) => {
          model = smallModel(`${ws}/models`);
          execFileSync(process.execPath, [join(ROOT, 'dist/cli.js'), 'compress', model, '-o', `${model}.tzip`], {
            stdio: 'ignore',
          });
        },
      },
      async (s) => {
        const tensors = safetensorsTensors(model);
        await s.openFile(`models/${basename(model)}.tzip`);
        const wv = s.webview();
        await wv
          .locator(`#tz-tensor-count[data-count="${tensors.length}"]`)
          .waitFor({ state: 'attached', timeout: 60_000 });
        // the original's analysis, decoded from the .tzip in the background
        await wv.locator('#tz-analysis-progress[data-state="done"]').waitFor({ state: 'attached', timeout: 120_000 });

        // the biggest 2-D tensor among the rows on screen
        const shown = await wv
          .locator('#tz-table-body .tz-row:not([hidden])')
          .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.name ?? ''));
        const pick = tensors
          .filter((x) => shown.includes(x.name) && x.shape.length === 2 && x.dtype === 'BF16')
          .sort((a, b) => b.bytes - a.bytes)[0];
        assert.ok(pick, `no 2-D BF16 tensor among the rows shown: ${shown.join(', ')}`);
        await wv.locator(`#tz-table-body .tz-row[data-name="${pick.name}"]`).click();

        // exponent histogram of the tensor (the .tzip now has the original's statistics)
        await waitFor(
          'exponent histogram bars',
          async () => Number(await wv.locator('#tz-histogram').getAttribute('data-bins')) > 0,
          30_000,
        );

        const section = wv.locator('#tz-inspector-section');
        await wv.locator('#tz-inspector-section[data-state="ready"]').waitFor({ timeout: 60_000 });
        const [rows, cols] = pick.shape as [number, number];
        const cells = await wv.locator('#tz-heatmap').getAttribute('data-cells');
        const [gr, gc] = cells!.split('x').map(Number) as [number, number];
        const size = await wv
          .locator('#tz-heatmap')
          .evaluate((c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
        assert.ok(
          gr >= 1 && gr <= Math.min(rows, size[1]!) && gc >= 1 && gc <= Math.min(cols, size[0]!),
          `cells ${cells} for a ${rows} x ${cols} tensor on a ${size.join(' x ')} canvas`,
        );
        // the canvas is painted (not one flat colour)
        const colours = await wv.locator('#tz-heatmap').evaluate((c) => {
          const ctx = (c as HTMLCanvasElement).getContext('2d')!;
          const d = ctx.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data;
          const seen = new Set<number>();
          for (let i = 0; i < d.length; i += 4 * 97) seen.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
          return seen.size;
        });
        assert.ok(colours > 4, `heatmap has ${colours} colours`);
        assert.ok((await wv.locator('#tz-value-hist rect.tz-hist-bar').count()) > 10, 'value histogram bars');
        assert.equal(
          await wv.locator('#tz-value-hist').getAttribute('data-exact'),
          'true',
          'BF16: exact per-value histogram',
        );
        assert.equal(
          await wv.locator('#tz-inspector-stats dd[data-stat="values"]').innerText(),
          (rows * cols).toLocaleString('en-US'),
        );

        // first values equal the original's bytes
        const want = firstBf16(model, pick, 4);
        const got = await wv
          .locator('#tz-first-values tr')
          .nth(1)
          .locator('td')
          .evaluateAll((tds) => tds.slice(0, 4).map((td) => td.textContent ?? ''));
        got.forEach((g, i) =>
          assert.ok(
            Math.abs(Number(g) - want[i]!) <= 1e-5 * Math.max(1, Math.abs(want[i]!)),
            `first value ${i}: shown ${g}, file has ${want[i]}`,
          ),
        );

        // hover names the index range
        const page = s.page;
        await wv.locator('#tz-heatmap').evaluate((el) => el.scrollIntoView({ block: 'center' }));
        const box = (await wv.locator('#tz-heatmap').boundingBox())!;
        let hoverText = '';
        await waitFor(
          'hover text',
          async () => {
            await page.mouse.move(box.x + 3 + Math.random() * 2, box.y + 3, { steps: 2 });
            hoverText = await wv.locator('#tz-inspector-hover').innerText();
            // near the top-left corner: one of the first rows, the first columns, and its pooled value
            return /^rows [0-5](–[0-9]+)? × cols 0(–[0-9]+)?: mean -?[0-9]/.test(hoverText);
          },
          10_000,
        ).catch((e: Error) => {
          throw new Error(`${e.message} (shown: "${hoverText}", canvas at ${JSON.stringify(box)})`);
        });
        // heatmap and value histogram on screen together (an element screenshot inside the webview's iframes comes out
        // blank)
        await section.evaluate((el) => el.scrollIntoView({ block: 'start' }));
        const sb = (await wv.locator('#tz-heatmap').boundingBox())!;
        await page.mouse.move(sb.x + sb.width * 0.3, sb.y + sb.height * 0.6);
        const shot = await s.screenshot('inspector-heatmap-histogram');

        // drag a box over the top-left quarter: a finer window is asked for and drawn
        // the screenshots above may have scrolled the page: measure the canvas again
        await wv.locator('#tz-heatmap').evaluate((el) => el.scrollIntoView({ block: 'center' }));
        const zb = (await wv.locator('#tz-heatmap').boundingBox())!;
        await page.mouse.move(zb.x + 2, zb.y + 2);
        await page.mouse.down();
        await page.mouse.move(zb.x + zb.width / 2, zb.y + zb.height / 2, { steps: 4 });
        await page.mouse.up();
        await waitFor(
          'zoomed window',
          async () =>
            (await wv.locator('#tz-inspector-section[data-state="ready"]').count()) === 1 &&
            /^rows [0-5]–\d+ of/.test(await wv.locator('#tz-inspector-stats dd[data-stat="window"]').innerText()) &&
            !(await wv.locator('#tz-inspector-reset').isHidden()),
          60_000,
        );
        const win = await wv.locator('#tz-inspector-stats dd[data-stat="window"]').innerText();
        // the box began a pixel or two inside the top-left corner (the canvas border) and ended at its middle
        const m = /^rows ([0-5])–(\d+) of [\d,]+, cols ([0-2])–(\d+) of/.exec(win);
        assert.ok(m && Number(m[2]) < rows * 0.75 && Number(m[4]) < cols * 0.75, `zoomed window: ${win}`);
        await s.screenshot('inspector-zoomed');
        if (process.env.TENSORZIP_README_SHOT) copyFileSync(shot, process.env.TENSORZIP_README_SHOT);
      },
    );
  },
);
