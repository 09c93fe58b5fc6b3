/**
 * Turns raw (time, bytesDone) progress samples into percent, a smoothed rate and an ETA.
 * The rate is measured over a sliding window (the last few seconds) rather than since the
 * start, so it follows changes (a slow header phase, then fast coding) without jumping.
 */
export interface ProgressReading {
  percent: number;
  bytesPerSecond: number | null;
  etaSeconds: number | null;
}

export class ProgressMeter {
  private samples: { t: number; bytes: number }[] = [];

  constructor(private readonly windowMs = 3000) {}

  /** Adds a sample (`now` in ms) and returns the reading after it. */
  update(bytesDone: number, bytesTotal: number, now: number): ProgressReading {
    const last = this.samples[this.samples.length - 1];
    if (last && bytesDone < last.bytes) this.samples = []; // a new phase restarted the count
    this.samples.push({ t: now, bytes: bytesDone });
    while (this.samples.length > 2 && now - this.samples[1]!.t >= this.windowMs) this.samples.shift();
    return this.read(bytesDone, bytesTotal);
  }

  private read(bytesDone: number, bytesTotal: number): ProgressReading {
    const percent = bytesTotal > 0 ? Math.min(100, Math.max(0, (bytesDone / bytesTotal) * 100)) : 0;
    const first = this.samples[0]!;
    const last = this.samples[this.samples.length - 1]!;
    const dt = (last.t - first.t) / 1000;
    if (dt < 0.2 || last.bytes <= first.bytes) return { percent, bytesPerSecond: null, etaSeconds: null };
    const rate = (last.bytes - first.bytes) / dt;
    const eta = bytesTotal > 0 ? Math.max(0, (bytesTotal - bytesDone) / rate) : null;
    return { percent, bytesPerSecond: rate, etaSeconds: eta };
  }
}
