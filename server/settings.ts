/** Server settings from initializationOptions and workspace/didChangeConfiguration. */
import { DEFAULT_MAX_CONCURRENT_JOBS, type ServerSettings } from '../protocol/server';

export interface EffectiveSettings {
  maxConcurrentJobs: number;
  threads: number | undefined;
}

export const DEFAULTS: EffectiveSettings = { maxConcurrentJobs: DEFAULT_MAX_CONCURRENT_JOBS, threads: undefined };

function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 1 ? Math.floor(v) : undefined;
}

/** Applies a (possibly partial, possibly malformed) settings object; bad values keep the current one. */
export function applySettings(current: EffectiveSettings, raw: unknown): EffectiveSettings {
  if (!raw || typeof raw !== 'object') return current;
  const s = raw as ServerSettings;
  return {
    maxConcurrentJobs: positiveInt(s.maxConcurrentJobs) ?? current.maxConcurrentJobs,
    threads: positiveInt(s.threads) ?? current.threads,
  };
}

/** `workspace/didChangeConfiguration` params → the `tensorzip.server` section, if present. */
export function serverSection(params: unknown): unknown {
  const settings = (params as { settings?: { tensorzip?: { server?: unknown } } } | undefined)?.settings;
  return settings?.tensorzip?.server;
}
