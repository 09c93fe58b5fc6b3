/**
 * What every format reader produces: a list of tensors with their exact byte ranges in the file.
 * Everything else (analysis, compression, the UI) works from this, so a format only has to find
 * where its tensors are. Bytes outside tensor ranges are "structure" and are kept verbatim by the
 * container.
 */
export type FormatName =
  'safetensors' | 'safetensors-index' | 'gguf' | 'pytorch' | 'onnx' | 'npy' | 'npz' | 'tzip' | 'znn';

export interface TensorEntry {
  name: string;
  /** canonical dtype name (see engine/core/dtypes.ts); unknown/quantized types keep their own name */
  dtype: string;
  shape: number[];
  /** absolute byte offset of the tensor's data in `file` */
  offset: number;
  /** byte length of the tensor's data */
  bytes: number;
  /** file holding the data when it is not the layout's own path (sharded safetensors, ONNX external data) */
  file?: string;
  /** format-specific facts shown in the UI (quant block layout, storage key, strides, ...) */
  extra?: Record<string, unknown>;
}

export interface ModelLayout {
  path: string;
  format: FormatName;
  /** size of `path` in bytes */
  size: number;
  /** in file order (ascending offset within each file); ranges may be shared (views of one storage) */
  tensors: TensorEntry[];
  /** summarized metadata (large arrays summarized, never dumped whole) */
  metadata?: Record<string, unknown>;
  /** for multi-file models: every file that is part of the model (shards, external data) */
  files?: string[];
}

export interface FormatReader {
  format: FormatName;
  /** cheap check on the file name and its first bytes (up to 64 KiB, may be shorter) */
  detect(path: string, head: Uint8Array): boolean;
  /** reads only headers/metadata; never the tensor data; throws TzError on malformed input */
  read(path: string): Promise<ModelLayout>;
}
