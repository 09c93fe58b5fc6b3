// `node bench/scale.mjs [--rounds 3] [--mb 256]` (root, Slurm from Debian: test/scale/cluster.mjs installs it):
//  1. the scale table: one 200-file manifest (the corpus in place plus generated safetensors)
//     compressed by a private single-node Slurm as 1 array task, as 2 array tasks at once (1 CPU
//     each), and as 1 task with 2 CPUs; interleaved rounds, medians. Wall time from submission to
//     the last task's exit; per-task MB/s and files/s from the report lines; CPU-s per GB.
//  2. memory: peak RSS of a batch worker compressing one large synthetic BF16 file (bench/synthetic.mjs)
//     with 1 and 2 threads, and a file a quarter that size (bounded: RSS does not grow with the file).
// Figures go to docs/scale.md and docs/measurements.md; wall times depend on what else runs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  ensureSlurm,
  filesUnder,
  jobScript,
  slurmSkipReason,
  startCluster,
  waitTasks,
  writeModel,
} from '../test/scale/cluster.mjs';
import { writeSynthetic } from './synthetic.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt('rounds', '3'));
const MB = Number(opt('mb', '256'));
const CLI = path.resolve('dist/cli.js');
const CORPUS = path.resolve('../shared/corpus');
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const reason = slurmSkipReason();
if (reason) {
  console.error(`bench/scale: ${reason}`);
  process.exit(1);
}
ensureSlurm();
const S = mkdtempSync(path.join(tmpdir(), 'tz-scale-bench-'));
const cluster = await startCluster(path.join(S, 'slurm'));
try {
  // the manifest: every corpus model, then generated files up to 200
  const data = path.join(S, 'data');
  mkdirSync(data);
  const inputs = filesUnder(CORPUS)
    .filter((f) => /\.(safetensors|gguf|onnx)$/.test(f))
    .sort();
  for (let i = 0; inputs.length < 200; i++)
    inputs.push(
      writeModel(path.join(data, `m${String(i).padStart(3, '0')}.safetensors`), i + 1, 50_000 + ((i * 7919) % 200_000)),
    );
  const totalBytes = inputs.reduce((s, f) => s + statSync(f).size, 0);
  const configs = [
    { name: '1 task, 1 CPU', tasks: 1, cpus: 1 },
    { name: '2 tasks at once, 1 CPU each', tasks: 2, cpus: 1 },
    { name: '1 task, 2 CPUs (2 threads)', tasks: 1, cpus: 2 },
  ];
  const results = new Map(configs.map((c) => [c.name, []]));
  let run = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of configs) {
      const dir = path.join(S, `run${run++}`);
      const done = path.join(dir, 'done');
      mkdirSync(done, { recursive: true });
      const manifest = path.join(dir, 'manifest.jsonl');
      writeFileSync(
        manifest,
        inputs
          .map((f, i) => JSON.stringify({ input: f, output: path.join(dir, 'out', `${i}-${path.basename(f)}.tzip`) }))
          .join('\n') + '\n',
      );
      const report = path.join(dir, 'report.jsonl');
      const script = path.join(dir, 'job.sh');
      jobScript(script, `"${process.execPath}" "${CLI}" batch "${manifest}" --op compress --report "${report}"`, done);
      const t0 = performance.now();
      const job = cluster.sbatch([
        `--array=0-${c.tasks - 1}`,
        `--cpus-per-task=${c.cpus}`,
        '-o',
        path.join(dir, 'slurm-%A_%a.out'),
        script,
      ]);
      const codes = await waitTasks(cluster, done, job, [...Array(c.tasks).keys()], 600_000);
      const wall = (performance.now() - t0) / 1000;
      if ([...codes.values()].some((x) => x !== 0))
        throw new Error(`${c.name}: exit codes ${JSON.stringify([...codes])}; logs in ${dir}`);
      const lines = readdirSync(dir)
        .filter((n) => n.startsWith('report.jsonl'))
        .flatMap((n) =>
          readFileSync(path.join(dir, n), 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l)),
        );
      if (lines.length !== inputs.length || lines.some((l) => l.status !== 'ok'))
        throw new Error(`${c.name}: ${lines.length} report lines, not all ok`);
      const perTask = [...Array(c.tasks).keys()].map((t) => {
        const ls = lines.filter((l) => l.shard === `${t}/${c.tasks}` || (c.tasks === 1 && l.shard === '0/1'));
        const sec = ls.reduce((s, l) => s + l.seconds, 0);
        return { mbs: ls.reduce((s, l) => s + l.inputBytes, 0) / 1e6 / sec, fps: ls.length / sec };
      });
      const cpu = lines.reduce((s, l) => s + l.cpuSeconds, 0);
      const rss = Math.max(...lines.map((l) => l.rssKb));
      results.get(c.name).push({
        wall,
        mbs: median(perTask.map((p) => p.mbs)),
        fps: median(perTask.map((p) => p.fps)),
        cpuPerGB: cpu / (totalBytes / 1e9),
        rss,
      });
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(
    `\nscale table: ${inputs.length} files, ${(totalBytes / 1e6).toFixed(1)} MB, compress + verify each ` +
      `(medians of ${ROUNDS} interleaved rounds; ${availableParallelism()} cores)\n`,
  );
  console.log('| array | wall s | per-task MB/s | per-task files/s | total MB/s | CPU-s per GB | peak RSS MB |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const c of configs) {
    const r = results.get(c.name);
    const m = (k) => median(r.map((x) => x[k]));
    console.log(
      `| ${c.name} | ${m('wall').toFixed(1)} | ${m('mbs').toFixed(1)} | ${m('fps').toFixed(1)} | ` +
        `${(totalBytes / 1e6 / m('wall')).toFixed(1)} | ${m('cpuPerGB').toFixed(1)} | ` +
        `${(m('rss') / 1024).toFixed(0)} |`,
    );
  }

  // memory: peak RSS of the batch worker for one large file
  for (const d of ['mem-big', 'mem-small']) mkdirSync(path.join(S, d));
  const big = path.join(S, 'mem-big', 'big.bf16.safetensors');
  const small = path.join(S, 'mem-small', 'quarter.bf16.safetensors');
  writeSynthetic(big, MB);
  writeSynthetic(small, Math.max(8, Math.round(MB / 4)));
  console.log(`\npeak RSS of a batch worker (compress + verify of one file)\n`);
  console.log('| file | threads | peak RSS MB | MB/s (wall) | CPU-s per GB |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [file, mb] of [
    [small, Math.max(8, Math.round(MB / 4))],
    [big, MB],
  ]) {
    for (const threads of [1, 2]) {
      const report = path.join(S, `mem-${threads}-${mb}.jsonl`);
      const r = spawnSync(
        process.execPath,
        [
          CLI,
          'batch',
          path.dirname(file),
          '--op',
          'compress',
          '--output-dir',
          path.join(S, `mem-out-${threads}-${mb}`),
          '--threads',
          String(threads),
          '--report',
          report,
        ],
        { encoding: 'utf8', env: { ...process.env, TENSORZIP_REPORT_RSS: '1' } },
      );
      if (r.status !== 0) throw new Error(r.stderr);
      const l = readFileSync(report, 'utf8')
        .trim()
        .split('\n')
        .map((x) => JSON.parse(x))
        .find((x) => x.input === file);
      console.log(
        `| ${mb} MB BF16 | ${threads} | ${(l.rssKb / 1024).toFixed(0)} | ` +
          `${(l.inputBytes / 1e6 / l.seconds).toFixed(1)} | ${(l.cpuSeconds / (l.inputBytes / 1e9)).toFixed(1)} |`,
      );
    }
  }
} finally {
  await cluster.stop();
  rmSync(S, { recursive: true, force: true });
}
