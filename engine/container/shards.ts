/**
 * Reads what `checkIndex` (engine/formats/indexCheck.ts) needs from disk: the header of every
 * shard an index names (or the tensor list of its `.tzip` when only that exists), plus HF-named
 * siblings (`<prefix>-0000k-of-0000n.safetensors`) the index does not name. Header reads only;
 * here rather than in formats/ because a compressed shard is read through the container.
 */
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { describeError } from '../core/errors';
import { openModel } from '../formats/index';
import { isInsideFolder, SHARD_NAME, type ShardHeader, type ShardTensor } from '../formats/indexCheck';
import { openContainer } from './read';

export interface TensorList {
  size: number;
  tensors: ShardTensor[];
}

const lean = (t: ShardTensor): ShardTensor => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.bytes });

/** Tensor list of a `.tzip` from its index (the original's names, dtypes and shapes). */
export async function readTzipTensors(file: string): Promise<TensorList> {
  const c = await openContainer(file);
  try {
    const tensors: ShardTensor[] = [];
    for (const r of c.index.regions)
      if (r.kind === 'tensor' && r.name !== undefined)
        tensors.push({ name: r.name, dtype: r.dtype, shape: r.shape ?? [], bytes: r.length });
    return { size: c.file.size, tensors };
  } finally {
    await c.file.close();
  }
}

/** Tensor list of any model file the engine reads (`.tzip` included), headers only. Throws TzError. */
export async function readTensorList(file: string): Promise<TensorList> {
  if (/\.tzip$/i.test(file)) return readTzipTensors(file);
  const m = await openModel(file);
  return { size: m.size, tensors: m.tensors.map(lean) };
}

export interface ShardReadOptions {
  /** reads one file's tensor list (default: the header readers; a caller may add a cache) */
  read?: (file: string, kind: 'shard' | 'tzip') => Promise<TensorList>;
  /** also read HF-named sibling shards the index does not name (default true) */
  siblings?: boolean;
  /** reads in flight at once */
  concurrency?: number;
}

// any format the engine reads: `pytorch_model.bin.index.json` names pickle shards
const defaultRead = (file: string, kind: 'shard' | 'tzip'): Promise<TensorList> =>
  kind === 'tzip' ? readTzipTensors(file) : readTensorList(file);

const isMissing = (e: unknown) =>
  (e as NodeJS.ErrnoException)?.code === 'ENOENT' || (e as NodeJS.ErrnoException)?.code === 'ENOTDIR';

/** One shard's state on disk. Never throws: a failure is the `unreadable` state with the engine's message. */
export async function readShardState(dir: string, name: string, opts: ShardReadOptions = {}): Promise<ShardHeader> {
  const read = opts.read ?? defaultRead;
  const file = path.join(dir, name);
  try {
    const st = await stat(file);
    if (!st.isFile()) return { state: 'unreadable', message: `${file}: not a regular file` };
  } catch (e) {
    if (!isMissing(e)) return { state: 'unreadable', message: describeError(e, file) };
    try {
      const t = await read(file + '.tzip', 'tzip');
      return { state: 'tzip', tzipName: name + '.tzip', size: t.size, tensors: t.tensors };
    } catch (e2) {
      if (isMissing(e2)) return { state: 'missing' };
      return { state: 'unreadable', message: describeError(e2, file + '.tzip') };
    }
  }
  try {
    const t = await read(file, 'shard');
    return { state: 'present', size: t.size, tensors: t.tensors };
  } catch (e) {
    if (isMissing(e)) return { state: 'missing' };
    return { state: 'unreadable', message: describeError(e, file) };
  }
}

/**
 * States of `names` (shard names as written in weight_map, relative to the index's folder) and of
 * unnamed HF-named siblings with the same prefix and count. Names leaving the folder are skipped
 * (checkIndex reports them).
 */
export async function readShardStates(
  indexPath: string,
  names: readonly string[],
  opts: ShardReadOptions = {},
): Promise<Map<string, ShardHeader>> {
  const dir = path.dirname(indexPath);
  const want = [...new Set(names.filter(isInsideFolder))];
  const namedCount = want.length;
  if (opts.siblings !== false) {
    const groups = new Set<string>();
    for (const n of want) {
      const m = SHARD_NAME.exec(n);
      if (m) groups.add(`${m[1]}\0${m[3]}`);
    }
    if (groups.size > 0) {
      const named = new Set(want);
      const files = await readdir(dir).catch(() => [] as string[]);
      for (const f of files.sort()) {
        const m = SHARD_NAME.exec(f);
        if (m && groups.has(`${m[1]}\0${m[3]}`) && !named.has(f)) want.push(f);
      }
    }
  }
  const out = new Map<string, ShardHeader>();
  const states = new Array<ShardHeader>(want.length);
  let next = 0;
  const worker = async () => {
    while (next < want.length) {
      const i = next++;
      states[i] = await readShardState(dir, want[i]!, opts);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 16, want.length) }, worker));
  want.forEach((n, i) => {
    // a sibling found in the folder that turns out absent raced with a delete: leave it out
    if (i >= namedCount && states[i]!.state === 'missing') return;
    out.set(n, states[i]!);
  });
  return out;
}
