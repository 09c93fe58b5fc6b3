// `npm run test:vscode`: the extension-host checks of the e2e suite in a desktop VS Code, through
// @vscode/test-electron. For contributors with desktop VS Code; CI here uses code-server instead
// (`npm run test:e2e`), because VS Code cannot be downloaded on these machines.
//
//   VSCODE_EXECUTABLE_PATH=/path/to/code npm run test:vscode   # an installed VS Code (downloads nothing)
//   npm run test:vscode                                         # downloads VS Code stable into test/e2e/.cache/vscode
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import { runTests, downloadAndUnzipVSCode } from '@vscode/test-electron';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..', '..');
const cache = join(here, '..', '.cache');

if (!existsSync(join(root, 'dist', 'extension.js'))) {
  const b = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
// The suite runs inside the extension host: bundle it (vscode is provided there).
const suite = join(cache, 'vscode-suite', 'index.js');
await esbuild.build({
  entryPoints: [join(here, 'suite.ts')],
  outfile: suite,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode'],
  logLevel: 'warning',
});

let vscodeExecutablePath = process.env.VSCODE_EXECUTABLE_PATH;
if (!vscodeExecutablePath) {
  try {
    vscodeExecutablePath = await downloadAndUnzipVSCode({
      cachePath: join(cache, 'vscode'),
      version: process.env.VSCODE_VERSION ?? 'stable',
    });
  } catch (e) {
    console.error(
      `test:vscode: could not download VS Code (${e.message}). Set VSCODE_EXECUTABLE_PATH to an installed ` +
        `VS Code, or use npm run test:e2e (code-server).`,
    );
    process.exit(1);
  }
}

const sandbox = mkdtempSync(join(tmpdir(), 'tz-vscode-'));
const workspace = join(sandbox, 'workspace');
mkdirSync(workspace);
let failed = false;
try {
  await runTests({
    vscodeExecutablePath,
    extensionDevelopmentPath: root,
    extensionTestsPath: suite,
    launchArgs: [
      workspace,
      '--disable-extensions',
      '--disable-workspace-trust',
      '--skip-welcome',
      '--skip-release-notes',
      '--user-data-dir',
      join(sandbox, 'user-data'),
    ],
    extensionTestsEnv: { TENSORZIP_REPO: root, TENSORZIP_WORKSPACE: workspace },
  });
} catch (e) {
  failed = true;
  console.error(`test:vscode failed: ${e.message ?? e}; sandbox kept at ${sandbox}`);
} finally {
  if (!failed) rmSync(sandbox, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
