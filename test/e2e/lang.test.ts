/**
 * The language server in a real VS Code: a broken `model.safetensors.index.json` (a shard missing
 * after a partial download, a tensor its shard does not hold) shows both problems in the Problems
 * panel, naming the shard and the tensor; the index carries its CodeLenses; a workspace symbol opens
 * its shard's model view with the tensor selected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSkip, waitFor, withSession } from './harness';
import { layerTensors, shardName, writeShardedModel } from '../helpers/shardedModel';

const skip = e2eSkip();

test(
  'e2e language server: a broken index shows its problems in the Problems panel',
  { skip, timeout: 15 * 60_000 },
  async (t) => {
    await withSession(
      {
        t,
        name: 'lang-problems',
        populate: (ws) => {
          writeShardedModel(
            `${ws}/models/broken`,
            [{ tensors: layerTensors(0) }, { tensors: layerTensors(1) }, { tensors: layerTensors(2) }],
            {
              skipShards: [1],
              edit: (ix) => void (ix.weight_map['model.layers.0.self_attn.ghost.weight'] = shardName(0, 3)),
            },
          );
        },
      },
      async (s) => {
        await s.openFile('models/broken/model.safetensors.index.json');
        await s.runCommand('View: Focus Problems (Errors, Warnings, Infos)');
        const rows = s.page.locator('.markers-panel .monaco-list-row');
        const texts = await waitFor(
          'both problems in the Problems panel',
          async () => {
            const all = await rows.allInnerTexts();
            return all.some((x) => /model-00002-of-00003\.safetensors" is missing/.test(x)) &&
              all.some((x) => /model\.layers\.0\.self_attn\.ghost\.weight" is mapped to .* does not contain it/.test(x))
              ? all
              : null;
          },
          90_000,
          500,
        );
        assert.ok(
          texts.some((x) => /model\.safetensors\.index\.json/.test(x)),
          `the file row: ${texts.join(' | ')}`,
        );
        assert.ok(texts.filter((x) => /tensorzip/.test(x)).length >= 2, 'problems come from the tensorzip source');
        await s.screenshot('problems-panel');
        // The index's CodeLenses, above its weight_map, in the editor itself.
        const lenses = await waitFor(
          'the CodeLenses on the index',
          async () => {
            const all = (await s.page.locator('.monaco-editor .codelens-decoration').allInnerTexts()).join(' | ');
            return /Open whole-model view/.test(all) && /Compress all shards \(2\)/.test(all) ? all : null;
          },
          60_000,
          500,
        );
        assert.doesNotMatch(lenses, /Verify all shards/, 'no .tzip exists, so no verify lens');
        await s.screenshot('codelens');

        // Go to Symbol in Workspace finds a tensor inside a shard and opens the model view with it selected.
        const wanted = 'model.layers.2.mlp.down_proj.weight';
        await s.page.keyboard.press('F1');
        const input = s.page.locator('.quick-input-widget .quick-input-box input').first();
        await input.waitFor({ state: 'visible', timeout: 10_000 });
        await input.fill(`#${wanted}`);
        const pick = s.page.locator('.quick-input-widget .monaco-list-row', { hasText: wanted }).first();
        await pick.waitFor({ state: 'visible', timeout: 30_000 });
        assert.match(await pick.innerText(), /model-00003-of-00003\.safetensors/, 'the symbol names its shard');
        await pick.click();
        const wv = s.webview();
        await wv
          .locator(`#tz-table-body .tz-row[aria-selected="true"][data-name="${wanted}"]`)
          .waitFor({ timeout: 60_000 });
        await s.screenshot('workspace-symbol-selected');
      },
    );
  },
);
