/** The manifest (package.json) and the client code agree: every command is contributed and registered, menus are
 * scoped. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const code = ['client/commands.ts', 'client/extension.ts', 'client/modelEditor.ts']
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');

test('custom editors: default for unambiguous model files, option for .bin/.pt/.pth', () => {
  const [main, option] = pkg.contributes.customEditors;
  assert.equal(main.priority, 'default');
  assert.deepEqual(
    main.selector.map((s: { filenamePattern: string }) => s.filenamePattern),
    ['*.safetensors', '*.tzip', '*.gguf', '*.onnx', '*.npy', '*.npz'],
  );
  assert.equal(option.priority, 'option');
  assert.deepEqual(
    option.selector.map((s: { filenamePattern: string }) => s.filenamePattern),
    ['*.bin', '*.pt', '*.pth'],
  );
  for (const e of pkg.contributes.customEditors)
    assert.ok(code.includes(`'${e.viewType}'`), `${e.viewType} registered`);
});

test('every contributed command is registered, every menu item is a contributed command', () => {
  const ids = pkg.contributes.commands.map((c: { command: string }) => c.command);
  for (const id of ids) assert.ok(code.includes(`reg('${id}'`), `${id} registered in client/commands.ts`);
  for (const t of [
    'Compress Models in Folder...',
    'Decompress All .tzip in Folder...',
    'Analyze Workspace Models',
    'Compress (lossy)...',
  ]) {
    assert.ok(
      pkg.contributes.commands.some((c: { title: string }) => c.title.replace(/^TensorZip: /, '') === t),
      t,
    );
  }
  for (const [menu, items] of Object.entries(pkg.contributes.menus) as [
    string,
    { command: string; when?: string }[],
  ][]) {
    for (const it of items) {
      assert.ok(ids.includes(it.command), `${menu}: ${it.command} contributed`);
      if (menu === 'explorer/context')
        assert.match(
          it.when ?? '',
          /resourceExtname|explorerResourceIsFolder|resourceFilename/,
          `${it.command} scoped`,
        );
    }
  }
  assert.ok(
    pkg.contributes.menus['editor/title'].some(
      (m: { command: string; when: string }) =>
        m.command === 'tensorzip.openModelView' && m.when.includes('safetensors\\.index\\.json'),
    ),
  );
});

test('settings have descriptions and bounds; trust and remote capabilities are declared', () => {
  const props = pkg.contributes.configuration.properties;
  for (const key of [
    'tensorzip.threads',
    'tensorzip.lossyBits',
    'tensorzip.output.location',
    'tensorzip.output.folder',
    'tensorzip.afterCompress',
    'tensorzip.maxConcurrentJobs',
  ]) {
    const p = props[key];
    assert.ok(p, key);
    assert.ok(p.markdownDescription || p.description, `${key} described`);
    if (p.type === 'integer')
      assert.ok(typeof p.minimum === 'number' && typeof p.maximum === 'number', `${key} bounded`);
  }
  assert.equal(props['tensorzip.afterCompress'].default, 'keep');
  assert.deepEqual(props['tensorzip.output.location'].enum, ['nextToInput', 'folder']);
  assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
  assert.ok(pkg.capabilities.untrustedWorkspaces.description.length > 20);
  assert.deepEqual(pkg.extensionKind, ['workspace']);
  assert.equal(pkg.icon, 'assets/icon.png');
  assert.equal(pkg.main, './dist/extension.js');
});
