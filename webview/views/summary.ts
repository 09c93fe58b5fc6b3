/** Summary header: format, size, tensor count, parameters, bytes per dtype, predicted size, .tzip facts. */
import { h, clear, byId } from '../dom';
import { formatBytes, formatCount, formatInt, formatPercent } from '../model/format';
import { rowTotals, type ModelState } from '../model/modelState';

function fact(id: string, label: string, value: string, title?: string): HTMLElement {
  return h('div', { class: 'tz-fact', id }, h('dt', {}, label), h('dd', { title }, value));
}

export function renderSummary(st: ModelState): void {
  const m = st.model;
  if (!m) return;
  byId('tz-title').textContent = m.name;
  byId('tz-title').title = m.displayPath;
  byId('tz-format').textContent = m.format;
  const facts = byId('tz-facts');
  clear(facts);
  const t = rowTotals(st.rows);
  const a = st.analysis;
  const parameters = a ? a.parameters : t.parameters;
  const perDtype = a ? a.bytesPerDtype : t.bytesPerDtype;
  facts.append(fact('tz-size', 'File size', formatBytes(m.size), `${formatInt(m.size)} bytes`));
  const count = h('div', { class: 'tz-fact' }, h('dt', {}, 'Tensors'), h('dd', { id: 'tz-tensor-count', 'data-count': st.rows.length }, formatInt(st.rows.length)));
  facts.append(count);
  facts.append(fact('tz-parameters', 'Parameters', formatCount(parameters), formatInt(parameters)));
  const dtypes = Object.entries(perDtype).sort((x, y) => y[1] - x[1]);
  facts.append(h('div', { class: 'tz-fact', id: 'tz-dtypes' }, h('dt', {}, 'Bytes per dtype'),
    h('dd', {}, ...dtypes.map(([d, b]) => h('span', { class: 'tz-dtype-chip', 'data-dtype': d }, `${d} ${formatBytes(b)}`)))));

  if (m.isTzip && st.tzip) {
    const z = st.tzip;
    facts.append(fact('tz-original', 'Original size', formatBytes(z.originalBytes), `${formatInt(z.originalBytes)} bytes`));
    facts.append(fact('tz-ratio', 'Compressed to', formatPercent(z.ratio), `${formatBytes(z.storedBytes)} of ${formatBytes(z.originalBytes)}${z.lossy ? ' (lossy)' : ''}`));
    const verify = { unknown: 'not checked', running: 'checking…', ok: '✓ verified', failed: '✗ failed' }[z.verify];
    const v = fact('tz-verify-status', 'Verify', verify, z.verifyProblems?.join('\n'));
    v.dataset.status = z.verify;
    facts.append(v);
  } else {
    let predicted: string;
    let title: string | undefined;
    if (a) {
      predicted = `${formatBytes(a.predictedBytes)} (${formatPercent(a.predictedBytes / Math.max(1, m.size))})${a.estimate ? ' est.' : ''}`;
      title = `order-0 bound ${formatBytes(a.boundBytes)} plus container framing`;
    } else if (t.analysed > 0 && t.analysed === st.rows.length) {
      const structure = Math.max(0, m.size - t.bytes);
      predicted = `≈ ${formatBytes(t.boundBytes + structure)} (${formatPercent((t.boundBytes + structure) / Math.max(1, m.size))})`;
    } else {
      predicted = st.analysisError ? 'unavailable' : t.analysed ? `analysing… (${t.analysed}/${st.rows.length})` : 'analysing…';
    }
    const p = fact('tz-predicted', 'Predicted lossless', predicted, title);
    facts.append(p);
  }
  const err = byId('tz-analysis-error');
  err.hidden = !st.analysisError;
  err.textContent = st.analysisError ?? '';
}

export function renderAnalysisProgress(st: ModelState): void {
  const wrap = byId('tz-analysis-progress');
  const bar = byId('tz-analysis-bar') as HTMLElement & { value?: number; max: number };
  const text = byId('tz-analysis-text');
  const p = st.progress;
  if (st.analysisDone || !st.model) {
    wrap.hidden = true;
    wrap.dataset.state = st.analysisError ? 'failed' : 'done';
    return;
  }
  wrap.hidden = false;
  wrap.dataset.state = 'running';
  if (p && p.total > 0) {
    const frac = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.done / p.total;
    bar.max = 100;
    bar.value = Math.round(frac * 1000) / 10;
    text.textContent = `Analysing tensors: ${formatInt(p.done)} of ${formatInt(p.total)} (${formatPercent(frac, 0)})`;
  } else {
    bar.value = undefined;
    text.textContent = 'Analysing tensors…';
  }
}
