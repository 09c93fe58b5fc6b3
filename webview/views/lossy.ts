/**
 * Lossy "what if" curve: predicted size (% of the original) per kept mantissa bits k, with the
 * predicted lossless size as a reference line. Shown only when the server sent the what-if table.
 */
import type { LossyPoint } from '../../protocol/webview';
import { clear, s } from '../dom';
import { formatBytes, formatPercent } from '../../shared/format';

export function renderLossy(
  section: HTMLElement,
  svg: SVGSVGElement,
  caption: HTMLElement,
  points: LossyPoint[] | null,
  originalBytes: number,
  losslessBytes: number | null,
  estimate: boolean,
): void {
  section.hidden = !points || points.length === 0;
  clear(svg);
  if (!points || !points.length || originalBytes <= 0) return;
  const width = 380;
  const height = 150;
  const left = 40;
  const bottom = 30;
  const top = 8;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  const pts = [...points].sort((a, b) => a.bits - b.bits);
  const maxBits = Math.max(1, pts[pts.length - 1]!.bits);
  const x = (b: number) => left + (b / maxBits) * (width - left - 12);
  const y = (bytes: number) => height - bottom - Math.min(1, bytes / originalBytes) * (height - bottom - top);
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(
      s('line', { class: 'tz-grid', x1: left, x2: width - 8, y1: y(f * originalBytes), y2: y(f * originalBytes) }),
    );
    svg.append(
      s(
        'text',
        { class: 'tz-axis-label', x: left - 4, y: y(f * originalBytes) + 3, 'text-anchor': 'end' },
        `${f * 100}%`,
      ),
    );
  }
  if (losslessBytes) {
    const l = s('line', {
      class: 'tz-lossy-lossless',
      x1: left,
      x2: width - 8,
      y1: y(losslessBytes),
      y2: y(losslessBytes),
    });
    l.append(
      s('title', {}, `lossless: ${formatBytes(losslessBytes)} (${formatPercent(losslessBytes / originalBytes)})`),
    );
    svg.append(l);
  }
  svg.append(
    s('polyline', { class: 'tz-lossy-line', points: pts.map((p) => `${x(p.bits)},${y(p.predictedBytes)}`).join(' ') }),
  );
  for (const p of pts) {
    const c = s('circle', {
      class: 'tz-lossy-point',
      cx: x(p.bits),
      cy: y(p.predictedBytes),
      r: 3,
      'data-bits': p.bits,
    });
    const err = [
      p.maxRelError !== undefined ? `max relative error ${formatPercent(p.maxRelError, 2)}` : '',
      p.rmse !== undefined ? `RMSE ${p.rmse.toExponential(2)}` : '',
      p.snrDb !== undefined ? `SNR ${p.snrDb.toFixed(1)} dB` : '',
    ]
      .filter(Boolean)
      .join(', ');
    c.append(
      s(
        'title',
        {},
        `k=${p.bits}: ${formatBytes(p.predictedBytes)} (${formatPercent(p.predictedBytes / originalBytes)})` +
          `${err ? `; ${err}` : ''}`,
      ),
    );
    svg.append(c);
    svg.append(
      s(
        'text',
        { class: 'tz-axis-label', x: x(p.bits), y: height - bottom + 13, 'text-anchor': 'middle' },
        String(p.bits),
      ),
    );
  }
  svg.append(
    s(
      'text',
      { class: 'tz-axis-label', x: (left + width) / 2, y: height - 4, 'text-anchor': 'middle' },
      'k = mantissa bits kept',
    ),
  );
  const mid = pts.find((p) => p.bits === 3) ?? pts[Math.floor(pts.length / 2)]!;
  caption.textContent =
    `Predicted size per k${estimate ? ' (sampled estimate)' : ''}` +
    `${losslessBytes ? `; dashed line: lossless ${formatPercent(losslessBytes / originalBytes)}` : ''}. ` +
    `k=${mid.bits}: ${formatPercent(mid.predictedBytes / originalBytes)} of the original` +
    `${mid.maxRelError !== undefined ? `, max relative error ${formatPercent(mid.maxRelError, 2)}` : ''}. ` +
    `Hover a point for its error; use Compress (lossy)... in the Explorer to write one.`;
}
