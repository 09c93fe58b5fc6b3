/**
 * Hovers in an index: on a tensor name its header facts (dtype, shape, parameters, bytes, shard)
 * and, once an analysis ran, exponent entropy and estimated coded size; on a shard name its file
 * size, tensor count, state and the verify state of its .tzip.
 */
import * as path from 'node:path';
import type { Hover } from 'vscode-languageserver/node';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { elementCount } from '../../engine/core/dtypes';
import type { JsonRange } from '../../engine/formats/indexCheck';
import { formatBytes } from '../../shared/format';
import { toRange } from './diagnostics';
import type { JobFacts } from './facts';
import type { DocModel } from './model';

export const within = (r: JsonRange, offset: number) => offset >= r.offset && offset <= r.offset + r.length;

function params(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export function hoverAt(doc: TextDocument, model: DocModel, offset: number, facts: JobFacts): Hover | null {
  if (model.kind !== 'index') return null;
  const c = model.check;
  for (const e of c.entries) {
    if (within(e.keyRange, offset)) {
      const lines = [`**${e.tensor}**`, ''];
      const shardFile = e.shard ? path.join(model.dir, e.shard) : undefined;
      if (e.header) {
        const h = e.header;
        const n = elementCount(h.shape);
        lines.push(
          `\`${h.dtype}\` \`[${h.shape.join(', ')}]\` · ` +
            `${Number.isFinite(n) ? `${params(n)} parameters` : 'parameters unknown'} · ${formatBytes(h.bytes)}`,
        );
      } else lines.push('_not found in its shard (see Problems)_');
      if (e.shard) lines.push('', `shard \`${e.shard}\``);
      const a = facts.tensor(e.tensor, model.file, ...(shardFile ? [shardFile] : []));
      if (a) {
        const ent = a.exponentEntropy === null ? 'not a float' : `${a.exponentEntropy.toFixed(2)} bits`;
        lines.push(
          '',
          `exponent entropy ${ent} · estimated ${formatBytes(a.boundBytes)} coded (` +
            `${((100 * a.boundBytes) / Math.max(1, a.bytes)).toFixed(1)}%)${a.estimate ? ', sampled' : ''}`,
        );
      }
      return { contents: { kind: 'markdown', value: lines.join('\n') }, range: toRange(doc, e.keyRange) };
    }
    if (e.shard && within(e.valueRange, offset)) {
      const s = c.shards.find((x) => x.name === e.shard);
      if (!s) return null;
      const lines = [`**${s.name}**`, ''];
      if (s.state === 'present' || s.state === 'tzip') {
        lines.push(
          `${formatBytes(s.size ?? 0)}${s.state === 'tzip' ? ` as \`${s.tzipName}\` (compressed)` : ''} · ` +
            `${s.tensorCount} tensors (${formatBytes(s.tensorBytes ?? 0)}) · ${s.mapped} listed here`,
        );
      } else if (s.state === 'missing') lines.push('**missing**: no such file beside the index');
      else lines.push(`**unreadable**: ${s.message ?? ''}`);
      const tz = model.tzips.get(s.name);
      if (tz) {
        const v = facts.verify(tz);
        lines.push(
          '',
          `\`${path.basename(tz)}\`: ` +
            `${v === undefined ? 'not verified' : v.ok ? 'verified' : `verify failed: ${v.problems[0] ?? ''}`}`,
        );
      }
      return { contents: { kind: 'markdown', value: lines.join('\n') }, range: toRange(doc, e.valueRange) };
    }
  }
  return null;
}
