/**
 * Extension-host checks run by `npm run test:vscode` inside a desktop VS Code (@vscode/test-electron):
 * the same user-visible outcomes as the code-server scenarios, through the VS Code API instead of
 * the UI. (Cancel and the lossy picker need a user's clicks; only the code-server suite covers them.)
 */
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { copyInto, smallModel, VAD_ONNX, writeCorruptSafetensors } from '../fixtures';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

const checks: [string, () => Promise<void>][] = [];
const check = (name: string, fn: () => Promise<void>) => checks.push([name, fn]);

const ws = () => process.env.TENSORZIP_WORKSPACE ?? vscode.workspace.workspaceFolders![0]!.uri.fsPath;

check('every contributed command is registered once the extension is active', async () => {
  const pkg = JSON.parse(readFileSync(join(process.env.TENSORZIP_REPO!, 'package.json'), 'utf8')) as {
    contributes: { commands: { command: string }[] };
  };
  const model = smallModel(join(ws(), 'open'));
  await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(model));
  const all = new Set(await vscode.commands.getCommands(true));
  const missing = pkg.contributes.commands.map((c) => c.command).filter((c) => !all.has(c));
  assert.deepEqual(missing, []);
});

check('a safetensors file opens in the TensorZip custom editor', async () => {
  const model = join(ws(), 'open', 'stories260k.bf16.safetensors');
  await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(model));
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  assert.ok(input instanceof vscode.TabInputCustom, 'not a custom editor');
  assert.equal(input.viewType, 'tensorzip.modelViewer');
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
});

check('Compress writes a smaller .tzip and Decompress restores the original SHA-256', async () => {
  const model = smallModel(join(ws(), 'rt'));
  const before = sha(model);
  await vscode.commands.executeCommand('tensorzip.compress', vscode.Uri.file(model));
  const tzip = `${model}.tzip`;
  assert.ok(existsSync(tzip), '.tzip not written');
  assert.ok(statSync(tzip).size < statSync(model).size);
  await vscode.commands.executeCommand('tensorzip.verify', vscode.Uri.file(tzip));
  rmSync(model);
  await vscode.commands.executeCommand('tensorzip.decompress', vscode.Uri.file(tzip));
  assert.equal(sha(model), before);
});

check('Compress Models in Folder compresses the good files and skips the corrupt one', async () => {
  const dir = join(ws(), 'batch');
  const good = [smallModel(dir), copyInto(dir, VAD_ONNX)];
  writeCorruptSafetensors(join(dir, 'corrupt.safetensors'));
  await vscode.commands.executeCommand('tensorzip.compressFolder', vscode.Uri.file(dir));
  for (const f of good) assert.ok(existsSync(`${f}.tzip`), `${f}.tzip missing`);
  assert.ok(!existsSync(join(dir, 'corrupt.safetensors.tzip')));
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes('.tmp-')),
    [],
  );
});

/** Entry point called by the extension host (extensionTestsPath). */
export async function run(): Promise<void> {
  const failures: string[] = [];
  for (const [name, fn] of checks) {
    const t = Date.now();
    try {
      await fn();
      console.log(`ok - ${name} (${Date.now() - t} ms)`);
    } catch (e) {
      failures.push(name);
      console.error(`not ok - ${name}: ${e instanceof Error ? e.stack : String(e)}`);
    }
  }
  if (failures.length) throw new Error(`${failures.length} of ${checks.length} checks failed: ${failures.join('; ')}`);
}
