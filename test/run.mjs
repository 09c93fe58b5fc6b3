// Runs the whole suite with node's test runner: `node test/run.mjs [unit|integration|e2e ...]`.
// Unit and integration tests import TypeScript sources through tsx; integration tests also use
// the bundles in dist/ (npm test builds first). The e2e suite runs when the machine can run it.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const suites = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'e2e'];
function find(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (n === 'node_modules' || n.startsWith('.')) return [];
    return statSync(p).isDirectory() ? find(p) : /\.test\.(ts|mjs)$/.test(n) ? [p] : [];
  });
}
const files = suites.flatMap((s) => find(join('test', s))).sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const concurrency = process.env.TZ_TEST_CONCURRENCY ?? '2';
// End-to-end files run after the rest, one at a time: each drives a whole VS Code plus Chromium
// (2 cores), and packaging the extension rebuilds dist/, which integration tests use.
const isE2E = (f) => f.startsWith(join('test', 'e2e') + '/');
const phases = [[files.filter((f) => !isE2E(f)), concurrency], [files.filter(isE2E), '1']].filter(([fs]) => fs.length);
let status = 0;
for (const [fs, c] of phases) {
  if (fs.some(isE2E)) {
    const check = spawnSync(process.execPath, ['test/e2e/setup.mjs', '--check'], { encoding: 'utf8' });
    console.log(`\n${check.stdout.trim() || 'e2e: setup check failed'}`);
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${c}`, ...fs], { stdio: 'inherit' });
  status ||= r.status ?? 1;
}
process.exit(status);
