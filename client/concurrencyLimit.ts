/**
 * A small concurrency limiter for server jobs (tensorzip.maxConcurrentJobs). Jobs start in the
 * order they were queued; a failing job never blocks the ones behind it. Tracks the number of
 * running and queued jobs for the status bar.
 */
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly listeners = new Set<(running: number, queued: number) => void>();

  constructor(private limit: number) {
    this.limit = Math.max(1, Math.floor(limit) || 1);
  }

  setLimit(limit: number): void {
    this.limit = Math.max(1, Math.floor(limit) || 1);
    this.pump();
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  onChange(fn: (running: number, queued: number) => void): { dispose(): void } {
    this.listeners.add(fn);
    return { dispose: () => this.listeners.delete(fn) };
  }

  /** Runs `task` when a slot is free. `signal` aborts a job that has not started yet. */
  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        if (signal?.aborted) {
          reject(signal.reason ?? new Error('cancelled'));
          this.pump();
          return;
        }
        this.running++;
        this.emit();
        let p: Promise<T>;
        try {
          p = task();
        } catch (e) {
          p = Promise.reject(e);
        }
        p.then(resolve, reject).finally(() => {
          this.running--;
          this.pump();
          this.emit();
        });
      };
      this.waiting.push(start);
      this.emit();
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.limit && this.waiting.length) this.waiting.shift()!();
  }

  private emit(): void {
    for (const l of this.listeners) l(this.running, this.waiting.length);
  }
}
