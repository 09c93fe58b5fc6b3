/**
 * Per-layer compressibility chart, hand-made SVG. Why not a charting library: the chart is one
 * bar series plus an overlay and a tick per layer; a library (Chart.js ~200 KB, or D3 pieces)
 * would add weight, a canvas (invisible to screen readers and e2e selectors) or inline styles
 * that a strict CSP blocks. SVG elements built with DOM APIs theme through CSS variables.
 */
import type { LayerRow } from '../../protocol/webview';
import { clear, s } from '../dom';
import { layerChartGeometry } from '../model/chart';
import { formatBytes, formatPercent } from '../model/format';

export interface LayerChartCallbacks {
  onSelect(layer: string | null): void;
}

export class LayerChartView {
  private layers: LayerRow[] = [];
  private selected: string | null = null;

  constructor(private readonly host: HTMLElement, private readonly svg: SVGSVGElement, private readonly caption: HTMLElement, private readonly cb: LayerChartCallbacks) {
    host.addEventListener('keydown', (e) => this.onKey(e));
    svg.addEventListener('click', (e) => {
      const t = (e.target as Element).closest('[data-layer-index]');
      if (!t) return;
      const l = this.layers[Number(t.getAttribute('data-layer-index'))];
      if (l) this.cb.onSelect(l.name === this.selected ? null : l.name);
    });
  }

  private activeLayer: string | null = null;

  /**
   * Marks where a running job is: the layer being processed, and the layers before it (model
   * order, the order jobs stream through the file) as done. Toggles classes; no re-render.
   */
  setJobLayer(layer: string | null): void {
    this.activeLayer = layer;
    const idx = layer === null ? -1 : this.layers.findIndex((l) => l.name === layer);
    this.svg.querySelectorAll<SVGGElement>('g[data-layer-index]').forEach((g) => {
      const i = Number(g.getAttribute('data-layer-index'));
      g.classList.toggle('tz-job-active', i === idx);
      g.classList.toggle('tz-job-done', idx >= 0 && i < idx);
    });
  }

  setSelected(layer: string | null): void {
    this.selected = layer;
    this.render(this.layers);
  }

  render(layers: LayerRow[]): void {
    this.layers = layers;
    const width = Math.max(320, this.host.clientWidth || 640);
    const g = layerChartGeometry(layers, { width, height: 200 });
    const svg = this.svg;
    clear(svg);
    svg.setAttribute('width', String(g.width));
    svg.setAttribute('height', String(g.height));
    svg.setAttribute('viewBox', `0 0 ${g.width} ${g.height}`);
    svg.setAttribute('data-layer-count', String(layers.length));
    for (const t of g.ticks) {
      svg.append(s('line', { class: 'tz-grid', x1: g.plotLeft, x2: g.width - 4, y1: t.y, y2: t.y }));
      svg.append(s('text', { class: 'tz-axis-label', x: g.plotLeft - 6, y: t.y + 4, 'text-anchor': 'end' }, formatBytes(t.value)));
    }
    for (const b of g.bars) {
      const l = layers[b.index]!;
      const sel = l.name === this.selected;
      const grp = s('g', { class: `tz-layer-bar${sel ? ' tz-selected' : ''}`, 'data-layer-index': b.index, 'data-layer': l.name });
      grp.append(s('title', {}, layerText(l)));
      grp.append(s('rect', { class: 'tz-bar-now', x: b.x, y: b.nowY, width: b.width, height: Math.max(0, b.nowH) }));
      if (b.predY !== null) grp.append(s('rect', { class: b.predKind === 'stored' ? 'tz-bar-stored' : 'tz-bar-pred', x: b.x, y: b.predY, width: b.width, height: Math.max(0, b.predH) }));
      if (b.boundY !== null) grp.append(s('line', { class: 'tz-bar-bound', x1: b.x - 1, x2: b.x + b.width + 1, y1: b.boundY, y2: b.boundY }));
      svg.append(grp);
    }
    // first and last layer names under the axis (model order is left to right)
    if (g.bars.length) {
      svg.append(s('text', { class: 'tz-axis-label', x: g.plotLeft, y: g.height - 6 }, layers[0]!.name));
      if (g.bars.length > 1) svg.append(s('text', { class: 'tz-axis-label', x: g.width - 4, y: g.height - 6, 'text-anchor': 'end' }, layers[layers.length - 1]!.name));
    }
    if (this.activeLayer !== null) this.setJobLayer(this.activeLayer);
    this.caption.textContent = this.selected ? layerText(layers.find((l) => l.name === this.selected) ?? null) : `${layers.length} layer${layers.length === 1 ? '' : 's'} in model order. Click a bar (or use ←/→) to select a layer.`;
  }

  private onKey(e: KeyboardEvent): void {
    if (!this.layers.length) return;
    const i = this.layers.findIndex((l) => l.name === this.selected);
    let next = i;
    if (e.key === 'ArrowRight') next = Math.min(this.layers.length - 1, i + 1);
    else if (e.key === 'ArrowLeft') next = i < 0 ? 0 : Math.max(0, i - 1);
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = this.layers.length - 1;
    else if (e.key === 'Escape') {
      this.cb.onSelect(null);
      return;
    } else return;
    e.preventDefault();
    if (next >= 0 && next !== i) this.cb.onSelect(this.layers[next]!.name);
  }
}

function layerText(l: LayerRow | null): string {
  if (!l) return '';
  const parts = [`${l.name}: ${l.tensors} tensor${l.tensors === 1 ? '' : 's'}, ${formatBytes(l.bytes)}`];
  if (Number.isFinite(l.boundBytes)) parts.push(`order-0 bound ${formatBytes(l.boundBytes)} (${formatPercent(l.boundBytes / Math.max(1, l.bytes))})`);
  else parts.push('not analysed yet');
  if (l.storedBytes !== undefined) parts.push(`stored ${formatBytes(l.storedBytes)} (${formatPercent(l.storedBytes / Math.max(1, l.bytes))})`);
  return parts.join(' · ');
}
