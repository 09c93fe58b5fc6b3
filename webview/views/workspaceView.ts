/** "Analyze Workspace Models" summary: every model with size, predicted and achieved savings, and batch progress. */
import type { HostToWebview, JobView, WorkspaceModelRow } from '../../protocol/webview';
import { byId, clear, h } from '../dom';
import { formatBytes, formatEta, formatPercent, formatRate } from '../../shared/format';
import { jobLine } from '../model/modelState';
import type { Host } from '../vscodeApi';

export function mountWorkspaceView(root: HTMLElement, host: Host<unknown>): void {
  const rows = new Map<string, WorkspaceModelRow>();
  root.append(
    h(
      'header',
      { class: 'tz-summary', id: 'tz-summary', 'aria-label': 'Workspace models' },
      h('h1', { id: 'tz-title' }, 'Workspace models'),
      h('p', { id: 'tz-ws-totals', class: 'tz-muted', role: 'status' }),
    ),
    h(
      'section',
      { id: 'tz-job', class: 'tz-job', hidden: true, role: 'status', 'aria-live': 'polite' },
      h('vscode-progress-bar', { id: 'tz-job-progress', 'aria-label': 'Batch progress' }),
      h('div', { id: 'tz-job-text' }),
    ),
    h(
      'div',
      { class: 'tz-ws-table-wrap' },
      h(
        'table',
        { id: 'tz-ws-table', class: 'tz-ws-table', 'aria-label': 'Models in the workspace' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['File', 'Format', 'Size', 'Estimated .tzip', 'Achieved (.tzip)', 'Status'].map((t) =>
              h('th', { scope: 'col' }, t),
            ),
          ),
        ),
        h('tbody', { id: 'tz-ws-body' }),
      ),
    ),
  );
  const render = () => {
    const body = byId('tz-ws-body');
    clear(body);
    let size = 0;
    let predicted = 0;
    let achieved = 0;
    let achievedOf = 0;
    for (const r of rows.values()) {
      size += r.size;
      if (r.predictedBytes !== null) predicted += r.predictedBytes;
      else predicted += r.size;
      if (r.achievedBytes !== null) {
        achieved += r.achievedBytes;
        achievedOf += r.size;
      }
      const link = h('a', { href: '#', class: 'tz-ws-open', 'data-uri': r.uri }, r.path);
      link.addEventListener('click', (e) => {
        e.preventDefault();
        host.post({ type: 'open', uri: r.uri });
      });
      body.append(
        h(
          'tr',
          { class: 'tz-ws-row', 'data-status': r.status, 'data-path': r.path },
          h('td', {}, link),
          h('td', {}, r.format),
          h('td', { class: 'c-num' }, formatBytes(r.size)),
          h(
            'td',
            { class: 'c-num' },
            r.predictedBytes === null
              ? '–'
              : `${formatBytes(r.predictedBytes)} (${formatPercent(r.predictedBytes / Math.max(1, r.size))})`,
          ),
          h(
            'td',
            { class: 'c-num' },
            r.achievedBytes === null
              ? '–'
              : `${formatBytes(r.achievedBytes)} (${formatPercent(r.achievedBytes / Math.max(1, r.size))})`,
          ),
          h('td', { title: r.error }, r.status === 'failed' ? `✗ ${r.error ?? 'failed'}` : r.status),
        ),
      );
    }
    byId('tz-ws-totals').textContent =
      `${rows.size} model file${rows.size === 1 ? '' : 's'}, ${formatBytes(size)}; estimated .tzip ` +
      `${formatBytes(predicted)} (${formatPercent(predicted / Math.max(1, size))})` +
      (achievedOf ? `; already compressed: ${formatBytes(achievedOf)} → ${formatBytes(achieved)}` : '');
  };
  const renderJob = (job: JobView | null, summary?: string) => {
    const wrap = byId('tz-job');
    const bar = byId('tz-job-progress') as HTMLElement & { value?: number; max: number };
    if (!job && !summary) {
      wrap.hidden = true;
      return;
    }
    wrap.hidden = false;
    bar.hidden = !job || job.state !== 'running';
    bar.max = 100;
    if (job) bar.value = job.percent;
    byId('tz-job-text').textContent =
      summary ?? (job ? jobLine(job, { percent: (r) => formatPercent(r), rate: formatRate, eta: formatEta }) : '');
  };
  host.onMessage((msg: HostToWebview) => {
    if (msg.type === 'workspaceInit') {
      byId('tz-title').textContent = msg.title;
      rows.clear();
      for (const r of msg.rows) rows.set(r.uri, r);
      render();
    } else if (msg.type === 'workspaceRow') {
      rows.set(msg.row.uri, msg.row);
      render();
    } else if (msg.type === 'workspaceJob') {
      renderJob(msg.job, msg.summary);
    }
  });
  host.post({ type: 'ready' });
}
