import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatBits,
  formatBytes,
  formatCount,
  formatEta,
  formatInt,
  formatPercent,
  formatRate,
  formatShape,
} from '../../shared/format';

test('formatBytes uses decimal units with 3 significant digits', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1536), '1.54 KB');
  assert.equal(formatBytes(524992), '525 KB');
  assert.equal(formatBytes(13969628), '14.0 MB');
  assert.equal(formatBytes(7.24e9), '7.24 GB');
  assert.equal(formatBytes(-2048), '-2.05 KB');
  assert.equal(formatBytes(null), '–');
  assert.equal(formatBytes(NaN), '–');
  assert.equal(formatBytes(5e18), '5000 PB');
});

test('formatPercent, formatRate, formatEta', () => {
  assert.equal(formatPercent(0.6604), '66.0%');
  assert.equal(formatPercent(1), '100.0%');
  assert.equal(formatPercent(undefined), '–');
  assert.equal(formatRate(310e6), '310 MB/s');
  assert.equal(formatRate(0), '–');
  assert.equal(formatRate(null), '–');
  assert.equal(formatEta(4.6), '5s');
  assert.equal(formatEta(75), '1m 15s');
  assert.equal(formatEta(3725), '1h 2m');
  assert.equal(formatEta(-1), '–');
  assert.equal(formatEta(Infinity), '–');
});

test('formatCount, formatInt, formatShape, formatBits', () => {
  assert.equal(formatCount(260_000), '260K');
  assert.equal(formatCount(7_241_732_096), '7.24B');
  assert.equal(formatCount(999), '999');
  assert.equal(formatCount(12_345_678), '12.3M');
  assert.equal(formatInt(1234567), '1,234,567');
  assert.equal(formatShape([]), 'scalar');
  assert.equal(formatShape([64, 512]), '[64, 512]');
  assert.equal(formatBits(2.6071), '2.607');
  assert.equal(formatBits(null), '–');
});
