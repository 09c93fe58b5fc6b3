/** Shannon entropy of a histogram (any numeric array of counts), in bits per symbol. */
export function entropyPerSymbol(hist: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < hist.length; i++) total += hist[i]!;
  if (total === 0) return 0;
  return order0Bits(hist) / total;
}

/** Total bits to code every symbol of the histogram with its own order-0 model (entropy x count). */
export function order0Bits(hist: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < hist.length; i++) total += hist[i]!;
  if (total === 0) return 0;
  let bits = 0;
  for (let i = 0; i < hist.length; i++) {
    const c = hist[i]!;
    if (c > 0) bits -= c * Math.log2(c / total);
  }
  return bits;
}

export function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}
