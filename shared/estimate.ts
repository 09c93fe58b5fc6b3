/**
 * The one estimate of a lossless .tzip's size that every view shows (header, table, layer chart,
 * workspace panel, lossy panel, CLI): each tensor's order-0 entropy of its byte planes plus the
 * container's framing, plus the bytes outside tensors kept verbatim. It is an estimate, not a bound:
 * the coder's dedupe, palettes and chunk-adaptive models often beat the order-0 figure.
 * Pure arithmetic (no I/O) so the webview uses the very same numbers.
 */

/** container framing per chunk and per file (see docs/format.md) */
export const FRAMING_PER_CHUNK = 40;
export const FRAMING_PER_FILE = 256;
export const CONTAINER_CHUNK = 1 << 20;

/** Estimated stored bytes of one tensor from its order-0 bound. */
export function tensorEstimate(boundBytes: number, bytes: number): number {
  return boundBytes + Math.max(1, Math.ceil(bytes / CONTAINER_CHUNK)) * FRAMING_PER_CHUNK;
}

/** Estimated .tzip size from the tensors' estimates and the bytes outside tensors. */
export function fileEstimate(tensorEstimates: number, structureBytes: number): number {
  return tensorEstimates + Math.max(0, structureBytes) + FRAMING_PER_FILE;
}
