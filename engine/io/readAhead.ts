/**
 * Reads item `k` (a chunk, a payload) while earlier items are still being coded: `take(k)` starts
 * the reads of `k .. k + depth` that are not under way and returns item `k`'s. Rejections are held
 * until the item is taken, so an abandoned read never becomes an unhandled rejection.
 */
export class ReadAhead {
  private pending = new Map<number, Promise<Uint8Array>>();
  constructor(
    private readonly count: number,
    private readonly depth: number,
    private readonly read: (k: number) => Promise<Uint8Array>,
  ) {}

  take(k: number): Promise<Uint8Array> {
    for (let j = k; j <= k + this.depth && j < this.count; j++) {
      if (this.pending.has(j)) continue;
      const r = this.read(j);
      r.catch(() => undefined);
      this.pending.set(j, r);
    }
    const r = this.pending.get(k)!;
    this.pending.delete(k);
    return r;
  }
}
