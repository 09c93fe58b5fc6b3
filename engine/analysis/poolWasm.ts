/**
 * The WebAssembly build of the exact-key pooling loop (engine/analysis/wasm/pool.ts; poolKeyRow in
 * poolKernel.ts is the readable reference and the fallback). One instance per view: its memory holds
 * the key tables, the cell sums, the 32-bit key histogram, the column sums of squares and a buffer of
 * keys, all sized up front so the typed-array views below stay valid (growing memory detaches them).
 */
import type { CellSums } from './poolKernel';
import { keyTables, type KeyTables } from './poolKernel';
import type { KeyKind } from './values';

interface PoolExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  init(
    fv: number,
    cls: number,
    sum: number,
    sq: number,
    mx: number,
    fin: number,
    nan: number,
    pinf: number,
    ninf: number,
    hist: number,
    colSq: number,
    mask: number,
    inc: number,
    shift: number,
  ): void;
  poolRow(keys: number, c: number, cEnd: number, gc: number, wc: number, base: number, withCol: number): number;
}

export interface WasmPool {
  /** the cell sums, in wasm memory */
  cells: CellSums;
  hist: Uint32Array;
  colSq: Float64Array | undefined;
  /** keys to pool are copied here (at most its length at a time) */
  keys: Uint16Array;
  /** poolKeyRow over keys[i ..] (see poolKernel.ts), returning the segment's sum of squares */
  row(i: number, c: number, cEnd: number, gc: number, wc: number, base: number, withCol: boolean): number;
}

/** Keys per copy into wasm memory at most (4 MiB: a safetensors read piece of BF16). */
export const KEY_BUFFER = 1 << 21;
/** Larger views (huge grids) stay in JavaScript. */
const MAX_MEMORY = 1 << 30;

let module: WebAssembly.Module | null | undefined;

function poolModule(): WebAssembly.Module | null {
  if (module !== undefined) return module;
  module = null;
  if (process.env.TZ_POOL_JS) return module;
  try {
    // require, not import(): see engine/codec/index.ts
    const gen = require('./wasm/pool.generated') as { POOL_WASM_BASE64: string };
    module = new WebAssembly.Module(Buffer.from(gen.POOL_WASM_BASE64, 'base64'));
  } catch (e) {
    if (process.env.TZ_CODEC_DEBUG) console.error(e);
  }
  return module;
}

/** True when the wasm loop is generated and not switched off (TZ_POOL_JS). */
export function wasmPoolAvailable(): boolean {
  return poolModule() !== null;
}

const align = (x: number) => (x + 15) & ~15;

/**
 * A wasm pool for `cells` cells of a window `wc` columns wide (column sums when withColumns) and a key
 * buffer for up to `keys` elements (at most KEY_BUFFER), or undefined when the kernel is not available
 * or the view is too large for it.
 */
export function createWasmPool(
  kind: KeyKind,
  cells: number,
  wc: number,
  withColumns: boolean,
  keys = KEY_BUFFER,
): WasmPool | undefined {
  const mod = poolModule();
  if (!mod) return undefined;
  const ex = new WebAssembly.Instance(mod, {
    env: {
      abort() {
        throw new Error('pool kernel: wasm abort');
      },
    },
  }).exports as unknown as PoolExports;
  let p = align(ex.heapBase());
  const take = (bytes: number) => {
    const at = p;
    p = align(p + bytes);
    return at;
  };
  const fvP = take(65536 * 4),
    clsP = take(65536),
    histP = take(65536 * 4),
    keyCount = Math.max(1, Math.min(KEY_BUFFER, keys)),
    keysP = take(keyCount * 2),
    colP = take(withColumns ? wc * 8 : 0);
  const cellP = Array.from({ length: 7 }, () => take(cells * 8));
  if (p > MAX_MEMORY) return undefined;
  const have = ex.memory.buffer.byteLength;
  if (p > have) ex.memory.grow(Math.ceil((p - have) / 65536));
  const buf = ex.memory.buffer;
  const t: KeyTables = keyTables(kind);
  new Float32Array(buf, fvP, 65536).set(t.finite);
  const cls = new Uint8Array(buf, clsP, 65536);
  for (let k = 0; k < 65536; k++) {
    const v = t.value[k]!;
    cls[k] = !t.nonFinite[k] ? 0 : v !== v ? 1 : v > 0 ? 2 : 3;
  }
  const f64 = (at: number) => new Float64Array(buf, at, cells);
  const [sum, sq, mx, fin, nan, pinf, ninf] = cellP.map(f64) as [
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  ex.init(
    fvP,
    clsP,
    cellP[0]!,
    cellP[1]!,
    cellP[2]!,
    cellP[3]!,
    cellP[4]!,
    cellP[5]!,
    cellP[6]!,
    histP,
    colP,
    t.mask,
    t.inc,
    t.shift,
  );
  return {
    cells: { sum, sq, mx, fin, nan, pinf, ninf },
    hist: new Uint32Array(buf, histP, 65536),
    colSq: withColumns ? new Float64Array(buf, colP, wc) : undefined,
    keys: new Uint16Array(buf, keysP, keyCount),
    row: (i, c, cEnd, gc, wcc, base, withCol) => ex.poolRow(keysP + i * 2, c, cEnd, gc, wcc, base, withCol ? 1 : 0),
  };
}
