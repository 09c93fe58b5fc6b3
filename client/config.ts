/** Typed access to the tensorzip.* settings (declared in package.json contributes.configuration). */
import * as vscode from 'vscode';
import type { OutputSettings } from './paths';

export type AfterCompress = 'keep' | 'deleteAfterVerify';

export interface TzSettings {
  /** 0 = let the engine decide (number of cores) */
  threads: number;
  lossyBits: number;
  output: OutputSettings;
  afterCompress: AfterCompress;
  maxConcurrentJobs: number;
}

export function readSettings(scope?: vscode.Uri): TzSettings {
  const c = vscode.workspace.getConfiguration('tensorzip', scope);
  const int = (key: string, def: number, min: number, max: number) => {
    const v = c.get<number>(key, def);
    return Number.isFinite(v) ? Math.min(max, Math.max(min, Math.floor(v))) : def;
  };
  const folder = c.get<string>('output.folder', '') ?? '';
  return {
    threads: int('threads', 0, 0, 256),
    lossyBits: int('lossyBits', 3, 0, 51),
    output: { location: c.get('output.location') === 'folder' ? 'folder' : 'nextToInput', folder },
    afterCompress: c.get('afterCompress') === 'deleteAfterVerify' ? 'deleteAfterVerify' : 'keep',
    maxConcurrentJobs: int('maxConcurrentJobs', 2, 1, 16),
  };
}

/** What the server gets as initializationOptions / didChangeConfiguration. */
export function serverSettings(): { maxConcurrentJobs: number; threads?: number } {
  const s = readSettings();
  return s.threads > 0
    ? { maxConcurrentJobs: s.maxConcurrentJobs, threads: s.threads }
    : { maxConcurrentJobs: s.maxConcurrentJobs };
}
