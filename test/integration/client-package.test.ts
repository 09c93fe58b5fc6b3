/**
 * Packages the extension as `npm run package` does (vsce, --no-dependencies) from the dist/ that
 * `npm test` just built, and checks the .vsix holds only what runs and stays under 10 MB.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { unzipSync } from 'fflate';

const BUILT = existsSync('dist/extension.js') && existsSync('dist/server.js') && existsSync('dist/webview/main.js');

test(
  'vsce packages only dist/, the icon, README, CHANGELOG and LICENSE, under 10 MB',
  { skip: !BUILT && 'dist/ not built (run npm run build)', timeout: 180_000 },
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tz-vsix-'));
    try {
      const out = path.join(dir, 'tensorzip.vsix');
      execFileSync(
        process.execPath,
        [
          'node_modules/@vscode/vsce/vsce',
          'package',
          '--no-dependencies',
          '--allow-missing-repository',
          '--no-rewrite-relative-links',
          '-o',
          out,
        ],
        { stdio: 'pipe' },
      );
      const size = statSync(out).size;
      assert.ok(size < 10 * 1024 * 1024, `vsix is ${size} bytes`);
      const names: string[] = [];
      const files = unzipSync(readFileSync(out), {
        filter: (f) => (names.push(f.name), f.name === 'extension/package.json'),
      });
      const ext = names.filter((n) => n.startsWith('extension/')).map((n) => n.slice('extension/'.length));
      for (const must of [
        'package.json',
        'dist/extension.js',
        'dist/server.js',
        'dist/webview/main.js',
        'dist/webview/main.css',
        'assets/icon.png',
      ])
        assert.ok(ext.includes(must), `${must} is packaged`);
      assert.ok(
        ext.some((n) => /^readme\.md$/i.test(n)) &&
          ext.some((n) => /^changelog\.md$/i.test(n)) &&
          ext.some((n) => /^license/i.test(n)),
      );
      const allowed =
        /^(package\.json|readme\.md|changelog\.md|license(\.txt)?|assets\/icon\.png|dist\/[^/]+\.(js|wasm)|dist\/webview\/[^/]+\.(js|css|ttf))$/i;
      const stray = ext.filter((n) => !allowed.test(n));
      assert.deepEqual(stray, [], 'nothing but what runs (no sources, maps, tests, node_modules)');
      // the manifest inside is the one that contributes the editors, menus and commands
      const manifest = JSON.parse(new TextDecoder().decode(files['extension/package.json']!));
      assert.deepEqual(
        manifest.contributes.customEditors.map((e: { viewType: string }) => e.viewType),
        ['tensorzip.modelViewer', 'tensorzip.modelViewerOption'],
      );
      assert.ok(manifest.contributes.menus['explorer/context'].length >= 5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
