/** The shard list of a multi-file model and the metadata card (key/value table, folded long values, copy buttons). */
import { byId, clear, h } from '../dom';
import { formatBytes, formatInt } from '../../shared/format';
import { metadataEntries } from '../model/metadata';
import type { ModelState } from '../model/modelState';

const STATE_TEXT = {
  present: 'present',
  missing: '✗ missing',
  unreadable: '✗ unreadable',
  compressed: 'compressed (.tzip)',
} as const;

export function renderShards(st: ModelState): void {
  const section = byId('tz-shards-section');
  const table = byId('tz-shards');
  const shards = st.model?.shards ?? [];
  section.hidden = shards.length === 0;
  clear(table);
  if (!shards.length) return;
  table.append(
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', {}, 'File'),
        h('th', { class: 'c-num' }, 'Size'),
        h('th', { class: 'c-num' }, 'Tensors'),
        h('th', {}, 'State'),
      ),
    ),
  );
  const body = h('tbody');
  for (const x of shards) {
    body.append(
      h(
        'tr',
        { class: `tz-shard tz-shard-${x.state}`, 'data-file': x.file, 'data-state': x.state },
        h('td', { title: x.file }, x.file),
        h('td', { class: 'c-num', title: x.bytes === null ? '' : `${formatInt(x.bytes)} bytes` }, formatBytes(x.bytes)),
        h('td', { class: 'c-num' }, formatInt(x.tensors)),
        h('td', { title: x.message ?? '' }, x.message ? `${STATE_TEXT[x.state]}: ${x.message}` : STATE_TEXT[x.state]),
      ),
    );
  }
  table.append(body);
}

function copyButton(label: string, text: string): HTMLElement {
  const b = h(
    'button',
    { class: 'tz-copy', type: 'button', title: `Copy ${label}`, 'aria-label': `Copy ${label}` },
    'Copy',
  );
  b.addEventListener('click', () => {
    void navigator.clipboard?.writeText(text).then(
      () => {
        b.textContent = 'Copied';
        setTimeout(() => (b.textContent = 'Copy'), 1200);
      },
      () => undefined,
    );
  });
  return b;
}

export function renderMetadata(st: ModelState): void {
  const section = byId('tz-metadata-section') as HTMLDetailsElement;
  const table = byId('tz-metadata');
  const entries = metadataEntries(st.model?.metadata);
  section.hidden = entries.length === 0;
  clear(table);
  byId('tz-metadata-count').textContent = entries.length
    ? `(${formatInt(entries.length)} entr${entries.length === 1 ? 'y' : 'ies'})`
    : '';
  // small metadata opens by itself; a GGUF's hundreds of keys wait for a click
  section.open = entries.length > 0 && entries.length <= 12;
  const body = h('tbody');
  for (const e of entries) {
    const value = e.folded
      ? h(
          'details',
          { class: 'tz-fold' },
          h('summary', { title: 'Show the full value' }, e.short),
          h('pre', { class: 'tz-fold-full' }, e.full),
        )
      : h('span', {}, e.short);
    body.append(
      h(
        'tr',
        { 'data-key': e.key },
        h('th', { scope: 'row', title: e.key }, e.key),
        h('td', {}, value),
        h('td', { class: 'tz-copy-cell' }, copyButton(e.key, e.full)),
      ),
    );
  }
  table.append(body);
}
