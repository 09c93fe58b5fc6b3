/**
 * `tensorzip batch` without a scheduler: idempotence (a second run does no work, measured), shard
 * selection, exit codes 1 vs 75 on real kernel errors (EIO from /proc/self/mem, ENOSPC from a
 * tmpfs without free inodes), a kill -9 and a SIGTERM mid-item (stale temp removed on the rerun), merge.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { inShard, isRetryable, shardOf, type ReportLine } from '../../cli/batch';
import { TzError } from '../../engine/core/errors';
import {
  CORPUS,
  HAVE_CORPUS,
  gaussianF32,
  safetensorsBytes,
  tempDir,
  toBF16Bytes,
  writeFile,
} from '../helpers/safetensors';

const CLI = path.resolve('dist/cli.js');
const tmp = tempDir('tz-batch-');
after(() => tmp.cleanup());

function run(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { code: number; stdout: string; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, 'batch', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 << 20,
    env: { ...process.env, ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

function model(dir: string, name: string, n: number, seed: number, bf16 = false): string {
  const f = gaussianF32(n, 0.02, seed);
  const data = bf16 ? toBF16Bytes(f) : new Uint8Array(f.buffer);
  return writeFile(dir, name, safetensorsBytes([{ name: 'w', dtype: bf16 ? 'BF16' : 'F32', shape: [n], data }]));
}

function lines(file: string): ReportLine[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ReportLine);
}

function verifyOk(tzip: string): boolean {
  return spawnSync(process.execPath, [CLI, 'verify', tzip], { encoding: 'utf8' }).status === 0;
}

describe('batch: shards', () => {
  test('--shard, Slurm and Kubernetes environments pick every n-th item; bad values are usage errors', () => {
    assert.deepEqual(shardOf({ shard: '1/3' }, {}), { index: 1, count: 3, sharded: true });
    assert.deepEqual(shardOf({}, { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4' }), {
      index: 2,
      count: 4,
      sharded: true,
    });
    // --array=10-40:10 -> positions 0..3
    assert.deepEqual(
      shardOf(
        {},
        {
          SLURM_ARRAY_TASK_ID: '30',
          SLURM_ARRAY_TASK_COUNT: '4',
          SLURM_ARRAY_TASK_MIN: '10',
          SLURM_ARRAY_TASK_STEP: '10',
        },
      ),
      { index: 2, count: 4, sharded: true },
    );
    // a resubmitted subset (--array=3) keeps its index when the count is given
    assert.deepEqual(
      shardOf(
        { 'shard-count': '8' },
        { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '1', SLURM_ARRAY_TASK_MIN: '3' },
      ),
      { index: 3, count: 8, sharded: true },
    );
    assert.deepEqual(shardOf({ 'shard-count': '5' }, { JOB_COMPLETION_INDEX: '4' }), {
      index: 4,
      count: 5,
      sharded: true,
    });
    assert.deepEqual(shardOf({}, {}), { index: 0, count: 1, sharded: false });
    assert.deepEqual(
      shardOf({ shard: '0/2' }, { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '2' }),
      { index: 0, count: 2, sharded: true },
      '--shard wins',
    );
    for (const [v, env] of [
      [{ shard: '3/3' }, {}],
      [{ shard: 'a/b' }, {}],
      [{ shard: '0/0' }, {}],
      [{}, { JOB_COMPLETION_INDEX: '1' }],
      [{ 'shard-count': '2' }, { JOB_COMPLETION_INDEX: '2' }],
      [{ 'shard-count': '2' }, {}],
      [{}, { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '4' }],
    ] as const) {
      assert.throws(
        () => shardOf(v, env),
        (e: unknown) => e instanceof TzError && e.code === 'USAGE',
        JSON.stringify([v, env]),
      );
    }
    const items = Array.from({ length: 10 }, (_, i) => i);
    const parts = [0, 1, 2].map((index) => inShard(items, { index, count: 3 }));
    assert.deepEqual(parts, [
      [0, 3, 6, 9],
      [1, 4, 7],
      [2, 5, 8],
    ]);
  });

  test('three shards of a folder cover every file exactly once, each in its own report', () => {
    const dir = path.join(tmp.dir, 'shards');
    mkdirSync(path.join(dir, 'sub'), { recursive: true });
    const files = Array.from({ length: 7 }, (_, i) =>
      model(i % 2 ? path.join(dir, 'sub') : dir, `m${i}.safetensors`, 1000 + i, i),
    );
    writeFileSync(path.join(dir, 'notes.txt'), 'not a model');
    const report = path.join(tmp.dir, 'shards.jsonl');
    for (const i of [0, 1, 2]) {
      const r = run(
        [
          dir,
          '--op',
          'compress',
          '--output-dir',
          path.join(tmp.dir, 'shards-out'),
          '--threads',
          '1',
          '--report',
          report,
        ],
        { SLURM_ARRAY_TASK_ID: String(i), SLURM_ARRAY_TASK_COUNT: '3' },
      );
      assert.equal(r.code, 0, r.stderr);
    }
    const seen = [0, 1, 2].flatMap((i) =>
      lines(`${report}.${i}of3`).map((l) => {
        assert.equal(l.shard, `${i}/3`);
        return l.input;
      }),
    );
    assert.deepEqual(seen.sort(), files.sort());
    for (const f of files) assert.ok(verifyOk(path.join(tmp.dir, 'shards-out', path.relative(dir, f) + '.tzip')));
  });
});

describe('batch: idempotent', () => {
  test(
    'a second run does no work (all skipped, every output decoded and checked); --resume skips on the ' + 'report',
    () => {
      const dir = path.join(tmp.dir, 'twice');
      mkdirSync(dir);
      const inputs = Array.from({ length: 12 }, (_, i) =>
        model(dir, `g${i}.safetensors`, 40_000 + 1000 * i, 100 + i, i % 2 === 0),
      );
      if (HAVE_CORPUS)
        inputs.push(
          ...['stories260k.bf16.safetensors', 'stories260k.f16.gguf', 'silero_vad_v6.f32.safetensors'].map((n) =>
            path.join(CORPUS, n),
          ),
        );
      const manifest = writeFile(
        tmp.dir,
        'twice.txt',
        inputs.map((f) => path.relative(tmp.dir, f)).join('\n') + '\n# a comment\n\n',
      );
      const out = path.join(tmp.dir, 'twice-out');
      const report = path.join(tmp.dir, 'twice.jsonl');
      const args = [manifest, '--op', 'compress', '--output-dir', out, '--report', report, '--threads', '1'];
      const first = run(args);
      assert.equal(first.code, 0, first.stderr);
      const l1 = lines(report);
      assert.equal(l1.length, inputs.length);
      assert.ok(
        l1.every((l) => l.status === 'ok' && l.sha256 && l.bytes! > 0 && l.ratio! < 1),
        JSON.stringify(l1[0]),
      );
      const mtimes = l1.map((l) => statSync(l.output!).mtimeMs);
      const second = run(args);
      assert.equal(second.code, 0, second.stderr);
      const l2 = lines(report).slice(inputs.length);
      assert.equal(l2.length, inputs.length);
      assert.ok(
        l2.every((l) => l.status === 'skipped' && l.checked === 'verify'),
        JSON.stringify(l2[0]),
      );
      assert.deepEqual(
        l2.map((l) => l.sha256),
        l1.map((l) => l.sha256),
        'the skip checked the same content',
      );
      assert.deepEqual(
        l1.map((l) => statSync(l.output!).mtimeMs),
        mtimes,
        'no output rewritten',
      );
      const third = run([...args, '--resume']);
      assert.equal(third.code, 0, third.stderr);
      const l3 = lines(report).slice(2 * inputs.length);
      assert.ok(l3.every((l) => l.status === 'skipped' && l.checked === 'report'));
      const cpu = (ls: ReportLine[]) => ls.reduce((s, l) => s + l.cpuSeconds!, 0);
      const mb = l1.reduce((s, l) => s + l.inputBytes!, 0) / 1e6;
      console.log(
        `batch twice over ${inputs.length} files (${mb.toFixed(1)} MB): run 1 ${first.ms} ms wall, ` +
          `${cpu(l1).toFixed(2)} CPU-s in items; run 2 (all skipped, verified) ${second.ms} ms, ` +
          `${cpu(l2).toFixed(2)} CPU-s; run 3 --resume ${third.ms} ms, ${cpu(l3).toFixed(3)} CPU-s`,
      );
      assert.ok(cpu(l2) < cpu(l1), 'checking is cheaper than compressing');
      // a merged report: one line per item, the latest
      const m = spawnSync(process.execPath, [CLI, 'batch', ...args, '--merge'], { encoding: 'utf8' });
      assert.equal(m.status, 0, m.stderr);
      const merged = m.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as ReportLine);
      assert.deepEqual(
        merged.map((l) => l.item),
        inputs.map((_, i) => i),
      );
      assert.ok(merged.every((l) => l.checked === 'report'));
    },
  );

  test('an existing output that does not verify fails the item (exit 1) unless --force, which redoes it', () => {
    const dir = path.join(tmp.dir, 'corrupt');
    mkdirSync(dir);
    const f = model(dir, 'c.safetensors', 30_000, 5);
    writeFileSync(`${f}.tzip`, 'TZIP garbage');
    const r = run([dir, '--op', 'compress', '--threads', '1']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /c\.safetensors\.tzip: exists but does not verify/);
    assert.equal(readFileSync(`${f}.tzip`, 'utf8'), 'TZIP garbage', 'not touched without --force');
    assert.equal(run([dir, '--op', 'compress', '--threads', '1', '--force']).code, 0);
    assert.ok(verifyOk(`${f}.tzip`));
  });

  test('decompress and verify batches: a restored file is skipped on its SHA-256', () => {
    const dir = path.join(tmp.dir, 'dec');
    mkdirSync(dir);
    const inputs = [0, 1, 2].map((i) => model(dir, `d${i}.safetensors`, 20_000, 40 + i));
    assert.equal(run([dir, '--op', 'compress', '--threads', '1']).code, 0);
    const out = path.join(tmp.dir, 'dec-out');
    const report = path.join(tmp.dir, 'dec.jsonl');
    assert.equal(run([dir, '--op', 'decompress', '--output-dir', out, '--report', report]).code, 0);
    for (const f of inputs) assert.deepEqual(readFileSync(path.join(out, path.basename(f))), readFileSync(f));
    assert.equal(run([dir, '--op', 'decompress', '--output-dir', out, '--report', report]).code, 0);
    assert.deepEqual(
      lines(report).map((l) => `${l.status}${l.checked ? `/${l.checked}` : ''}`),
      ['ok', 'ok', 'ok', 'skipped/sha256', 'skipped/sha256', 'skipped/sha256'],
    );
    const vr = path.join(tmp.dir, 'ver.jsonl');
    assert.equal(run([dir, '--op', 'verify', '--report', vr]).code, 0);
    assert.ok(lines(vr).every((l) => l.status === 'ok' && l.sha256));
  });
});

describe('batch: memory', () => {
  test("the worker's RSS stays flat over many items that each boot worker threads", () => {
    const dir = path.join(tmp.dir, 'rss');
    mkdirSync(dir);
    const inputs = Array.from({ length: 40 }, (_, i) => model(dir, `r${i}.safetensors`, 50_000, 200 + i));
    const manifest = writeFile(
      tmp.dir,
      'rss.jsonl',
      inputs.map((f) => JSON.stringify({ input: f, output: `${f}.tzip`, threads: 2 })).join('\n'),
    );
    const report = path.join(tmp.dir, 'rss-report.jsonl');
    const r = run([manifest, '--op', 'compress', '--report', report]);
    assert.equal(r.code, 0, r.stderr);
    const rss = lines(report).map((l) => l.rssKb / 1024);
    console.log(
      `batch RSS over 40 items with 2 threads each: item 5 ${rss[5]!.toFixed(0)} MB, item 40 ${rss[39]!.toFixed(0)} MB`,
    );
    assert.ok(rss[39]! - rss[5]! < 48, `RSS grew from ${rss[5]} to ${rss[39]} MB`);
  });
});

describe('batch: exit codes', () => {
  test('bad input and a bad manifest exit 1; usage and --base-chain exit 2', () => {
    const dir = path.join(tmp.dir, 'bad');
    mkdirSync(dir);
    const good = model(dir, 'good.safetensors', 10_000, 1);
    const bad = writeFile(dir, 'bad.safetensors', safetensorsBytes([], { headerOverride: '{{{' }));
    const report = path.join(tmp.dir, 'bad.jsonl');
    const r = run([dir, '--op', 'compress', '--report', report, '--threads', '1']);
    assert.equal(r.code, 1, r.stderr);
    const ls = lines(report);
    assert.deepEqual(
      ls.map((l) => [path.basename(l.input), l.status, l.retryable]),
      [
        ['bad.safetensors', 'failed', false],
        ['good.safetensors', 'ok', undefined],
      ],
    );
    assert.ok(ls[0]!.error!.includes(bad));
    assert.ok(verifyOk(`${good}.tzip`), 'the good item is done despite the bad one');
    const m1 = writeFile(tmp.dir, 'bad1.jsonl', `${JSON.stringify({ input: good })}\n{"input": 3}\n`);
    const b1 = run([m1, '--op', 'compress']);
    assert.equal(b1.code, 1);
    assert.match(b1.stderr, /bad1\.jsonl:2: "input" must be a path/);
    const m2 = writeFile(tmp.dir, 'bad2.jsonl', `${JSON.stringify({ input: good, outptu: 'x' })}\n`);
    assert.match(run([m2, '--op', 'compress']).stderr, /bad2\.jsonl:1: unknown key "outptu"/);
    const m3 = writeFile(tmp.dir, 'bad3.txt', `${good}\n${good}\n`);
    assert.match(run([m3, '--op', 'compress']).stderr, /items 1 and 2 both write/);
    assert.equal(run([path.join(tmp.dir, 'nonexistent.txt'), '--op', 'compress']).code, 1);
    assert.equal(run([dir, '--op', 'squash']).code, 2);
    assert.equal(run([dir]).code, 2);
    const bc = run([dir, '--op', 'compress', '--base-chain', dir]);
    assert.equal(bc.code, 2);
    assert.match(bc.stderr, /--base-chain is not a batch option: .*tensorzip compress --base-chain DIR/);
    assert.equal(run(['--help']).code, 0);
  });

  test('EIO (reading /proc/self/mem) exits 75 and the item is marked retryable; the rest is done', () => {
    const dir = path.join(tmp.dir, 'eio');
    mkdirSync(dir);
    const good = model(dir, 'a.safetensors', 10_000, 2);
    symlinkSync('/proc/self/mem', path.join(dir, 'b.safetensors'));
    const report = path.join(tmp.dir, 'eio.jsonl');
    const r = run([dir, '--op', 'compress', '--report', report, '--threads', '1']);
    assert.equal(r.code, 75, r.stderr);
    const ls = lines(report);
    const failed = ls.find((l) => l.status === 'failed')!;
    assert.equal(failed.retryable, true);
    assert.match(failed.error!, /b\.safetensors.*(i\/o error|input\/output error)/i);
    assert.ok(verifyOk(`${good}.tzip`));
  });

  test('ENOSPC (a tmpfs out of inodes) exits 75; after space is freed the retry finishes', (t) => {
    const mnt = path.join(tmp.dir, 'full');
    mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,nr_inodes=3', 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) {
      if (process.env.CI === 'true' && process.getuid?.() === 0)
        assert.fail(`mount tmpfs failed as root in CI: ${m.stderr}`);
      t.skip(
        `cannot mount a tmpfs here (${(m.stderr || m.error?.message || '').trim()}): ENOSPC is covered by ` +
          `the classification test only`,
      );
      return;
    }
    try {
      const src = path.join(tmp.dir, 'full-src');
      mkdirSync(src);
      const inputs = [0, 1, 2].map((i) => model(src, `f${i}.safetensors`, 5000, 60 + i));
      // the root inode plus one file leave one free inode: f0's temp file takes it, f1 cannot create one
      writeFileSync(path.join(mnt, 'filler'), 'x');
      const report = path.join(tmp.dir, 'full.jsonl');
      const r = run([src, '--op', 'compress', '--output-dir', mnt, '--report', report, '--threads', '1']);
      assert.equal(r.code, 75, r.stderr);
      const ls = lines(report);
      assert.deepEqual(
        ls.map((l) => l.status),
        ['ok', 'failed', 'failed'],
      );
      assert.ok(
        ls.slice(1).every((l) => l.retryable && /no space left on device/.test(l.error!)),
        JSON.stringify(ls[1]),
      );
      assert.deepEqual(readdirSync(mnt).sort(), ['f0.safetensors.tzip', 'filler'], 'no temp file left');
      spawnSync('umount', [mnt]);
      assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]).status, 0);
      const again = run([src, '--op', 'compress', '--output-dir', mnt, '--report', report, '--threads', '1']);
      assert.equal(again.code, 0, again.stderr);
      for (const f of inputs) assert.ok(verifyOk(path.join(mnt, `${path.basename(f)}.tzip`)));
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  test('error classification: I/O trouble, no memory and cancel are retryable; bad input is not', () => {
    const io = (errno: string) => Object.assign(new TzError('IO', 'f', 'x'), { errno });
    const sys = (code: string) => Object.assign(new Error(code), { code });
    for (const e of [
      io('EIO'),
      io('EAGAIN'),
      io('ESTALE'),
      new TzError('NO_SPACE', 'f', 'full'),
      new TzError('CANCELLED', 'f', 'cancelled'),
      new TzError('IO', 'f', 'worker thread exited'),
      sys('EIO'),
      sys('ENOSPC'),
      sys('ERR_WORKER_OUT_OF_MEMORY'),
      new RangeError('Array buffer allocation failed'),
    ]) {
      assert.equal(isRetryable(e), true, String(e));
    }
    for (const e of [
      io('ENOENT'),
      io('EACCES'),
      new TzError('BAD_INPUT', 'f', 'x'),
      new TzError('UNSUPPORTED', 'f', 'x'),
      new TzError('EXISTS', 'f', 'x'),
      new TzError('VERIFY_FAILED', 'f', 'x'),
      sys('ENOENT'),
      new Error('bug'),
    ]) {
      assert.equal(isRetryable(e), false, String(e));
    }
  });
});

/** Runs a batch in the background; resolves with its exit code. */
function background(args: string[]) {
  const child = spawn(process.execPath, [CLI, 'batch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  child.stdout.resume();
  const exit = new Promise<number>((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? -1 : -2))));
  return { child, exit, stderr: () => stderr };
}

/** Polls `dir` until a temp file of the engine appears; returns its name. */
async function tempAppears(dir: string, timeoutMs = 60_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const t = readdirSync(dir).find((n) => n.includes('.tmp-'));
    if (t) return t;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no temp file appeared in ${dir}`);
}

describe('batch: killed runs', () => {
  const dir = path.join(tmp.dir, 'kill');
  const big = () => model(dir, 'big.safetensors', 12 << 20, 9); // 48 MB: long enough to be caught mid-item

  test(
    'kill -9 of the worker mid-compress: exit 75, its temp file stays; the rerun removes it and ' + 'finishes',
    async () => {
      mkdirSync(dir, { recursive: true });
      const f = big();
      const small = model(dir, 'small.safetensors', 10_000, 3);
      const report = path.join(tmp.dir, 'kill.jsonl');
      const args = [dir, '--op', 'compress', '--report', report, '--threads', '1'];
      const b = background(args);
      const temp = await tempAppears(dir);
      const pid = Number(/\.tmp-[0-9a-f]{8}-(\d+)-/.exec(temp)![1]);
      assert.notEqual(pid, b.child.pid, 'the worker is a child of the supervisor');
      process.kill(pid, 'SIGKILL');
      assert.equal(await b.exit, 75, b.stderr());
      assert.match(b.stderr(), /ended by SIGKILL/);
      assert.ok(existsSync(path.join(dir, temp)), 'kill -9 leaves the temp file');
      assert.ok(!existsSync(`${f}.tzip`));
      const again = run(args);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /removed stale temp file/);
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.includes('.tmp-')),
        [],
      );
      assert.ok(verifyOk(`${f}.tzip`) && verifyOk(`${small}.tzip`));
      // nothing done twice: each item has exactly one "ok" line
      const ok = lines(report)
        .filter((l) => l.status === 'ok')
        .map((l) => path.basename(l.input))
        .sort();
      assert.deepEqual(ok, ['big.safetensors', 'small.safetensors']);
    },
  );

  test(
    'SIGTERM (scancel) mid-compress: the item is cancelled cleanly, exit 75, no temp file; a rerun ' + 'finishes it',
    async () => {
      const f = path.join(dir, 'big.safetensors');
      rmSync(`${f}.tzip`);
      const report = path.join(tmp.dir, 'term.jsonl');
      const args = [dir, '--op', 'compress', '--report', report, '--threads', '1'];
      const b = background(args);
      await tempAppears(dir);
      b.child.kill('SIGTERM');
      assert.equal(await b.exit, 75, b.stderr());
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.includes('.tmp-')),
        [],
      );
      assert.ok(!existsSync(`${f}.tzip`), 'no partial output');
      const ls = lines(report);
      assert.deepEqual(
        [ls.at(-1)!.status, ls.at(-1)!.retryable, /cancelled/.test(ls.at(-1)!.error!)],
        ['failed', true, true],
      );
      assert.equal(run(args).code, 0);
      assert.ok(verifyOk(`${f}.tzip`));
    },
  );
});
