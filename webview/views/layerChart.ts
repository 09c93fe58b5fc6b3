/**
 * Per-layer compressibility chart, hand-made SVG. Why not a charting library: the chart is one
 * bar series plus an overlay per bar; a library (Chart.js ~200 KB, or D3 pieces) would add weight,
 * a canvas (invisible to screen readers and e2e selectors) or inline styles that a strict CSP
 * blocks. SVG elements built with DOM APIs theme through CSS variables.
 *
 * At any size: bars are layers, blocks of layers (by name structure) or runs of consecutive
 * layers, never more than the plot has pixels for (layerGroups.ts). Click a block or a run to zoom
 * in, drag across bars to zoom to them (brush), "Zoom out" or Backspace to go back.
 */
import type { LayerRow } from '../../protocol/webview';
import { clear, s } from '../dom';
import { niceTicks } from '../model/chart';
import { chartItems, fitLabel, TOP, zoomToBars, type ChartItem, type ChartZoom } from '../model/layerGroups';
import { formatBytes, formatInt, formatPercent } from '../../shared/format';

export interface LayerChartCallbacks {
  onSelect(layer: string | null): void;
}

const HEIGHT = 200;
const LEFT = 64;
const TOP_PAD = 8;
const BOTTOM = 22;
/** narrowest bar: 2 px and a 1 px gap */
const MIN_SLOT = 3;
const MAX_SLOT = 48;
const CHAR_PX = 6.2;

export class LayerChartView {
  private layers: LayerRow[] = [];
  private items: ChartItem[] = [];
  private selected: string | null = null;
  private zooms: ChartZoom[] = [TOP];
  private slot = 0;
  private itemOfLayer = new Map<string, number>();
  private brushFrom: number | null = null;
  private brushRect: SVGElement | null = null;

  constructor(
    private readonly host: HTMLElement,
    private readonly svg: SVGSVGElement,
    private readonly caption: HTMLElement,
    private readonly nav: { path: HTMLElement; out: HTMLElement },
    private readonly cb: LayerChartCallbacks,
  ) {
    host.addEventListener('keydown', (e) => this.onKey(e));
    svg.addEventListener('pointerdown', (e) => {
      if (e.button !== 0 || !this.items.length) return;
      this.brushFrom = this.barAt(e);
      svg.setPointerCapture?.(e.pointerId);
    });
    svg.addEventListener('pointermove', (e) => {
      if (this.brushFrom === null) return;
      const to = this.barAt(e);
      this.drawBrush(this.brushFrom, to);
    });
    svg.addEventListener('pointerup', (e) => {
      const from = this.brushFrom;
      this.brushFrom = null;
      this.brushRect?.remove();
      this.brushRect = null;
      if (from === null) return;
      const to = this.barAt(e);
      if (to !== from) this.zoomTo(zoomToBars(this.zoom, this.items, from, to));
      else this.activate(from);
    });
    nav.out.addEventListener('click', () => this.zoomOut());
  }

  private get zoom(): ChartZoom {
    return this.zooms[this.zooms.length - 1]!;
  }

  private barAt(e: PointerEvent | MouseEvent): number {
    const r = this.svg.getBoundingClientRect();
    const x = e.clientX - r.left;
    return Math.max(0, Math.min(this.items.length - 1, Math.floor((x - LEFT) / Math.max(1e-9, this.slot))));
  }

  private drawBrush(a: number, b: number): void {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    if (!this.brushRect) {
      this.brushRect = s('rect', { class: 'tz-brush', y: TOP_PAD, height: HEIGHT - BOTTOM - TOP_PAD });
      this.svg.append(this.brushRect);
    }
    this.brushRect.setAttribute('x', String(LEFT + lo * this.slot));
    this.brushRect.setAttribute('width', String((hi - lo + 1) * this.slot));
  }

  /** A click on bar i: zoom into a block or a run, select (or clear) a layer. */
  private activate(i: number): void {
    const it = this.items[i];
    if (!it) return;
    if (it.kind === 'block') this.zoomTo({ block: it.name, start: 0, end: Infinity });
    else if (it.kind === 'run') this.zoomTo({ block: this.zoom.block, start: it.start, end: it.start + it.count });
    else this.cb.onSelect(it.name === this.selected ? null : it.name);
  }

  private zoomTo(z: ChartZoom): void {
    this.zooms.push(z);
    this.render(this.layers);
  }

  private zoomOut(): void {
    if (this.zooms.length > 1) this.zooms.pop();
    this.render(this.layers);
  }

  private activeLayer: string | null = null;

  /**
   * Marks where a running job is: the bar holding the layer being processed, and the bars before
   * it (storage order, the order jobs stream through the file) as done. Toggles classes only.
   */
  setJobLayer(layer: string | null): void {
    this.activeLayer = layer;
    const idx = layer === null ? -1 : (this.itemOfLayer.get(layer) ?? -1);
    this.svg.querySelectorAll<SVGGElement>('g[data-layer-index]').forEach((g) => {
      const i = Number(g.getAttribute('data-layer-index'));
      g.classList.toggle('tz-job-active', i === idx);
      g.classList.toggle('tz-job-done', idx >= 0 && i < idx);
    });
  }

  /** Bars holding these layers are marked damaged (a failed verify). */
  private damaged = new Set<string>();
  setDamaged(layers: Iterable<string>): void {
    this.damaged = new Set(layers);
    this.render(this.layers);
  }

  setSelected(layer: string | null): void {
    this.selected = layer;
    this.render(this.layers);
  }

  render(layers: LayerRow[]): void {
    this.layers = layers;
    const width = Math.max(320, this.host.clientWidth || 640);
    const plotW = Math.max(MIN_SLOT, width - LEFT - 8);
    const view = chartItems(layers, this.zoom, Math.floor(plotW / MIN_SLOT));
    const items = view.items;
    this.items = items;
    this.slot = items.length ? Math.min(MAX_SLOT, plotW / items.length) : 0;
    const svg = this.svg;
    clear(svg);
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(HEIGHT));
    svg.setAttribute('viewBox', `0 0 ${width} ${HEIGHT}`);
    svg.setAttribute('data-layer-count', String(layers.length));
    svg.setAttribute('data-bar-count', String(items.length));
    const plotBottom = HEIGHT - BOTTOM;
    const plotH = plotBottom - TOP_PAD;
    const { ticks, max } = niceTicks(items.reduce((m, l) => Math.max(m, l.bytes), 0));
    const y = (v: number) => plotBottom - (v / max) * plotH;
    for (const t of ticks) {
      svg.append(s('line', { class: 'tz-grid', x1: LEFT, x2: width - 4, y1: y(t), y2: y(t) }));
      svg.append(s('text', { class: 'tz-axis-label', x: LEFT - 6, y: y(t) + 4, 'text-anchor': 'end' }, formatBytes(t)));
    }
    this.itemOfLayer.clear();
    const gap = this.slot >= 10 ? Math.max(1, this.slot * 0.18) : 1;
    const w = Math.max(1, this.slot - gap);
    items.forEach((it, i) => {
      for (const l of it.layers) this.itemOfLayer.set(l.name, i);
      const x = LEFT + i * this.slot + gap / 2;
      const sel = this.selected !== null && it.layers.some((l) => l.name === this.selected);
      const dmg = this.damaged.size > 0 && it.layers.some((l) => this.damaged.has(l.name));
      const cls = ['tz-layer-bar', `tz-kind-${it.kind}`, sel ? 'tz-selected' : '', dmg ? 'tz-damaged' : '']
        .filter(Boolean)
        .join(' ');
      const grp = s('g', { class: cls, 'data-layer-index': i, 'data-layer': it.name, 'data-kind': it.kind });
      grp.append(s('title', {}, itemText(it)));
      grp.append(
        s('rect', { class: 'tz-bar-now', x, y: y(it.bytes), width: w, height: Math.max(0, plotBottom - y(it.bytes)) }),
      );
      const pred = it.storedBytes ?? (Number.isFinite(it.estimateBytes) ? it.estimateBytes : null);
      if (pred !== null)
        grp.append(
          s('rect', {
            class: it.storedBytes !== undefined ? 'tz-bar-stored' : 'tz-bar-pred',
            x,
            y: y(Math.min(pred, max)),
            width: w,
            height: Math.max(0, plotBottom - y(Math.min(pred, max))),
          }),
        );
      if (it.storedBytes !== undefined && Number.isFinite(it.estimateBytes))
        grp.append(
          s('line', {
            class: 'tz-bar-bound',
            x1: x - 1,
            x2: x + w + 1,
            y1: y(it.estimateBytes),
            y2: y(it.estimateBytes),
          }),
        );
      svg.append(grp);
    });
    // labels that fit: every k-th bar, each shortened to the room it has
    if (items.length) {
      const longest = Math.max(...items.map((it) => it.label.length));
      const want = Math.min(longest, 28) * CHAR_PX + 8;
      const stride = Math.max(1, Math.ceil(want / Math.max(1e-9, this.slot)));
      const room = Math.floor((stride * this.slot - 8) / CHAR_PX);
      for (let i = 0; i < items.length; i += stride) {
        const text = fitLabel(items[i]!.label, room);
        if (text)
          svg.append(
            s('text', { class: 'tz-axis-label tz-bar-label', x: LEFT + i * this.slot + gap / 2, y: HEIGHT - 6 }, text),
          );
      }
    }
    if (this.activeLayer !== null) this.setJobLayer(this.activeLayer);
    const where = this.zoom.block ? `${this.zoom.block}` : 'all layers';
    const ranged = view.start > 0 || view.end < view.members;
    const range = ranged ? ` · ${formatInt(view.start + 1)}–${formatInt(view.end)} of ${formatInt(view.members)}` : '';
    this.nav.path.textContent = `${where}${range}`;
    this.nav.out.hidden = this.zooms.length <= 1;
    const sel = this.selected ? layers.find((l) => l.name === this.selected) : undefined;
    const perBar = items.some((it) => it.kind === 'run')
      ? ' Each bar sums consecutive layers; click or drag across bars to zoom in.'
      : items.some((it) => it.kind === 'block')
        ? ' Bars are blocks of layers; click one to see its layers.'
        : ' Click a bar (or use ←/→) to select a layer; drag across bars to zoom.';
    this.caption.textContent = sel
      ? layerText(sel)
      : `${formatInt(layers.length)} layer${layers.length === 1 ? '' : 's'} in storage order, ` +
        `${formatInt(items.length)} bar${items.length === 1 ? '' : 's'}.${perBar}`;
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key === 'Backspace' || e.key === '-') {
      e.preventDefault();
      this.zoomOut();
      return;
    }
    if (!this.items.length) return;
    const i = this.selected === null ? -1 : (this.itemOfLayer.get(this.selected) ?? -1);
    let next: number;
    if (e.key === 'ArrowRight') next = Math.min(this.items.length - 1, i + 1);
    else if (e.key === 'ArrowLeft') next = i < 0 ? 0 : Math.max(0, i - 1);
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = this.items.length - 1;
    else if (e.key === 'Enter') {
      if (i >= 0) this.activate(i);
      return;
    } else if (e.key === 'Escape') {
      this.cb.onSelect(null);
      return;
    } else return;
    e.preventDefault();
    const it = this.items[next];
    if (next >= 0 && next !== i && it) this.cb.onSelect(it.layers[0]!.name);
  }
}

function itemText(it: ChartItem): string {
  const parts = [
    `${it.label}: ${it.kind === 'layer' ? '' : `${formatInt(it.layers.length)} layers, `}` +
      `${formatInt(it.tensors)} tensor${it.tensors === 1 ? '' : 's'}, ${formatBytes(it.bytes)}`,
  ];
  if (Number.isFinite(it.estimateBytes))
    parts.push(
      `estimate ${formatBytes(it.estimateBytes)} (${formatPercent(it.estimateBytes / Math.max(1, it.bytes))})`,
    );
  else if (it.storedBytes === undefined) parts.push('not analysed yet');
  if (it.storedBytes !== undefined)
    parts.push(`stored ${formatBytes(it.storedBytes)} (${formatPercent(it.storedBytes / Math.max(1, it.bytes))})`);
  if (it.kind !== 'layer') parts.push('click to zoom in');
  return parts.join(' · ');
}

function layerText(l: LayerRow): string {
  const parts = [`${l.name}: ${l.tensors} tensor${l.tensors === 1 ? '' : 's'}, ${formatBytes(l.bytes)}`];
  if (l.estimateBytes !== undefined && Number.isFinite(l.estimateBytes))
    parts.push(`estimate ${formatBytes(l.estimateBytes)} (${formatPercent(l.estimateBytes / Math.max(1, l.bytes))})`);
  else if (l.storedBytes === undefined) parts.push('not analysed yet');
  if (l.storedBytes !== undefined)
    parts.push(`stored ${formatBytes(l.storedBytes)} (${formatPercent(l.storedBytes / Math.max(1, l.bytes))})`);
  return parts.join(' · ');
}
