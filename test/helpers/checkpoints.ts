/**
 * Really trained checkpoints (scripts/make-checkpoints.py), generated once into the ignored
 * test/fixtures/generated/checkpoints and regenerated when the script changes. Without Debian's
 * torch the tests that need them skip with the reason, except in CI (CI=true), where that fails.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export const CHECKPOINTS = path.resolve(process.cwd(), 'test/fixtures/generated/checkpoints');
const SCRIPT = path.resolve(process.cwd(), 'scripts/make-checkpoints.py');
const PY = '/usr/bin/python3';

export interface ExpectedPair {
  a: string;
  b: string;
  tensors: Record<string, { elements: number; changedElements: number; maxAbsDiff: number }>;
}
export interface Expected {
  lr: number;
  finetuneLr: number;
  every: number;
  finetuneSteps: number;
  pairs: ExpectedPair[];
}

let state: string | false | undefined;

/** false when the checkpoints are ready, else the reason they are not (a skip reason). */
export function ensureCheckpoints(): string | false {
  if (state !== undefined) return state;
  const stamp = createHash('sha256').update(readFileSync(SCRIPT)).digest('hex');
  const stampFile = path.join(CHECKPOINTS, 'script.sha256');
  const ready = (): boolean =>
    existsSync(path.join(CHECKPOINTS, 'expected.json')) &&
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8') === stamp;
  if (ready()) return (state = false);
  const fail = (why: string): string => {
    if (process.env.CI === 'true') throw new Error(`checkpoints for the delta tests: ${why}`);
    return why;
  };
  if (!existsSync(PY) || spawnSync(PY, ['-c', 'import torch, numpy']).status !== 0)
    return (state = fail(`${PY} cannot import torch/numpy (apt-get install -y python3-torch python3-numpy)`));
  // test files run in parallel processes: generate into a private folder, then rename it into place
  const tmp = `${CHECKPOINTS}.tmp-${process.pid}`;
  const r = spawnSync('nice', ['-n', '19', PY, SCRIPT, tmp], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    return (state = fail(
      `scripts/make-checkpoints.py failed: ${(r.stderr || r.stdout).split('\n').filter(Boolean).pop()}`,
    ));
  }
  writeFileSync(path.join(tmp, 'script.sha256'), stamp);
  if (ready()) rmSync(tmp, { recursive: true, force: true });
  else {
    rmSync(CHECKPOINTS, { recursive: true, force: true });
    try {
      renameSync(tmp, CHECKPOINTS);
    } catch {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return (state = false);
}

export function expected(): Expected {
  return JSON.parse(readFileSync(path.join(CHECKPOINTS, 'expected.json'), 'utf8')) as Expected;
}

/** The checkpoint files: pretraining steps in order, and the fine-tune, per dtype folder. */
export function checkpointFiles(dtype: 'f32' | 'bf16'): { steps: string[]; finetune: string } {
  const e = expected();
  const steps = [
    ...new Set(e.pairs.flatMap((p) => [p.a, p.b]).filter((f) => f.startsWith(`pretrain/${dtype}/`))),
  ].sort();
  return {
    steps: steps.map((f) => path.join(CHECKPOINTS, f)),
    finetune: path.join(
      CHECKPOINTS,
      `finetune/${dtype}/finetune-step-${String(e.finetuneSteps).padStart(5, '0')}.safetensors`,
    ),
  };
}
