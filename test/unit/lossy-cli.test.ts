/** The lossy flags of the CLI (dist/cli.js, built by `npm test`): compress, info, verify, analyze --what-if. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { gaussianF32, safetensorsBytes, tempDir, toBF16Bytes, writeFile } from '../helpers/safetensors';

const CLI = path.resolve('dist/cli.js');
const tmp = tempDir('tz-lossy-cli-');
after(() => tmp.cleanup());
const run = (args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
};

describe('lossy CLI', { skip: !existsSync(CLI) && 'dist/cli.js not built (npm run build)' }, () => {
  test(
    'compress --lossy-bits prints the error report; info and verify say LOSSY with k; analyze --what-if ' +
      'prints the table',
    () => {
      const model = writeFile(
        tmp.dir,
        'm.safetensors',
        safetensorsBytes([
          {
            name: 'tok_embeddings.weight',
            dtype: 'BF16',
            shape: [256, 64],
            data: toBF16Bytes(gaussianF32(256 * 64, 0.02, 1)),
          },
          { name: 'l0.w', dtype: 'BF16', shape: [128, 64], data: toBF16Bytes(gaussianF32(128 * 64, 0.02, 2)) },
          { name: 'l0.norm', dtype: 'BF16', shape: [64], data: toBF16Bytes(gaussianF32(64, 1, 3)) },
        ]),
      );
      const tz = path.join(tmp.dir, 'm.tzip');
      const c = run([
        'compress',
        model,
        '-o',
        tz,
        '--lossy-bits',
        '3',
        '--lossy-include',
        'tok_*',
        '--lossy-exclude',
        'nothing',
        '--tensors',
      ]);
      assert.equal(c.code, 0, c.err);
      assert.match(c.out, /LOSSY/);
      assert.match(
        c.out,
        /lossy k=3: 2 tensors rounded, 1 float tensors kept lossless; max abs err \S+, max rel err 0\.0\d+ \(bound 2\^-4/,
      );
      assert.match(c.out, /l0\.w\s+BF16/);
      const i = run(['info', tz]);
      assert.equal(i.code, 0);
      assert.match(i.out, /LOSSY \(3 mantissa bits kept\)/);
      assert.match(i.out, /l0\.w .*lossy k=3/);
      const v = run(['verify', tz, '--against', model]);
      assert.equal(v.code, 0, v.err);
      assert.match(v.out, /OK .*LOSSY: restores values rounded to 3 mantissa bits, made from/);
      const other = writeFile(tmp.dir, 'other.bin', new Uint8Array(10));
      assert.equal(run(['verify', tz, '--against', other]).code, 1);
      const w = run(['analyze', model, '--what-if', '--exact']);
      assert.equal(w.code, 0, w.err);
      assert.match(w.out, /what if \(exact\): 1 of 3 tensors rounded/);
      assert.match(w.out, /^lossless\s/m);
      assert.match(w.out, /^6\s/m);
      const j = JSON.parse(run(['analyze', model, '--what-if', '--json', '--lossy-include', '*']).out) as {
        whatIf: Array<{ points: Array<{ bits: number | null }> }>;
      };
      assert.deepEqual(
        j.whatIf[0]!.points.map((p) => p.bits),
        [null, 0, 1, 2, 3, 4, 5, 6],
      );
    },
  );

  test('bad lossy options: usage errors exit 2, block normalisation is refused with a reason', () => {
    const model = writeFile(
      tmp.dir,
      'n.safetensors',
      safetensorsBytes([{ name: 'w', dtype: 'F16', shape: [32, 32], data: new Uint8Array(2048) }]),
    );
    assert.equal(run(['compress', model, '--lossy-bits', 'x']).code, 2);
    assert.equal(run(['compress', model, '--lossy-include', '*']).code, 2);
    const big = run(['compress', model, '--lossy-bits', '10', '-o', path.join(tmp.dir, 'n.tzip')]);
    assert.equal(big.code, 2);
    assert.match(big.err, /allow 0 to 9/);
    assert.equal(run(['analyze', model, '--exact']).code, 2);
    const b = run(['compress', model, '--lossy-bits', '3', '--lossy-block', '64', '-o', path.join(tmp.dir, 'b.tzip')]);
    assert.equal(b.code, 1);
    assert.match(b.err, /block normalisation is not written/);
    assert.equal(run(['compress', model, '--lossy-bits', '3', '--lossy-block', '7']).code, 2);
  });
});
