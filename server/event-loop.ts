/** Event-loop delay of this (main) thread, for the "never blocked > 50 ms" acceptance. */
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import type { EventLoopStats } from '../protocol/server';

const RESOLUTION_MS = 5;

export class EventLoopMonitor {
  private histogram: IntervalHistogram;
  private since = Date.now();
  private elu: EventLoopUtilization = performance.eventLoopUtilization();

  constructor() {
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.histogram.enable();
  }

  stats(reset = false): EventLoopStats {
    const h = this.histogram;
    const ms = (ns: number) => Math.round((ns / 1e6) * 100) / 100;
    const count = h.count;
    const maxMs = count ? ms(h.max) : 0;
    const s: EventLoopStats = {
      resolutionMs: RESOLUTION_MS,
      maxBlockedMs: Math.max(0, Math.round((maxMs - RESOLUTION_MS) * 100) / 100),
      maxMs,
      p99Ms: count ? ms(h.percentile(99)) : 0,
      p50Ms: count ? ms(h.percentile(50)) : 0,
      meanMs: count ? ms(h.mean) : 0,
      count,
      windowMs: Date.now() - this.since,
      utilization: 0,
      activeMs: 0,
    };
    const elu = performance.eventLoopUtilization(this.elu);
    s.utilization = Math.round(elu.utilization * 10000) / 10000;
    s.activeMs = Math.round(elu.active * 10) / 10;
    if (reset) {
      h.reset();
      this.since = Date.now();
      this.elu = performance.eventLoopUtilization();
    }
    return s;
  }

  dispose(): void {
    this.histogram.disable();
  }
}
