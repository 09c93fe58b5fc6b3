// No source line over 120 characters (Prettier's printWidth; it does not split strings or
// comments). The files are those Prettier formats: git's .ts/.mts/.mjs/.js files outside the
// generated code, the AssemblyScript kernels and test data (as .prettierignore). `npm run lint`.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const WIDTH = 120;
/** A line that is one regular expression literal (a regex cannot be split without rewriting it). */
const REGEX_LINE = /^\s*\/.+\/[dgimsuvy]*[,;)]*$/;
const SKIP =
  /(\.generated\.ts$)|^engine\/(codec|analysis)\/wasm\/|^test\/(fixtures|golden|fuzz\/(jazzer-native|seeds|regressions))\//;

export function longLines(cwd = process.cwd()) {
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd, encoding: 'utf8' })
    .split('\n')
    .filter((f) => /\.(ts|mts|mjs|js)$/.test(f) && !SKIP.test(f));
  const out = [];
  for (const f of files) {
    let text;
    try {
      text = readFileSync(`${cwd}/${f}`, 'utf8');
    } catch {
      continue; // deleted in the working tree
    }
    text.split('\n').forEach((l, i) => {
      if (l.length > WIDTH && !REGEX_LINE.test(l)) out.push(`${f}:${i + 1}: ${l.length} characters`);
    });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const long = longLines();
  for (const l of long) console.error(l);
  if (long.length) {
    console.error(`${long.length} lines over ${WIDTH} characters`);
    process.exit(1);
  }
}
