/**
 * Tensor inspector card: heatmap (or line plot for 1-D) of a pooled window with zoom, row/column
 * norm strips, colour legend, value histogram, statistics and the first values. The host pools on
 * the server into at most the canvas size in cells (one cell per canvas pixel), so the webview never
 * receives more than it draws.
 */
import type { TensorViewResult, ViewWindow } from '../../protocol/tensorView';
import type { HostToWebview, InspectRequest } from '../../protocol/webview';
import { byId, clear, h, s } from '../dom';
import { formatInt } from '../../shared/format';
import {
  INF_RGB,
  NAN_RGB,
  cellRange,
  colourLimit,
  decodeView,
  divergingRgb,
  firstValuesTsv,
  formatValue,
  heatmapPixels,
  histogramBars,
  isFullWindow,
  windowOfCells,
  zoomWindow,
  type DecodedView,
} from '../model/inspector';

type Pool = InspectRequest['pool'];
export interface InspectorHost {
  post(m: { type: 'inspect'; req: InspectRequest } | { type: 'cancelInspect' }): void;
}

const STRIP = 36;
const POOL_LABEL: Record<Pool, string> = { mean: 'mean', maxabs: 'max |x|', std: 'std' };
const rgb = (c: [number, number, number]) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;

export function inspectorSkeleton(): HTMLElement {
  return h(
    'section',
    {
      id: 'tz-inspector-section',
      class: 'tz-card tz-inspector',
      hidden: true,
      'aria-labelledby': 'tz-inspector-title',
    },
    h(
      'div',
      { class: 'tz-card-head' },
      h('h2', { id: 'tz-inspector-title' }, 'Tensor values'),
      h(
        'div',
        { class: 'tz-inspector-tools' },
        h('span', { id: 'tz-inspector-badge', class: 'tz-badge', hidden: true }),
        h(
          'vscode-single-select',
          { id: 'tz-inspector-pool', 'aria-label': 'Pooling per cell' },
          h('vscode-option', { value: 'mean' }, 'mean per cell'),
          h('vscode-option', { value: 'maxabs' }, 'max |x| per cell'),
          h('vscode-option', { value: 'std' }, 'std per cell'),
        ),
        h('vscode-single-select', { id: 'tz-inspector-axis', 'aria-label': 'Axis shown as rows', hidden: true }),
        h(
          'vscode-button',
          { id: 'tz-inspector-reset', secondary: true, hidden: true, 'aria-label': 'Reset zoom' },
          'Reset zoom',
        ),
        h('vscode-button', { id: 'tz-inspector-close', secondary: true, 'aria-label': 'Close inspector' }, 'Close'),
      ),
    ),
    h(
      'div',
      { id: 'tz-inspector-progress', class: 'tz-progress', role: 'status', 'aria-live': 'polite', hidden: true },
      h('vscode-progress-bar', { id: 'tz-inspector-bar', 'aria-label': 'Pooling progress' }),
      h('span', { id: 'tz-inspector-progress-text', class: 'tz-muted' }),
    ),
    h('p', { id: 'tz-inspector-error', class: 'tz-error', role: 'alert', hidden: true }),
    h(
      'div',
      { id: 'tz-inspector-body', class: 'tz-inspector-body' },
      h(
        'div',
        { class: 'tz-heat-grid' },
        h(
          'div',
          { class: 'tz-heat-wrap', id: 'tz-heat-wrap' },
          h('canvas', {
            id: 'tz-heatmap',
            class: 'tz-heatmap',
            role: 'img',
            'aria-label': 'Heatmap of the tensor: drag a box or use the wheel to zoom, double-click to reset',
            tabindex: 0,
          }),
          h('div', { id: 'tz-heat-box', class: 'tz-heat-box', hidden: true }),
        ),
        h('canvas', { id: 'tz-rownorms', class: 'tz-strip', role: 'img', 'aria-label': 'Row L2 norms' }),
        h('canvas', { id: 'tz-colnorms', class: 'tz-strip', role: 'img', 'aria-label': 'Column L2 norms' }),
      ),
      h('p', { id: 'tz-inspector-hover', class: 'tz-muted tz-inspector-hover', 'aria-live': 'polite' }, '\u00a0'),
      h(
        'div',
        { id: 'tz-inspector-legend', class: 'tz-inspector-legend' },
        h('canvas', { id: 'tz-legend-bar', width: 160, height: 10, 'aria-hidden': 'true' }),
        h('span', { id: 'tz-legend-text', class: 'tz-muted' }),
      ),
      h(
        'div',
        { class: 'tz-inspector-lower' },
        h(
          'div',
          { class: 'tz-inspector-hist' },
          h(
            'div',
            { class: 'tz-card-head' },
            h('h3', { id: 'tz-value-hist-title' }, 'Value histogram'),
            h('vscode-checkbox', { id: 'tz-value-hist-log', label: 'log scale', 'aria-label': 'Log count scale' }),
          ),
          s('svg', { id: 'tz-value-hist', class: 'tz-chart', role: 'img', 'aria-label': 'Value histogram' }),
          h('p', { id: 'tz-value-hist-caption', class: 'tz-muted' }),
          h('dl', { id: 'tz-inspector-stats', class: 'tz-facts tz-inspector-stats' }),
        ),
        h(
          'div',
          { class: 'tz-inspector-first' },
          h(
            'div',
            { class: 'tz-card-head' },
            h('h3', {}, 'First values'),
            h(
              'vscode-button',
              { id: 'tz-first-copy', secondary: true, 'aria-label': 'Copy first values as tab-separated text' },
              'Copy',
            ),
          ),
          h(
            'div',
            { class: 'tz-first-scroll' },
            h('table', { id: 'tz-first-values', class: 'tz-kv-table tz-first-values' }),
          ),
        ),
      ),
    ),
  );
}

export class InspectorView {
  private name: string | null = null;
  private rowAxis = 0;
  private window: ViewWindow | undefined;
  private pool: Pool = 'mean';
  private histLog = false;
  private nextId = 1;
  private pendingId = 0;
  private view: TensorViewResult | null = null;
  private decoded: DecodedView | null = null;
  private wheelTimer: ReturnType<typeof setTimeout> | undefined;
  private openTimer: ReturnType<typeof setTimeout> | undefined;
  private drag: { x: number; y: number } | null = null;
  private readonly section = byId('tz-inspector-section');
  private readonly canvas = byId<HTMLCanvasElement>('tz-heatmap');
  private readonly rowStrip = byId<HTMLCanvasElement>('tz-rownorms');
  private readonly colStrip = byId<HTMLCanvasElement>('tz-colnorms');
  private readonly hover = byId('tz-inspector-hover');

  constructor(
    private readonly host: InspectorHost,
    private readonly onClose: () => void,
  ) {
    const poolSel = byId('tz-inspector-pool') as HTMLElement & { value: string };
    poolSel.addEventListener('change', () => {
      this.pool = (['mean', 'maxabs', 'std'] as const).find((p) => p === poolSel.value) ?? 'mean';
      this.request();
    });
    const axisSel = byId('tz-inspector-axis') as HTMLElement & { value: string };
    axisSel.addEventListener('change', () => {
      this.rowAxis = Number(axisSel.value) || 0;
      this.window = undefined;
      this.request();
    });
    byId('tz-inspector-reset').addEventListener('click', () => this.resetZoom());
    byId('tz-inspector-close').addEventListener('click', () => this.close());
    const logBox = byId('tz-value-hist-log') as HTMLElement & { checked: boolean };
    logBox.addEventListener('change', () => {
      this.histLog = logBox.checked;
      this.drawHistogram();
    });
    byId('tz-first-copy').addEventListener('click', () => {
      if (this.view) void navigator.clipboard?.writeText(firstValuesTsv(this.view));
    });
    this.wireHeatmap();
    this.wireStrips();
  }

  get shown(): string | null {
    return this.name;
  }

  /** Show a tensor (a table row was selected). */
  open(name: string): void {
    if (name === this.name && !this.section.hidden) return;
    const wasHidden = this.section.hidden;
    this.name = name;
    this.rowAxis = 0;
    this.window = undefined;
    this.view = null;
    this.decoded = null;
    this.section.hidden = false;
    byId('tz-inspector-title').textContent = `Tensor values — ${name}`;
    byId('tz-inspector-axis').hidden = true;
    // arrow keys move the selection row by row: ask for the tensor the selection settles on
    clearTimeout(this.openTimer);
    this.openTimer = setTimeout(() => this.request(), wasHidden ? 0 : 120);
    if (wasHidden) this.section.scrollIntoView?.({ block: 'nearest' });
  }

  close(): void {
    if (this.name === null) return;
    this.name = null;
    this.pendingId = 0;
    clearTimeout(this.openTimer);
    this.section.hidden = true;
    this.host.post({ type: 'cancelInspect' });
    this.onClose();
  }

  private resetZoom(): void {
    this.window = undefined;
    this.request();
  }

  /** Canvas size in pixels (= cells asked for). */
  private canvasSize(): { w: number; h: number } {
    const avail = Math.max(160, (this.section.clientWidth || 640) - STRIP - 40);
    const w = Math.min(1024, Math.floor(avail));
    const v = this.view;
    if (v && v.rowAxis === -1) return { w, h: 160 };
    const win = this.window ?? (v ? { row0: 0, row1: v.rows, col0: 0, col1: v.cols } : undefined);
    const aspect = win ? (win.row1 - win.row0) / (win.col1 - win.col0) : 0.5;
    // at most 360 px high: the heatmap and the value histogram fit on one screen
    return { w, h: Math.max(48, Math.min(360, Math.round(w * aspect))) };
  }

  private request(): void {
    if (this.name === null) return;
    const { w, h: ht } = this.canvasSize();
    const id = this.nextId++;
    this.pendingId = id;
    const req: InspectRequest = {
      id,
      name: this.name,
      width: w,
      height: ht,
      pool: this.pool,
      rowAxis: this.rowAxis,
      histogramBins: Math.min(2048, Math.max(64, w)),
    };
    if (this.window) req.window = this.window;
    this.section.dataset.state = 'loading';
    byId('tz-inspector-error').hidden = true;
    const prog = byId('tz-inspector-progress');
    prog.hidden = false;
    (byId('tz-inspector-bar') as HTMLElement & { indeterminate?: boolean }).indeterminate = true;
    byId('tz-inspector-progress-text').textContent = 'Reading the tensor…';
    this.host.post({ type: 'inspect', req });
  }

  /** Host messages for the inspector; false when the message is not one. */
  handle(m: HostToWebview): boolean {
    if (m.type !== 'inspectProgress' && m.type !== 'inspectResult' && m.type !== 'inspectError') return false;
    if (m.id !== this.pendingId) return true; // superseded
    if (m.type === 'inspectProgress') {
      const bar = byId('tz-inspector-bar') as HTMLElement & { indeterminate?: boolean; value?: number; max?: number };
      const frac = m.bytesTotal > 0 ? m.bytesDone / m.bytesTotal : 0;
      bar.indeterminate = false;
      bar.max = 1;
      bar.value = frac;
      byId('tz-inspector-progress-text').textContent =
        m.preview === true
          ? `Sampling rows for a preview… ${(frac * 100).toFixed(0)}%`
          : this.view?.sampled
            ? `Showing a sampled preview; pooling every value… ${(frac * 100).toFixed(0)}%`
            : `Pooling… ${(frac * 100).toFixed(0)}%`;
      return true;
    }
    // a sampled preview: shown, and the exact view of the same request follows
    const preview = m.type === 'inspectResult' && m.view.sampled !== undefined;
    byId('tz-inspector-progress').hidden = !preview;
    if (preview) {
      (byId('tz-inspector-bar') as HTMLElement & { indeterminate?: boolean }).indeterminate = true;
      byId('tz-inspector-progress-text').textContent = 'Showing a sampled preview; pooling every value…';
    }
    if (m.type === 'inspectError') {
      this.section.dataset.state = 'error';
      const err = byId('tz-inspector-error');
      err.hidden = false;
      err.textContent = m.message;
      byId('tz-inspector-body').hidden = true;
      return true;
    }
    this.view = m.view;
    this.window = isFullWindow(m.view.window, m.view.rows, m.view.cols) ? undefined : m.view.window;
    this.decoded = decodeView(m.view);
    byId('tz-inspector-body').hidden = false;
    this.render();
    this.section.dataset.state = preview ? 'preview' : 'ready';
    return true;
  }

  private render(): void {
    const v = this.view!;
    const badge = byId('tz-inspector-badge');
    badge.hidden = false;
    const s = v.sampled;
    badge.textContent =
      `${v.dtype} [${v.shape.join(', ')}]${v.dequantized ? ' · dequantized' : ''}` +
      (s ? ` · sampled preview: ${formatInt(s.rows)} of ${formatInt(s.ofRows)} rows` : '');
    badge.title = [
      v.dequantized ? 'Values dequantized from the GGUF quantization blocks' : '',
      s
        ? `Preview from ${formatInt(s.elements)} of ${formatInt(s.ofElements)} values (whole rows): cells, ` +
          'histogram and statistics are of the sampled rows only, column norms are estimated; the exact view follows'
        : '',
    ]
      .filter(Boolean)
      .join('\n');
    badge.dataset.sampled = s ? 'true' : 'false';
    const axisSel = byId('tz-inspector-axis') as HTMLElement & { value: string };
    if (v.shape.length >= 2 && axisSel.childElementCount !== v.shape.length) {
      axisSel.replaceChildren(
        ...v.shape.map((d, i) => h('vscode-option', { value: String(i) }, `rows: axis ${i} (${d})`)),
      );
    }
    axisSel.hidden = v.shape.length < 2;
    axisSel.value = String(Math.max(0, v.rowAxis));
    byId('tz-inspector-reset').hidden = !this.window;
    this.drawHeatmap();
    this.drawStrips();
    this.drawHistogram();
    this.drawStats();
    this.drawFirst();
  }

  private drawHeatmap(): void {
    const v = this.view!,
      d = this.decoded!;
    const { w, h: ht } = this.canvasSize();
    const c = this.canvas;
    c.width = w;
    c.height = ht;
    c.dataset.cells = `${v.gridRows}x${v.gridCols}`;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    const { limit, max } = colourLimit(d.cells);
    const lineMode = v.rowAxis === -1;
    if (lineMode) {
      ctx.clearRect(0, 0, w, ht);
      let lo = Infinity,
        hi = -Infinity;
      for (const x of d.cells)
        if (Number.isFinite(x)) {
          lo = Math.min(lo, x);
          hi = Math.max(hi, x);
        }
      if (!(hi >= lo)) {
        lo = -1;
        hi = 1;
      }
      if (hi === lo) {
        lo -= 1;
        hi += 1;
      }
      const y = (x: number) => ht - 4 - ((x - lo) / (hi - lo)) * (ht - 8);
      ctx.strokeStyle = getComputedStyle(document.body).getPropertyValue('--tz-pred').trim() || '#3794ff';
      ctx.beginPath();
      let pen = false;
      for (let j = 0; j < v.gridCols; j++) {
        const x = d.cells[j]!;
        const px = ((j + 0.5) * w) / v.gridCols;
        if (!Number.isFinite(x)) {
          pen = false;
          continue;
        }
        if (pen) ctx.lineTo(px, y(x));
        else ctx.moveTo(px, y(x));
        pen = true;
      }
      ctx.stroke();
      if (lo < 0 && hi > 0) {
        ctx.strokeStyle = 'rgba(128,128,128,0.5)';
        ctx.beginPath();
        ctx.moveTo(0, y(0));
        ctx.lineTo(w, y(0));
        ctx.stroke();
      }
      for (let j = 0; j < v.gridCols; j++) {
        const f = d.flags[j]!;
        if (!f) continue;
        ctx.fillStyle = rgb(f & 1 ? NAN_RGB : INF_RGB);
        ctx.fillRect((j * w) / v.gridCols, 0, Math.max(1, w / v.gridCols), 6);
      }
      byId('tz-legend-text').textContent =
        `${POOL_LABEL[v.pool]} per cell, range ${formatValue(lo)} … ${formatValue(hi)}; magenta marks NaN, yellow ±Inf`;
      byId('tz-legend-bar').hidden = true;
      return;
    }
    const img = new ImageData(heatmapPixels(d, limit), v.gridCols, v.gridRows);
    const off = document.createElement('canvas');
    off.width = v.gridCols;
    off.height = v.gridRows;
    off.getContext('2d')!.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, w, ht);
    ctx.drawImage(off, 0, 0, w, ht);
    // legend: the diverging scale centred on 0
    const bar = byId<HTMLCanvasElement>('tz-legend-bar');
    bar.hidden = false;
    const lc = bar.getContext('2d');
    if (lc) {
      for (let x = 0; x < bar.width; x++) {
        lc.fillStyle = rgb(divergingRgb(((x + 0.5) / bar.width) * 2 - 1, 1));
        lc.fillRect(x, 0, 1, bar.height);
      }
    }
    const nonFinite = d.flags.some((f) => f !== 0);
    byId('tz-legend-text').textContent =
      `${POOL_LABEL[v.pool]} per cell: −${formatValue(limit)} … 0 … +${formatValue(limit)}` +
      (max > limit ? ` (cells beyond ±${formatValue(limit)} saturate; largest ${formatValue(max)})` : '') +
      `; magenta NaN, yellow ±Inf${nonFinite ? ' (present)' : ''}`;
  }

  private drawStrips(): void {
    const v = this.view!;
    const { w, h: ht } = this.canvasSize();
    const col = getComputedStyle(document.body).getPropertyValue('--tz-pred').trim() || '#3794ff';
    const line = v.rowAxis === -1;
    this.rowStrip.hidden = line;
    this.colStrip.hidden = line;
    if (line) return;
    const draw = (c: HTMLCanvasElement, vals: number[], horizontal: boolean) => {
      c.width = horizontal ? w : STRIP;
      c.height = horizontal ? STRIP : ht;
      const ctx = c.getContext('2d');
      if (!ctx) return;
      ctx.clearRect(0, 0, c.width, c.height);
      const mx = Math.max(...vals.filter(Number.isFinite), 0) || 1;
      ctx.fillStyle = col;
      const n = vals.length;
      for (let i = 0; i < n; i++) {
        const len = (Math.max(0, vals[i]!) / mx) * (STRIP - 2);
        if (horizontal) ctx.fillRect((i * w) / n, 0, Math.max(1, w / n), len);
        else ctx.fillRect(0, (i * ht) / n, len, Math.max(1, ht / n));
      }
    };
    draw(this.rowStrip, v.rowNorms.rms, false);
    draw(this.colStrip, v.colNorms.rms, true);
  }

  private cellAt(e: MouseEvent): { gi: number; gj: number } | null {
    const v = this.view;
    if (!v) return null;
    const r = this.canvas.getBoundingClientRect();
    const fx = (e.clientX - r.left) / r.width,
      fy = (e.clientY - r.top) / r.height;
    if (fx < 0 || fy < 0 || fx >= 1 || fy >= 1) return null;
    return { gi: Math.floor(fy * v.gridRows), gj: Math.floor(fx * v.gridCols) };
  }

  private describeCell(gi: number, gj: number): string {
    const v = this.view!,
      d = this.decoded!;
    const w = v.window;
    const [r0, r1] = cellRange(gi, v.gridRows, w.row1 - w.row0, w.row0);
    const [c0, c1] = cellRange(gj, v.gridCols, w.col1 - w.col0, w.col0);
    const k = gi * v.gridCols + gj;
    const f = d.flags[k]!;
    const marks = [f & 1 ? 'NaN' : '', f & 2 ? '+Inf' : '', f & 4 ? '−Inf' : ''].filter(Boolean);
    const range = (a: number, b: number) => (b - a === 1 ? `${a}` : `${a}–${b - 1}`);
    const where = v.rowAxis === -1 ? `elements ${range(c0, c1)}` : `rows ${range(r0, r1)} × cols ${range(c0, c1)}`;
    return (
      `${where}: ${POOL_LABEL[v.pool]} ${formatValue(d.cells[k]!)}` +
      `${marks.length ? ` (has ${marks.join(', ')})` : ''}`
    );
  }

  private wireHeatmap(): void {
    const c = this.canvas;
    const box = byId('tz-heat-box');
    c.addEventListener('mousemove', (e) => {
      const cell = this.cellAt(e);
      if (cell) this.hover.textContent = this.describeCell(cell.gi, cell.gj);
      if (this.drag) {
        const r = c.getBoundingClientRect();
        const line = this.view?.rowAxis === -1;
        const x0 = Math.min(this.drag.x, e.clientX) - r.left,
          x1 = Math.max(this.drag.x, e.clientX) - r.left;
        const y0 = line ? 0 : Math.min(this.drag.y, e.clientY) - r.top,
          y1 = line ? r.height : Math.max(this.drag.y, e.clientY) - r.top;
        Object.assign(box.style, { left: `${x0}px`, top: `${y0}px`, width: `${x1 - x0}px`, height: `${y1 - y0}px` });
        box.hidden = false;
      }
    });
    c.addEventListener('mouseleave', () => {
      this.hover.textContent = '\u00a0';
    });
    c.addEventListener('mousedown', (e) => {
      if (e.button !== 0 || !this.view) return;
      this.drag = { x: e.clientX, y: e.clientY };
      e.preventDefault();
    });
    window.addEventListener('mouseup', (e) => {
      const start = this.drag;
      this.drag = null;
      box.hidden = true;
      const v = this.view;
      if (!start || !v || (Math.abs(e.clientX - start.x) < 4 && Math.abs(e.clientY - start.y) < 4)) return;
      const r = c.getBoundingClientRect();
      const cl = (x: number) => Math.max(0, Math.min(0.999999, x));
      const gj0 = Math.floor(cl((start.x - r.left) / r.width) * v.gridCols),
        gj1 = Math.floor(cl((e.clientX - r.left) / r.width) * v.gridCols);
      const line = v.rowAxis === -1;
      const gi0 = line ? 0 : Math.floor(cl((start.y - r.top) / r.height) * v.gridRows),
        gi1 = line ? v.gridRows - 1 : Math.floor(cl((e.clientY - r.top) / r.height) * v.gridRows);
      this.window = windowOfCells(v, gi0, gi1, gj0, gj1);
      this.request();
    });
    c.addEventListener('dblclick', () => this.resetZoom());
    c.addEventListener(
      'wheel',
      (e) => {
        const v = this.view;
        if (!v) return;
        e.preventDefault();
        const r = c.getBoundingClientRect();
        const cur = this.window ?? v.window;
        const factor = e.deltaY < 0 ? 0.8 : 1.25;
        const fx = (e.clientX - r.left) / r.width,
          fy = v.rowAxis === -1 ? 0 : (e.clientY - r.top) / r.height;
        const next = zoomWindow(cur, v.rows, v.cols, factor, fx, fy);
        this.window = isFullWindow(next, v.rows, v.cols) ? undefined : next;
        // many wheel events per gesture: ask once it settles
        clearTimeout(this.wheelTimer);
        this.wheelTimer = setTimeout(() => this.request(), 150);
      },
      { passive: false },
    );
  }

  private wireStrips(): void {
    const norms = (which: 'row' | 'col', e: MouseEvent) => {
      const v = this.view;
      if (!v) return;
      const c = which === 'row' ? this.rowStrip : this.colStrip;
      const r = c.getBoundingClientRect();
      const n = which === 'row' ? v.gridRows : v.gridCols;
      const f = which === 'row' ? (e.clientY - r.top) / r.height : (e.clientX - r.left) / r.width;
      const b = Math.max(0, Math.min(n - 1, Math.floor(f * n)));
      const w = v.window;
      const [a, z] =
        which === 'row' ? cellRange(b, n, w.row1 - w.row0, w.row0) : cellRange(b, n, w.col1 - w.col0, w.col0);
      const ln = which === 'row' ? v.rowNorms : v.colNorms;
      const mm = ln.min && ln.max ? ` (min ${formatValue(ln.min[b]!)}, max ${formatValue(ln.max[b]!)})` : '';
      this.hover.textContent =
        `${which === 'row' ? 'rows' : 'cols'} ${z - a === 1 ? a : `${a}–${z - 1}`}: ` +
        `L2 norm ${z - a === 1 ? '' : 'rms '}${formatValue(ln.rms[b]!)}${z - a === 1 ? '' : mm}`;
    };
    this.rowStrip.addEventListener('mousemove', (e) => norms('row', e));
    this.colStrip.addEventListener('mousemove', (e) => norms('col', e));
  }

  private drawHistogram(): void {
    const v = this.view;
    const svg = byId('tz-value-hist') as unknown as SVGSVGElement;
    clear(svg);
    if (!v) return;
    const width = Math.max(240, Math.min(640, (svg.parentElement?.clientWidth ?? 480) - 8));
    const height = 150,
      bottom = 28,
      top = 6;
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(height));
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const hist = v.histogram;
    const bars = histogramBars(hist, width - 16);
    svg.dataset.bins = String(hist.counts.length);
    svg.dataset.exact = String(hist.exact);
    const scale = (c: number) => (this.histLog ? Math.log10(1 + c) : c);
    const top1 = Math.max(1e-12, ...bars.map((b) => scale(b.count)));
    const ph = height - bottom - top;
    for (const b of bars) {
      if (!b.count) continue;
      const bh = Math.max(1, (scale(b.count) / top1) * ph);
      const r = s('rect', { class: 'tz-hist-bar', x: 8 + b.x, y: top + ph - bh, width: b.w, height: bh });
      r.append(
        s(
          'title',
          {},
          `${b.lo === b.hi ? formatValue(b.lo) : `${formatValue(b.lo)} … ${formatValue(b.hi)}`}: ${formatInt(b.count)}`,
        ),
      );
      svg.append(r);
    }
    svg.append(s('line', { class: 'tz-grid', x1: 8, x2: width - 8, y1: top + ph, y2: top + ph }));
    const n = hist.counts.length;
    const lo = hist.edges[0] ?? 0,
      hi = hist.exact ? (hist.edges[n - 1] ?? 0) : (hist.edges[n] ?? 0);
    svg.append(s('text', { class: 'tz-axis-label', x: 8, y: top + ph + 14, 'text-anchor': 'start' }, formatValue(lo)));
    svg.append(
      s('text', { class: 'tz-axis-label', x: width - 8, y: top + ph + 14, 'text-anchor': 'end' }, formatValue(hi)),
    );
    if (lo < 0 && hi > 0) {
      const x0 = 8 + ((0 - lo) / (hi - lo)) * (width - 17);
      svg.append(s('line', { class: 'tz-grid', x1: x0, x2: x0, y1: top, y2: top + ph + 4 }));
      svg.append(s('text', { class: 'tz-axis-label', x: x0, y: top + ph + 14, 'text-anchor': 'middle' }, '0'));
    }
    svg.append(
      s(
        'text',
        { class: 'tz-axis-label tz-axis-title', x: width / 2, y: height - 2, 'text-anchor': 'middle' },
        `value; bar height: ${this.histLog ? 'log ' : ''}count`,
      ),
    );
    byId('tz-value-hist-caption').textContent = hist.exact
      ? `${formatInt(n)} distinct values, one bar per value` +
        `${bars.length < n ? ` (${bars.length} px columns: neighbours on one pixel add up)` : ''}`
      : `${n} equal-width bins over ${formatValue(lo)} … ${formatValue(hi)}`;
  }

  private drawStats(): void {
    const v = this.view!;
    const st = v.stats;
    const w = v.window;
    const dl = byId('tz-inspector-stats');
    const items: Array<[string, string]> = [
      [
        'window',
        v.rowAxis === -1
          ? `elements ${w.col0}–${w.col1 - 1} of ${formatInt(v.cols)}`
          : `rows ${w.row0}–${w.row1 - 1} of ${formatInt(v.rows)}, cols ${w.col0}–${w.col1 - 1} of ` +
            `${formatInt(v.cols)}`,
      ],
      [
        'values',
        v.sampled
          ? `${formatInt(st.count)} sampled (${formatInt(v.sampled.rows)} of ${formatInt(v.sampled.ofRows)} rows)`
          : formatInt(st.count),
      ],
      ['min / max', `${formatValue(st.min)} / ${formatValue(st.max)}`],
      ['mean / std', `${formatValue(st.mean)} / ${formatValue(st.std)}`],
      ['zeros', formatInt(st.zeros)],
      ['subnormals', formatInt(st.subnormals)],
      ['NaN', formatInt(st.nans)],
      ['+Inf / −Inf', `${formatInt(st.posInfs)} / ${formatInt(st.negInfs)}`],
    ];
    dl.replaceChildren(...items.flatMap(([k, val]) => [h('dt', {}, k), h('dd', { 'data-stat': k }, val)]));
  }

  private drawFirst(): void {
    const v = this.view!;
    const t = byId('tz-first-values');
    const { rows, cols, values } = v.first;
    const head = h(
      'tr',
      {},
      h('th', {}, ''),
      ...Array.from({ length: cols }, (_, j) => h('th', {}, String(v.window.col0 + j))),
    );
    const body = Array.from({ length: rows }, (_, i) =>
      h(
        'tr',
        {},
        h('th', {}, String(v.window.row0 + i)),
        ...values.slice(i * cols, (i + 1) * cols).map((x) => h('td', {}, formatValue(x))),
      ),
    );
    t.replaceChildren(head, ...body);
  }
}
