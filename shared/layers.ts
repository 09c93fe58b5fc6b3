/**
 * Groups tensors into layers by the index in their names: `layers.12.`, `h.3.`, `blocks.7.`,
 * `encoder.layer.5.`, GGUF-style `blk.4.`. Tensors without a layer index are grouped by their
 * module path (the name without its last component), e.g. `model.embed_tokens`, `conv1`.
 */
const LAYER_RE =
  /(^|[._/])(layers?|h|blocks?|blk|block|stages?|encoder\.layer|decoder\.layer|resblocks|transformer_blocks)[._](\d+)(?=[._/]|$)/;

export function layerOf(tensorName: string): string {
  const m = LAYER_RE.exec(tensorName);
  if (m) return tensorName.slice(0, m.index + m[0].length);
  const cut = Math.max(tensorName.lastIndexOf('.'), tensorName.lastIndexOf('/'));
  return cut > 0 ? tensorName.slice(0, cut) : tensorName;
}
