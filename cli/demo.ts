/**
 * `tensorzip demo` (what `npm start` runs): the main job on an embedded default, a small real
 * model shipped by a devDependency (Silero VAD v6, ONNX, MIT): analyze it and print the per-layer
 * table, then compress, decompress and verify it in a temporary folder.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { analyzeFile, compressFile, decompressFile, verifyFile } from '../engine/api';
import { TzError } from '../engine/core/errors';
import { fileSummary, formatBytes, layerTable, pct } from './format';

export const DEMO_MODEL = 'node_modules/@ricky0123/vad-web/dist/silero_vad_v6.onnx';

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export async function runDemo(model?: string): Promise<number> {
  const file = model ?? path.resolve(__dirname, '..', DEMO_MODEL);
  if (!existsSync(file)) throw new TzError('IO', file, 'demo model not found (run `npm ci` first)');
  const out = (s: string) => process.stdout.write(s + '\n');
  out('== analyze');
  const fa = await analyzeFile(file);
  out(fileSummary(fa) + '\n');
  out(layerTable(fa, 1024) + '\n');
  const dir = mkdtempSync(path.join(tmpdir(), 'tensorzip-demo-'));
  try {
    out('== compress');
    const tz = path.join(dir, path.basename(file) + '.tzip');
    const c = await compressFile(file, { output: tz });
    out(
      `${path.basename(tz)}: ${formatBytes(c.originalBytes)} -> ${formatBytes(c.bytes)} (` +
        `${pct(c.bytes, c.originalBytes)}; predicted ${pct(fa.predictedBytes, fa.bytes)}) in ${c.seconds.toFixed(2)} s`,
    );
    out('== decompress');
    const restored = path.join(dir, 'restored-' + path.basename(file));
    const d = await decompressFile(tz, { output: restored });
    out(`${path.basename(restored)}: ${formatBytes(d.bytes)} in ${d.seconds.toFixed(2)} s`);
    out('== verify');
    const v = await verifyFile(tz, { against: file });
    const same = sha256(restored) === sha256(file);
    out(
      `checksums and SHA-256: ${v.ok ? 'OK' : 'FAILED: ' + v.problems.join('; ')}; restored file identical ` +
        `to the original: ${same ? 'yes' : 'NO'}`,
    );
    return v.ok && same ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
