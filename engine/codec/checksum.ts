/**
 * Per-chunk checksums of a .tzip (the chunk table's raw and payload checksums, docs/format.md):
 * XXH32 (seed 0) since format 2.0, CRC-32 in 1.x files. The index names the algorithm
 * ("checksum"; absent means CRC-32). XXH32 runs in the codec's WebAssembly kernels (much faster than
 * zlib's CRC-32, docs/measurements.md), so call it on a thread that has run initCodec() (pool tasks do).
 */
import { xxh32 } from './index';
import { crc32 } from '../core/crc32';

export type ChunkChecksum = 'crc32' | 'xxh32';

/** What new files use. */
export const CHUNK_CHECKSUM: ChunkChecksum = 'xxh32';

export function chunkChecksum(alg: ChunkChecksum, data: Uint8Array): number {
  return alg === 'xxh32' ? xxh32(data) : crc32(data);
}
