import type { Progress } from '../engine/api';

/** Progress on stderr (bytes, MB/s, ETA), only when stderr is a terminal; at most 10 updates a second. */
export function progressPrinter(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): { update: (p: Progress) => void; done: () => void } {
  const t0 = performance.now();
  let last = 0;
  let shown = false;
  if (!stream.isTTY) return { update: () => undefined, done: () => undefined };
  return {
    update(p) {
      const now = performance.now();
      if (now - last < 100 && p.bytesDone < p.bytesTotal) return;
      last = now;
      const s = (now - t0) / 1000;
      const rate = p.bytesDone / 1e6 / Math.max(s, 1e-6);
      const eta = rate > 0 ? (p.bytesTotal - p.bytesDone) / 1e6 / rate : 0;
      const pctDone = p.bytesTotal ? (100 * p.bytesDone) / p.bytesTotal : 100;
      stream.write(
        `\r${label}: ${pctDone.toFixed(1)}%  ${(p.bytesDone / 1e6).toFixed(1)}/` +
          `${(p.bytesTotal / 1e6).toFixed(1)} MB  ${rate.toFixed(0)} MB/s  ETA ${eta.toFixed(1)} s\x1b[K`,
      );
      shown = true;
    },
    done() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}
