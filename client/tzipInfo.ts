/**
 * Reads the facts the UI needs from the server's `tensorzip/info` answer for a .tzip: the
 * engine's `infoFile` JSON (engine/container/decompress.ts TzipInfo: `bytes`, `original {name,
 * size, format}`, `lossy`, `regions[]` with kind/name/dtype/shape/bytes/compressedBytes).
 * protocol/server.ts types it `unknown`, so this checks every field and ignores what it does not know.
 */
import type { TensorRow } from '../protocol/webview';
import { layerOf } from '../shared/layers';

export interface TzipSummary {
  originalBytes?: number;
  storedBytes?: number;
  originalName?: string;
  originalFormat?: string;
  lossy?: boolean;
  tensors: TensorRow[];
}

function num(o: Record<string, unknown>, ...keys: string[]): number | undefined {
  for (const k of keys) {
    const v = o[k];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  }
  return undefined;
}

function str(o: Record<string, unknown>, ...keys: string[]): string | undefined {
  for (const k of keys) if (typeof o[k] === 'string') return o[k] as string;
  return undefined;
}

export function parseTzipInfo(info: unknown): TzipSummary {
  const out: TzipSummary = { tensors: [] };
  if (!info || typeof info !== 'object') return out;
  const o = info as Record<string, unknown>;
  const orig = (o.original && typeof o.original === 'object' ? o.original : {}) as Record<string, unknown>;
  out.originalBytes = num(o, 'originalBytes', 'originalSize') ?? num(orig, 'bytes', 'size');
  out.storedBytes = num(o, 'bytes', 'size', 'storedBytes', 'fileSize', 'containerBytes');
  out.originalName = str(o, 'originalName') ?? str(orig, 'name', 'path');
  out.originalFormat = str(o, 'originalFormat', 'format') ?? str(orig, 'format');
  if (typeof o.lossy === 'boolean') out.lossy = o.lossy;
  else if ((o.lossy && typeof o.lossy === 'object') || typeof o.lossyBits === 'number') out.lossy = true;
  const list = Array.isArray(o.tensors) ? o.tensors : Array.isArray(o.regions) ? o.regions : [];
  for (const t of list) {
    if (!t || typeof t !== 'object') continue;
    const r = t as Record<string, unknown>;
    if (r.kind !== undefined && r.kind !== 'tensor') continue; // structure regions (headers, padding)
    const name = str(r, 'name');
    if (name === undefined) continue;
    const shape = Array.isArray(r.shape) && r.shape.every((d) => typeof d === 'number') ? (r.shape as number[]) : [];
    out.tensors.push({
      name,
      dtype: str(r, 'dtype') ?? '?',
      shape,
      bytes: num(r, 'bytes', 'originalBytes', 'length') ?? 0,
      layer: layerOf(name),
      boundBytes: null,
      exponentEntropy: null,
      storedBytes: num(r, 'storedBytes', 'compressedBytes', 'stored') ?? null,
    });
  }
  return out;
}
