/**
 * Consistency of a sharded safetensors model: the `*.safetensors.index.json` text against the
 * headers of its shards. One pure function (`checkIndex`) is the single source of truth for the
 * index's problems: the language server turns them into diagnostics and quick fixes, the model
 * view into its shard list and partial views. It never touches the disk: the caller reads the
 * shard headers (`readShardStates` in engine/container/shards.ts) for the names `parseIndex`
 * reports. Ranges are UTF-16 offsets into the text (what JS strings and LSP positions use), so
 * the editor's unsaved text is checked as it is.
 */
import { modify, parseTree, printParseErrorCode, type Edit, type Node, type ParseError } from 'jsonc-parser';

/** `[offset, offset + length)` in the index text. */
export interface JsonRange {
  offset: number;
  length: number;
}

/** What a shard's header says about one tensor (a TensorEntry is one). */
export interface ShardTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
}

/**
 * What the caller found on disk for one shard name (as written in `weight_map`).
 * - `present`: the shard's safetensors header was read.
 * - `tzip`: the shard itself is absent but `<shard>.tzip` exists (its tensor list comes from the
 *   container's index); the model cannot be loaded until it is decompressed.
 * - `missing`: neither exists.
 * - `unreadable`: the file exists but its header is corrupt or cannot be read (`message` is the
 *   engine's one-line `<file>: <problem>`).
 */
export type ShardHeader =
  | { state: 'present'; size: number; tensors: ShardTensor[] }
  | { state: 'tzip'; tzipName: string; size: number; tensors: ShardTensor[] }
  | { state: 'missing' }
  | { state: 'unreadable'; message: string };

export type ShardState = ShardHeader['state'];

export type IndexProblemCode =
  | 'INVALID_JSON' // syntax error (comments and trailing commas included: the file is JSON)
  | 'NOT_AN_OBJECT' // top level is not an object
  | 'NO_WEIGHT_MAP' // "weight_map" absent or not an object
  | 'BAD_SHARD_NAME' // a weight_map value that is not a non-empty string
  | 'SHARD_OUTSIDE' // a shard name that leaves the model folder
  | 'SHARD_MISSING'
  | 'SHARD_UNREADABLE'
  | 'SHARD_COMPRESSED' // only `<shard>.tzip` exists
  | 'TENSOR_NOT_IN_SHARD' // listed, but its shard does not hold it
  | 'TENSOR_NOT_IN_INDEX' // a shard holds it, the index does not list it
  | 'DUPLICATE_TENSOR' // a key twice in weight_map, or a tensor held by two shards
  | 'BAD_TOTAL_SIZE' // metadata.total_size is not a non-negative integer
  | 'TOTAL_SIZE_MISMATCH';

export type Severity = 'error' | 'warning' | 'info';

export interface IndexProblem {
  code: IndexProblemCode;
  severity: Severity;
  /** one line, naming the tensor or shard file */
  message: string;
  /** the JSON key or value the problem is about */
  range: JsonRange;
  tensor?: string;
  shard?: string;
  /** other places of the same problem (the other duplicate, further entries naming a missing shard) */
  related?: JsonRange[];
}

export interface WeightMapEntry {
  tensor: string;
  /** undefined when the value is not a string */
  shard: string | undefined;
  keyRange: JsonRange;
  valueRange: JsonRange;
  /** the tensor as its shard's header describes it, when the shard was read and holds it */
  header?: ShardTensor;
}

export interface ShardSummary {
  /** as written in weight_map (or the file name, for a shard the index does not name) */
  name: string;
  state: ShardState;
  /** bytes of the shard file (or of its .tzip) */
  size?: number;
  tzipName?: string;
  /** tensors in the shard's header */
  tensorCount?: number;
  tensorBytes?: number;
  message?: string;
  /** weight_map entries naming it (0 for a shard found beside the index but not named by it) */
  mapped: number;
  /** value range of the first entry naming it */
  firstRange?: JsonRange;
}

/** One text edit (offset/length into the index text, replacement content). */
export type JsonEdit = Edit;

export interface IndexFix {
  kind: 'regenerate' | 'totalSize';
  /** e.g. `Regenerate weight_map and total_size from the 3 shards present` */
  title: string;
  edits: JsonEdit[];
  /** the codes of the problems this fix resolves */
  fixes: IndexProblemCode[];
}

export interface ParsedIndex {
  text: string;
  root: Node | undefined;
  syntaxErrors: ParseError[];
  /** the `"weight_map"` key, when present */
  weightMapKey?: JsonRange;
  /** the weight_map object, when it is one */
  weightMapValue?: JsonRange;
  /** every weight_map property in source order (duplicates kept) */
  entries: WeightMapEntry[];
  totalSize?: { value: unknown; range: JsonRange };
}

export interface IndexCheck extends ParsedIndex {
  problems: IndexProblem[];
  /** every shard named by the index or supplied, by name (numbers in natural order) */
  shards: ShardSummary[];
  /** sum of the bytes of the listed tensors, when every named shard could be read and holds them */
  computedTotalSize?: number;
  fixes: IndexFix[];
}

const range = (n: Node): JsonRange => ({ offset: n.offset, length: n.length });

/** Parses the index text (positions kept). Never throws. */
export function parseIndex(text: string): ParsedIndex {
  const syntaxErrors: ParseError[] = [];
  const root = parseTree(text, syntaxErrors, {
    disallowComments: true,
    allowTrailingComma: false,
    allowEmptyContent: false,
  });
  const out: ParsedIndex = { text, root, syntaxErrors, entries: [] };
  if (!root || root.type !== 'object') return out;
  for (const prop of root.children ?? []) {
    const [k, v] = prop.children ?? [];
    if (!k || typeof k.value !== 'string') continue;
    if (k.value === 'weight_map') {
      out.weightMapKey = range(k);
      if (v?.type === 'object') {
        out.weightMapValue = range(v);
        out.entries = [];
        for (const e of v.children ?? []) {
          const [ek, ev] = e.children ?? [];
          if (!ek || typeof ek.value !== 'string') continue;
          out.entries.push({
            tensor: ek.value,
            shard: ev?.type === 'string' ? (ev.value as string) : undefined,
            keyRange: range(ek),
            valueRange: ev ? range(ev) : range(ek),
          });
        }
      }
    } else if (k.value === 'metadata' && v?.type === 'object') {
      for (const m of v.children ?? []) {
        const [mk, mv] = m.children ?? [];
        if (mk?.value === 'total_size' && mv) out.totalSize = { value: mv.value, range: range(mv) };
      }
    }
  }
  return out;
}

/** True when a shard name stays inside the index's folder (no absolute path, no `..` escape). */
export function isInsideFolder(name: string): boolean {
  if (name === '' || /^([a-zA-Z]:)?[\\/]/.test(name)) return false;
  let depth = 0;
  for (const seg of name.split(/[\\/]/)) {
    if (seg === '..') depth--;
    else if (seg !== '.' && seg !== '') depth++;
    if (depth < 0) return false;
  }
  return depth > 0;
}

/** Distinct valid shard names the index refers to, in first-mention order: what the caller must read. */
export function shardNames(parsed: ParsedIndex): string[] {
  const seen = new Set<string>();
  for (const e of parsed.entries) if (e.shard && isInsideFolder(e.shard)) seen.add(e.shard);
  return [...seen];
}

/** HF shard naming `<prefix>-00001-of-00003.safetensors`: siblings worth reading for "not in the index". */
export const SHARD_NAME = /^(.*)-(\d+)-of-(\d+)\.safetensors$/;

function listNames(names: string[], max = 3): string {
  const shown = names
    .slice(0, max)
    .map((n) => `"${n}"`)
    .join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/**
 * Checks an index against its shards' headers. `shards` maps shard names (as written in
 * weight_map) to what was found; a referenced name absent from the map is treated as not read
 * (no problem is invented for it). Shards in the map that the index does not name are checked for
 * tensors the index misses. Pure: same inputs, same problems.
 */
export function checkIndex(input: string | ParsedIndex, shards: ReadonlyMap<string, ShardHeader>): IndexCheck {
  const p = typeof input === 'string' ? parseIndex(input) : input;
  const problems: IndexProblem[] = [];
  const add = (pr: IndexProblem) => problems.push(pr);
  const result: IndexCheck = { ...p, problems, shards: [], fixes: [] };

  for (const e of p.syntaxErrors) {
    add({
      code: 'INVALID_JSON',
      severity: 'error',
      message: `invalid JSON: ${describeParseError(printParseErrorCode(e.error))}`,
      range: { offset: e.offset, length: Math.max(1, e.length) },
    });
  }
  const root = p.root;
  if (!root) return result;
  if (root.type !== 'object') {
    add({
      code: 'NOT_AN_OBJECT',
      severity: 'error',
      message: `the index must be a JSON object, found ${root.type}`,
      range: range(root),
    });
    return result;
  }
  if (!p.weightMapValue) {
    add({
      code: 'NO_WEIGHT_MAP',
      severity: 'error',
      message: p.weightMapKey
        ? '"weight_map" must be an object of tensor name to shard file'
        : 'the index has no "weight_map" object',
      range: p.weightMapKey ?? { offset: root.offset, length: 1 },
    });
    return result;
  }
  const wmKey = p.weightMapKey!;

  // shard summaries in first-mention order
  const summaries = new Map<string, ShardSummary & { ranges: JsonRange[] }>();
  const firstByTensor = new Map<string, WeightMapEntry>();
  const lastByTensor = new Map<string, WeightMapEntry>();
  for (const e of p.entries) {
    lastByTensor.set(e.tensor, e);
    const prev = firstByTensor.get(e.tensor);
    if (prev) {
      const where = prev.shard === e.shard ? `"${e.shard}"` : `"${prev.shard}" and "${e.shard}"`;
      add({
        code: 'DUPLICATE_TENSOR',
        severity: 'warning',
        message: `tensor "${e.tensor}" is listed twice in weight_map (${where}); loaders keep only the last`,
        range: e.keyRange,
        tensor: e.tensor,
        related: [prev.keyRange],
      });
    } else firstByTensor.set(e.tensor, e);
    if (e.shard === undefined || e.shard === '') {
      add({
        code: 'BAD_SHARD_NAME',
        severity: 'error',
        message: `weight_map["${e.tensor}"] must be a shard file name`,
        range: e.valueRange,
        tensor: e.tensor,
      });
      continue;
    }
    if (!isInsideFolder(e.shard)) {
      add({
        code: 'SHARD_OUTSIDE',
        severity: 'error',
        message: `shard "${e.shard}" of tensor "${e.tensor}" points outside the model folder`,
        range: e.valueRange,
        tensor: e.tensor,
        shard: e.shard,
      });
      continue;
    }
    let s = summaries.get(e.shard);
    if (!s)
      summaries.set(
        e.shard,
        (s = { name: e.shard, state: 'missing', mapped: 0, firstRange: e.valueRange, ranges: [] }),
      );
    s.mapped++;
    s.ranges.push(e.valueRange);
  }
  for (const name of shards.keys()) {
    if (!summaries.has(name)) summaries.set(name, { name, state: 'missing', mapped: 0, ranges: [] });
  }

  // per shard: state, and which shards hold each tensor
  const holders = new Map<string, string[]>();
  const byShard = new Map<string, Map<string, ShardTensor>>();
  let allRead = true;
  for (const s of summaries.values()) {
    const h = shards.get(s.name);
    if (!h) {
      allRead = false;
      s.state = 'missing';
      continue;
    }
    s.state = h.state;
    const where = s.firstRange ?? wmKey;
    const related = s.ranges.length > 1 ? s.ranges.slice(1) : undefined;
    const mappedNote = s.mapped === 1 ? '1 tensor is mapped to it' : `${s.mapped} tensors are mapped to it`;
    if (h.state === 'missing') {
      allRead = false;
      if (s.mapped > 0)
        add({
          code: 'SHARD_MISSING',
          severity: 'error',
          message: `shard file "${s.name}" is missing (${mappedNote})`,
          range: where,
          shard: s.name,
          ...(related ? { related } : {}),
        });
      continue;
    }
    if (h.state === 'unreadable') {
      allRead = false;
      s.message = h.message;
      add({
        code: 'SHARD_UNREADABLE',
        severity: 'error',
        message: `shard "${s.name}" cannot be read: ${h.message}`,
        range: where,
        shard: s.name,
        ...(related ? { related } : {}),
      });
      continue;
    }
    s.size = h.size;
    s.tensorCount = h.tensors.length;
    s.tensorBytes = h.tensors.reduce((a, t) => a + t.bytes, 0);
    if (h.state === 'tzip') {
      s.tzipName = h.tzipName;
      if (s.mapped > 0)
        add({
          code: 'SHARD_COMPRESSED',
          severity: 'info',
          message: `shard "${s.name}" is compressed as "${h.tzipName}"; decompress it before loading the model`,
          range: where,
          shard: s.name,
        });
    }
    const names = new Map<string, ShardTensor>();
    for (const t of h.tensors) {
      names.set(t.name, t);
      const list = holders.get(t.name);
      if (list) list.push(s.name);
      else holders.set(t.name, [s.name]);
    }
    byShard.set(s.name, names);
  }

  // listed tensors against their shards
  let total = 0;
  let totalKnown = allRead;
  for (const e of p.entries) {
    if (!e.shard || !isInsideFolder(e.shard)) {
      totalKnown = false;
      continue;
    }
    const held = byShard.get(e.shard);
    if (!held) continue; // missing/unreadable: reported once on the shard
    const t = held.get(e.tensor);
    if (t) {
      e.header = t;
      if (lastByTensor.get(e.tensor) === e) total += t.bytes; // JSON loaders keep the last duplicate
      continue;
    }
    totalKnown = false;
    const elsewhere = holders.get(e.tensor);
    const hint = elsewhere ? `; it is in ${listNames(elsewhere)}` : '';
    add({
      code: 'TENSOR_NOT_IN_SHARD',
      severity: 'error',
      message: `tensor "${e.tensor}" is mapped to "${e.shard}" but that shard does not contain it${hint}`,
      range: e.keyRange,
      tensor: e.tensor,
      shard: e.shard,
    });
  }

  // tensors the shards hold: in two shards, or not listed
  for (const [tensor, where] of holders) {
    const listed = firstByTensor.get(tensor);
    if (where.length > 1) {
      add({
        code: 'DUPLICATE_TENSOR',
        severity: 'warning',
        message: `tensor "${tensor}" is stored in ${where.length} shards: ${listNames(where, 5)}`,
        range: listed?.keyRange ?? wmKey,
        tensor,
        shard: where[0]!,
      });
    }
    if (!listed) {
      add({
        code: 'TENSOR_NOT_IN_INDEX',
        severity: 'warning',
        message: `tensor "${tensor}" is in shard "${where[0]}" but weight_map does not list it`,
        range: wmKey,
        tensor,
        shard: where[0]!,
      });
    }
  }

  if (totalKnown) result.computedTotalSize = total;
  if (p.totalSize) {
    const v = p.totalSize.value;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      add({
        code: 'BAD_TOTAL_SIZE',
        severity: 'error',
        message: 'metadata.total_size must be a non-negative integer (bytes of all tensors)',
        range: p.totalSize.range,
      });
    } else if (totalKnown && v !== total) {
      add({
        code: 'TOTAL_SIZE_MISMATCH',
        severity: 'warning',
        message:
          `metadata.total_size is ${v} but the listed tensors hold ${total} bytes (` +
          `${total > v ? '+' : ''}${total - v})`,
        range: p.totalSize.range,
      });
    }
  }

  result.shards = [...summaries.values()]
    .map(({ ranges: _r, ...s }) => s)
    .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  result.fixes = fixesFor(p, problems, summaries, byShard, holders);
  return result;
}

const MAP_CODES: IndexProblemCode[] = [
  'SHARD_MISSING',
  'TENSOR_NOT_IN_SHARD',
  'TENSOR_NOT_IN_INDEX',
  'DUPLICATE_TENSOR',
  'BAD_SHARD_NAME',
];
const SIZE_CODES: IndexProblemCode[] = ['TOTAL_SIZE_MISMATCH', 'BAD_TOTAL_SIZE'];

/**
 * A fix is offered only when it is certain: every shard that is present (or compressed) was read,
 * none is unreadable, and no tensor is stored twice (which shard would win is a guess).
 */
function fixesFor(
  p: ParsedIndex,
  problems: IndexProblem[],
  summaries: Map<string, ShardSummary>,
  byShard: Map<string, Map<string, ShardTensor>>,
  holders: Map<string, string[]>,
): IndexFix[] {
  const codes = new Set(problems.map((x) => x.code));
  const mapBroken = MAP_CODES.some((c) => codes.has(c));
  const sizeBroken = SIZE_CODES.some((c) => codes.has(c));
  if (!mapBroken && !sizeBroken) return [];
  if (codes.has('INVALID_JSON') || codes.has('SHARD_UNREADABLE') || codes.has('SHARD_OUTSIDE') || byShard.size === 0)
    return [];
  for (const where of holders.values()) if (where.length > 1) return [];
  const names = [...byShard.keys()];
  const opts = { formattingOptions: detectFormatting(p.text) };
  let total = 0;
  const wm: Record<string, string> = {};
  for (const tensor of [...holders.keys()].sort()) {
    const shard = holders.get(tensor)![0]!;
    wm[tensor] = shard;
    total += byShard.get(shard)!.get(tensor)!.bytes;
  }
  if (mapBroken) {
    let text = p.text;
    // the total first, then the map (jsonc-parser edits apply to the text they were computed on)
    const e1 = modify(text, ['metadata', 'total_size'], total, opts);
    text = applyEditsTo(text, e1);
    const e2 = modify(text, ['weight_map'], wm, opts);
    const after = applyEditsTo(text, e2);
    const present = names.filter((n) => summaries.get(n)!.state !== 'missing');
    return [
      {
        kind: 'regenerate',
        title:
          `Regenerate weight_map and total_size from the ${present.length} shard` +
          `${present.length === 1 ? '' : 's'} present`,
        edits: [wholeTextEdit(p.text, after)],
        fixes: [...MAP_CODES, ...SIZE_CODES],
      },
    ];
  }
  // only the total is wrong: the map is consistent, so its sum is the answer
  return [
    {
      kind: 'totalSize',
      title: `Set metadata.total_size to ${total}`,
      edits: modify(p.text, ['metadata', 'total_size'], total, opts),
      fixes: SIZE_CODES,
    },
  ];
}

function applyEditsTo(text: string, edits: Edit[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.offset - a.offset))
    out = out.slice(0, e.offset) + e.content + out.slice(e.offset + e.length);
  return out;
}

/** One minimal edit turning `before` into `after` (common prefix and suffix kept), so undo is one step. */
function wholeTextEdit(before: string, after: string): Edit {
  let a = 0;
  const max = Math.min(before.length, after.length);
  while (a < max && before.charCodeAt(a) === after.charCodeAt(a)) a++;
  let b = 0;
  while (b < max - a && before.charCodeAt(before.length - 1 - b) === after.charCodeAt(after.length - 1 - b)) b++;
  return { offset: a, length: before.length - a - b, content: after.slice(a, after.length - b) };
}

function detectFormatting(text: string): { insertSpaces: boolean; tabSize: number; eol: string } {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const m = /\n([ \t]+)"/.exec(text);
  if (m && m[1]!.startsWith('\t')) return { insertSpaces: false, tabSize: 1, eol };
  return { insertSpaces: true, tabSize: m ? m[1]!.length : 2, eol };
}

function describeParseError(code: string): string {
  return code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}
