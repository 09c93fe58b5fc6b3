// npm run lint as part of the suite: ESLint, Prettier's check and the 120-character line width
// (eslint.config.mjs, .prettierrc.json, scripts/check-line-width.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const bin = (name: string): string => path.join(ROOT, 'node_modules', '.bin', name);
const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });

test('ESLint finds nothing', { timeout: 600_000 }, () => {
  const r = run(bin('eslint'), ['.']);
  assert.equal(r.status, 0, `eslint:\n${r.stdout}${r.stderr}`);
});

test('Prettier: every TypeScript/JavaScript source is formatted', { timeout: 600_000 }, () => {
  const r = run(bin('prettier'), ['--check', '**/*.{ts,mts,mjs,js}']);
  assert.equal(r.status, 0, `prettier --check (run npm run format):\n${r.stdout}${r.stderr}`);
});

test('no source line over 120 characters', () => {
  const r = run(process.execPath, ['scripts/check-line-width.mjs']);
  assert.equal(r.status, 0, r.stderr);
});
