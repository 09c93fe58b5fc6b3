/**
 * Splits a file into regions that tile it: tensor ranges (coded with their dtype) and the
 * structure between them (headers, padding, metadata: coded as 'RAW'). Views that share a range
 * with an earlier tensor, and tensors stored in other files, are not regions of this file.
 */
import { dtypeInfo } from '../core/dtypes';
import type { ModelLayout } from '../formats/types';
import { blockBytesOf } from '../codec/blocks';
import type { RegionRecord } from './format';

export type PlannedRegion = Omit<RegionRecord, 'chunk' | 'chunks'>;

export function planRegions(layout: ModelLayout, fileSize: number): PlannedRegion[] {
  const own = layout.tensors
    .filter((t) => (t.file === undefined || t.file === layout.path) && t.bytes > 0 && t.offset + t.bytes <= fileSize)
    .sort((a, b) => a.offset - b.offset || b.bytes - a.bytes);
  const out: PlannedRegion[] = [];
  let pos = 0;
  for (const t of own) {
    if (t.offset < pos) continue; // overlaps an earlier region: its bytes are already covered
    if (t.offset > pos) out.push({ kind: 'raw', dtype: 'RAW', offset: pos, length: t.offset - pos });
    // dtypes the codec has no element layout for are still coded (as bytes) under their own name
    const dtype = dtypeInfo(t.dtype).size > 0 || t.dtype ? t.dtype : 'RAW';
    out.push({ kind: 'tensor', name: t.name, dtype, shape: t.shape, offset: t.offset, length: t.bytes });
    pos = t.offset + t.bytes;
  }
  if (pos < fileSize) out.push({ kind: 'raw', dtype: 'RAW', offset: pos, length: fileSize - pos });
  return out;
}

/** One chunk to code: its region, byte range in the file, and how it is coded. */
export interface ChunkJob {
  region: number;
  offset: number;
  length: number;
  dtype: string;
  /** GGUF block types: where in its block the chunk starts (chunks are 1 MiB, blocks e.g. 34 bytes) */
  phase: number;
  lossyBits?: number;
}

/** Every chunk of the planned regions in file order, and the regions' records (chunk ranges,
 *  lossy bits) as the index stores them. Compress and the what-if prediction both chunk this way. */
export function chunkJobs(
  planned: PlannedRegion[],
  chunkBytes: number,
  bitsOf: (region: number) => number | undefined = () => undefined,
): { jobs: ChunkJob[]; regions: RegionRecord[] } {
  const jobs: ChunkJob[] = [];
  // plain loops and assignments: files of tens of thousands of tiny tensors plan as many regions
  const regions: RegionRecord[] = new Array(planned.length);
  for (let ri = 0; ri < planned.length; ri++) {
    const r = planned[ri]!;
    const first = jobs.length;
    const bits = bitsOf(ri);
    const bb = blockBytesOf(r.dtype);
    for (let p = 0; p < r.length; p += chunkBytes) {
      const job: ChunkJob = {
        region: ri,
        offset: r.offset + p,
        length: Math.min(chunkBytes, r.length - p),
        dtype: r.dtype,
        phase: bb > 0 ? p % bb : 0,
      };
      if (bits !== undefined) job.lossyBits = bits;
      jobs.push(job);
    }
    const rec: RegionRecord = Object.assign({}, r, { chunk: first, chunks: jobs.length - first });
    if (bits !== undefined) rec.lossyBits = bits;
    regions[ri] = rec;
  }
  return { jobs, regions };
}
