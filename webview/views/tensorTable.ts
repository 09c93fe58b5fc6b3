/**
 * Virtualized tensor table (ARIA grid). Only the rows in view (plus overscan) exist in the DOM;
 * they are recycled on scroll, so 100,000 tensors scroll as smoothly as 100.
 */
import type { TensorRow } from '../../protocol/webview';
import { byId, clear, h } from '../dom';
import { formatBits, formatBytes, formatPercent, formatShape } from '../../shared/format';
import { rowEstimate, rowRatio, type SortKey, type TableSort } from '../model/table';
import { moveSelection, scrollTopToReveal, visibleWindow } from '../model/virtual';

export const ROW_HEIGHT = 22;

interface Column {
  key: SortKey;
  label: string;
  cls: string;
  cell(r: TensorRow, i: number): string;
  title?: string;
  /** tooltip of a cell (full text: cells are cut to the column's width) */
  tip?(r: TensorRow): string;
}

const COLUMNS: Column[] = [
  {
    key: 'index',
    label: '#',
    cls: 'c-index',
    cell: (_r, i) => String(i + 1),
    title: "Storage order: position of the tensor's data in the file (sort by Name for name order)",
  },
  { key: 'name', label: 'Name', cls: 'c-name', cell: (r) => r.name, tip: (r) => r.name },
  { key: 'dtype', label: 'Dtype', cls: 'c-dtype', cell: (r) => r.dtype },
  {
    key: 'shape',
    label: 'Shape',
    cls: 'c-shape',
    cell: (r) => formatShape(r.shape),
    title: 'Sorted by element count',
    tip: (r) => formatShape(r.shape),
  },
  { key: 'bytes', label: 'Bytes', cls: 'c-num', cell: (r) => formatBytes(r.bytes) },
  {
    key: 'estimate',
    label: 'Estimate',
    cls: 'c-num',
    cell: (r) => (r.shape.length === 0 ? '–' : formatBytes(rowEstimate(r))),
    title:
      'Estimated stored size in a .tzip: order-0 entropy of the byte planes plus chunk framing (the coder ' +
      'often does better)',
    tip: (r) =>
      r.shape.length === 0
        ? 'a scalar: stored as it is'
        : r.boundBytes === null
          ? 'not analysed yet'
          : `order-0 entropy ${formatBytes(r.boundBytes)} + framing`,
  },
  {
    key: 'ratio',
    label: 'Ratio',
    cls: 'c-num',
    cell: (r) => (r.shape.length === 0 ? '–' : formatPercent(rowRatio(r))),
    title: 'Estimate as a share of the bytes now',
  },
  {
    key: 'entropy',
    label: 'Exp. H',
    cls: 'c-num',
    cell: (r) => formatBits(r.exponentEntropy),
    title: 'Shannon entropy of the exponent field, bits',
  },
  {
    key: 'stored',
    label: 'Stored',
    cls: 'c-num c-stored',
    cell: (r) => formatBytes(r.storedBytes ?? null),
    title: 'Bytes stored in the .tzip',
  },
  { key: 'layer', label: 'Layer', cls: 'c-layer', cell: (r) => r.layer, tip: (r) => r.layer },
  {
    key: 'shard',
    label: 'Shard',
    cls: 'c-shard',
    cell: (r) => r.shard ?? '',
    title: 'File of a sharded model holding the tensor',
    tip: (r) => r.shard ?? '',
  },
];

/** Columns the user can widen or narrow (drag the header's right edge); widths live in a CSS variable per column. */
export type ColumnWidths = Partial<Record<SortKey, number>>;

export interface TableCallbacks {
  onSort(key: SortKey): void;
  onSelect(name: string | null): void;
  onScroll(scrollTop: number): void;
}

export class TensorTableView {
  private rows: TensorRow[] = [];
  private view: number[] = [];
  private selectedName: string | null = null;
  private pool: HTMLElement[] = [];
  private raf = 0;
  private showStored = false;
  private showShard = false;
  private widths: ColumnWidths = {};
  private readonly header = byId('tz-table-header');
  private readonly viewport = byId('tz-table-viewport');
  private readonly spacer = byId('tz-table-spacer');
  private readonly body = byId('tz-table-body');
  private readonly grid = byId('tz-table');

  constructor(private readonly cb: TableCallbacks & { onWidths?(w: ColumnWidths): void }) {
    this.viewport.addEventListener('scroll', () => {
      // widened columns scroll sideways: the header follows the rows
      if (this.header.scrollLeft !== this.viewport.scrollLeft) this.header.scrollLeft = this.viewport.scrollLeft;
      this.schedule();
    });
    this.viewport.addEventListener('keydown', (e) => this.onKey(e));
    this.body.addEventListener('click', (e) => {
      const row = (e.target as Element).closest<HTMLElement>('.tz-row');
      if (row?.dataset.name !== undefined) this.cb.onSelect(row.dataset.name);
    });
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
  }

  setStoredColumn(show: boolean): void {
    this.showStored = show;
    this.grid.classList.toggle('tz-has-stored', show);
  }

  setShardColumn(show: boolean): void {
    this.showShard = show;
    this.grid.classList.toggle('tz-has-shard', show);
  }

  private hiddenColumn(key: SortKey): boolean {
    return (key === 'stored' && !this.showStored) || (key === 'shard' && !this.showShard);
  }

  setWidths(w: ColumnWidths): void {
    this.widths = { ...w };
    for (const [k, px] of Object.entries(this.widths)) this.grid.style.setProperty(`--tz-w-${k}`, `${px}px`);
  }

  private startResize(key: SortKey, cell: HTMLElement, e: PointerEvent): void {
    e.preventDefault();
    e.stopPropagation();
    const x0 = e.clientX;
    const w0 = cell.getBoundingClientRect().width;
    const move = (ev: PointerEvent) => {
      const px = Math.max(40, Math.round(w0 + ev.clientX - x0));
      this.widths[key] = px;
      this.grid.style.setProperty(`--tz-w-${key}`, `${px}px`);
    };
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      this.cb.onWidths?.({ ...this.widths });
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  }

  renderHeader(sort: TableSort): void {
    clear(this.header);
    for (const c of COLUMNS) {
      if (this.hiddenColumn(c.key)) continue;
      const active = sort.key === c.key;
      const btn = h(
        'button',
        { class: 'tz-sort', type: 'button', 'data-sort': c.key, title: c.title ?? `Sort by ${c.label}` },
        c.label,
        active ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : '',
      );
      btn.addEventListener('click', () => this.cb.onSort(c.key));
      const grip = h('span', {
        class: 'tz-col-resize',
        'data-resize': c.key,
        title: 'Drag to resize the column',
        'aria-hidden': 'true',
      });
      const cell = h(
        'div',
        {
          role: 'columnheader',
          class: `tz-cell ${c.cls}`,
          'aria-sort': active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none',
        },
        btn,
        grip,
      );
      grip.addEventListener('pointerdown', (e) => this.startResize(c.key, cell, e));
      this.header.append(cell);
    }
  }

  /** New data or a new order; keeps the scroll position when asked (streaming updates). */
  setData(rows: TensorRow[], view: number[], selected: string | null): void {
    this.rows = rows;
    this.view = view;
    this.selectedName = selected;
    this.grid.setAttribute('aria-rowcount', String(view.length + 1));
    this.spacer.style.height = `${view.length * ROW_HEIGHT}px`;
    this.paint();
  }

  setSelected(name: string | null, reveal: boolean): void {
    this.selectedName = name;
    if (reveal && name !== null) {
      const pos = this.view.findIndex((i) => this.rows[i]!.name === name);
      if (pos >= 0)
        this.viewport.scrollTop = scrollTopToReveal(
          pos,
          this.viewport.scrollTop,
          this.viewport.clientHeight,
          ROW_HEIGHT,
        );
    }
    this.paint();
  }

  restoreScroll(top: number): void {
    this.viewport.scrollTop = top;
    this.paint();
  }

  private schedule(): void {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      this.paint();
      this.cb.onScroll(this.viewport.scrollTop);
    });
  }

  private paint(): void {
    const w = visibleWindow(this.viewport.scrollTop, this.viewport.clientHeight || 400, ROW_HEIGHT, this.view.length);
    const n = w.end - w.start;
    while (this.pool.length < n) {
      const row = h('div', { role: 'row', class: 'tz-row' });
      for (const c of COLUMNS) row.append(h('div', { role: 'gridcell', class: `tz-cell ${c.cls}` }));
      this.pool.push(row);
      this.body.append(row);
    }
    this.body.style.transform = `translateY(${w.offsetY}px)`;
    let activeId = '';
    for (let k = 0; k < this.pool.length; k++) {
      const el = this.pool[k]!;
      if (k >= n) {
        el.hidden = true;
        continue;
      }
      const pos = w.start + k;
      const idx = this.view[pos]!;
      const r = this.rows[idx]!;
      el.hidden = false;
      el.id = `tz-row-${pos}`;
      el.dataset.name = r.name;
      el.dataset.index = String(idx);
      el.setAttribute('aria-rowindex', String(pos + 2));
      const sel = r.name === this.selectedName;
      el.setAttribute('aria-selected', String(sel));
      el.classList.toggle('tz-selected', sel);
      el.classList.toggle('tz-pending', r.boundBytes === null);
      el.classList.toggle('tz-damaged', r.damaged === true);
      if (sel) activeId = el.id;
      const cells = el.children;
      for (let c = 0; c < COLUMNS.length; c++) {
        const col = COLUMNS[c]!;
        const cell = cells[c] as HTMLElement;
        cell.hidden = this.hiddenColumn(col.key);
        const text = col.cell(r, idx);
        if (cell.textContent !== text) cell.textContent = text;
        if (col.tip) {
          const tip = col.key === 'name' && r.damaged ? `${r.name} (damaged: failed verify)` : col.tip(r);
          if (cell.title !== tip) cell.title = tip;
        }
      }
    }
    if (activeId) this.viewport.setAttribute('aria-activedescendant', activeId);
    else this.viewport.removeAttribute('aria-activedescendant');
  }

  private onKey(e: KeyboardEvent): void {
    const keys = ['ArrowDown', 'ArrowUp', 'PageDown', 'PageUp', 'Home', 'End'];
    if (e.key === 'Enter' || e.key === ' ') {
      if (this.selectedName !== null) e.preventDefault();
      return;
    }
    if (!keys.includes(e.key)) return;
    e.preventDefault();
    const cur = this.view.findIndex((i) => this.rows[i]!.name === this.selectedName);
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / ROW_HEIGHT) - 1);
    const next = moveSelection(cur, e.key, this.view.length, page);
    if (next >= 0) this.cb.onSelect(this.rows[this.view[next]!]!.name);
  }
}
