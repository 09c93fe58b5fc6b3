import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { JobProgress } from '../../protocol/server';
import { JobProgressReporter } from '../../server/progress';

/** A reporter on a fake clock; timers are real but the test waits for them explicitly. */
function setup(interval = 100) {
  let now = 1000;
  const sent: JobProgress[] = [];
  const r = new JobProgressReporter(
    (v) => sent.push(v),
    'Compressing a.safetensors',
    7,
    interval,
    () => now,
  );
  return { r, sent, advance: (ms: number) => (now += ms) };
}

test('begin, throttled reports with rate and ETA, end', () => {
  const { r, sent, advance } = setup();
  r.begin('running');
  assert.equal(sent.length, 1);
  assert.deepEqual(
    { ...sent[0] },
    {
      kind: 'begin',
      title: 'Compressing a.safetensors',
      cancellable: true,
      percentage: 0,
      message: 'starting',
      jobId: 7,
      state: 'running',
      bytesDone: 0,
      bytesTotal: 0,
    },
  );
  advance(100);
  r.update(50e6, 200e6);
  assert.equal(sent.length, 2, 'first update after the interval goes out at once');
  const rep = sent[1];
  assert.ok(rep.kind === 'report');
  assert.equal(rep.percentage, 25);
  assert.equal(rep.mbPerSecond, 500);
  assert.equal(rep.etaSeconds, 0.3);
  assert.equal(rep.message, '50.0 MB / 200 MB · 500 MB/s · 1 s left');
  advance(10);
  r.update(60e6, 200e6);
  r.update(70e6, 200e6);
  assert.equal(sent.length, 2, 'throttled');
  r.end('done');
  assert.equal(sent.length, 4, 'pending value flushed before end');
  assert.ok(sent[2].kind === 'report' && sent[2].bytesDone === 70e6 && sent[2].percentage === 35);
  assert.equal(sent[3].kind, 'end');
  r.update(80e6, 200e6);
  assert.equal(sent.length, 4, 'nothing after end');
});

test('percentage never decreases, even if bytes do', () => {
  const { r, sent, advance } = setup(0);
  r.begin('running');
  for (const done of [10, 50, 40, 90, 100]) {
    advance(5);
    r.update(done, 100);
  }
  const pcts = sent.filter((v) => v.kind === 'report').map((v) => (v.kind === 'report' ? v.percentage : -1));
  assert.deepEqual(pcts, [10, 50, 50, 90, 100]);
});

test('queued jobs say so, then report running', () => {
  const { r, sent } = setup();
  r.begin('queued', 2);
  assert.ok(
    sent[0].kind === 'begin' &&
      sent[0].state === 'queued' &&
      sent[0].queuePosition === 2 &&
      sent[0].message === 'queued (2 ahead)',
  );
  r.queued(0);
  assert.equal(sent[1].message, 'queued');
  r.running();
  assert.ok(sent[2].kind === 'report' && sent[2].state === 'running' && sent[2].queuePosition === undefined);
  r.end('cancelled');
});

test('a throttled value is sent when the window closes', async () => {
  let now = 0;
  const sent: JobProgress[] = [];
  const r = new JobProgressReporter(
    (v) => sent.push(v),
    't',
    1,
    20,
    () => now,
  );
  r.begin('running');
  r.update(5, 10);
  assert.equal(sent.length, 1);
  now = 20;
  await new Promise((res) => setTimeout(res, 40));
  assert.equal(sent.length, 2);
  assert.ok(sent[1].kind === 'report' && sent[1].bytesDone === 5);
  r.end('done');
});
