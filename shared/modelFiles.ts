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

/** Sorts by path with digit runs compared by value ("step-9" before "step-10"); returns a new array. */
export function naturalOrder<T extends { path: string }>(items: readonly T[]): T[] {
  const key = (s: string) => s.toLowerCase().replace(/\d+/g, (d) => d.replace(/^0+(?=\d)/, '').padStart(12, '0'));
  return [...items].sort((a, b) => (key(a.path) < key(b.path) ? -1 : key(a.path) > key(b.path) ? 1 : 0));
}
