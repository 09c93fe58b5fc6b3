/**
 * Smoke: code-server starts with the packaged extension installed; every command the palette
 * always lists is there, and a model file's explorer context menu offers TensorZip's actions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandTitle, e2eSkip, menuTitle, paletteCommands, withSession } from './harness';
import { smallModel } from './fixtures';

const skip = e2eSkip();

test(
  'e2e smoke: the extension is installed, its commands are in the palette and the explorer menu',
  { skip, timeout: 15 * 60_000 },
  async (t) => {
    await withSession({ t, name: 'smoke', populate: (ws) => void smallModel(`${ws}/m`) }, async (s) => {
      const missing: string[] = [];
      for (const id of paletteCommands()) if (!(await s.hasCommand(commandTitle(id)))) missing.push(commandTitle(id));
      assert.deepEqual(missing, [], `commands missing from the palette: ${missing.join(', ')}`);

      const row = await s.explorerRow('m/stories260k.bf16.safetensors');
      await row.click({ button: 'right' });
      const labels = (await s.page.locator('.monaco-menu .action-item .action-label').allInnerTexts()).map((x) =>
        x.trim(),
      );
      await s.screenshot('explorer-menu');
      await s.page.keyboard.press('Escape');
      for (const id of ['tensorzip.analyze', 'tensorzip.compress'])
        assert.ok(labels.includes(menuTitle(id)), `"${menuTitle(id)}" not in the explorer menu: ${labels.join(' | ')}`);
    });
  },
);
