// Runs the whole suite with node's test runner: `node test/run.mjs [unit|integration|e2e ...]`.
// Unit and integration tests import TypeScript sources through tsx; integration tests also use
// the bundles in dist/ (npm test builds first). The e2e suite runs when the machine can run it.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const suites = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'fuzz', 'scale', 'e2e'];
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
// The Slurm test (test/scale) runs its own daemons and job array on both cores: alone, like e2e.
const alone = (f) => isE2E(f) || f.startsWith(join('test', 'scale') + '/');
const phases = [
  [files.filter((f) => !alone(f)), concurrency],
  [files.filter(alone), '1'],
].filter(([fs]) => fs.length);
/** Runs one phase, passing its output through and reading node's closing counts from it. */
function runPhase(fs, c) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${c}`, ...fs], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const counts = { pass: 0, fail: 0, skipped: 0, cancelled: 0 };
    let tail = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      const lines = (tail + d.toString()).split('\n');
      tail = lines.pop();
      for (const l of lines) {
        const m = /^# (pass|fail|skipped|cancelled) (\d+)$/.exec(l);
        if (m) counts[m[1]] = Number(m[2]);
      }
    });
    child.on('close', (code) => resolve({ code: code ?? 1, counts }));
  });
}

let status = 0;
const total = { pass: 0, fail: 0, skipped: 0, cancelled: 0 };
for (const [fs, c] of phases) {
  if (fs.some(isE2E)) {
    const check = spawnSync(process.execPath, ['test/e2e/setup.mjs', '--check'], { encoding: 'utf8' });
    console.log(`\n${check.stdout.trim() || 'e2e: setup check failed'}`);
  }
  const r = await runPhase(fs, c);
  for (const k of Object.keys(total)) total[k] += r.counts[k];
  status ||= r.code;
}
// One closing line over every phase (node's own summary is per phase).
const failed = total.fail + total.cancelled + (status && total.fail + total.cancelled === 0 ? 1 : 0);
console.log(`\n${total.pass} passed, ${failed} failed, ${total.skipped} skipped`);
process.exit(status);
