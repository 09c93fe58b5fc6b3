import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { TzError } from '../core/errors';
import type { FormatReader, ModelLayout } from './types';
import { safetensorsReader, safetensorsIndexReader } from './safetensors';
import { ggufReader } from './gguf';
import { onnxReader } from './onnx';
import { npzReader } from './npz';
import { npyReader } from './npy';
import { pytorchReader } from './pytorch';

/**
 * Every format the engine can open. Order matters only for ambiguous files: the first reader
 * whose detect() accepts the file wins. Add new formats here.
 */
export const READERS: FormatReader[] = [
  safetensorsIndexReader,
  safetensorsReader,
  ggufReader,
  onnxReader,
  npzReader, // before pytorch: both are zips; npz is recognized by extension or a first member *.npy
  npyReader,
  pytorchReader,
];

const HEAD_BYTES = 64 * 1024;

export async function readHead(file: string, bytes = HEAD_BYTES): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const buf = new Uint8Array(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export async function detectReader(file: string): Promise<FormatReader> {
  const head = await readHead(file);
  const reader = READERS.find((r) => r.detect(file, head));
  if (!reader) {
    throw new TzError(
      'UNSUPPORTED',
      file,
      `unrecognized model format (extension "${path.extname(file) || 'none'}"); supported: ` +
        `${READERS.map((r) => r.format).join(', ')}`,
    );
  }
  return reader;
}

/** Opens any supported model file and lists its tensors (headers only). */
export async function openModel(file: string): Promise<ModelLayout> {
  const reader = await detectReader(file);
  return reader.read(file);
}
