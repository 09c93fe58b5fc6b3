/**
 * One verify rule (issue 12, item 6): `verify --against` of a lossy .tzip checks that the original
 * is the file it was made from (its SHA-256), of a lossless one every byte; the engine, the CLI and
 * the server (what the extension calls) give the same answer and the same message.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compressFile, verifyFile } from '../../engine/api';
import { VerifyRequest } from '../../protocol/server';
import { CLI, NO_BUILD, startServer, type Harness } from './server-harness';
import { REGISTRY_ONNX, tempDir } from '../helpers/safetensors';

const tmp = tempDir('tz-verify-rule-');
const model = path.join(tmp.dir, 'vad.onnx');
const lossyTz = path.join(tmp.dir, 'vad.lossy.tzip');
const losslessTz = path.join(tmp.dir, 'vad.tzip');
const changed = path.join(tmp.dir, 'vad-changed.onnx');
let h: Harness | undefined;

before(async () => {
  writeFileSync(model, readFileSync(REGISTRY_ONNX));
  const c = await compressFile(model, { output: lossyTz, lossyBits: 3, threads: 1 });
  assert.ok(c.lossy && c.lossy.tensors.length > 0, 'some tensors were rounded');
  await compressFile(model, { output: losslessTz, threads: 1 });
  // same size, one byte of a weight changed: neither the lossy nor the lossless file was made from it
  const b = readFileSync(model);
  b[b.length - 100] ^= 0x01;
  writeFileSync(changed, b);
  if (!NO_BUILD) h = await startServer();
});
after(async () => {
  await h?.stop();
  tmp.cleanup();
});

/** The three surfaces' answers: ok and the problems (the CLI's one-line messages without the prefix). */
async function engine(tz: string, against: string) {
  const r = await verifyFile(tz, { against });
  return { ok: r.ok, problems: r.problems };
}
function cli(tz: string, against: string) {
  const r = spawnSync(process.execPath, [CLI, 'verify', tz, '--against', against], { encoding: 'utf8' });
  assert.ok(r.status === 0 || r.status === 1, `exit ${r.status}: ${r.stderr}`);
  return {
    ok: r.status === 0,
    problems: r.stderr
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^tensorzip: /, '')),
  };
}
async function server(tz: string, against: string) {
  const r = await h!.conn.sendRequest(VerifyRequest, { path: tz, against });
  return { ok: r.ok, problems: r.problems };
}

describe('one verify rule: engine, CLI and server agree', { skip: NO_BUILD }, () => {
  const cases = [
    {
      name: 'lossy .tzip against the file it was made from passes',
      tz: lossyTz,
      against: model,
      ok: true,
      message: undefined,
    },
    {
      name: 'lossy .tzip against another file of the same size fails (SHA-256)',
      tz: lossyTz,
      against: changed,
      ok: false,
      message: /vad-changed\.onnx: not the file this lossy \.tzip was made from/,
    },
    {
      name: 'lossless .tzip against a changed original fails at the first differing byte',
      tz: losslessTz,
      against: changed,
      ok: false,
      message: /vad-changed\.onnx: differs from the decoded data at byte \d+/,
    },
    {
      name: 'lossless .tzip against its original passes',
      tz: losslessTz,
      against: model,
      ok: true,
      message: undefined,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const answers = {
        engine: await engine(c.tz, c.against),
        cli: cli(c.tz, c.against),
        server: await server(c.tz, c.against),
      };
      for (const [surface, a] of Object.entries(answers)) {
        assert.equal(a.ok, c.ok, `${surface}: ${a.problems.join('; ')}`);
        if (c.message) assert.match(a.problems.join('\n'), c.message, surface);
        else assert.deepEqual(a.problems, [], surface);
      }
      assert.deepEqual(answers.cli.problems, answers.engine.problems, "CLI prints the engine's problems");
      assert.deepEqual(answers.server.problems, answers.engine.problems, "the server answers the engine's problems");
    });
  }

  test('the result says the file is lossy (the client shows it; the CLI prints it)', async () => {
    const e = await verifyFile(lossyTz, { against: model });
    assert.equal(e.lossy?.bits, 3);
    const s = await h!.conn.sendRequest(VerifyRequest, { path: lossyTz });
    assert.deepEqual(s.lossy, e.lossy);
    assert.equal((await verifyFile(losslessTz)).lossy, undefined);
    const r = spawnSync(process.execPath, [CLI, 'verify', lossyTz, '--against', model], { encoding: 'utf8' });
    assert.match(r.stdout, /OK \(sha256 [0-9a-f]{64}; LOSSY: restores values rounded to 3 mantissa bits, made from /);
  });
});
