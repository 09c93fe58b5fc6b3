/** Summary header: format, size, tensor count, parameters, bytes per dtype, predicted size, .tzip facts. */
import { h, clear, byId } from '../dom';
import { formatBytes, formatCount, formatInt, formatPercent } from '../../shared/format';
import { modelEstimate, rowTotals, type ModelState } from '../model/modelState';

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
  const shards = m.shards ?? [];
  facts.append(
    fact(
      'tz-size',
      shards.length ? 'Model size' : 'File size',
      formatBytes(m.size),
      shards.length
        ? `${formatInt(m.size)} bytes: the ${shards.filter((x) => x.bytes !== null).length} readable ` +
            `shard(s) and the index`
        : `${formatInt(m.size)} bytes`,
    ),
  );
  if (shards.length) {
    const missing = shards.filter((x) => x.state === 'missing' || x.state === 'unreadable').length;
    const sh = fact(
      'tz-shard-count',
      'Shards',
      missing ? `${shards.length} (${missing} missing or unreadable)` : String(shards.length),
    );
    sh.dataset.missing = String(missing);
    facts.append(sh);
  }
  const count = h(
    'div',
    { class: 'tz-fact' },
    h('dt', {}, 'Tensors'),
    h('dd', { id: 'tz-tensor-count', 'data-count': st.rows.length }, formatInt(st.rows.length)),
  );
  facts.append(count);
  facts.append(fact('tz-parameters', 'Parameters', formatCount(parameters), formatInt(parameters)));
  const dtypes = Object.entries(perDtype).sort((x, y) => y[1] - x[1]);
  facts.append(
    h(
      'div',
      { class: 'tz-fact', id: 'tz-dtypes' },
      h('dt', {}, 'Bytes per dtype'),
      h(
        'dd',
        {},
        ...dtypes.map(([d, b]) => h('span', { class: 'tz-dtype-chip', 'data-dtype': d }, `${d} ${formatBytes(b)}`)),
      ),
    ),
  );

  if (m.isTzip && st.tzip) {
    const z = st.tzip;
    facts.append(
      fact('tz-original', 'Original size', formatBytes(z.originalBytes), `${formatInt(z.originalBytes)} bytes`),
    );
    facts.append(
      fact(
        'tz-ratio',
        'Compressed to',
        formatPercent(z.ratio),
        `${formatBytes(z.storedBytes)} of ${formatBytes(z.originalBytes)}${z.lossy ? ' (lossy)' : ''}`,
      ),
    );
    const verify = {
      unknown: 'not checked (click Verify)',
      running: 'checking…',
      ok: '✓ verified',
      failed: '✗ failed',
    }[z.verify];
    const v = fact(
      'tz-verify-status',
      'Verify',
      verify,
      z.verify === 'unknown'
        ? 'Damage is found only by decoding: Verify decodes every chunk and checks its checksum and the ' +
            'original SHA-256'
        : z.verifyProblems?.join('\n'),
    );
    v.dataset.status = z.verify;
    facts.append(v);
  } else {
    const est = modelEstimate(st);
    let predicted: string;
    let title: string | undefined;
    if (est !== null) {
      predicted = `${formatBytes(est)} (${formatPercent(est / Math.max(1, m.size))})`;
      title =
        `An estimate, not a bound: the order-0 entropy of each tensor's byte planes` +
        `${a ? ` (${formatBytes(a.boundBytes)} with the bytes outside tensors)` : ''} plus container ` +
        `framing${a?.estimate ? ', from samples' : ''}. The coder's dedupe, palettes and adaptive models ` +
        `usually do better.`;
    } else {
      predicted = st.analysisError
        ? 'unavailable'
        : t.analysed
          ? `analyzing… (${formatInt(t.analysed)}/${formatInt(st.rows.length)})`
          : 'analyzing…';
    }
    facts.append(fact('tz-predicted', 'Estimated .tzip', predicted, title));
    if (st.achievedBytes !== null)
      facts.append(
        fact(
          'tz-achieved',
          'Achieved .tzip',
          `${formatBytes(st.achievedBytes)} (${formatPercent(st.achievedBytes / Math.max(1, m.size))})`,
          `${formatInt(st.achievedBytes)} bytes: the .tzip next to this file`,
        ),
      );
  }
  const notes = byId('tz-notes');
  clear(notes);
  for (const n of m.notes ?? []) notes.append(h('li', {}, n));
  notes.hidden = !m.notes?.length;
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
    text.textContent = `Analyzing tensors: ${formatInt(p.done)} of ${formatInt(p.total)} (${formatPercent(frac, 0)})`;
  } else {
    bar.value = undefined;
    text.textContent = 'Analyzing tensors…';
  }
}
