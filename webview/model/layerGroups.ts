/**
 * What the per-layer chart shows at any model size: layers grouped by their name structure
 * (blocks, then the layers within: `model.layers` holds `model.layers.0` ... `model.layers.31`,
 * `conv2d_*` holds `conv2d_0` ... `conv2d_107`), a zoomed range of the current level, and never
 * more bars than the plot has room for (consecutive items share a bar when they do not fit).
 * DOM-free, unit-tested.
 */
import type { LayerRow } from '../../protocol/webview';

/** A layer's block: its name without the trailing index (`model.layers.12` -> `model.layers`, `conv2d_107` ->
 * `conv2d`). */
export function blockOf(layer: string): string {
  const m = /^(.*?)[._/-]?\d+$/.exec(layer);
  return m && m[1] ? m[1] : layer;
}

export interface Block {
  name: string;
  layers: LayerRow[];
}

/** Blocks in order of first appearance (storage order); a block's layers keep their order. */
export function blocksOf(layers: readonly LayerRow[]): Block[] {
  const out: Block[] = [];
  const by = new Map<string, Block>();
  for (const l of layers) {
    const k = blockOf(l.name);
    let b = by.get(k);
    if (!b) {
      b = { name: k, layers: [] };
      by.set(k, b);
      out.push(b);
    }
    b.layers.push(l);
  }
  return out;
}

/** One bar: a layer, a block of layers, or a run of consecutive items that share a bar. */
export interface ChartItem {
  kind: 'layer' | 'block' | 'run';
  /** layer or block name; a run's first and last member names */
  name: string;
  label: string;
  /** member layers (a layer item has itself) */
  layers: LayerRow[];
  /** position of the first member in the level's list, and how many members */
  start: number;
  count: number;
  tensors: number;
  bytes: number;
  /** NaN while any member is not analysed */
  estimateBytes: number;
  storedBytes?: number;
}

/** Where the chart is: the top level (`block` null) or inside one block, and a range of that level's members. */
export interface ChartZoom {
  block: string | null;
  start: number;
  end: number;
}

export const TOP: ChartZoom = { block: null, start: 0, end: Infinity };

function layerEstimate(l: LayerRow): number {
  return l.estimateBytes ?? NaN;
}

function aggregate(
  kind: ChartItem['kind'],
  name: string,
  label: string,
  layers: LayerRow[],
  start: number,
  count: number,
): ChartItem {
  let tensors = 0;
  let bytes = 0;
  let est = 0;
  let stored: number | undefined;
  for (const l of layers) {
    tensors += l.tensors;
    bytes += l.bytes;
    est += layerEstimate(l);
    if (l.storedBytes !== undefined) stored = (stored ?? 0) + l.storedBytes;
  }
  const it: ChartItem = { kind, name, label, layers, start, count, tensors, bytes, estimateBytes: est };
  if (stored !== undefined) it.storedBytes = stored;
  return it;
}

/**
 * The members of a level: inside a block, its layers; at the top, the layers themselves when they
 * fit (or form a single block), else one item per block.
 */
export function levelMembers(layers: readonly LayerRow[], block: string | null, capacity: number): ChartItem[] {
  if (block !== null) {
    const b = blocksOf(layers).find((x) => x.name === block);
    return (b?.layers ?? []).map((l, i) => aggregate('layer', l.name, l.name, [l], i, 1));
  }
  const blocks = blocksOf(layers);
  if (layers.length <= capacity || blocks.length === 1 || blocks.length === layers.length) {
    return layers.map((l, i) => aggregate('layer', l.name, l.name, [l], i, 1));
  }
  return blocks.map((b, i) =>
    b.layers.length === 1
      ? aggregate('layer', b.layers[0]!.name, b.layers[0]!.name, b.layers, i, 1)
      : aggregate('block', b.name, `${b.name} ×${b.layers.length}`, b.layers, i, 1),
  );
}

/** Bars for a zoom: the range of the level's members, runs of consecutive members when more than `capacity`. */
export function chartItems(
  layers: readonly LayerRow[],
  zoom: ChartZoom,
  capacity: number,
): { items: ChartItem[]; members: number; start: number; end: number } {
  const cap = Math.max(1, Math.floor(capacity));
  const members = levelMembers(layers, zoom.block, cap);
  const start = Math.max(0, Math.min(members.length, zoom.start));
  const end = Math.max(start, Math.min(members.length, zoom.end));
  const range = members.slice(start, end);
  if (range.length <= cap)
    return { items: range.map((m, i) => ({ ...m, start: start + i })), members: members.length, start, end };
  const per = Math.ceil(range.length / cap);
  const items: ChartItem[] = [];
  for (let i = 0; i < range.length; i += per) {
    const part = range.slice(i, i + per);
    const first = part[0]!;
    const last = part[part.length - 1]!;
    const label = part.length === 1 ? first.label : `${first.name} … ${last.name}`;
    items.push(
      aggregate(
        part.length === 1 ? first.kind : 'run',
        label,
        label,
        part.flatMap((p) => p.layers),
        start + i,
        part.length,
      ),
    );
  }
  return { items, members: members.length, start, end };
}

/** Zoom to the members under a brushed range of bars [i, j] (inclusive). */
export function zoomToBars(zoom: ChartZoom, items: readonly ChartItem[], i: number, j: number): ChartZoom {
  const a = items[Math.max(0, Math.min(i, j))]!;
  const b = items[Math.min(items.length - 1, Math.max(i, j))]!;
  return { block: zoom.block, start: a.start, end: b.start + b.count };
}

/** A label shortened to `maxChars`, keeping its start and its informative tail. */
export function fitLabel(label: string, maxChars: number): string {
  if (label.length <= maxChars) return label;
  if (maxChars <= 1) return '';
  const tail = Math.ceil((maxChars - 1) / 2);
  return `${label.slice(0, maxChars - 1 - tail)}…${label.slice(label.length - tail)}`;
}
