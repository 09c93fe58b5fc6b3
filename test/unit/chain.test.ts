import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { compressFile, decompressFile, infoFile, planChain } from '../../engine/api';
import { TzError } from '../../engine/core/errors';
import { checkpointFiles, ensureCheckpoints } from '../helpers/checkpoints';
import { safetensorsBytes, tempDir } from '../helpers/safetensors';

const tmp = tempDir('tz-chain-');
after(() => tmp.cleanup());
const CLI = path.resolve('dist/cli.js');
const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
const names = (ms: Array<{ input: string }>): string[] => ms.map((m) => path.basename(m.input));

describe('chain plan', () => {
  test(
    'orders by the step number in names (numerically), keyframes every k, candidates keyframe then ' + 'predecessor',
    async () => {
      const dir = path.join(tmp.dir, 'plan');
      mkdirSync(dir);
      const files = [
        'ckpt-10.safetensors',
        'ckpt-9.safetensors',
        'ckpt-100.safetensors',
        'ckpt-2.safetensors',
        'ckpt-11.safetensors',
        'ckpt-50.safetensors',
        'ckpt-3.safetensors',
      ].map((n) => path.join(dir, n));
      for (const f of files) writeFileSync(f, '');
      const plan = await planChain(files, 3);
      assert.deepEqual(names(plan), [
        'ckpt-2.safetensors',
        'ckpt-3.safetensors',
        'ckpt-9.safetensors',
        'ckpt-10.safetensors',
        'ckpt-11.safetensors',
        'ckpt-50.safetensors',
        'ckpt-100.safetensors',
      ]);
      assert.deepEqual(
        plan.map((m) => m.keyframe),
        [true, false, false, true, false, false, true],
      );
      assert.deepEqual(
        plan.map((m) => m.candidates.map((c) => path.basename(c))),
        [
          [],
          ['ckpt-2.safetensors'],
          ['ckpt-2.safetensors', 'ckpt-3.safetensors'],
          [],
          ['ckpt-10.safetensors'],
          ['ckpt-10.safetensors', 'ckpt-11.safetensors'],
          [],
        ],
      );
      assert.deepEqual(
        plan.map((m) => m.step),
        [2, 3, 9, 10, 11, 50, 100],
      );
      // worst case: every member coded against its predecessor; the chain back to a keyframe is at most k-1 long
      for (const k of [1, 2, 8]) {
        const p = await planChain(files, k);
        let depth = 0;
        for (const m of p) {
          depth = m.keyframe ? 0 : depth + 1;
          assert.ok(depth <= k - 1, `k=${k}: ${path.basename(m.input)} needs ${depth} others`);
        }
      }
      await assert.rejects(planChain(files, 0), (e: unknown) => e instanceof TzError && e.code === 'USAGE');
    },
  );

  test('names without a distinct step number: modification time order', async () => {
    const dir = path.join(tmp.dir, 'mtime');
    mkdirSync(dir);
    const order = ['zeta.safetensors', 'alpha.safetensors', 'final.safetensors', 'best.safetensors'];
    order.forEach((n, i) => {
      const f = path.join(dir, n);
      writeFileSync(f, '');
      utimesSync(f, 1_700_000_000 + i * 60, 1_700_000_000 + i * 60);
    });
    const plan = await planChain(order.map((n) => path.join(dir, n)).sort(), 8);
    assert.deepEqual(names(plan), order);
    // a repeated number (run-1/step-5 style names that do not give an order) also falls back to mtime
    const dup = ['a-1.safetensors', 'b-1.safetensors'].map((n, i) => {
      const f = path.join(dir, n);
      writeFileSync(f, '');
      utimesSync(f, 1_800_000_000 - i * 60, 1_800_000_000 - i * 60);
      return f;
    });
    assert.deepEqual(names(await planChain(dup, 8)), ['b-1.safetensors', 'a-1.safetensors']);
  });
});

describe(
  'compress --base-chain on really trained checkpoints',
  { skip: ensureCheckpoints() || (!existsSync(CLI) && 'dist/cli.js not built (npm run build)') },
  () => {
    test(
      'every member round-trips bit-exact from the .tzip files alone; each base is the smaller ' +
        'candidate; a missing link is refused, nothing written',
      async () => {
        const dir = path.join(tmp.dir, 'bf16');
        const keep = path.join(tmp.dir, 'originals');
        mkdirSync(dir);
        mkdirSync(keep);
        const { steps } = checkpointFiles('bf16');
        assert.ok(steps.length >= 5, `${steps.length} checkpoints`);
        for (const f of steps) copyFileSync(f, path.join(dir, path.basename(f)));
        const want = new Map(steps.map((f) => [path.basename(f), sha(f)]));

        const r = spawnSync(
          process.execPath,
          [CLI, 'compress', '--base-chain', dir, '--keyframe-every', '3', '--threads', '1'],
          { encoding: 'utf8' },
        );
        assert.equal(r.status, 0, r.stderr);
        const lines = r.stdout.trim().split('\n');
        assert.equal(lines.length, steps.length, r.stdout);
        const plan = await planChain(
          steps.map((f) => path.join(dir, path.basename(f))),
          3,
        );
        const infos = new Map<string, Awaited<ReturnType<typeof infoFile>>>();
        for (const [i, m] of plan.entries()) {
          const info = await infoFile(`${m.input}.tzip`);
          infos.set(path.basename(m.input), info);
          if (m.keyframe) {
            assert.equal(info.base, undefined, `${m.input} is a keyframe`);
            continue;
          }
          assert.ok(
            info.base && m.candidates.map((c) => path.basename(c)).includes(info.base.name),
            `${m.input}: base ${info.base?.name}`,
          );
          assert.ok(
            info.bytes < 0.9 * infos.get(path.basename(plan[i - (i % 3)]!.input))!.bytes,
            `${m.input}: delta ${info.bytes} bytes`,
          );
          if (m.candidates.length === 2) {
            // the CLI line lists both tries; the kept one is not larger than the other, coded here on its own
            const tried = [...lines[i]!.matchAll(/(step-\d+\.safetensors) ([\d.]+ \w*B)/g)].map((x) => x[1]);
            assert.deepEqual(
              tried,
              m.candidates.map((c) => path.basename(c)),
              lines[i],
            );
            const other = m.candidates.find((c) => path.basename(c) !== info.base!.name)!;
            const alt = await compressFile(m.input, {
              base: other,
              output: path.join(keep, 'alt.tzip'),
              force: true,
              threads: 1,
            });
            assert.ok(
              info.bytes <= alt.bytes,
              `${m.input}: kept ${info.bytes} bytes against ${info.base!.name}, ${alt.bytes} against ` +
                `${path.basename(other)}`,
            );
          }
        }
        assert.ok(plan.some((m) => m.candidates.length === 2));
        assert.deepEqual(
          readdirSync(dir).filter((n) => n.includes('.tmp-')),
          [],
          'no temp files left',
        );

        // only the .tzip files stay: each restores through its chain of bases, found by name + SHA-256
        for (const f of steps) renameSync(path.join(dir, path.basename(f)), path.join(keep, path.basename(f)));
        for (const m of [...plan].reverse()) {
          const out = await decompressFile(`${m.input}.tzip`, { threads: 1 });
          assert.equal(sha(out.output), want.get(path.basename(m.input)), `${m.input} bit-exact`);
          renameSync(out.output, path.join(keep, `restored-${path.basename(m.input)}`));
        }

        // a missing link: the predecessor of the third member is gone (neither its file nor its .tzip)
        const third = plan[2]!;
        const link = path.basename(infos.get(path.basename(third.input))!.base!.name);
        renameSync(path.join(dir, `${link}.tzip`), path.join(keep, `${link}.tzip`));
        const before = readdirSync(dir).sort();
        const d = spawnSync(process.execPath, [CLI, 'decompress', `${third.input}.tzip`], { encoding: 'utf8' });
        assert.equal(d.status, 1, d.stdout + d.stderr);
        const err = d.stderr.trim().split('\n');
        assert.equal(err.length, 1, d.stderr);
        assert.match(err[0]!, new RegExp(`needs its base ${link.replace(/\./g, '\\.')} .*not found`));
        assert.deepEqual(readdirSync(dir).sort(), before, 'nothing written');
      },
    );
  },
);

/** Splits a checkpoint into two shards and an index (model-0000i-of-00002.safetensors, as the Hub names them). */
function shard(src: string, dir: string, split: number): string {
  mkdirSync(dir, { recursive: true });
  const buf = readFileSync(src);
  const hlen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const names = Object.keys(header).filter((n) => n !== '__metadata__');
  const weightMap: Record<string, string> = {};
  [names.slice(0, split), names.slice(split)].forEach((part, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    const tensors = part.map((n) => {
      const t = header[n]!;
      weightMap[n] = file;
      return {
        name: n,
        dtype: t.dtype,
        shape: t.shape,
        data: buf.subarray(8 + hlen + t.data_offsets[0], 8 + hlen + t.data_offsets[1]),
      };
    });
    writeFileSync(path.join(dir, file), safetensorsBytes(tensors));
  });
  const index = path.join(dir, 'model.safetensors.index.json');
  writeFileSync(index, JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return index;
}

describe(
  'compress --base with a sharded base and a sharded new model',
  { skip: ensureCheckpoints() || (!existsSync(CLI) && 'dist/cli.js not built (npm run build)') },
  () => {
    test(
      'each shard is coded against its partner shard (matched through the two indexes) and restores ' +
        'bit-exact with --base INDEX',
      async () => {
        const { steps } = checkpointFiles('bf16');
        const baseIdx = shard(steps[0]!, path.join(tmp.dir, 'sh-base'), 8);
        const newIdx = shard(steps[1]!, path.join(tmp.dir, 'sh-new'), 8);
        const newDir = path.dirname(newIdx);
        const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
        const want = new Map(shards.map((n) => [n, sha(path.join(newDir, n))]));
        const standalone = new Map<string, number>();
        for (const n of shards)
          standalone.set(
            n,
            (await compressFile(path.join(newDir, n), { output: path.join(tmp.dir, `${n}.alone.tzip`), threads: 1 }))
              .bytes,
          );

        const r = spawnSync(process.execPath, [CLI, 'compress', newIdx, '--base', baseIdx, '--threads', '1'], {
          encoding: 'utf8',
        });
        assert.equal(r.status, 0, r.stderr);
        for (const n of shards) {
          const info = await infoFile(path.join(newDir, `${n}.tzip`));
          const baseShard = path.join(path.dirname(baseIdx), n);
          assert.deepEqual(
            [info.base?.name, info.base?.sha256],
            [n, sha(baseShard)],
            `${n}: its base is the base model's shard of the same tensors`,
          );
          assert.ok(
            info.bytes < 0.9 * standalone.get(n)!,
            `${n}: delta ${info.bytes} bytes vs standalone ${standalone.get(n)}`,
          );
        }
        // restore: the new shards are gone; their bases are found through the base index
        for (const n of shards) renameSync(path.join(newDir, n), path.join(tmp.dir, `orig-${n}`));
        for (const n of shards) {
          const d = spawnSync(
            process.execPath,
            [CLI, 'decompress', path.join(newDir, `${n}.tzip`), '--base', baseIdx],
            {
              encoding: 'utf8',
            },
          );
          assert.equal(d.status, 0, d.stderr);
          assert.equal(sha(path.join(newDir, n)), want.get(n), `${n} bit-exact`);
        }
        // the wrong base index (the new model's own, whose shards are other files): refused, nothing written
        const n = shards[0]!;
        renameSync(path.join(newDir, n), path.join(tmp.dir, `restored-${n}`));
        const other = shard(steps[2]!, path.join(tmp.dir, 'sh-other'), 8);
        const bad = spawnSync(process.execPath, [CLI, 'decompress', path.join(newDir, `${n}.tzip`), '--base', other], {
          encoding: 'utf8',
        });
        assert.equal(bad.status, 1);
        assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
        assert.match(bad.stderr, /needs its base model-00001-of-00002\.safetensors .*is not that file/);
        assert.ok(!existsSync(path.join(newDir, n)), 'nothing written');
      },
    );
  },
);
