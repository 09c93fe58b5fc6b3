/** Shannon entropy in bits per symbol of a histogram (any numeric array of counts). */
export function entropyBits(hist: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < hist.length; i++) total += hist[i]!;
  if (total === 0) return 0;
  let h = 0;
  for (let i = 0; i < hist.length; i++) {
    const c = hist[i]!;
    if (c > 0) h -= c * Math.log2(c / total);
  }
  return h / total;
}

/** Number of bits needed to code every symbol of the histogram with its own order-0 model. */
export function order0Bits(hist: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < hist.length; i++) total += hist[i]!;
  return entropyBits(hist) * total;
}

export function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}
