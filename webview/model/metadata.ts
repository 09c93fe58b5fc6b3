/**
 * The metadata card's rows for every format: safetensors `__metadata__` (strings), GGUF key/values
 * (token lists and other long arrays arrive summarized by the reader: length + first elements),
 * ONNX producer/opsets/inputs/outputs/metadata_props, a sharded index's `metadata`. Nested objects
 * become dotted keys; long values are folded (the full text stays copyable). DOM-free, unit-tested.
 */

export interface MetadataEntry {
  key: string;
  /** what the card shows (at most FOLD_CHARS, or a summary of a long array) */
  short: string;
  /** the full value as text (what Copy puts on the clipboard) */
  full: string;
  folded: boolean;
}

export const FOLD_CHARS = 160;
const MAX_ENTRIES = 2000;

interface ArraySummary {
  type: 'array';
  elementType: string;
  length: number;
  first: unknown[];
}

function isArraySummary(v: unknown): v is ArraySummary {
  return (
    !!v &&
    typeof v === 'object' &&
    (v as ArraySummary).type === 'array' &&
    typeof (v as ArraySummary).length === 'number' &&
    Array.isArray((v as ArraySummary).first)
  );
}

function scalarText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  return JSON.stringify(v) ?? String(v);
}

function listText(items: readonly unknown[], total: number, elementType?: string): { short: string; full: string } {
  const shown = items.slice(0, 8).map((x) => (typeof x === 'string' ? JSON.stringify(x) : scalarText(x)));
  const count =
    `${total.toLocaleString('en-US')} ${elementType ? elementType.toLowerCase() : 'value'}` +
    `${total === 1 ? '' : 's'}`;
  const more = total > shown.length ? ', …' : '';
  return {
    short: `${count}: ${shown.join(', ')}${more}`,
    full: items.length < total ? `${count} (first ${items.length}): ${JSON.stringify(items)}` : JSON.stringify(items),
  };
}

function entry(key: string, short: string, full: string): MetadataEntry {
  const folded = short.length > FOLD_CHARS;
  return { key, short: folded ? `${short.slice(0, FOLD_CHARS)}…` : short, full, folded: folded || short !== full };
}

/** Flattens a format's metadata object into rows (GGUF's `kv` object is spread to its keys). */
export function metadataEntries(metadata: Record<string, unknown> | undefined): MetadataEntry[] {
  const out: MetadataEntry[] = [];
  if (!metadata) return out;
  const walk = (prefix: string, v: unknown, depth: number): void => {
    if (out.length >= MAX_ENTRIES) return;
    if (isArraySummary(v)) {
      const t = listText(v.first, v.length, v.elementType);
      out.push(entry(prefix, t.short, t.full));
    } else if (Array.isArray(v)) {
      if (v.length > 16 || v.some((x) => x && typeof x === 'object')) {
        const t = listText(v, v.length);
        out.push(entry(prefix, t.short, t.full));
      } else out.push(entry(prefix, v.map(scalarText).join(', '), JSON.stringify(v)));
    } else if (v && typeof v === 'object' && depth < 4) {
      const keys = Object.keys(v);
      if (!keys.length) out.push(entry(prefix, '{}', '{}'));
      for (const k of keys) walk(prefix ? `${prefix}.${k}` : k, (v as Record<string, unknown>)[k], depth + 1);
    } else {
      const text = scalarText(v);
      out.push(entry(prefix, text, text));
    }
  };
  for (const [k, v] of Object.entries(metadata)) {
    // GGUF: the key/values are the metadata; reader facts (version, alignment) follow them
    if (k === 'kv' && v && typeof v === 'object' && !Array.isArray(v))
      for (const [kk, vv] of Object.entries(v)) walk(kk, vv, 1);
  }
  for (const [k, v] of Object.entries(metadata)) if (k !== 'kv') walk(k, v, 0);
  return out;
}
