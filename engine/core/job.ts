/** What every engine operation takes and reports: cancellation, progress and threads. */

export type JobPhase = 'analyze' | 'compress' | 'decompress' | 'verify';

export interface Progress {
  phase: JobPhase;
  file: string;
  bytesDone: number;
  bytesTotal: number;
  /** tensor / layer currently being processed, when known */
  tensor?: string;
  layer?: string;
}

export interface JobOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** worker threads for coding (default: number of cores) */
  threads?: number;
}
