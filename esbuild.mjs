// One build script, one entry per runtime. Type-checking is `tsc --noEmit` (npm run build runs both).
import * as esbuild from 'esbuild';
import { existsSync, mkdirSync, copyFileSync, chmodSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/** Hot kernels written in AssemblyScript are compiled first (the compiler comes from npm). */
if (existsSync('scripts/build-wasm.mjs')) {
  execFileSync(process.execPath, ['scripts/build-wasm.mjs'], { stdio: 'inherit' });
}

// jsonc-parser's "main" is a UMD build whose factory requires are invisible to esbuild: bundle its ESM build.
const alias = { 'jsonc-parser': './node_modules/jsonc-parser/lib/esm/main.js' };
// the package version, compiled in once (engine/core/version.ts)
const define = { TENSORZIP_VERSION: JSON.stringify(JSON.parse(readFileSync('package.json', 'utf8')).version) };

const node = {
  alias,
  define,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  bundle: true,
  sourcemap: true,
  minify: production,
  logLevel: 'warning',
  loader: { '.wasm': 'binary' },
};

const entries = [
  // extension host (client): vscode is provided by the host
  { ...node, entryPoints: ['client/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] },
  // background server (language-server-style process)
  { ...node, entryPoints: ['server/main.ts'], outfile: 'dist/server.js', banner: { js: '#!/usr/bin/env node' } },
  // one worker_threads entry per server job (runs the engine call off the server's main thread)
  { ...node, entryPoints: ['server/job-worker.ts'], outfile: 'dist/job-worker.js' },
  // command line
  { ...node, entryPoints: ['cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  // worker_threads entry used by the engine's pool (coding and analysis of chunks)
  { ...node, entryPoints: ['engine/pool/worker.ts'], outfile: 'dist/worker.js' },
  // webview UI, bundled for the browser
  {
    alias,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    bundle: true,
    sourcemap: true,
    minify: production,
    logLevel: 'warning',
    entryPoints: ['webview/main.ts'],
    outfile: 'dist/webview/main.js',
    loader: { '.css': 'css', '.ttf': 'file' },
  },
].filter((e) => {
  // Entries are added as their runtime lands; a missing source is reported, not silently ignored.
  if (existsSync(e.entryPoints[0])) return true;
  console.warn(`esbuild: skipping ${e.outfile} (no ${e.entryPoints[0]} yet)`);
  return false;
});

mkdirSync('dist', { recursive: true });
if (watch) {
  for (const e of entries) (await esbuild.context(e)).watch();
} else {
  await Promise.all(entries.map((e) => esbuild.build(e)));
  for (const bin of ['dist/cli.js', 'dist/server.js']) if (existsSync(bin)) chmodSync(bin, 0o755);
  // codicons for the webview (local, no remote content)
  const codicons = 'node_modules/@vscode/codicons/dist/codicon.css';
  if (existsSync(codicons)) {
    mkdirSync('dist/webview', { recursive: true });
    copyFileSync(codicons, 'dist/webview/codicon.css');
    copyFileSync('node_modules/@vscode/codicons/dist/codicon.ttf', 'dist/webview/codicon.ttf');
  }
}
