/** Which paths are models and which are .tzip containers: one list for the editor, the batch commands and the CLI. */

/** Extensions the engine opens as models (custom editor and batch jobs). */
export const MODEL_EXTENSIONS = ['.safetensors', '.gguf', '.onnx', '.npy', '.npz', '.bin', '.pt', '.pth'];
/** Extensions that are unambiguous enough for batch "compress all models in folder". */
export const BATCH_MODEL_EXTENSIONS = ['.safetensors', '.gguf', '.onnx', '.npy', '.npz'];

export function isTzipPath(p: string): boolean {
  return p.toLowerCase().endsWith('.tzip');
}

export function isModelPath(p: string, extensions = MODEL_EXTENSIONS): boolean {
  const lower = p.toLowerCase();
  return extensions.some((e) => lower.endsWith(e));
}
