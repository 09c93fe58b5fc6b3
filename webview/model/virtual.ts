/**
 * Window math for a virtualized list with fixed-height rows: only the rows that intersect the
 * viewport (plus an overscan margin) are in the DOM, so 100,000 rows cost the same as 40.
 */
export interface VisibleWindow {
  /** first row index to render (inclusive) */
  start: number;
  /** one past the last row index to render */
  end: number;
  /** pixel offset of row `start` from the top of the scroll content */
  offsetY: number;
  /** total scroll height of all rows */
  totalHeight: number;
}

export function visibleWindow(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  count: number,
  overscan = 8,
): VisibleWindow {
  const totalHeight = Math.max(0, count) * rowHeight;
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0, offsetY: 0, totalHeight };
  const top = Math.min(Math.max(0, scrollTop), Math.max(0, totalHeight - viewportHeight));
  const first = Math.floor(top / rowHeight);
  const visible = Math.ceil(Math.max(0, viewportHeight) / rowHeight) + 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + visible + overscan);
  return { start, end, offsetY: start * rowHeight, totalHeight };
}

/**
 * The scrollTop that brings row `index` fully into view with the least movement, or the current
 * scrollTop when it already is.
 */
export function scrollTopToReveal(index: number, scrollTop: number, viewportHeight: number, rowHeight: number): number {
  const rowTop = index * rowHeight;
  const rowBottom = rowTop + rowHeight;
  if (rowTop < scrollTop) return rowTop;
  if (rowBottom > scrollTop + viewportHeight) return Math.max(0, rowBottom - viewportHeight);
  return scrollTop;
}

/** Keyboard navigation in a list of `count` rows: the next selected index, clamped. */
export function moveSelection(current: number, key: string, count: number, pageRows: number): number {
  if (count <= 0) return -1;
  const c = current < 0 ? -1 : Math.min(current, count - 1);
  switch (key) {
    case 'ArrowDown':
      return Math.min(count - 1, c + 1);
    case 'ArrowUp':
      return c < 0 ? 0 : Math.max(0, c - 1);
    case 'PageDown':
      return Math.min(count - 1, Math.max(0, c) + Math.max(1, pageRows));
    case 'PageUp':
      return Math.max(0, c - Math.max(1, pageRows));
    case 'Home':
      return 0;
    case 'End':
      return count - 1;
    default:
      return c;
  }
}
