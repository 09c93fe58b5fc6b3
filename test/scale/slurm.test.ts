/**
 * `tensorzip batch` on a real Slurm (single node, private daemons): a job array over 200+ model
 * files (the corpus referenced in place, plus generated safetensors), then a fault run where one
 * array task is scancel'ed mid-way and one compress is killed with kill -9, and the same array is
 * resubmitted. Checks: every output exists, verifies and holds its input's SHA-256; the reports
 * merge to one line per item; nothing is done twice; no temp file is left.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ReportLine } from '../../cli/batch';
import {
  ensureSlurm,
  filesUnder,
  jobScript,
  slurmSkipReason,
  startCluster,
  waitTasks,
  writeModel,
  type Cluster,
} from './cluster.mjs';

const CLI = path.resolve('dist/cli.js');
const CORPUS = path.resolve('../shared/corpus');
const TASKS = 4;
const GENERATED = 200;
const STRICT = process.env.CI === 'true';

const reason = slurmSkipReason();
if (reason && STRICT) throw new Error(`CI=true: the Slurm test must run, but ${reason}`);
if (reason) console.log(`test/scale/slurm: skipped: ${reason}`);

const sha256 = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Slurm job arrays', { skip: reason ?? false }, () => {
  let S = '';
  let cluster: Cluster | undefined;
  const items: { input: string; sha: string; rel: string }[] = [];
  let manifest = '';

  before(async () => {
    ensureSlurm();
    S = mkdtempSync(path.join(tmpdir(), 'tz-slurm-'));
    cluster = await startCluster(path.join(S, 'slurm'));
    const data = path.join(S, 'data');
    mkdirSync(data);
    const lines: string[] = [];
    // the real corpus, referenced where it is (read-only): explicit outputs in JSON lines
    const corpus = filesUnder(CORPUS)
      .filter((f) => /\.(safetensors|gguf|onnx)$/.test(f))
      .sort();
    for (const f of corpus) {
      const rel = path.join('corpus', path.relative(CORPUS, f));
      lines.push(JSON.stringify({ input: f, output: `OUT/${rel}.tzip` }));
      items.push({ input: f, sha: sha256(f), rel });
    }
    if (!corpus.length) console.log(`test/scale/slurm: no corpus at ${CORPUS}: generated files only`);
    for (let i = 0; i < GENERATED; i++) {
      const f = writeModel(
        path.join(data, `m${String(i).padStart(3, '0')}.safetensors`),
        i + 1,
        2000 + ((i * 7919) % 60_000),
      );
      lines.push(JSON.stringify({ input: f, output: `OUT/gen/${path.basename(f)}.tzip` }));
      items.push({ input: f, sha: sha256(f), rel: path.join('gen', path.basename(f)) });
    }
    // outputs are relative to the manifest's folder: each run gets its own manifest in its own folder
    manifest = lines.join('\n') + '\n';
    assert.ok(items.length >= 200);
  });

  after(async () => {
    await cluster?.stop();
    if (S) rmSync(S, { recursive: true, force: true });
  });

  /** A run folder: manifest (outputs under it), report, job script and done files. */
  function runDir(name: string) {
    const dir = path.join(S, name);
    const done = path.join(dir, 'done');
    mkdirSync(done, { recursive: true });
    const m = path.join(dir, 'manifest.jsonl');
    writeFileSync(m, manifest.replaceAll('"OUT/', `"${dir}/out/`));
    const report = path.join(dir, 'report.jsonl');
    const script = path.join(dir, 'job.sh');
    jobScript(script, `"${process.execPath}" "${CLI}" batch "${m}" --op compress --report "${report}"`, done);
    return { dir, done, manifest: m, report, script, out: path.join(dir, 'out') };
  }

  function submit(r: ReturnType<typeof runDir>): string {
    return cluster!.sbatch([
      `--array=0-${TASKS - 1}`,
      '--cpus-per-task=1',
      '-o',
      path.join(r.dir, 'slurm-%A_%a.out'),
      r.script,
    ]);
  }

  function reportLines(r: ReturnType<typeof runDir>): ReportLine[] {
    return readdirSync(r.dir)
      .filter((n) => n.startsWith('report.jsonl.'))
      .flatMap((n) =>
        readFileSync(path.join(r.dir, n), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as ReportLine),
      );
  }

  /** Everything a finished run must hold: outputs whole and right, one merged line each, no temp file. */
  function checkComplete(r: ReturnType<typeof runDir>) {
    const merged = spawnSync(
      process.execPath,
      [CLI, 'batch', r.manifest, '--op', 'compress', '--report', r.report, '--merge'],
      { encoding: 'utf8' },
    );
    assert.equal(merged.status, 0, merged.stderr);
    const ml = merged.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ReportLine);
    assert.equal(ml.length, items.length, 'one merged line per item');
    assert.deepEqual(
      ml.map((l) => l.item),
      items.map((_, i) => i),
    );
    for (const [i, l] of ml.entries()) {
      assert.ok(l.status === 'ok' || l.status === 'skipped', `item ${i}: ${l.status} ${l.error ?? ''}`);
      assert.equal(l.sha256, items[i]!.sha, `item ${i}: the report's SHA-256 is the input's`);
    }
    assert.deepEqual(
      filesUnder(r.out).filter((f) => f.includes('.tmp-')),
      [],
      'no temp file left',
    );
    // every output decodes to its input: checked by a verify batch (checksums and SHA-256) against
    // the SHA-256 this test computed from the inputs
    const vm = path.join(r.dir, 'verify.txt');
    writeFileSync(vm, items.map((it) => path.join(r.out, `${it.rel}.tzip`)).join('\n') + '\n');
    const vr = path.join(r.dir, 'verify.jsonl');
    const v = spawnSync(process.execPath, [CLI, 'batch', vm, '--op', 'verify', '--report', vr, '--threads', '2'], {
      encoding: 'utf8',
    });
    assert.equal(v.status, 0, v.stderr);
    const vl = readFileSync(vr, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ReportLine);
    assert.deepEqual(
      vl.map((l) => [l.status, l.sha256]),
      items.map((it) => ['ok', it.sha]),
    );
  }

  test(
    `${TASKS}-task array over 200+ files: all verified, one report line each, nothing done twice`,
    { timeout: 180_000 },
    async () => {
      const r = runDir('clean');
      const t0 = Date.now();
      const job = submit(r);
      const codes = await waitTasks(cluster!, r.done, job, [...Array(TASKS).keys()], 150_000);
      console.log(
        `slurm clean run: ${items.length} items, ${TASKS} tasks on ${cluster!.cpus} CPUs, ` +
          `${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      assert.deepEqual([...codes.values()], Array(TASKS).fill(0), `exit codes ${JSON.stringify([...codes])}`);
      const raw = reportLines(r);
      assert.equal(raw.length, items.length, 'exactly one raw line per item');
      assert.ok(raw.every((l) => l.status === 'ok'));
      assert.deepEqual(new Set(raw.map((l) => l.shard)), new Set([...Array(TASKS).keys()].map((i) => `${i}/${TASKS}`)));
      checkComplete(r);
    },
  );

  test(
    'fault run: scancel one task mid-way, kill -9 one compress, resubmit: everything completes once',
    { timeout: 200_000 },
    async () => {
      const r = runDir('fault');
      const job = submit(r);
      const cancelTask = 1;
      // cancel task 1 once it has done a few items
      const myReport = `${r.report}.${cancelTask}of${TASKS}`;
      for (const end = Date.now() + 60_000; ; await sleep(20)) {
        let n = 0;
        try {
          n = readFileSync(myReport, 'utf8').split('\n').filter(Boolean).length;
        } catch {
          /* not started */
        }
        if (n >= 3) break;
        assert.ok(Date.now() < end, 'task 1 never started');
      }
      cluster!.scancel(`${job}_${cancelTask}`);
      // kill -9 the worker of another task while it writes one of the larger (corpus or generated) outputs
      let killed: { temp: string; pid: number; task: string } | undefined;
      for (const end = Date.now() + 60_000; !killed && Date.now() < end; await sleep(5)) {
        // a corpus file takes long enough that its temp file is still there when the kill lands
        const temps = filesUnder(r.out).filter((f) => f.includes('.tmp-'));
        for (const f of [
          ...temps.filter((t) => t.includes('/corpus/')),
          ...(items.some((it) => it.rel.startsWith('corpus')) ? [] : temps),
        ]) {
          const m = /\.tmp-[0-9a-f]{8}-(\d+)-[0-9a-f]{8}$/.exec(f);
          if (!m) continue;
          const pid = Number(m[1]);
          let environ: string;
          try {
            environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
          } catch {
            continue;
          }
          const task = /(?:^|\0)SLURM_ARRAY_TASK_ID=(\d+)/.exec(environ)?.[1];
          if (!task || Number(task) === cancelTask || !environ.includes('TENSORZIP_BATCH_WORKER=1')) continue;
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            continue;
          }
          killed = { temp: f, pid, task };
          break;
        }
      }
      assert.ok(killed, 'caught a compress in flight');
      const first = await waitTasks(cluster!, r.done, job, [...Array(TASKS).keys()], 150_000, new Set([cancelTask]));
      console.log(
        `slurm fault run: cancelled task ${cancelTask} -> exit ${first.get(cancelTask)}; kill -9 of pid ` +
          `${killed.pid} (task ${killed.task}) -> exit ${first.get(Number(killed.task))}`,
      );
      assert.equal(first.get(Number(killed.task)), 75, 'a killed worker ends its task with 75');
      assert.ok(
        first.get(cancelTask) === 75 || first.get(cancelTask) === null,
        `a cancelled task exits 75 (or is killed), got ${first.get(cancelTask)}`,
      );
      const before = reportLines(r);
      const doneBefore = new Set(before.filter((l) => l.status === 'ok').map((l) => l.output!));
      assert.ok(doneBefore.size < items.length, 'the faults left work undone');
      const mtimes = new Map([...doneBefore].map((o) => [o, statSync(o).mtimeMs]));
      assert.ok(filesUnder(r.out).includes(killed.temp), 'kill -9 left its temp file');

      const job2 = submit(r);
      const second = await waitTasks(cluster!, r.done, job2, [...Array(TASKS).keys()], 150_000);
      assert.deepEqual(
        [...second.values()],
        Array(TASKS).fill(0),
        `resubmitted exit codes ${JSON.stringify([...second])}`,
      );
      const after = reportLines(r).slice(0);
      const okCount = new Map<string, number>();
      for (const l of after) if (l.status === 'ok') okCount.set(l.output!, (okCount.get(l.output!) ?? 0) + 1);
      assert.ok(
        [...okCount.values()].every((n) => n === 1),
        'no item compressed twice',
      );
      for (const [o, t] of mtimes) assert.equal(statSync(o).mtimeMs, t, `${o} was not rewritten`);
      const logs = readdirSync(r.dir)
        .filter((n) => n.startsWith(`slurm-${job2}_`))
        .map((n) => readFileSync(path.join(r.dir, n), 'utf8'))
        .join('');
      assert.ok(
        logs.includes(`removed stale temp file ${killed.temp}`),
        "the resubmitted task removed the killed compress's temp file",
      );
      const redone = after.length - before.length;
      console.log(
        `slurm fault run: ${doneBefore.size} items done before the faults, resubmission: ${redone} lines (` +
          `${[...okCount.values()].length - doneBefore.size} compressed, the rest skipped after verification)`,
      );
      checkComplete(r);
    },
  );
});
