/** The model editor's webview: builds the page, applies host messages and keeps UI state across hide/show. */
import { sameHistogramTarget, type HistogramTarget, type HostToWebview } from '../../protocol/webview';
import { byId, h, s } from '../dom';
import {
  applyMessage,
  currentLayers,
  emptyModelState,
  lossyPoints,
  modelEstimate,
  type Part,
} from '../model/modelState';
import {
  DEFAULT_SORT,
  dtypesOf,
  EMPTY_FILTER,
  nextSort,
  viewIndices,
  type TableFilter,
  type TableSort,
} from '../model/table';
import type { Host } from '../vscodeApi';
import { renderHistogram } from './histogram';
import { renderActions, renderJob, wireJobPanel } from './jobPanel';
import { LayerChartView } from './layerChart';
import { renderLossy } from './lossy';
import { renderAnalysisProgress, renderSummary } from './summary';
import { renderMetadata, renderShards } from './modelCards';
import { TensorTableView, type ColumnWidths } from './tensorTable';
import { InspectorView, inspectorSkeleton } from './inspector';

/** What survives the webview being hidden and shown again (setState); data comes back from the host. */
export interface ModelUiState {
  path?: string;
  filter: TableFilter;
  sort: TableSort;
  selectedTensor: string | null;
  selectedLayer: string | null;
  histogramLog: boolean;
  scrollTop: number;
  colWidths?: ColumnWidths;
}

/** Models with more rows than this render streamed statistics every STREAM_RENDER_MS, not every frame. */
const STREAM_THROTTLE_ROWS = 2000;
const STREAM_RENDER_MS = 250;
const STREAM_PARTS = new Set<Part>(['rows', 'progress', 'summary']);

function skeleton(): HTMLElement[] {
  return [
    h(
      'header',
      { class: 'tz-summary', id: 'tz-summary', 'aria-label': 'Model summary' },
      h(
        'div',
        { class: 'tz-title-row' },
        h('h1', { id: 'tz-title' }, 'Loading…'),
        h('span', { id: 'tz-format', class: 'tz-badge' }),
      ),
      h('dl', { id: 'tz-facts', class: 'tz-facts' }),
      h('ul', { id: 'tz-notes', class: 'tz-notes tz-muted', hidden: true }),
      h(
        'div',
        { id: 'tz-analysis-progress', class: 'tz-progress', role: 'status', 'aria-live': 'polite' },
        h('vscode-progress-bar', { id: 'tz-analysis-bar', 'aria-label': 'Analysis progress' }),
        h('span', { id: 'tz-analysis-text', class: 'tz-muted' }, 'Reading header…'),
      ),
      h('p', { id: 'tz-analysis-error', class: 'tz-error', role: 'alert', hidden: true }),
    ),
    h(
      'section',
      { id: 'tz-actions', class: 'tz-actions', 'aria-label': 'Actions' },
      h(
        'div',
        { class: 'tz-buttons' },
        h('vscode-button', { id: 'tz-btn-compress', 'aria-label': 'Compress' }, 'Compress'),
        h('vscode-button', { id: 'tz-btn-decompress', 'aria-label': 'Decompress', hidden: true }, 'Decompress'),
        h('vscode-button', { id: 'tz-btn-verify', 'aria-label': 'Verify', secondary: true, hidden: true }, 'Verify'),
        h(
          'vscode-button',
          { id: 'tz-btn-cancel', 'aria-label': 'Cancel job', secondary: true, hidden: true },
          'Cancel',
        ),
        h(
          'vscode-button',
          {
            id: 'tz-btn-compare',
            'aria-label': 'Compare with another model',
            secondary: true,
            title: 'Compare this model with another one (per-layer and per-tensor changes, delta size estimate)',
          },
          'Compare with…',
        ),
        h('span', { id: 'tz-write-note', class: 'tz-muted', hidden: true }),
      ),
      h(
        'div',
        { id: 'tz-job', class: 'tz-job', hidden: true, role: 'status', 'aria-live': 'polite' },
        h('vscode-progress-bar', { id: 'tz-job-progress', 'aria-label': 'Job progress' }),
        h('div', { id: 'tz-job-text' }),
      ),
    ),
    h(
      'section',
      { id: 'tz-shards-section', class: 'tz-card tz-shards', hidden: true, 'aria-labelledby': 'tz-shards-title' },
      h('h2', { id: 'tz-shards-title' }, 'Shards'),
      h('table', { id: 'tz-shards', class: 'tz-kv-table' }),
    ),
    h(
      'details',
      { id: 'tz-metadata-section', class: 'tz-card tz-metadata', hidden: true },
      h(
        'summary',
        {},
        h('h2', { id: 'tz-metadata-title', class: 'tz-inline-h' }, 'Metadata'),
        ' ',
        h('span', { id: 'tz-metadata-count', class: 'tz-muted' }),
      ),
      h(
        'div',
        { class: 'tz-card-head' },
        h('span', { class: 'tz-muted' }, 'Long values are folded; Copy puts the full value on the clipboard.'),
        h(
          'vscode-button',
          { id: 'tz-metadata-copy-all', secondary: true, 'aria-label': 'Copy all metadata as JSON' },
          'Copy all',
        ),
      ),
      h('table', { id: 'tz-metadata', class: 'tz-kv-table' }),
    ),
    h(
      'div',
      { class: 'tz-charts' },
      h(
        'section',
        { id: 'tz-layer-chart-section', class: 'tz-card', 'aria-labelledby': 'tz-layer-chart-title' },
        h('h2', { id: 'tz-layer-chart-title' }, 'Per-layer compressibility'),
        h(
          'div',
          { class: 'tz-card-head' },
          h(
            'div',
            { id: 'tz-layer-legend', class: 'tz-legend', 'aria-hidden': 'true' },
            h('span', { class: 'tz-key tz-key-now' }),
            'bytes now ',
            h('span', { class: 'tz-key tz-key-pred' }),
            'estimate ',
            h(
              'span',
              { class: 'tz-legend-stored' },
              h('span', { class: 'tz-key tz-key-stored' }),
              'stored in .tzip ',
              h('span', { class: 'tz-key tz-key-bound' }),
              'estimate',
            ),
          ),
          h(
            'div',
            { id: 'tz-layer-nav', class: 'tz-chart-nav' },
            h('span', { id: 'tz-layer-path', class: 'tz-muted' }),
            h(
              'vscode-button',
              { id: 'tz-layer-zoom-out', secondary: true, hidden: true, 'aria-label': 'Zoom out' },
              'Zoom out',
            ),
          ),
        ),
        h(
          'div',
          {
            id: 'tz-layer-chart-wrap',
            class: 'tz-chart-scroll',
            tabindex: 0,
            role: 'group',
            'aria-label': 'Per-layer chart: left and right arrows select a layer, Escape clears',
            'aria-describedby': 'tz-layer-caption',
          },
          s('svg', {
            id: 'tz-layer-chart',
            class: 'tz-chart',
            role: 'img',
            'aria-label': 'Bytes per layer now and the estimate after lossless compression',
          }),
        ),
        h('p', { id: 'tz-layer-caption', class: 'tz-muted', 'aria-live': 'polite' }),
      ),
      h(
        'section',
        { id: 'tz-histogram-section', class: 'tz-card', 'aria-labelledby': 'tz-histogram-title' },
        h(
          'div',
          { class: 'tz-card-head' },
          h('h2', { id: 'tz-histogram-title' }, 'Exponent histogram'),
          h('vscode-checkbox', { id: 'tz-histogram-log', label: 'log scale', 'aria-label': 'Log scale' }),
        ),
        s('svg', { id: 'tz-histogram', class: 'tz-chart', role: 'img', 'aria-label': 'Exponent histogram' }),
        h('p', { id: 'tz-histogram-caption', class: 'tz-muted', 'aria-live': 'polite' }),
      ),
      h(
        'section',
        { id: 'tz-lossy-section', class: 'tz-card', hidden: true, 'aria-labelledby': 'tz-lossy-title' },
        h('h2', { id: 'tz-lossy-title' }, 'Lossy: size vs kept mantissa bits'),
        s('svg', {
          id: 'tz-lossy-chart',
          class: 'tz-chart',
          role: 'img',
          'aria-label': 'Estimated size per kept mantissa bits',
        }),
        h('p', { id: 'tz-lossy-caption', class: 'tz-muted' }),
      ),
    ),
    h(
      'section',
      { id: 'tz-table-section', class: 'tz-table-section', 'aria-label': 'Tensors' },
      h(
        'div',
        { class: 'tz-table-tools' },
        h('vscode-textfield', {
          id: 'tz-filter',
          placeholder: 'Filter by name (space-separated terms)',
          'aria-label': 'Filter tensors by name',
        }),
        h('vscode-single-select', { id: 'tz-dtype-filter', 'aria-label': 'Filter by dtype' }),
        h(
          'vscode-single-select',
          { id: 'tz-order', 'aria-label': 'Row order' },
          h('vscode-option', { value: 'index' }, 'Storage order'),
          h('vscode-option', { value: 'name' }, 'Name order'),
        ),
        h('vscode-button', { id: 'tz-layer-chip', secondary: true, hidden: true, 'aria-label': 'Clear layer filter' }),
        h('span', { id: 'tz-table-count', class: 'tz-muted', role: 'status' }),
      ),
      h(
        'div',
        { id: 'tz-table', class: 'tz-table', role: 'grid', 'aria-label': 'Tensors', 'aria-rowcount': 1 },
        h('div', { id: 'tz-table-header', class: 'tz-row tz-header-row', role: 'row', 'aria-rowindex': 1 }),
        h(
          'div',
          {
            id: 'tz-table-viewport',
            class: 'tz-viewport',
            tabindex: 0,
            role: 'rowgroup',
            'aria-label': 'Tensor rows: arrow keys move the selection',
          },
          h('div', { id: 'tz-table-spacer', class: 'tz-spacer' }),
          h('div', { id: 'tz-table-body', class: 'tz-body' }),
        ),
        h('p', { id: 'tz-table-empty', class: 'tz-empty tz-muted', hidden: true, role: 'status' }),
      ),
    ),
    inspectorSkeleton(),
  ];
}

export function mountModelView(root: HTMLElement, host: Host<ModelUiState>): void {
  root.append(...skeleton());
  const st = emptyModelState();
  const saved = host.getState();
  const ui: ModelUiState = {
    filter: { ...EMPTY_FILTER },
    sort: { ...DEFAULT_SORT },
    selectedTensor: null,
    selectedLayer: null,
    histogramLog: false,
    scrollTop: 0,
    ...saved,
  };
  const save = () => host.setState(ui);
  let view: number[] = [];
  let dtypeKey = '';
  let pendingScroll = ui.scrollTop;

  const table = new TensorTableView({
    onSort: (key) => {
      ui.sort = nextSort(ui.sort, key);
      save();
      table.renderHeader(ui.sort);
      refreshTable();
    },
    onSelect: (name) => {
      ui.selectedTensor = name;
      save();
      table.setSelected(name, true);
      refreshHistogram();
      if (name !== null) inspector.open(name);
    },
    onScroll: (top) => {
      ui.scrollTop = top;
      save();
    },
    onWidths: (w) => {
      ui.colWidths = w;
      save();
    },
  });
  if (ui.colWidths) table.setWidths(ui.colWidths);
  const chart = new LayerChartView(
    byId('tz-layer-chart-wrap'),
    byId('tz-layer-chart') as unknown as SVGSVGElement,
    byId('tz-layer-caption'),
    { path: byId('tz-layer-path'), out: byId('tz-layer-zoom-out') },
    {
      onSelect: (layer) => {
        ui.selectedLayer = layer;
        ui.filter = { ...ui.filter, layer: layer ?? '' };
        ui.selectedTensor = null;
        save();
        chart.setSelected(layer);
        refreshTable();
        refreshHistogram();
      },
    },
  );
  wireJobPanel(host as Host<unknown>, () => st.job?.id);
  byId('tz-btn-compare').addEventListener('click', () => host.post({ type: 'compareWith' }));
  const inspector = new InspectorView(host, () => undefined);

  const filterField = byId('tz-filter') as HTMLElement & { value: string };
  filterField.value = ui.filter.text;
  let filterTimer: ReturnType<typeof setTimeout> | undefined;
  filterField.addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      ui.filter = { ...ui.filter, text: filterField.value };
      save();
      refreshTable();
    }, 80);
  });
  const orderSelect = byId('tz-order') as HTMLElement & { value: string };
  orderSelect.addEventListener('change', () => {
    ui.sort = { key: orderSelect.value === 'name' ? 'name' : 'index', dir: 'asc' };
    save();
    table.renderHeader(ui.sort);
    refreshTable();
  });
  byId('tz-metadata-copy-all').addEventListener('click', () => {
    if (st.model?.metadata) void navigator.clipboard?.writeText(JSON.stringify(st.model.metadata, null, 2));
  });
  const dtypeSelect = byId('tz-dtype-filter') as HTMLElement & { value: string };
  dtypeSelect.addEventListener('change', () => {
    ui.filter = { ...ui.filter, dtype: dtypeSelect.value };
    save();
    refreshTable();
  });
  byId('tz-layer-chip').addEventListener('click', () => {
    ui.selectedLayer = null;
    ui.filter = { ...ui.filter, layer: '' };
    save();
    chart.setSelected(null);
    refreshTable();
    refreshHistogram();
  });
  const logBox = byId('tz-histogram-log') as HTMLElement & { checked: boolean };
  logBox.checked = ui.histogramLog;
  logBox.addEventListener('change', () => {
    ui.histogramLog = logBox.checked;
    save();
    refreshHistogram();
  });

  function refreshDtypes(): void {
    const dtypes = dtypesOf(st.rows);
    const key = dtypes.join(',');
    if (key === dtypeKey) return;
    dtypeKey = key;
    dtypeSelect.replaceChildren(
      h('vscode-option', { value: '' }, 'All dtypes'),
      ...dtypes.map((d) => h('vscode-option', { value: d }, d)),
    );
    dtypeSelect.value = ui.filter.dtype;
  }

  function refreshTable(): void {
    view = viewIndices(st.rows, ui.filter, ui.sort);
    table.setData(st.rows, view, ui.selectedTensor);
    const chip = byId('tz-layer-chip');
    chip.hidden = !ui.filter.layer;
    chip.textContent = ui.filter.layer ? `layer: ${ui.filter.layer} ✕` : '';
    const count = byId('tz-table-count');
    count.textContent =
      view.length === st.rows.length
        ? `${st.rows.length.toLocaleString('en-US')} tensors`
        : `${view.length.toLocaleString('en-US')} of ${st.rows.length.toLocaleString('en-US')} tensors`;
    count.dataset.shown = String(view.length);
    if (ui.sort.key === 'index' || ui.sort.key === 'name') orderSelect.value = ui.sort.key;
    const empty = byId('tz-table-empty');
    const filtered = !!(ui.filter.text.trim() || ui.filter.dtype || ui.filter.layer);
    empty.hidden = view.length > 0 || !st.rows.length || !filtered;
    if (!empty.hidden) {
      const what = [
        ui.filter.text.trim() ? `“${ui.filter.text.trim()}”` : '',
        ui.filter.dtype ? `dtype ${ui.filter.dtype}` : '',
        ui.filter.layer ? `layer ${ui.filter.layer}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      empty.textContent =
        `No tensor matches ${what}. Clear the filter to see all ` +
        `${st.rows.length.toLocaleString('en-US')} tensors.`;
    }
  }

  /** What the histogram shows: the selected tensor, else the selected layer, else the whole model. */
  function histogramTarget(): { target: HistogramTarget; what: string } | null {
    if (ui.selectedTensor !== null && st.byName.has(ui.selectedTensor))
      return { target: { kind: 'tensor', name: ui.selectedTensor }, what: ui.selectedTensor };
    if (ui.selectedLayer)
      return { target: { kind: 'layer', name: ui.selectedLayer }, what: `layer ${ui.selectedLayer}` };
    if (st.rows.length) return { target: { kind: 'model' }, what: 'whole model' };
    return null;
  }

  // Replies are matched to requests by id: only the answer to the latest request is kept, with the target it
  // was asked for, and drawn while that is still what the view shows (until then the previous one stays up).
  let histogramAsked: { id: number; target: HistogramTarget } | null = null;
  let histogramShown: { target: HistogramTarget; reply: Extract<HostToWebview, { type: 'histogram' }> } | null = null;
  function refreshHistogram(): void {
    const t = histogramTarget();
    drawHistogram();
    if (!t) return;
    histogramAsked = { id: (histogramAsked?.id ?? 0) + 1, target: t.target };
    host.post({ type: 'histogram', id: histogramAsked.id, target: t.target });
  }

  function drawHistogram(): void {
    const svg = byId('tz-histogram') as unknown as SVGSVGElement;
    const caption = byId('tz-histogram-caption');
    const width = Math.max(280, byId('tz-histogram-section').clientWidth - 24 || 420);
    const t = histogramTarget();
    const reply =
      t && histogramShown && sameHistogramTarget(histogramShown.target, t.target) ? histogramShown.reply : null;
    byId('tz-histogram-title').textContent = t ? `Exponent histogram — ${t.what}` : 'Exponent histogram';
    renderHistogram(svg, caption, reply?.hist ?? null, t?.what ?? '', ui.histogramLog, width);
    if (!reply?.hist && st.model?.isTzip && t && !st.analysisDone)
      caption.textContent = `${t.what}: decoding the original's statistics from the .tzip…`;
    if (reply?.skipped) caption.textContent += ` (${reply.skipped} tensor(s) of another float width left out)`;
  }

  let chartTimer: ReturnType<typeof setTimeout> | undefined;
  function refreshChart(now = false): void {
    // streaming updates arrive ~10/s; redraw the chart at most every 250 ms
    if (!now) {
      if (chartTimer) return;
      chartTimer = setTimeout(() => {
        chartTimer = undefined;
        refreshChart(true);
      }, 250);
      return;
    }
    const layers = currentLayers(st);
    byId('tz-layer-legend').classList.toggle(
      'tz-has-stored',
      layers.some((l) => l.storedBytes !== undefined),
    );
    chart.render(layers);
    refreshHistogram();
  }

  function render(parts: Set<Part>): void {
    const all = parts.has('all');
    if (all) {
      table.setStoredColumn(
        st.rows.some((r) => r.storedBytes !== undefined && r.storedBytes !== null) || !!st.model?.isTzip,
      );
      table.setShardColumn(st.rows.some((r) => r.shard));
      table.renderHeader(ui.sort);
      chart.setSelected(ui.selectedLayer);
      renderShards(st);
      renderMetadata(st);
    }
    if (parts.has('damage')) {
      const damaged = new Set(st.tzip?.damagedTensors ?? []);
      for (const r of st.rows) r.damaged = damaged.has(r.name) || undefined;
      chart.setDamaged(st.rows.filter((r) => r.damaged).map((r) => r.layer));
      refreshTable();
    }
    if (all || parts.has('summary') || parts.has('rows')) renderSummary(st);
    if (all || parts.has('progress')) renderAnalysisProgress(st);
    if (all || parts.has('rows')) {
      refreshDtypes();
      refreshTable();
      refreshChart(all);
      if (all) refreshHistogram();
      if (all && pendingScroll) {
        table.restoreScroll(pendingScroll);
        pendingScroll = 0;
      }
    }
    if (all || parts.has('actions')) renderActions(st);
    if (all || parts.has('job')) {
      renderJob(st);
      chart.setJobLayer(st.job?.state === 'running' ? (st.job.layer ?? null) : null);
    }
    if (all || parts.has('lossy')) {
      const wasHidden = byId('tz-lossy-section').hidden;
      renderLossy(
        byId('tz-lossy-section'),
        byId('tz-lossy-chart') as unknown as SVGSVGElement,
        byId('tz-lossy-caption'),
        lossyPoints(st),
        st.model?.size ?? 0,
        modelEstimate(st),
        st.lossyEstimate,
      );
      // a new card changes the others' widths: redraw them at their new size
      if (wasHidden !== byId('tz-lossy-section').hidden) requestAnimationFrame(() => refreshChart(true));
    }
  }

  host.onMessage((msg: HostToWebview) => {
    if (msg.type === 'init' && ui.path !== msg.model.displayPath) {
      // another file in this panel: drop the UI state of the previous one
      Object.assign(ui, {
        filter: { ...EMPTY_FILTER },
        sort: { ...DEFAULT_SORT },
        selectedTensor: null,
        selectedLayer: null,
        scrollTop: 0,
        path: msg.model.displayPath,
      });
      inspector.close();
      pendingScroll = 0;
      save();
    }
    if (msg.type === 'histogram') {
      if (msg.id !== histogramAsked?.id) return; // a late answer to an earlier request
      histogramShown = { target: histogramAsked.target, reply: msg };
      drawHistogram();
      return;
    }
    if (msg.type === 'selectTensor') {
      // clear filters that could hide it, then select and scroll to it
      Object.assign(ui, { filter: { ...EMPTY_FILTER }, selectedLayer: null, selectedTensor: msg.name });
      save();
      filterField.value = '';
      dtypeSelect.value = '';
      chart.setSelected(null);
      refreshTable();
      table.setSelected(msg.name, true);
      refreshHistogram();
      inspector.open(msg.name);
      return;
    }
    if (inspector.handle(msg)) return;
    const parts = applyMessage(st, msg);
    if (!parts.size) return;
    // streamed batches arrive faster than frames: render what changed once per frame, not per message
    for (const p of parts) pending.add(p);
    if (parts.has('all')) flush();
    else if (
      !st.analysisDone &&
      st.rows.length > STREAM_THROTTLE_ROWS &&
      [...pending].every((p) => STREAM_PARTS.has(p))
    ) {
      // a big model's statistics batches: every render walks all rows, so at most a few per second
      if (!frame && !streamTimer) streamTimer = setTimeout(flush, STREAM_RENDER_MS);
    } else if (!frame) frame = requestAnimationFrame(flush);
  });
  const pending = new Set<Part>();
  let frame = 0;
  let streamTimer: ReturnType<typeof setTimeout> | undefined;
  function flush(): void {
    if (frame) cancelAnimationFrame(frame);
    frame = 0;
    clearTimeout(streamTimer);
    streamTimer = undefined;
    const parts = new Set(pending);
    pending.clear();
    render(parts);
  }
  let resizeTimer: ReturnType<typeof setTimeout> | undefined;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => refreshChart(true), 100);
  });
  host.post({ type: 'ready' });
}
