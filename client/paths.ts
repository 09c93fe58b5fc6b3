/**
 * Output locations for jobs, computed on URIs' paths (posix, as vscode.Uri paths always are) so
 * the same code works for every scheme. No vscode import: unit-tested in Node.
 */
import * as posix from 'node:path/posix';
import { isTzipPath } from '../shared/modelFiles';

export type OutputLocation = 'nextToInput' | 'folder';

export interface OutputSettings {
  location: OutputLocation;
  /** absolute folder path (posix form of a Uri path) used when location is 'folder' */
  folder: string;
}

function targetDir(inputPath: string, s: OutputSettings): string {
  return s.location === 'folder' && s.folder.trim() ? s.folder.trim() : posix.dirname(inputPath);
}

/** `/a/model.safetensors` -> `/a/model.safetensors.tzip` (or inside the configured folder). */
export function compressOutputPath(inputPath: string, s: OutputSettings): string {
  return posix.join(targetDir(inputPath, s), posix.basename(inputPath) + '.tzip');
}

/**
 * `/a/model.safetensors.tzip` -> `/a/model.safetensors`. A name without a second extension
 * (`/a/model.tzip`) gets none back; the server may replace it with the name stored in the
 * container. Returns undefined for a path that is not a .tzip.
 */
export function decompressOutputPath(inputPath: string, s: OutputSettings): string | undefined {
  if (!isTzipPath(inputPath)) return undefined;
  const base = posix.basename(inputPath).slice(0, -'.tzip'.length);
  if (!base) return undefined;
  return posix.join(targetDir(inputPath, s), base);
}

/** The .tzip a model would compress to next to itself (used to show achieved savings). */
export function siblingTzip(inputPath: string): string {
  return inputPath + '.tzip';
}
