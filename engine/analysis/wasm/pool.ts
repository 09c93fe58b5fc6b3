// AssemblyScript (compiled by scripts/build-wasm.mjs, not by tsc): the inspector's pooling loop for
// exact 16-bit keys, the same algorithm as poolKeyRow in engine/analysis/poolKernel.ts (a test checks
// both against a naive loop, bit for bit). Why by hand: the loop runs once per element of the tensor
// (half a billion for 1 GiB of BF16) and in JavaScript costs about twice as much per element.
// Memory is laid out by engine/analysis/poolWasm.ts above heapBase(); nothing here allocates.

// set once per view by init(): tables, cell sums (f64 per cell), 32-bit key histogram, column sums of squares
let FV: usize = 0; // f32 value of each finite key, 0 for the others
let CLS: usize = 0; // u8 per key: 0 finite, 1 NaN, 2 +Inf, 3 -Inf
let SUM: usize = 0;
let SQ: usize = 0;
let MX: usize = 0;
let FIN: usize = 0;
let NAN: usize = 0;
let PINF: usize = 0;
let NINF: usize = 0;
let HIST: usize = 0;
let COLSQ: usize = 0;
let MASK: u32 = 0;
let INC: u32 = 0;
let SHIFT: u32 = 0;

export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}

export function init(
  fv: usize, cls: usize, sum: usize, sq: usize, mx: usize, fin: usize, nan: usize, pinf: usize, ninf: usize,
  hist: usize, colSq: usize, mask: u32, inc: u32, shift: u32,
): void {
  FV = fv; CLS = cls; SUM = sum; SQ = sq; MX = mx; FIN = fin; NAN = nan; PINF = pinf; NINF = ninf;
  HIST = hist; COLSQ = colSq; MASK = mask; INC = inc; SHIFT = shift;
}

/**
 * Window columns [c, cEnd) of one row, keys from `keys` on, into the cells base + b; with `withCol`,
 * each element's square is added to its column. Returns the segment's sum of squares.
 */
export function poolRow(keys: usize, c: i32, cEnd: i32, gc: i32, wc: i32, base: i32, withCol: bool): f64 {
  const fv = FV, hist = HIST, mask = MASK, inc = INC, shift = SHIFT;
  let rowQ: f64 = 0;
  let i: usize = keys;
  while (c < cEnd) {
    const b = <i32>((<i64>c * gc) / wc);
    let bEnd = <i32>((<i64>(b + 1) * wc + gc - 1) / gc);
    if (bEnd > cEnd) bEnd = cEnd;
    const i0 = i;
    const n = bEnd - c;
    let s: f64 = 0, q: f64 = 0, a: f32 = 0;
    let nf: u32 = 0;
    if (withCol) {
      let cp = COLSQ + (<usize>c << 3);
      for (; c < bEnd; c++, i += 2, cp += 8) {
        const u = <u32>load<u16>(i);
        const hp = hist + (<usize>u << 2);
        store<u32>(hp, load<u32>(hp) + 1);
        const x = load<f32>(fv + (<usize>u << 2));
        const xd = <f64>x;
        s += xd;
        const x2 = xd * xd;
        q += x2;
        store<f64>(cp, load<f64>(cp) + x2);
        a = max(a, abs(x));
        nf += ((u & mask) + inc) >> shift;
      }
    } else {
      for (; c < bEnd; c++, i += 2) {
        const u = <u32>load<u16>(i);
        const hp = hist + (<usize>u << 2);
        store<u32>(hp, load<u32>(hp) + 1);
        const x = load<f32>(fv + (<usize>u << 2));
        const xd = <f64>x;
        s += xd;
        q += xd * xd;
        a = max(a, abs(x));
        nf += ((u & mask) + inc) >> shift;
      }
    }
    const cell = <usize>(base + b) << 3;
    store<f64>(SUM + cell, load<f64>(SUM + cell) + s);
    store<f64>(SQ + cell, load<f64>(SQ + cell) + q);
    if (<f64>a > load<f64>(MX + cell)) store<f64>(MX + cell, <f64>a);
    store<f64>(FIN + cell, load<f64>(FIN + cell) + <f64>(n - nf));
    if (nf) {
      let cn: f64 = 0, cpi: f64 = 0, cni: f64 = 0;
      for (let k = i0; k < i; k += 2) {
        const t = load<u8>(CLS + <usize>load<u16>(k));
        if (t == 1) cn++;
        else if (t == 2) cpi++;
        else if (t == 3) cni++;
      }
      store<f64>(NAN + cell, load<f64>(NAN + cell) + cn);
      store<f64>(PINF + cell, load<f64>(PINF + cell) + cpi);
      store<f64>(NINF + cell, load<f64>(NINF + cell) + cni);
    }
    rowQ += q;
  }
  return rowQ;
}
