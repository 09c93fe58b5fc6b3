// A private single-node Slurm (Debian's slurmctld, slurmd, munge) for test/scale and bench/scale.mjs:
// config, state, logs and the munge socket under one folder, free ports, daemons stopped by their PIDs.
// Recipe: ../shared/docs/slurm-single-node.md. Plain JS (types in cluster.d.mts) so bench/ can use it.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, hostname } from 'node:os';
import * as path from 'node:path';

const PACKAGES = ['slurmctld', 'slurmd', 'slurm-client', 'munge'];
const BINARIES = ['slurmctld', 'slurmd', 'munged', 'sbatch', 'scancel', 'sinfo'];

function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`], { stdio: 'ignore' }).status === 0;
}

function bin(name) {
  return existsSync(`/usr/sbin/${name}`) ? `/usr/sbin/${name}` : name;
}

/** Why Slurm cannot run here (null: it can, installing the packages first if needed). */
export function slurmSkipReason() {
  if (BINARIES.every(have))
    return process.getuid?.() === 0
      ? null
      : 'Slurm is installed but the test needs root (it runs the daemons as SlurmUser=root)';
  if (process.getuid?.() !== 0) return 'Slurm (slurmctld, slurmd, munge) is not installed and installing it needs root';
  if (!have('apt-get')) return 'Slurm is not installed and there is no apt-get to install it';
  return null;
}

/** Installs the Debian packages when a daemon or client is missing (.ci/run does it up front). */
export function ensureSlurm() {
  if (BINARIES.every(have)) return;
  console.log(`installing ${PACKAGES.join(' ')} (Debian) ...`);
  execFileSync(
    'sh',
    [
      '-c',
      `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ` +
        `${PACKAGES.join(' ')} >/dev/null`,
    ],
    { stdio: 'inherit' },
  );
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readPid(file) {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts munged, slurmctld and slurmd with everything under `dir`; resolves when the node is idle.
 * The returned `env` (SLURM_CONF) is what every client call needs; `stop()` kills the daemons by PID.
 */
export async function startCluster(dir, opts = {}) {
  const cpus = opts.cpus ?? availableParallelism();
  const host = hostname();
  for (const d of ['munge', 'state', 'spool', 'run', 'log', 'done']) mkdirSync(path.join(dir, d), { recursive: true });
  chmodSync(dir, 0o700);
  const S = (p) => path.join(dir, p);
  writeFileSync(S('munge/munge.key'), randomBytes(1024));
  chmodSync(S('munge/munge.key'), 0o400);
  chmodSync(S('munge'), 0o700);
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  writeFileSync(
    S('slurm.conf'),
    `ClusterName=tz
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=${S('munge/munge.sock')}
CredType=cred/munge
StateSaveLocation=${S('state')}
SlurmdSpoolDir=${S('spool')}
SlurmctldPidFile=${S('run/slurmctld.pid')}
SlurmdPidFile=${S('run/slurmd.pid')}
SlurmctldPort=${ctldPort}
SlurmdPort=${dPort}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=5
SlurmctldLogFile=${S('log/slurmctld.log')}
SlurmdLogFile=${S('log/slurmd.log')}
MpiDefault=none
NodeName=${host} CPUs=${cpus} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
`,
  );
  const env = { ...process.env, SLURM_CONF: S('slurm.conf') };
  const pidFiles = [S('run/slurmd.pid'), S('run/slurmctld.pid'), S('munge/munged.pid')];
  const stop = async () => {
    const pids = pidFiles.map(readPid).filter((p) => p !== undefined && alive(p));
    for (const p of pids) {
      try {
        process.kill(p, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    for (let i = 0; i < 50 && pids.some(alive); i++) await sleep(100);
    for (const p of pids.filter(alive)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  };
  try {
    execFileSync(
      bin('munged'),
      [
        `--key-file=${S('munge/munge.key')}`,
        `--socket=${S('munge/munge.sock')}`,
        `--pid-file=${S('munge/munged.pid')}`,
        `--log-file=${S('munge/munged.log')}`,
        `--seed-file=${S('munge/seed')}`,
        '-f',
      ],
      { stdio: 'pipe' },
    );
    execFileSync(bin('slurmctld'), ['-f', S('slurm.conf')], { env, stdio: 'pipe' });
    execFileSync(bin('slurmd'), ['-f', S('slurm.conf')], { env, stdio: 'pipe' });
    const end = Date.now() + 60_000;
    for (;;) {
      const st = spawnSync('sinfo', ['-h', '-N', '-o', '%t'], { env, encoding: 'utf8' }).stdout?.trim();
      if (st === 'idle') break;
      if (Date.now() > end) throw new Error(`the Slurm node did not become idle (state "${st}"); logs in ${S('log')}`);
      await sleep(250);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    dir,
    env,
    host,
    cpus,
    stop,
    /** sbatch; returns the job id */
    sbatch(args) {
      const out = execFileSync('sbatch', ['--parsable', ...args], { env, encoding: 'utf8' }).trim();
      return out.split(';')[0];
    },
    scancel(id) {
      execFileSync('scancel', [id], { env });
    },
    /** whether squeue still lists `id` (only for what has no done file: a task killed before it could write one) */
    queued(id) {
      const r = spawnSync('squeue', ['-h', '-j', id, '-o', '%i'], { env, encoding: 'utf8' });
      return r.status === 0 && r.stdout.trim() !== '';
    },
  };
}

/**
 * A job script running `command` (a shell-quoted string) and writing its exit code to
 * `<doneDir>/<array job>_<task>.rc` when it ends, also after a SIGTERM (scancel): the test waits on
 * these files, not on squeue/sacct.
 */
export function jobScript(file, command, doneDir) {
  writeFileSync(
    file,
    `#!/bin/sh
# a trap (not an ignore) so the shell outlives a SIGTERM and still records the exit code
trap 'echo "job script: SIGTERM"' TERM
${command}
rc=$?
echo $rc > "${doneDir}/$SLURM_ARRAY_JOB_ID"_"$SLURM_ARRAY_TASK_ID.rc.tmp"
mv "${doneDir}/$SLURM_ARRAY_JOB_ID"_"$SLURM_ARRAY_TASK_ID.rc.tmp" \\
  "${doneDir}/$SLURM_ARRAY_JOB_ID"_"$SLURM_ARRAY_TASK_ID.rc"
exit $rc
`,
  );
  chmodSync(file, 0o755);
}

/** Exit codes of tasks `tasks` of array job `job`, waiting for their done files (or, for `orGone`, their leaving the
 * queue). */
export async function waitTasks(cluster, doneDir, job, tasks, timeoutMs, orGone = new Set()) {
  const end = Date.now() + timeoutMs;
  const codes = new Map();
  while (codes.size < tasks.length) {
    for (const t of tasks) {
      if (codes.has(t)) continue;
      const f = path.join(doneDir, `${job}_${t}.rc`);
      if (existsSync(f)) codes.set(t, Number(readFileSync(f, 'utf8').trim()));
      else if (orGone.has(t) && !cluster.queued(`${job}_${t}`)) codes.set(t, null);
    }
    if (codes.size < tasks.length) {
      if (Date.now() > end)
        throw new Error(
          `array job ${job}: tasks ${tasks.filter((t) => !codes.has(t)).join(',')} not done after ` +
            `${timeoutMs} ms; logs in ${cluster.dir}/log`,
        );
      await sleep(200);
    }
  }
  return codes;
}

function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

/** A small safetensors model: a few tensors of N(0, 0.02)-like weights in F32, F16 or BF16. */
export function writeModel(file, seed, elements) {
  const r = rng(seed);
  const dtype = ['F32', 'BF16', 'F16'][seed % 3];
  const f = new Float32Array(elements);
  for (let i = 0; i < elements; i++) f[i] = (r() + r() + r() + r() - 2) * 0.034;
  let data;
  if (dtype === 'F32') data = new Uint8Array(f.buffer);
  else {
    const u = new Uint32Array(f.buffer);
    const h = new Uint16Array(elements);
    for (let i = 0; i < elements; i++) {
      const x = u[i];
      if (dtype === 'BF16') h[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
      else {
        // float32 -> float16 (values here are small normals or subnormals, no overflow)
        const s = (x >>> 16) & 0x8000,
          e = ((x >>> 23) & 0xff) - 112,
          m = x & 0x7fffff;
        h[i] = e <= 0 ? s | (e < -10 ? 0 : ((m | 0x800000) >>> (14 - e)) >>> 0) : s | (e << 10) | (m >>> 13);
      }
    }
    data = new Uint8Array(h.buffer);
  }
  const half = Math.floor(elements / 2);
  const width = dtype === 'F32' ? 4 : 2;
  const header = {
    __metadata__: { seed: String(seed) },
    'a.weight': { dtype, shape: [half], data_offsets: [0, half * width] },
    'b.weight': { dtype, shape: [elements - half], data_offsets: [half * width, elements * width] },
  };
  let json = JSON.stringify(header);
  while ((json.length + 8) % 8) json += ' ';
  const hb = Buffer.from(json);
  const out = Buffer.alloc(8 + hb.length + data.length);
  out.writeBigUInt64LE(BigInt(hb.length), 0);
  hb.copy(out, 8);
  Buffer.from(data.buffer, data.byteOffset, data.length).copy(out, 8 + hb.length);
  writeFileSync(file, out);
  return file;
}

/** Every file under `dir` (recursive). */
export function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}
