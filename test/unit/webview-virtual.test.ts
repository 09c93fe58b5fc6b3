import assert from 'node:assert/strict';
import { test } from 'node:test';
import { moveSelection, scrollTopToReveal, visibleWindow } from '../../webview/model/virtual';

test('visibleWindow renders only the rows in view plus overscan, for 100,000 rows', () => {
  const w = visibleWindow(0, 440, 22, 100_000, 8);
  assert.deepEqual([w.start, w.end, w.offsetY, w.totalHeight], [0, 29, 0, 2_200_000]);
  const mid = visibleWindow(22 * 50_000 + 5, 440, 22, 100_000, 8);
  assert.equal(mid.start, 50_000 - 8);
  assert.equal(mid.end, 50_000 + 21 + 8);
  assert.equal(mid.offsetY, mid.start * 22);
  assert.ok(mid.end - mid.start <= 40, 'a window is a few dozen rows whatever the count');
  // scrolled past the end (a list that shrank under a filter): clamps to the last page
  const end = visibleWindow(1e9, 440, 22, 100_000, 8);
  assert.equal(end.end, 100_000);
  assert.ok(end.start >= 100_000 - 21 - 8 - 1);
  // every row index in [0, count) is covered by the window of the scrollTop that shows it
  for (const i of [0, 1, 37, 99_998, 99_999]) {
    const top = scrollTopToReveal(i, 0, 440, 22);
    const win = visibleWindow(top, 440, 22, 100_000, 0);
    assert.ok(i >= win.start && i < win.end, `row ${i} visible at ${top}`);
  }
});

test('visibleWindow handles empty and tiny lists', () => {
  assert.deepEqual(visibleWindow(0, 400, 22, 0), { start: 0, end: 0, offsetY: 0, totalHeight: 0 });
  const w = visibleWindow(0, 400, 22, 3);
  assert.deepEqual([w.start, w.end, w.totalHeight], [0, 3, 66]);
  assert.equal(visibleWindow(100, 0, 22, 10, 0).start, 4);
});

test('scrollTopToReveal moves the least', () => {
  assert.equal(scrollTopToReveal(5, 0, 440, 22), 0); // already visible
  assert.equal(scrollTopToReveal(30, 0, 440, 22), 31 * 22 - 440); // below: bottom-align
  assert.equal(scrollTopToReveal(2, 500, 440, 22), 44); // above: top-align
});

test('moveSelection implements grid keyboard navigation', () => {
  assert.equal(moveSelection(-1, 'ArrowDown', 10, 5), 0);
  assert.equal(moveSelection(-1, 'ArrowUp', 10, 5), 0);
  assert.equal(moveSelection(9, 'ArrowDown', 10, 5), 9);
  assert.equal(moveSelection(3, 'PageDown', 10, 5), 8);
  assert.equal(moveSelection(8, 'PageDown', 10, 5), 9);
  assert.equal(moveSelection(3, 'PageUp', 10, 5), 0);
  assert.equal(moveSelection(4, 'Home', 10, 5), 0);
  assert.equal(moveSelection(4, 'End', 10, 5), 9);
  assert.equal(moveSelection(4, 'x', 10, 5), 4);
  assert.equal(moveSelection(4, 'ArrowDown', 0, 5), -1);
});
