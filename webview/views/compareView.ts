/**
 * The comparison view's page: two models, the per-layer change chart (fraction of elements changed,
 * relative L2), the sortable tensor table, the ULP-distance histogram of the selected tensor and the
 * delta size estimate next to the standalone one. Fills in as the server's diff streams; Cancel stops it.
 */
import type { HostToWebview } from '../../protocol/webview';
import { formatBytes, formatInt, formatPercent, formatShape } from '../../shared/format';
import { byId, clear, h, s } from '../dom';
import {
  applyCompareMessage,
  compareLayers,
  compareTotals,
  compareView,
  DEFAULT_COMPARE_SORT,
  defaultSelection,
  deltaBound,
  emptyCompare,
  fractionChanged,
  nextCompareSort,
  ulpBuckets,
  type ComparePart,
  type CompareSort,
  type CompareSortKey,
} from '../model/compare';
import type { Host } from '../vscodeApi';

/** What survives the webview being hidden and shown again. */
export interface CompareUiState {
  key?: string;
  filter: string;
  layer: string | null;
  sort: CompareSort;
  selected: string | null;
}

/** Rows the table draws at most (filter or sort to see others). */
export const MAX_TABLE_ROWS = 500;

/** Figures as the CLI prints them (3 significant digits, exponent form for tiny or huge values). */
export function fig(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (x === 0) return '0';
  return Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4 ? x.toExponential(digits - 1) : x.toPrecision(digits);
}

const COLUMNS: { key: CompareSortKey; label: string; num?: boolean; title?: string }[] = [
  { key: 'index', label: '#', num: true, title: 'Order in A (tensors only B has last)' },
  { key: 'name', label: 'Name' },
  { key: 'status', label: 'Status' },
  { key: 'dtype', label: 'Dtype' },
  { key: 'changed', label: 'Changed', num: true, title: 'Elements whose bit patterns differ' },
  { key: 'fraction', label: 'Changed %', num: true, title: 'Fraction of the elements changed' },
  { key: 'relL2', label: 'Rel. L2', num: true, title: '||B − A|| / ||A||' },
  { key: 'maxAbs', label: 'Max |B−A|', num: true },
  { key: 'cosine', label: 'Cosine', num: true },
  {
    key: 'standalone',
    label: 'Alone (est.)',
    num: true,
    title: "Estimate of B's tensor coded alone: order-0 bound of its byte planes",
  },
  {
    key: 'delta',
    label: 'Delta (est.)',
    num: true,
    title: 'Estimate of the tensor delta-coded against A: order-0 bound of the best of its XOR and ULP planes',
  },
];

function skeleton(): HTMLElement[] {
  return [
    h(
      'header',
      { class: 'tz-summary', 'aria-label': 'Comparison summary' },
      h('div', { class: 'tz-title-row' }, h('h1', { id: 'tz-cmp-title' }, 'Comparing…')),
      h('dl', { id: 'tz-cmp-files', class: 'tz-facts' }),
      h(
        'div',
        { id: 'tz-cmp-progress', class: 'tz-progress', role: 'status', 'aria-live': 'polite' },
        h('vscode-progress-bar', { id: 'tz-cmp-bar', 'aria-label': 'Comparison progress' }),
        h('span', { id: 'tz-cmp-progress-text', class: 'tz-muted' }, 'Starting…'),
        h('vscode-button', { id: 'tz-cmp-cancel', secondary: true, 'aria-label': 'Cancel the comparison' }, 'Cancel'),
        h('vscode-button', { id: 'tz-cmp-rerun', secondary: true, hidden: true }, 'Compare again'),
      ),
      h('p', { id: 'tz-cmp-error', class: 'tz-error', role: 'alert', hidden: true }),
      h('dl', { id: 'tz-cmp-summary', class: 'tz-facts' }),
    ),
    h(
      'div',
      { class: 'tz-charts' },
      h(
        'section',
        { id: 'tz-cmp-chart-section', class: 'tz-card', 'aria-labelledby': 'tz-cmp-chart-title' },
        h('h2', { id: 'tz-cmp-chart-title' }, 'Per-layer change'),
        h(
          'div',
          { class: 'tz-card-head' },
          h(
            'div',
            { class: 'tz-legend', 'aria-hidden': 'true' },
            h('span', { class: 'tz-key tz-key-pred' }),
            'elements changed (%) ',
            h('span', { class: 'tz-key tz-key-bound' }),
            'relative L2',
          ),
          h('vscode-button', { id: 'tz-cmp-layer-chip', secondary: true, hidden: true }),
        ),
        h(
          'div',
          { class: 'tz-chart-scroll' },
          s('svg', {
            id: 'tz-cmp-chart',
            class: 'tz-chart',
            role: 'img',
            'aria-label': 'Per layer: fraction of elements changed and relative L2 of the change',
          }),
        ),
        h('p', { id: 'tz-cmp-chart-caption', class: 'tz-muted', 'aria-live': 'polite' }),
      ),
      h(
        'section',
        { id: 'tz-cmp-ulp-section', class: 'tz-card', 'aria-labelledby': 'tz-cmp-ulp-title' },
        h('h2', { id: 'tz-cmp-ulp-title' }, 'ULP distance'),
        s('svg', { id: 'tz-cmp-ulp', class: 'tz-chart', role: 'img', 'aria-label': 'ULP-distance histogram' }),
        h('p', { id: 'tz-cmp-ulp-caption', class: 'tz-muted', 'aria-live': 'polite' }),
      ),
    ),
    h(
      'section',
      { class: 'tz-table-section', 'aria-label': 'Tensors' },
      h(
        'div',
        { class: 'tz-table-tools' },
        h('vscode-textfield', {
          id: 'tz-cmp-filter',
          placeholder: 'Filter by name (space-separated terms)',
          'aria-label': 'Filter tensors by name',
        }),
        h('span', { id: 'tz-cmp-count', class: 'tz-muted', role: 'status' }),
      ),
      h(
        'div',
        { class: 'tz-cmp-table-wrap' },
        h(
          'table',
          { id: 'tz-cmp-table', class: 'tz-cmp-table' },
          h('thead', {}, h('tr', { id: 'tz-cmp-head' })),
          h('tbody', { id: 'tz-cmp-body' }),
        ),
      ),
    ),
  ];
}

export function mountCompareView(root: HTMLElement, host: Host<CompareUiState>): void {
  root.append(...skeleton());
  const m = emptyCompare();
  const ui: CompareUiState = {
    filter: '',
    layer: null,
    sort: { ...DEFAULT_COMPARE_SORT },
    selected: null,
    ...host.getState(),
  };
  const save = () => host.setState(ui);

  byId('tz-cmp-cancel').addEventListener('click', () => host.post({ type: 'cancelCompare' }));
  byId('tz-cmp-rerun').addEventListener('click', () => host.post({ type: 'rerunCompare' }));
  const filterField = byId('tz-cmp-filter') as HTMLElement & { value: string };
  filterField.value = ui.filter;
  let filterTimer: ReturnType<typeof setTimeout> | undefined;
  filterField.addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      ui.filter = filterField.value;
      save();
      renderTable();
    }, 80);
  });
  byId('tz-cmp-layer-chip').addEventListener('click', () => selectLayer(null));

  function selectLayer(layer: string | null): void {
    ui.layer = layer;
    save();
    renderChart();
    renderTable();
  }

  function selectTensor(name: string): void {
    ui.selected = name;
    save();
    for (const tr of byId('tz-cmp-body').querySelectorAll('tr'))
      tr.setAttribute('aria-selected', String((tr as HTMLElement).dataset.name === name));
    renderUlp();
  }

  function renderHeader(): void {
    const head = byId('tz-cmp-head');
    clear(head);
    for (const c of COLUMNS) {
      const sorted = ui.sort.key === c.key;
      const th = h(
        'th',
        {
          'data-key': c.key,
          class: c.num ? 'c-num' : undefined,
          title: c.title,
          'aria-sort': sorted ? (ui.sort.dir === 'asc' ? 'ascending' : 'descending') : 'none',
        },
        h('button', { class: 'tz-sort', type: 'button' }, c.label, sorted ? (ui.sort.dir === 'asc' ? ' ▲' : ' ▼') : ''),
      );
      th.addEventListener('click', () => {
        ui.sort = nextCompareSort(ui.sort, c.key);
        save();
        renderHeader();
        renderTable();
      });
      head.append(th);
    }
  }

  function statusText(r: (typeof m.rows)[number]): string {
    if (r.status === 'dtype-changed') return `dtype ${r.dtype} → ${r.dtypeB}`;
    if (r.status === 'shape-changed') return `shape ${formatShape(r.shape)} → ${formatShape(r.shapeB ?? [])}`;
    return r.status;
  }

  function renderTable(): void {
    const rows = m.rows;
    const layerRows = ui.layer === null ? rows : rows.map((r) => (r && r.layer === ui.layer ? r : undefined));
    const view = compareView(layerRows, ui.filter, ui.sort);
    const body = byId('tz-cmp-body');
    clear(body);
    for (const i of view.slice(0, MAX_TABLE_ROWS)) {
      const r = rows[i]!;
      const tr = h(
        'tr',
        { 'data-name': r.name, 'data-status': r.status, 'aria-selected': String(r.name === ui.selected), tabindex: 0 },
        h('td', { class: 'c-num' }, String(i + 1)),
        h('td', { class: 'c-name', title: `${r.name} ${formatShape(r.shape)}` }, r.name),
        h('td', { 'data-col': 'status', class: `tz-status-${r.status}` }, statusText(r)),
        h('td', {}, r.dtype),
        h(
          'td',
          { class: 'c-num', 'data-col': 'changed', 'data-value': r.changedElements ?? '' },
          r.changedElements === null ? '–' : formatInt(r.changedElements),
        ),
        h('td', { class: 'c-num', 'data-col': 'fraction' }, formatPercent(fractionChanged(r), 2)),
        h('td', { class: 'c-num', 'data-col': 'relL2' }, fig(r.relL2)),
        h('td', { class: 'c-num', 'data-col': 'maxAbs' }, fig(r.maxAbsDiff)),
        h('td', { class: 'c-num', 'data-col': 'cosine' }, fig(r.cosine, 6)),
        h('td', { class: 'c-num', 'data-col': 'standalone' }, r.bounds ? formatBytes(r.bounds.standalone) : '–'),
        h('td', { class: 'c-num', 'data-col': 'delta' }, r.bounds ? formatBytes(deltaBound(r)) : '–'),
      );
      tr.addEventListener('click', () => selectTensor(r.name));
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') selectTensor(r.name);
      });
      body.append(tr);
    }
    const count = byId('tz-cmp-count');
    const streamed = rows.filter(Boolean).length;
    count.dataset.shown = String(view.length);
    count.textContent =
      (view.length === streamed
        ? `${formatInt(streamed)} tensors`
        : `${formatInt(view.length)} of ${formatInt(streamed)} tensors`) +
      `${ui.layer !== null ? ` in layer ${ui.layer}` : ''}` +
      `${view.length > MAX_TABLE_ROWS ? ` (the first ${MAX_TABLE_ROWS} shown: filter or sort for others)` : ''}`;
    const chip = byId('tz-cmp-layer-chip');
    chip.hidden = ui.layer === null;
    chip.textContent = ui.layer === null ? '' : `layer: ${ui.layer} ✕`;
  }

  function renderChart(): void {
    const svg = byId('tz-cmp-chart') as unknown as SVGSVGElement;
    const caption = byId('tz-cmp-chart-caption');
    clear(svg);
    const layers = compareLayers(m);
    const section = byId('tz-cmp-chart-section');
    const slot = Math.max(
      6,
      Math.min(40, Math.floor(Math.max(320, section.clientWidth - 90) / Math.max(1, layers.length))),
    );
    const left = 56;
    const width = Math.max(320, left + slot * layers.length + 8);
    const panel = 70;
    const height = 2 * panel + 52;
    for (const [k, v] of Object.entries({ width, height, viewBox: `0 0 ${width} ${height}` }))
      svg.setAttribute(k, String(v));
    svg.setAttribute('data-layers', String(layers.length));
    const maxL2 = Math.max(0, ...layers.map((l) => l.relL2 ?? 0));
    const top1 = 8;
    const top2 = top1 + panel + 18;
    const axis = (y: number, label: string, sub: string) => {
      svg.append(s('line', { class: 'tz-grid', x1: left, x2: width - 4, y1: y + panel, y2: y + panel }));
      svg.append(s('text', { class: 'tz-axis-label', x: left - 4, y: y + 8, 'text-anchor': 'end' }, label));
      svg.append(s('text', { class: 'tz-axis-label', x: left - 4, y: y + panel, 'text-anchor': 'end' }, sub));
    };
    axis(top1, '100%', '0');
    axis(top2, fig(maxL2, 2), '0');
    layers.forEach((l, i) => {
      const x = left + i * slot;
      const w = Math.max(2, slot - 2);
      const f = l.changedFraction;
      const r = l.relL2 ?? 0;
      const hf = Math.max(f > 0 ? 1 : 0, f * panel);
      const hr = maxL2 > 0 ? Math.max(r > 0 ? 1 : 0, (r / maxL2) * panel) : 0;
      const g = s(
        'g',
        {
          class: `tz-cmp-layer${ui.layer === l.layer ? ' tz-selected' : ''}`,
          'data-layer': l.layer,
          'data-fraction': f,
          'data-rel-l2': l.relL2 ?? '',
        },
        s('rect', { class: 'tz-cmp-hit', x, y: top1, width: slot, height: top2 + panel - top1 }),
        s('rect', { class: 'tz-bar-pred', x, y: top1 + panel - hf, width: w, height: hf }),
        s('rect', { class: 'tz-cmp-l2', x, y: top2 + panel - hr, width: w, height: hr }),
        s(
          'title',
          {},
          `${l.layer}: ${formatPercent(f, 2)} of ${formatInt(l.elements)} elements changed, ` +
            `relative L2 ${fig(l.relL2)}, ` +
            `${l.changedTensors} of ${l.tensors} tensors changed`,
        ),
      );
      g.addEventListener('click', () => selectLayer(ui.layer === l.layer ? null : l.layer));
      svg.append(g);
    });
    svg.append(s('text', { class: 'tz-axis-label tz-axis-title', x: left, y: top1 + panel + 12 }, 'elements changed'));
    svg.append(
      s('text', { class: 'tz-axis-label tz-axis-title', x: left, y: top2 + panel + 12 }, 'relative L2 of B − A'),
    );
    const worst = [...layers].sort((a, b) => (b.relL2 ?? 0) - (a.relL2 ?? 0))[0];
    caption.textContent = layers.length
      ? `${layers.length} layers${m.layers ? '' : ' so far'}; largest change: ${worst!.layer} ` +
        `(relative L2 ${fig(worst!.relL2)}, ` +
        `${formatPercent(worst!.changedFraction, 1)} of its elements). Click a layer to filter the table.`
      : 'No tensors compared yet.';
  }

  function renderUlp(): void {
    const svg = byId('tz-cmp-ulp') as unknown as SVGSVGElement;
    const caption = byId('tz-cmp-ulp-caption');
    clear(svg);
    const name = ui.selected ?? defaultSelection(m);
    const row = m.rows.find((r) => r?.name === name);
    byId('tz-cmp-ulp-title').textContent = row ? `ULP distance — ${row.name}` : 'ULP distance';
    const buckets = ulpBuckets(row?.ulpHistogram ?? null);
    svg.setAttribute('data-tensor', row?.name ?? '');
    svg.setAttribute('data-buckets', String(buckets.length));
    const width = Math.max(280, byId('tz-cmp-ulp-section').clientWidth - 24 || 360);
    const height = 172;
    const bottom = 32;
    for (const [k, v] of Object.entries({ width, height, viewBox: `0 0 ${width} ${height}` }))
      svg.setAttribute(k, String(v));
    if (!row || !buckets.length) {
      caption.textContent = row
        ? `${row.name}: ${row.status} (no element-wise comparison)`
        : 'Select a tensor in the table.';
      return;
    }
    const total = buckets.reduce((a, b) => a + b.count, 0);
    const maxLog = Math.log10(1 + Math.max(...buckets.map((b) => b.count)));
    const bw = (width - 16) / buckets.length;
    const plot = height - bottom - 8;
    const stride = Math.max(1, Math.ceil(buckets.length / Math.max(1, Math.floor((width - 16) / 34))));
    buckets.forEach((b, k) => {
      const hgt = b.count ? Math.max(1, (Math.log10(1 + b.count) / maxLog) * plot) : 0;
      const x = 8 + k * bw;
      const r = s('rect', {
        class: 'tz-hist-bar',
        x,
        y: 8 + plot - hgt,
        width: Math.max(1, bw - 1),
        height: hgt,
        'data-bucket': b.label,
        'data-count': b.count,
      });
      r.append(
        s(
          'title',
          {},
          `ULP distance ${b.label}: ${formatInt(b.count)} (${((100 * b.count) / Math.max(1, total)).toFixed(2)}%)`,
        ),
      );
      svg.append(r);
      if (k % stride === 0)
        svg.append(
          s('text', { class: 'tz-axis-label', x: x + bw / 2, y: 8 + plot + 14, 'text-anchor': 'middle' }, b.label),
        );
    });
    svg.append(
      s(
        'text',
        { class: 'tz-axis-label tz-axis-title', x: width / 2, y: height - 2, 'text-anchor': 'middle' },
        'ULP distance |B − A| (buckets of powers of two); bar height: log count',
      ),
    );
    const same = buckets[0]!.count;
    caption.textContent =
      `${row.name}: ${formatInt(total)} elements, ${formatInt(same)} at distance 0 ` +
      `(${formatPercent(same / Math.max(1, total), 2)}), ` +
      `${formatInt(total - same)} changed`;
  }

  function renderProgress(): void {
    const wrap = byId('tz-cmp-progress');
    wrap.dataset.state = m.state;
    const bar = byId('tz-cmp-bar') as HTMLElement & { value?: number; max: number };
    const p = m.progress;
    const running = m.state === 'running';
    bar.hidden = !running;
    bar.max = 100;
    bar.value = p.bytesTotal > 0 ? Math.min(100, (100 * p.bytesDone) / p.bytesTotal) : undefined;
    byId('tz-cmp-cancel').hidden = !running;
    byId('tz-cmp-rerun').hidden = running;
    const tensors = p.total ? `${formatInt(p.done)} of ${formatInt(p.total)} tensors` : 'reading headers';
    const bytes = p.bytesTotal ? `, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}` : '';
    const text = byId('tz-cmp-progress-text');
    text.textContent =
      m.state === 'running'
        ? `Comparing: ${tensors}${bytes}`
        : m.state === 'done'
          ? `Compared ${formatInt(m.rows.length)} tensors`
          : m.state === 'cancelled'
            ? `Cancelled after ${tensors}`
            : 'Comparison failed';
    const err = byId('tz-cmp-error');
    err.hidden = m.state !== 'failed';
    err.textContent = m.state === 'failed' ? m.message : '';
  }

  function renderSummary(): void {
    const init = m.init;
    if (!init) return;
    byId('tz-cmp-title').textContent = `${init.a.name} ↔ ${init.b.name}`;
    const files = byId('tz-cmp-files');
    clear(files);
    for (const [k, side] of [
      ['A (reference)', init.a],
      ['B', init.b],
    ] as const)
      files.append(
        h('dt', {}, k),
        h('dd', { title: side.displayPath, 'data-side': k[0] }, `${side.name} · ${formatBytes(side.size)}`),
      );
    const t = compareTotals(m);
    const dl = byId('tz-cmp-summary');
    clear(dl);
    const c = t.statuses;
    const item = (
      label: string,
      stat: string,
      value: string,
      attrs: Record<string, string | number> = {},
      title?: string,
    ) => dl.append(h('dt', { title }, label), h('dd', { 'data-stat': stat, title, ...attrs }, value));
    item(
      'Tensors',
      'tensors',
      `${formatInt(c.changed)} changed, ${formatInt(c.identical)} identical` +
        [
          c.added ? `, ${c.added} added` : '',
          c.removed ? `, ${c.removed} removed` : '',
          c['dtype-changed'] ? `, ${c['dtype-changed']} dtype changed` : '',
          c['shape-changed'] ? `, ${c['shape-changed']} shape changed` : '',
        ].join(''),
      { 'data-changed': c.changed, 'data-identical': c.identical },
    );
    item(
      'Elements changed',
      'changed',
      `${formatInt(t.changedElements)} of ${formatInt(t.elements)} ` +
        `(${formatPercent(t.elements ? t.changedElements / t.elements : null, 2)})`,
      { 'data-value': t.changedElements, 'data-elements': t.elements },
    );
    if (m.summary)
      item('Relative L2', 'relL2', fig(m.summary.relL2), {}, '||B − A|| / ||A|| over the compared tensors');
    const est = 'order-0 bound of the byte planes over the compared tensors; the coder usually comes close';
    item(
      'B alone (estimate)',
      'standalone',
      formatBytes(t.standalone),
      { 'data-bytes': t.standalone },
      `Estimate of B coded without A: ${est}`,
    );
    item(
      'B as a delta of A (estimate)',
      'delta',
      `${formatBytes(t.delta)}${t.standalone ? ` (${formatPercent(t.delta / t.standalone, 1)} of alone)` : ''}`,
      { 'data-bytes': t.delta },
      `Estimate of B delta-coded against A, per tensor the best of its own, XOR and ULP-distance planes: ${est}`,
    );
  }

  const pending = new Set<ComparePart>();
  let frame = 0;
  function flush(): void {
    frame = 0;
    const parts = new Set(pending);
    pending.clear();
    const all = parts.has('all');
    if (all) renderHeader();
    if (all || parts.has('rows') || parts.has('state')) {
      renderSummary();
      renderTable();
      renderChart();
      renderUlp();
    }
    if (all || parts.has('progress') || parts.has('state')) renderProgress();
  }

  host.onMessage((msg: HostToWebview) => {
    if (msg.type === 'compareInit') {
      const key = `${msg.compare.a.displayPath}\n${msg.compare.b.displayPath}`;
      if (ui.key !== key)
        Object.assign(ui, { key, filter: '', layer: null, sort: { ...DEFAULT_COMPARE_SORT }, selected: null });
      filterField.value = ui.filter;
      save();
    }
    const parts = applyCompareMessage(m, msg);
    if (!parts.size) return;
    for (const p of parts) pending.add(p);
    if (parts.has('all')) {
      if (frame) cancelAnimationFrame(frame);
      flush();
    } else if (!frame) frame = requestAnimationFrame(flush);
  });
  window.addEventListener('resize', () => {
    renderChart();
    renderUlp();
  });
  host.post({ type: 'ready' });
}
