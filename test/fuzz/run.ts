// Coverage-guided fuzzing of one target with Jazzer.js (libFuzzer):
//   npm run fuzz -- <target> [--seconds N]      (npm run fuzz -- --list names the targets)
// Bundles test/fuzz/targets.ts (Jazzer instruments the bundle as it loads), then fuzzes the target
// with these corpora: test/fuzz/.corpus/<target> (grows, gitignored), the committed seeds and
// regression inputs, and real files read in place (the shared corpus, ONNX files shipped by npm
// packages, the committed PyTorch/NumPy fixtures). Limits per input: 1 MiB, 2 s, RSS 1 GiB (and
// no single allocation over 256 MiB, checked in harness.ts). Crashing inputs land in
// test/fuzz/.crashes/<target>/. Prints one summary line: executions, coverage, corpus, result.
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { TARGETS, entryName } from './targets';
import { nativeAddon, REDIRECT } from './native';

const ROOT = path.resolve(__dirname, '../..');
const HERE = path.join(ROOT, 'test/fuzz');
export const MAX_LEN = 1 << 20;
export const TIMEOUT_MS = 2000;
export const RSS_LIMIT_MB = 1024;

export interface FuzzResult {
  target: string;
  seconds: number;
  executions: number;
  cov: number;
  ft: number;
  corpus: number;
  exitCode: number;
  crashes: string[];
}

async function bundle(target: string): Promise<string> {
  const dir = path.join(HERE, '.build');
  mkdirSync(dir, { recursive: true });
  const out = path.join(dir, `${target}.cjs`);
  const tmp = `${out}.tmp-${process.pid}`;
  await esbuild.build({
    stdin: {
      contents:
        `import { TARGETS } from './targets';\nexport const ${entryName(target)} = TARGETS[` +
        `${JSON.stringify(target)}]!.fn;\n`,
      resolveDir: HERE,
      sourcefile: 'entries.ts',
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile: tmp,
    logLevel: 'warning',
    sourcemap: 'inline',
    // as esbuild.mjs does: engine/core/version.ts reads package.json beside the sources only when not bundled
    define: {
      TENSORZIP_VERSION: JSON.stringify(
        JSON.parse(readFileSync(path.join(HERE, '../../package.json'), 'utf8')).version,
      ),
    },
  });
  renameSync(tmp, out);
  return out;
}

/** Real seed files for `target`, linked (not copied) into a scratch folder libFuzzer reads. */
function realSeeds(target: string): string | undefined {
  const t = TARGETS[target]!;
  const files: string[] = [];
  for (const r of t.real) {
    const p = path.resolve(ROOT, r);
    if (!existsSync(p)) continue;
    if (statSync(p).isFile()) files.push(p);
    else for (const n of readdirSync(p)) if (t.suffixes.some((s) => n.endsWith(s))) files.push(path.join(p, n));
  }
  if (files.length === 0) return undefined;
  const dir = path.join(HERE, '.build', `real-${target}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  files.forEach((f, i) => symlinkSync(f, path.join(dir, `${i}-${path.basename(f)}`)));
  return dir;
}

export async function fuzz(
  target: string,
  seconds: number,
  log: (s: string) => void = (s) => process.stderr.write(s),
): Promise<FuzzResult> {
  if (!TARGETS[target])
    throw new Error(`unknown fuzz target "${target}" (targets: ${Object.keys(TARGETS).join(', ')})`);
  const bundled = await bundle(target);
  const work = path.join(HERE, '.corpus', target);
  const crashes = path.join(HERE, '.crashes', target);
  mkdirSync(work, { recursive: true });
  mkdirSync(crashes, { recursive: true });
  const real = realSeeds(target);
  const dirs = [work, path.join(HERE, 'seeds', target), path.join(HERE, 'regressions', target), real].filter(
    (d): d is string => !!d && existsSync(d),
  );
  const before = new Set(readdirSync(crashes));
  const jazzer = path.join(ROOT, 'node_modules/@jazzer.js/core/dist/cli.js');
  const addon = nativeAddon();
  const args = [
    ...(addon ? ['-r', REDIRECT] : []),
    jazzer,
    bundled,
    ...dirs,
    '-f',
    entryName(target),
    `--timeout=${TIMEOUT_MS}`,
    ...(TARGETS[target]!.sync ? ['--sync'] : []),
    '--',
    `-max_total_time=${seconds}`,
    `-max_len=${MAX_LEN}`,
    `-rss_limit_mb=${RSS_LIMIT_MB}`,
    `-artifact_prefix=${crashes}/`,
    '-print_final_stats=1',
    '-print_pcs=0',
  ];
  const started = Date.now();
  const r: FuzzResult = { target, seconds: 0, executions: 0, cov: 0, ft: 0, corpus: 0, exitCode: 1, crashes: [] };
  await new Promise<void>((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(addon ? { TZ_JAZZER_ADDON: addon } : {}) },
    });
    let tail = '';
    const onData = (d: Buffer) => {
      log(d.toString());
      const lines = (tail + d.toString()).split('\n');
      tail = lines.pop()!;
      for (const l of lines) {
        const m = /^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/.exec(l);
        if (m) {
          r.executions = Math.max(r.executions, Number(m[1]));
          r.cov = Number(m[2]);
          r.ft = Number(m[3]);
          r.corpus = Number(m[4]);
        }
        const s = /^stat::number_of_executed_units: (\d+)/.exec(l);
        if (s) r.executions = Number(s[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      r.exitCode = code ?? 1;
      resolve();
    });
  });
  if (real) rmSync(real, { recursive: true, force: true });
  r.seconds = Math.round((Date.now() - started) / 1000);
  r.crashes = readdirSync(crashes)
    .filter((n) => !before.has(n))
    .map((n) => path.join(crashes, n));
  const results = path.join(HERE, '.results');
  mkdirSync(results, { recursive: true });
  writeFileSync(path.join(results, `${target}-${started}.json`), JSON.stringify(r, null, 1));
  return r;
}

export function summary(r: FuzzResult): string {
  return (
    `fuzz ${r.target}: ${r.executions} executions in ${r.seconds} s, cov ${r.cov} ft ${r.ft}, corpus ` +
    `${r.corpus}, ` +
    (r.exitCode === 0
      ? 'no finding'
      : `FINDING (exit ${r.exitCode})${r.crashes.length ? `: ${r.crashes.join(', ')}` : ''}`)
  );
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  if (argv.includes('--list') || argv.length === 0) {
    console.log(Object.keys(TARGETS).join('\n'));
    process.exit(argv.length === 0 ? 2 : 0);
  }
  const i = argv.indexOf('--seconds');
  const seconds = i >= 0 ? Number(argv[i + 1]) : 60;
  const target = argv.find((a, k) => !a.startsWith('--') && (i < 0 || k !== i + 1))!;
  if (!Number.isFinite(seconds) || seconds <= 0) {
    console.error('--seconds needs a positive number');
    process.exit(2);
  }
  fuzz(target, seconds).then(
    (r) => {
      console.log(summary(r));
      process.exit(r.exitCode === 0 ? 0 : 1);
    },
    (e) => {
      console.error((e as Error).message);
      process.exit(2);
    },
  );
}
