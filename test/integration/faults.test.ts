/**
 * Fault injection on the real CLI process and server (issue 12, item 4): SIGKILL half-way through a
 * compress; the input appended to half-way through a compress (refused as CHANGED: the engine's guards
 * themselves are tested one by one in test/unit/input-change.test.ts). Nothing is lost: the input
 * stays as it was (or as its writer left it) and no partial output ever appears under the final name.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  isRunningWithBytes,
  realBf16Sample,
  rejection,
  startServer,
  until,
  writeSyntheticSafetensors,
} from './server-harness';
import { CompressRequest, DecompressRequest, JOB_FAILED_ERROR } from '../../protocol/server';
import { tempDir } from '../helpers/safetensors';
import { tempPathFor } from '../../engine/container/output';

const CLI = path.resolve('dist/cli.js');
const NO_BUILD = !existsSync(CLI) && 'no dist/cli.js (run npm run build)';
const tmp = tempDir('tz-faults-');
after(() => tmp.cleanup());
/** A safetensors file of `mib` MiB of real BF16 weights, each MiB a different rotation of them (so no chunk
 * deduplicates). */
function bigModel(file: string, mib: number): string {
  const sample = realBf16Sample();
  const chunk = 1 << 20;
  const header = JSON.stringify({
    w: { dtype: 'BF16', shape: [(mib * chunk) / 2], data_offsets: [0, mib * chunk] },
  }).padEnd(120, ' ');
  const fd = openSync(file, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeSync(fd, len);
    writeSync(fd, header);
    const buf = Buffer.alloc(chunk);
    for (let k = 0; k < mib; k++) {
      const rot = (k * 7919 * 2) % sample.length;
      for (let o = 0; o < chunk; o++) buf[o] = sample[(rot + o) % sample.length]!;
      writeSync(fd, buf);
    }
  } finally {
    closeSync(fd);
  }
  return file;
}
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const temps = (dir: string) => readdirSync(dir).filter((n) => n.includes('.tmp-'));

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('faults: CLI process', { skip: NO_BUILD }, () => {
  test(
    'SIGKILL half-way through compress: no output, the next run is not fooled by the temp file and ' +
      'removes it; clean names it',
    async () => {
      const dir = path.join(tmp.dir, 'kill');
      mkdirSync(dir);
      const input = bigModel(path.join(dir, 'big.safetensors'), 96);
      const before = sha(input);
      const out = `${input}.tzip`;
      const child = spawn(process.execPath, [CLI, 'compress', input, '--threads', '1'], { stdio: 'ignore' });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_c, s) => resolve(s)));
      // half-way: the temp output holds at least a quarter of the expected ~68% (i.e. > 16 MB of payloads)
      let partial = 0;
      for (let i = 0; i < 6000 && child.exitCode === null; i++) {
        const t = temps(dir)[0];
        partial = t ? (statSync(path.join(dir, t), { throwIfNoEntry: false })?.size ?? 0) : 0;
        if (partial > 16 << 20) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL', 'the compress was still running when killed');
      assert.ok(partial > 16 << 20, `killed with ${partial} bytes written`);
      assert.ok(!existsSync(out), 'no partial output under the final name');
      const left = temps(dir);
      assert.equal(left.length, 1, `one temp file left: ${left}`);
      assert.equal(sha(input), before, 'input unchanged');

      const dry = cli(['clean', '--dry-run', dir]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(
        dry.stdout,
        new RegExp(`would remove .*${left[0]!.replace(/[.]/g, '\\.')}.*its process \\d+ is gone`),
      );
      assert.deepEqual(temps(dir), left, '--dry-run deletes nothing');

      // The next run writes its own temp file (never the leftover), finishes, and removes the leftover.
      const again = cli(['compress', input, '--threads', '1']);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(temps(dir), [], 'the stale temp file was removed');
      const v = cli(['verify', out, '--against', input]);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(sha(input), before, 'input unchanged');
    },
  );

  test("clean: removes stale temps, keeps a running job's, exit 1 naming a missing folder", async () => {
    const dir = path.join(tmp.dir, 'clean');
    mkdirSync(dir);
    const input = path.join(dir, 'vad.onnx');
    writeSyntheticSafetensors(input, 1 << 20, 2);
    // a killed decompress's temp, from a process that really ran and died
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const pid = child.pid!;
    const stale = tempPathFor(path.join(dir, 'restored.safetensors'), pid);
    writeFileSync(stale, 'partial');
    const running = cli(['clean', dir]);
    assert.equal(running.code, 0, running.stderr);
    assert.match(running.stdout, new RegExp(`kept .*process ${pid} is running`));
    assert.ok(existsSync(stale));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const r = cli(['clean', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^removed .*restored\.safetensors\.tmp-.* its process \d+ is gone\)$/m);
    assert.deepEqual(temps(dir), []);
    assert.ok(existsSync(input), 'other files untouched');
    const missing = cli(['clean', path.join(dir, 'nope')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr.trim(), /^tensorzip: .*nope: no such file or directory$/);
  });
});

/** Resolves once `dir` holds a temp file of at least `bytes` (the compress is under way), or the child exited. */
async function tempReaches(dir: string, bytes: number, child: { exitCode: number | null }): Promise<number> {
  let size = 0;
  for (let i = 0; i < 20_000 && child.exitCode === null; i++) {
    const t = temps(dir)[0];
    size = t ? (statSync(path.join(dir, t), { throwIfNoEntry: false })?.size ?? 0) : 0;
    if (size >= bytes) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  return size;
}

describe('faults: the input changes during compress', { skip: NO_BUILD }, () => {
  test('CLI: appended to half-way: exit 1 with one line naming it, no output, no temp', async () => {
    const dir = path.join(tmp.dir, 'grow-cli');
    mkdirSync(dir);
    const input = bigModel(path.join(dir, 'growing.safetensors'), 48);
    const child = spawn(process.execPath, [CLI, 'compress', input, '--threads', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const written = await tempReaches(dir, 4 << 20, child);
    assert.ok(written >= 4 << 20, `the compress was under way (${written} bytes written, exit ${child.exitCode})`);
    appendFileSync(input, Buffer.alloc(1 << 16, 1)); // a download still writing its file
    const expected = sha(input);
    assert.equal(await exited, 1, stderr);
    assert.equal(stderr, `tensorzip: ${input}: changed while being compressed; nothing written\n`);
    assert.ok(!existsSync(`${input}.tzip`), 'no output');
    assert.deepEqual(temps(dir), [], 'no temp file left');
    assert.equal(sha(input), expected, 'the input is as its writer left it');
  });

  test('server: appended to half-way: the job fails with the typed CHANGED error, no output, no temp', async () => {
    const dir = path.join(tmp.dir, 'grow-server');
    mkdirSync(dir);
    const input = bigModel(path.join(dir, 'growing.safetensors'), 48);
    const h = await startServer();
    try {
      const progress = h.watchProgress('wd-grow');
      const pending = rejection(h.conn.sendRequest(CompressRequest, { path: input, workDoneToken: 'wd-grow' }));
      await until(progress, isRunningWithBytes, 'compress progress');
      appendFileSync(input, Buffer.alloc(1 << 16, 1));
      const expected = sha(input);
      const e = await pending;
      assert.equal(e.code, JOB_FAILED_ERROR);
      assert.deepEqual(e.data, { code: 'CHANGED', file: input });
      assert.equal(e.message, `${input}: changed while being compressed; nothing written`);
      assert.ok(!existsSync(`${input}.tzip`), 'no output');
      assert.deepEqual(temps(dir), [], 'no temp file left');
      assert.equal(sha(input), expected, 'the input is as its writer left it');
    } finally {
      await h.stop();
    }
  });
});

/**
 * A job worker killed half-way through a compress. Jobs run in worker_threads (server/job-runner.ts),
 * and the OS cannot kill one thread: SIGKILL and its OOM killer take the whole process (the server,
 * which the client then restarts). The closest real equivalent inside the process is V8 ending the
 * thread at its heap limit (ERR_WORKER_OUT_OF_MEMORY): like a killed process, nothing of the thread
 * runs after it (no catch, finally or exit handler), its engine pool threads die with it and its temp
 * output stays open and partial. TZ_SERVER_TEST_OOM makes the job really run out of heap (a 64 MB cap
 * for that job, filled after 2 MiB are coded). The server must answer it INTERNAL in one line, remove
 * the temp file itself, and run the other jobs (one running beside it, one queued behind it) to a
 * verified end.
 */
describe('faults: a job worker killed by running out of memory', { skip: NO_BUILD }, () => {
  // the bound turns a job that never answers (the crash not seen) into a failure instead of a hang
  const bound = { timeout: 240_000 };
  test('the job answers INTERNAL, its temp output is removed, a running and a queued job finish', bound, async () => {
    const dir = path.join(tmp.dir, 'oom');
    mkdirSync(dir);
    const victim = bigModel(path.join(dir, 'oom-me.safetensors'), 16);
    const running = bigModel(path.join(dir, 'running.safetensors'), 8);
    const queued = bigModel(path.join(dir, 'queued.safetensors'), 8);
    const before = new Map([victim, running, queued].map((f) => [f, sha(f)]));
    const h = await startServer({ env: { TZ_SERVER_TEST_OOM: 'oom-me' }, settings: { maxConcurrentJobs: 2 } });
    try {
      const killed = rejection(h.conn.sendRequest(CompressRequest, { path: victim }));
      const others = [running, queued].map((p) => h.conn.sendRequest(CompressRequest, { path: p }));
      for (const p of others) p.catch(() => undefined); // awaited below; a failure above must not be unhandled
      const e = await killed;
      assert.equal(e.code, JOB_FAILED_ERROR);
      assert.deepEqual(e.data, { code: 'INTERNAL', file: victim });
      assert.equal(
        e.message,
        `${victim}: job worker crashed (Worker terminated due to reaching memory limit: JS heap out of memory)`,
      );
      assert.ok(
        h.logs.some((l) => l.includes(`removed temp file ${victim}.tzip.tmp-`)),
        `the server removed the dead worker's temp output: ${h.logs.join(' | ')}`,
      );
      for (const r of await Promise.all(others)) {
        const v = cli(['verify', r.output, '--against', r.output.replace(/\.tzip$/, '')]);
        assert.equal(v.code, 0, v.stderr);
      }
      assert.ok(!existsSync(`${victim}.tzip`), 'no output of the killed job');
      assert.deepEqual(temps(dir), [], 'no temp file left');
      for (const [f, s] of before) assert.equal(sha(f), s, `${f} unchanged`);
      assert.ok(h.proc.exitCode === null, 'server still running');
      // and it still serves: the same input compresses once the hook no longer matches it
      const again = path.join(dir, 'after.safetensors');
      writeFileSync(again, readFileSync(victim));
      const r = await h.conn.sendRequest(CompressRequest, { path: again });
      assert.equal(cli(['verify', r.output, '--against', again]).code, 0);
    } finally {
      await h.stop();
    }
  });
});

/**
 * Real kernel errors half-way through one file (the batch tests cover them per item): ENOSPC from a
 * tmpfs smaller than the output, EIO from scripts/eio-fs.py (a FUSE view of a folder whose reads fail
 * from a given byte on). Both need root (mount); FUSE also needs /dev/fuse and Debian's python3-fusepy.
 */
const PY = '/usr/bin/python3';
const EIO_FS = path.resolve('scripts/eio-fs.py');
function mountSkip(): string | false {
  if (NO_BUILD) return NO_BUILD;
  if (process.getuid?.() !== 0) return 'mounting a tmpfs or FUSE view needs root';
  return false;
}
function fuseSkip(): string | false {
  const base = mountSkip();
  if (base) return base;
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse on this machine (a kernel facility, not installable)';
  if (spawnSync(PY, ['-c', 'import fusepy']).status !== 0) {
    const why = `${PY} cannot import fusepy (apt-get install -y python3-fusepy)`;
    if (process.env.CI === 'true') throw new Error(why);
    return why;
  }
  return false;
}
/** A tmpfs of `size` at a new folder under the test's temp dir; unmounted by the returned function. */
function smallDisk(name: string, size: string): { dir: string; unmount: () => void } {
  const dir = path.join(tmp.dir, name);
  mkdirSync(dir);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  assert.equal(m.status, 0, `mount tmpfs: ${m.stderr}`);
  return { dir, unmount: () => void spawnSync('umount', [dir]) };
}
/** `src` seen through a FUSE view whose reads fail with EIO from byte `failAt` on. */
async function failingView(
  name: string,
  src: string,
  failAt: number,
): Promise<{ dir: string; unmount: () => Promise<void> }> {
  const dir = path.join(tmp.dir, name);
  mkdirSync(dir);
  const child = spawn(PY, [EIO_FS, src, dir, String(failAt)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise((r) => child.once('exit', r));
  const unmount = async () => {
    spawnSync('umount', [dir]);
    if (child.exitCode === null) child.kill();
    await exited;
  };
  const probe = readdirSync(src)[0]!;
  for (let i = 0; i < 200 && !existsSync(path.join(dir, probe)); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!existsSync(path.join(dir, probe))) {
    await unmount();
    assert.fail(`eio-fs.py did not mount ${dir}: ${stderr.trim()}`);
  }
  return { dir, unmount };
}
const oneLine = (s: string) => s.trim().split('\n').length === 1;

/** Fills `dir`'s file system to the last byte (another process taking the space mid-write). */
function fillDisk(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = openSync(filler, 'w');
  const block = Buffer.alloc(64 << 10, 7);
  try {
    for (;;) writeSync(fd, block);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    for (let n = 4096; n >= 1; n >>= 1) {
      try {
        for (;;) writeSync(fd, block.subarray(0, n));
      } catch {
        // next smaller size
      }
    }
  } finally {
    closeSync(fd);
  }
  return filler;
}
/** The files left in `dir` besides the filler. */
const leftIn = (dir: string) => readdirSync(dir).filter((n) => n !== 'filler');

describe('faults: disk full while writing one file (ENOSPC from a tmpfs)', { skip: mountSkip() }, () => {
  test('too little free space up front: refused in one line before anything is written', () => {
    const src = path.join(tmp.dir, 'nospace-pre-src');
    mkdirSync(src);
    const input = bigModel(path.join(src, 'model.safetensors'), 12);
    const disk = smallDisk('nospace-pre', '2m');
    try {
      const out = path.join(disk.dir, 'model.safetensors.tzip');
      const c = cli(['compress', input, '-o', out]);
      assert.equal(c.code, 1, c.stderr);
      assert.match(
        c.stderr,
        /^tensorzip: .*model\.safetensors\.tzip: not enough free disk space \(.* free, need about .*\)\n$/,
      );
      assert.deepEqual(readdirSync(disk.dir), []);
    } finally {
      disk.unmount();
    }
  });

  test('CLI compress and decompress, the disk filled mid-write: exit 1, one line, nothing left', async () => {
    const src = path.join(tmp.dir, 'nospace-src');
    mkdirSync(src);
    const input = bigModel(path.join(src, 'model.safetensors'), 48);
    assert.equal(cli(['compress', input, '--threads', '1']).code, 0);
    const before = [input, `${input}.tzip`].map(sha);
    const disk = smallDisk('nospace-cli', '64m');
    try {
      const run = async (args: string[]) => {
        const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
        const written = await tempReaches(disk.dir, 2 << 20, child);
        assert.ok(written >= 2 << 20, `the job was writing (${written} bytes, exit ${child.exitCode}): ${stderr}`);
        const filler = fillDisk(disk.dir);
        const code = await exited;
        assert.deepEqual(leftIn(disk.dir), [], 'no output, no temp file on the full disk');
        rmSync(filler);
        return { code, stderr };
      };
      const c = await run(['compress', input, '-o', path.join(disk.dir, 'model.safetensors.tzip'), '--threads', '2']);
      assert.equal(c.code, 1, c.stderr);
      assert.match(c.stderr, /^tensorzip: .*nospace-cli\/model\.safetensors\.tzip: no space left on device\n$/);
      const d = await run(['decompress', `${input}.tzip`, '-o', path.join(disk.dir, 'restored.safetensors')]);
      assert.equal(d.code, 1, d.stderr);
      assert.match(d.stderr, /^tensorzip: .*nospace-cli\/restored\.safetensors: no space left on device\n$/);
    } finally {
      disk.unmount();
    }
    assert.deepEqual([input, `${input}.tzip`].map(sha), before, 'inputs unchanged');
  });

  test('server, the disk filled mid-write: NO_SPACE naming the output, nothing left, the server goes on', async () => {
    const src = path.join(tmp.dir, 'nospace-server-src');
    mkdirSync(src);
    const input = bigModel(path.join(src, 'model.safetensors'), 48);
    assert.equal(cli(['compress', input, '--threads', '1']).code, 0);
    const before = [input, `${input}.tzip`].map(sha);
    const disk = smallDisk('nospace-server', '64m');
    const h = await startServer();
    try {
      const run = async <T>(request: Promise<T>) => {
        const state = { exitCode: null as number | null };
        const failed = rejection(request.finally(() => (state.exitCode = 0)));
        const written = await tempReaches(disk.dir, 2 << 20, state);
        assert.ok(written >= 2 << 20, `the job was writing (${written} bytes)`);
        const filler = fillDisk(disk.dir);
        const e = await failed;
        assert.deepEqual(leftIn(disk.dir), [], 'no output, no temp file on the full disk');
        rmSync(filler);
        return e;
      };
      const out = path.join(disk.dir, 'model.safetensors.tzip');
      const c = await run(h.conn.sendRequest(CompressRequest, { path: input, output: out }));
      assert.equal(c.code, JOB_FAILED_ERROR);
      assert.deepEqual(c.data, { code: 'NO_SPACE', file: out }, c.message);
      assert.equal(c.message, `${out}: no space left on device`);
      const restored = path.join(disk.dir, 'restored.safetensors');
      const d = await run(h.conn.sendRequest(DecompressRequest, { path: `${input}.tzip`, output: restored }));
      assert.deepEqual(d.data, { code: 'NO_SPACE', file: restored }, d.message);
      // and the server still works, on the freed disk
      const r = await h.conn.sendRequest(CompressRequest, { path: input, output: out });
      assert.equal(cli(['verify', r.output, '--against', input]).code, 0);
    } finally {
      await h.stop();
      disk.unmount();
    }
    assert.deepEqual([input, `${input}.tzip`].map(sha), before, 'inputs unchanged');
  });
});

describe('faults: a read error half-way through the input (EIO from a FUSE view)', { skip: fuseSkip() }, () => {
  test('CLI compress, decompress and verify: exit 1, one line naming the input, nothing written', async () => {
    const src = path.join(tmp.dir, 'eio-src');
    mkdirSync(src);
    const input = bigModel(path.join(src, 'model.safetensors'), 12);
    assert.equal(cli(['compress', input, '--threads', '1']).code, 0);
    const before = [input, `${input}.tzip`].map(sha);
    // reads fail from 6 MiB on: the header, the index's footer and the first chunks read fine
    const view = await failingView('eio-view', src, 6 << 20);
    const outDir = path.join(tmp.dir, 'eio-out');
    mkdirSync(outDir);
    try {
      const seen = path.join(view.dir, 'model.safetensors');
      const c = cli(['compress', seen, '-o', path.join(outDir, 'model.safetensors.tzip'), '--threads', '2']);
      assert.equal(c.code, 1, c.stderr);
      assert.ok(oneLine(c.stderr), c.stderr);
      assert.match(c.stderr, /^tensorzip: .*eio-view\/model\.safetensors: .*(i\/o error|input\/output error)/i);

      const d = cli(['decompress', `${seen}.tzip`, '-o', path.join(outDir, 'restored.safetensors'), '--threads', '2']);
      assert.equal(d.code, 1, d.stderr);
      assert.ok(oneLine(d.stderr), d.stderr);
      assert.match(d.stderr, /^tensorzip: .*eio-view\/model\.safetensors\.tzip: .*(i\/o error|input\/output error)/i);

      const v = cli(['verify', `${seen}.tzip`, '--threads', '2']);
      assert.equal(v.code, 1, v.stderr);
      assert.match(v.stderr, /(i\/o error|input\/output error)/i);
      assert.deepEqual(readdirSync(outDir), [], 'no output, no temp file');
    } finally {
      await view.unmount();
    }
    assert.deepEqual([input, `${input}.tzip`].map(sha), before, 'inputs unchanged');
  });

  test('server compress and decompress: the job fails IO naming the input, nothing written', async () => {
    const src = path.join(tmp.dir, 'eio-server-src');
    mkdirSync(src);
    const input = bigModel(path.join(src, 'model.safetensors'), 12);
    assert.equal(cli(['compress', input, '--threads', '1']).code, 0);
    const view = await failingView('eio-server-view', src, 6 << 20);
    const outDir = path.join(tmp.dir, 'eio-server-out');
    mkdirSync(outDir);
    const h = await startServer();
    try {
      const seen = path.join(view.dir, 'model.safetensors');
      const c = await rejection(
        h.conn.sendRequest(CompressRequest, { path: seen, output: path.join(outDir, 'model.safetensors.tzip') }),
      );
      assert.equal(c.code, JOB_FAILED_ERROR);
      assert.deepEqual(c.data, { code: 'IO', file: seen }, c.message);
      const d = await rejection(
        h.conn.sendRequest(DecompressRequest, {
          path: `${seen}.tzip`,
          output: path.join(outDir, 'restored.safetensors'),
        }),
      );
      assert.deepEqual(d.data, { code: 'IO', file: `${seen}.tzip` }, d.message);
      assert.deepEqual(readdirSync(outDir), [], 'no output, no temp file');
    } finally {
      await h.stop();
      await view.unmount();
    }
  });
});
