/**
 * The facts the UI needs from the server's `tensorzip/info` answer for a .tzip: the engine's
 * `infoFile` result (protocol/server.ts InfoResult = engine/container/decompress.ts TzipInfo).
 */
import type { InfoResult } from '../protocol/server';
import type { TensorRow } from '../protocol/webview';
import { layerOf } from '../shared/layers';

export interface TzipSummary {
  originalBytes: number;
  storedBytes: number;
  originalName: string;
  originalFormat: string;
  /** the container is lossy (absent when lossless) */
  lossy?: true;
  /** the tensor regions (structure regions such as headers and padding left out) */
  tensors: TensorRow[];
}

export function tzipSummary(info: InfoResult): TzipSummary {
  const out: TzipSummary = {
    originalBytes: info.original.size,
    storedBytes: info.bytes,
    originalName: info.original.name,
    originalFormat: info.original.format,
    tensors: [],
  };
  if (info.lossy) out.lossy = true;
  for (const r of info.regions) {
    if (r.kind !== 'tensor' || r.name === undefined) continue;
    out.tensors.push({
      name: r.name,
      dtype: r.dtype,
      shape: r.shape ?? [],
      bytes: r.bytes,
      layer: layerOf(r.name),
      boundBytes: null,
      exponentEntropy: null,
      storedBytes: r.compressedBytes,
    });
  }
  return out;
}
