/** Compress / Decompress / Verify buttons and the live progress of the document's job. */
import { byId } from '../dom';
import { formatEta, formatPercent, formatRate } from '../../shared/format';
import { jobLine, type ModelState } from '../model/modelState';
import type { Host } from '../vscodeApi';

type Button = HTMLElement & { disabled: boolean };

export function wireJobPanel(host: Host<unknown>, getJobId: () => string | undefined): void {
  byId('tz-btn-compress').addEventListener('click', () => host.post({ type: 'runJob', kind: 'compress' }));
  byId('tz-btn-decompress').addEventListener('click', () => host.post({ type: 'runJob', kind: 'decompress' }));
  byId('tz-btn-verify').addEventListener('click', () => host.post({ type: 'runJob', kind: 'verify' }));
  byId('tz-btn-cancel').addEventListener('click', () => {
    const id = getJobId();
    if (id) host.post({ type: 'cancelJob', id });
  });
}

export function renderActions(st: ModelState): void {
  const m = st.model;
  if (!m) return;
  const busy = st.job?.state === 'running' || st.job?.state === 'queued';
  const compress = byId<Button>('tz-btn-compress');
  const decompress = byId<Button>('tz-btn-decompress');
  const verify = byId<Button>('tz-btn-verify');
  compress.hidden = m.isTzip;
  decompress.hidden = !m.isTzip;
  verify.hidden = !m.isTzip;
  compress.disabled = busy || !st.canWrite;
  decompress.disabled = busy || !st.canWrite;
  verify.disabled = busy; // verify only reads
  const why = st.canWrite ? '' : (st.canWriteReason ?? 'Writing files is not available here');
  compress.title = why || 'Compress losslessly to a .tzip next to this file';
  decompress.title = why || 'Restore the original file from this .tzip';
  verify.title = 'Decode every chunk and check the checksums and the original SHA-256';
  byId('tz-write-note').textContent = why;
  byId('tz-write-note').hidden = !why;
}

export function renderJob(st: ModelState): void {
  const wrap = byId('tz-job');
  const bar = byId('tz-job-progress') as HTMLElement & { value?: number; max: number };
  const text = byId('tz-job-text');
  const cancel = byId<Button>('tz-btn-cancel');
  const job = st.job;
  if (!job) {
    wrap.hidden = true;
    cancel.hidden = true;
    return;
  }
  wrap.hidden = false;
  wrap.dataset.state = job.state;
  wrap.dataset.kind = job.kind;
  const running = job.state === 'running' || job.state === 'queued';
  cancel.hidden = !running;
  bar.hidden = !running;
  bar.max = 100;
  if (job.state === 'queued') bar.value = undefined;
  else bar.value = job.percent;
  bar.setAttribute('aria-valuenow', String(Math.round(job.percent)));
  text.textContent = jobLine(job, { percent: (r) => formatPercent(r), rate: formatRate, eta: formatEta });
}
