// Jazzer.js's native part (libFuzzer plus its Node-API glue). The npm package ships prebuilt
// binaries; the Linux one needs glibc 2.38, newer than Debian 12's. Then the glue, vendored in
// jazzer-native/ from the same release (Apache-2.0), is built here once with g++ against Debian's
// upstream libFuzzer (apt-get install g++ libclang-rt-16-dev), and the Jazzer.js process is told to
// load it instead (jazzer-native/redirect.cjs). jazzer-native/README.md says what differs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const SRC = path.join(__dirname, 'jazzer-native');
const PREBUILT = path.join(
  ROOT,
  'node_modules/@jazzer.js/fuzzer/prebuilds',
  `fuzzer-${process.platform}-${process.arch}.node`,
);
export const REDIRECT = path.join(SRC, 'redirect.cjs');

function loads(file: string): string | undefined {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8' });
  return r.status === 0 ? undefined : (r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr.trim());
}

function libFuzzer(): string | undefined {
  const base = '/usr/lib';
  const found: string[] = [];
  for (const llvm of existsSync(base) ? readdirSync(base).filter((n) => /^llvm-\d+$/.test(n)) : []) {
    const clang = path.join(base, llvm, 'lib/clang');
    for (const v of existsSync(clang) ? readdirSync(clang) : []) {
      const a = path.join(clang, v, 'lib/linux/libclang_rt.fuzzer_no_main-x86_64.a');
      if (existsSync(a)) found.push(a);
    }
  }
  return found.sort().pop();
}

/** Path of an addon to load instead of the prebuilt one, or undefined when the prebuilt one works. */
export function nativeAddon(): string | undefined {
  const why = loads(PREBUILT);
  if (!why) return undefined;
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new Error(`Jazzer.js's native addon does not load (${why})`);
  const out = path.join(__dirname, '.build', 'fuzzer-linux-x64.node');
  const sources = [
    ...readdirSync(SRC),
    ...readdirSync(path.join(SRC, 'shared')).map((n) => `shared/${n}`),
    ...readdirSync(path.join(SRC, 'compat')).map((n) => `compat/${n}`),
  ]
    .filter((n) => n.endsWith('.cpp'))
    .map((n) => path.join(SRC, n));
  const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
  if (existsSync(out) && statSync(out).mtimeMs >= newest && !loads(out)) return out;
  const lib = libFuzzer();
  if (!lib)
    throw new Error(
      `Jazzer.js's prebuilt addon does not load (${why}) and no libFuzzer to build it with: apt-get ` +
        `install -y g++ libclang-rt-16-dev`,
    );
  const nodeInc = path.join(path.dirname(path.dirname(process.execPath)), 'include/node');
  const napi = [
    path.join(ROOT, 'node_modules/@jazzer.js/fuzzer/node_modules/node-addon-api'),
    path.join(ROOT, 'node_modules/node-addon-api'),
  ].find((d) => existsSync(path.join(d, 'napi.h')));
  if (!existsSync(path.join(nodeInc, 'node_api.h')) || !napi)
    throw new Error(`cannot build Jazzer.js's addon: no Node-API headers (${nodeInc}, node-addon-api)`);
  mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const args = [
    '-shared',
    '-fPIC',
    '-O2',
    '-std=c++17',
    '-DNAPI_VERSION=4',
    '-DNAPI_CPP_EXCEPTIONS',
    '-I',
    path.join(SRC, 'compat'),
    '-I',
    SRC,
    '-I',
    nodeInc,
    '-I',
    napi,
    ...sources,
    '-Wl,--whole-archive',
    lib,
    '-Wl,--no-whole-archive',
    '-o',
    tmp,
  ];
  const r = spawnSync('g++', args, { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(
      `building Jazzer.js's addon failed: ` +
        `${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' ')}`,
    );
  renameSync(tmp, out);
  const still = loads(out);
  if (still) throw new Error(`the Jazzer.js addon built from source does not load: ${still}`);
  return out;
}
