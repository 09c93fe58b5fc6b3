/** Exponent histogram of the selected tensor or layer (hand-made SVG, see layerChart.ts for why). */
import { clear, s } from '../dom';
import { histogramEntropy, histogramGeometry, labelStride } from '../model/chart';
import { formatInt } from '../../shared/format';

export function renderHistogram(
  svg: SVGSVGElement,
  caption: HTMLElement,
  hist: number[] | null,
  what: string,
  log: boolean,
  width: number,
): void {
  clear(svg);
  const height = 172;
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  if (!hist) {
    svg.setAttribute('data-bins', '0');
    caption.textContent = what
      ? `${what}: no exponent histogram (not a float tensor, or not analysed yet)`
      : 'Select a tensor in the table or a layer in the chart.';
    return;
  }
  const g = histogramGeometry(hist, { width, height, log, bottom: 32 });
  svg.setAttribute('data-bins', String(g.bins.length));
  const stride = labelStride(g.bins.length, width - 16);
  const total = hist.reduce((a, b) => a + b, 0);
  g.bins.forEach((b, i) => {
    const r = s('rect', {
      class: 'tz-hist-bar',
      x: b.x,
      y: b.y,
      width: b.width,
      height: b.h,
      'data-exponent': b.exponent,
    });
    r.append(
      s(
        'title',
        {},
        `exponent ${b.field === 0 ? '0 (zeros/subnormals)' : `2^${b.exponent}`}: ${formatInt(b.count)} (` +
          `${((b.count / Math.max(1, total)) * 100).toFixed(2)}%)`,
      ),
    );
    svg.append(r);
    if (i % stride === 0)
      svg.append(
        s(
          'text',
          { class: 'tz-axis-label', x: b.x + b.width / 2, y: g.plotBottom + 14, 'text-anchor': 'middle' },
          String(b.exponent),
        ),
      );
  });
  svg.append(s('line', { class: 'tz-grid', x1: 8, x2: width - 8, y1: g.plotBottom, y2: g.plotBottom }));
  svg.append(
    s(
      'text',
      { class: 'tz-axis-label tz-axis-title', x: width / 2, y: height - 2, 'text-anchor': 'middle' },
      `exponent e (values ≈ ±2^e); bar height: ${log ? 'log ' : ''}count`,
    ),
  );
  const zeros = g.lo > 0 ? (hist[0] ?? 0) : 0;
  caption.textContent =
    `${what}: ${formatInt(total)} values, ${hist.filter((c) => c > 0).length} distinct ` +
    `exponents, entropy ${histogramEntropy(hist).toFixed(3)} bits${log ? ' (log scale)' : ''}` +
    `${zeros ? `; ${formatInt(zeros)} zeros/subnormals (exponent field 0) not drawn` : ''}`;
}
