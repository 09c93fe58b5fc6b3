/**
 * A static pickle reader: it runs the pickle opcode stream as data, never as code. GLOBAL, REDUCE,
 * BUILD, NEWOBJ, INST/OBJ and persistent ids produce inert records ("this would call X with Y"),
 * except for a short allow-list of PyTorch rebuild functions that are *interpreted* (not called)
 * to recover tensor metadata: storage key, dtype, storage offset, size and stride.
 *
 * Limits: opcode count is bounded by the input size; memo entries, container sizes, line lengths
 * and big integers are capped; walking the result guards depth and cycles (see `walkTensors`).
 */

export type PValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PBytes
  | PList
  | PTuple
  | PDict
  | PSet
  | PGlobal
  | PCall
  | PObject
  | PPersistent
  | PStorage
  | PTensor;

export interface PBytes {
  kind: 'bytes';
  length: number;
}
export interface PList {
  kind: 'list';
  items: PValue[];
}
export interface PTuple {
  kind: 'tuple';
  items: PValue[];
}
export interface PDict {
  kind: 'dict';
  entries: [PValue, PValue][];
  state?: PValue;
}
export interface PSet {
  kind: 'set';
  items: PValue[];
}
export interface PGlobal {
  kind: 'global';
  module: string;
  name: string;
}
/** REDUCE of something not on the allow-list, or NEWOBJ/INST/OBJ; BUILD state and SETITEM(S)/APPEND(S) land here */
export interface PCall {
  kind: 'call';
  fn: PValue;
  args: PValue;
  state?: PValue;
  entries?: [PValue, PValue][];
  items?: PValue[];
}
export interface PObject {
  kind: 'object';
  cls: PValue;
  args: PValue;
  state?: PValue;
  entries?: [PValue, PValue][];
  items?: PValue[];
}
export interface PPersistent {
  kind: 'persistent';
  pid: PValue;
}
export interface PStorage {
  kind: 'storage';
  key: string;
  typeName: string;
  location: string;
  numel: number;
}
export interface PTensor {
  kind: 'tensor';
  storage: PStorage;
  storageOffset: number;
  shape: number[];
  stride: number[];
  parameter?: boolean;
}

export class PickleError extends Error {}

const MAX_MEMO = 1_000_000;
const MAX_LINE = 1 << 16;
const MAX_STACK = 1_000_000;

const te = new TextDecoder('utf-8', { fatal: false });
const latin1 = new TextDecoder('latin1');

/** Parses one pickle (until STOP) and returns its value tree. Throws PickleError on malformed input. */
export function readPickle(b: Uint8Array): PValue {
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 0;
  let stack: PValue[] = [];
  const metastack: PValue[][] = [];
  const memo = new Map<number, PValue>();

  const need = (n: number): void => {
    if (pos + n > b.length) throw new PickleError(`truncated at byte ${pos} (needs ${n} more bytes)`);
  };
  const u8 = (): number => {
    need(1);
    return b[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = d.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = d.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = d.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64n = (): number => {
    need(8);
    const lo = d.getUint32(pos, true);
    const hi = d.getUint32(pos + 4, true);
    pos += 8;
    if (hi > 0x1fffff) throw new PickleError(`length beyond 2^53 at byte ${pos - 8}`);
    return hi * 0x100000000 + lo;
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const s = b.subarray(pos, pos + n);
    pos += n;
    return s;
  };
  const line = (): string => {
    const end = b.indexOf(0x0a, pos);
    if (end < 0 || end - pos > MAX_LINE) throw new PickleError(`unterminated text argument at byte ${pos}`);
    const s = latin1.decode(b.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const push = (v: PValue): void => {
    if (stack.length >= MAX_STACK) throw new PickleError('stack too deep');
    stack.push(v);
  };
  const pop = (): PValue => {
    if (stack.length === 0) throw new PickleError(`stack underflow at byte ${pos - 1}`);
    return stack.pop()!;
  };
  const top = (): PValue => {
    if (stack.length === 0) throw new PickleError(`stack underflow at byte ${pos - 1}`);
    return stack[stack.length - 1]!;
  };
  const popMark = (): PValue[] => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) throw new PickleError(`no MARK before byte ${pos - 1}`);
    stack = prev;
    return items;
  };
  const memoPut = (k: number, v: PValue): void => {
    if (!memo.has(k) && memo.size >= MAX_MEMO) throw new PickleError('memo too large');
    memo.set(k, v);
  };
  const memoGet = (k: number): PValue => {
    if (!memo.has(k)) throw new PickleError(`memo key ${k} missing at byte ${pos}`);
    return memo.get(k)!;
  };
  const long = (n: number): number | bigint => {
    if (n > 1024) throw new PickleError(`integer of ${n} bytes`);
    const s = take(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(s[i]!);
    if (s[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (target: PValue, kvs: PValue[]): void => {
    if (kvs.length % 2) throw new PickleError('odd number of items for SETITEMS');
    const pairs: [PValue, PValue][] = [];
    for (let i = 0; i < kvs.length; i += 2) pairs.push([kvs[i]!, kvs[i + 1]!]);
    if (isKind(target, 'dict')) target.entries.push(...pairs);
    else if (isKind(target, 'call') || isKind(target, 'object')) (target.entries ??= []).push(...pairs);
    else throw new PickleError(`SETITEM on a ${describe(target)}`);
  };
  const appendItems = (target: PValue, items: PValue[]): void => {
    if (isKind(target, 'list') || isKind(target, 'set')) target.items.push(...items);
    else if (isKind(target, 'call') || isKind(target, 'object')) (target.items ??= []).push(...items);
    else throw new PickleError(`APPEND on a ${describe(target)}`);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO
      case 0x95:
        u64n();
        break; // FRAME (framing is transparent)
      case 0x2e: {
        // STOP
        const v = pop();
        return v;
      }
      case 0x28:
        metastack.push(stack);
        stack = [];
        if (metastack.length > MAX_STACK) throw new PickleError('too many MARKs');
        break; // MARK
      case 0x30:
        pop();
        break; // POP
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x32:
        push(top());
        break; // DUP
      // numbers
      case 0x49: {
        // INT
        const s = line();
        if (s === '01') push(true);
        else if (s === '00') push(false);
        else push(parseIntText(s));
        break;
      }
      case 0x4a:
        push(i32());
        break; // BININT
      case 0x4b:
        push(u8());
        break; // BININT1
      case 0x4d:
        push(u16());
        break; // BININT2
      case 0x4c:
        push(parseIntText(line().replace(/L$/, '')));
        break; // LONG
      case 0x8a:
        push(long(u8()));
        break; // LONG1
      case 0x8b: {
        const n = i32();
        if (n < 0) throw new PickleError('negative LONG4 length');
        push(long(n));
        break;
      }
      case 0x46:
        push(Number(line()));
        break; // FLOAT
      case 0x47: {
        need(8);
        push(d.getFloat64(pos, false));
        pos += 8;
        break;
      } // BINFLOAT (big-endian)
      // strings and bytes
      case 0x53:
        push(unquote(line()));
        break; // STRING
      case 0x54: {
        const n = i32();
        if (n < 0) throw new PickleError('negative BINSTRING length');
        push(latin1.decode(take(n)));
        break;
      }
      case 0x55:
        push(latin1.decode(take(u8())));
        break; // SHORT_BINSTRING
      case 0x56:
        push(line());
        break; // UNICODE (raw-unicode-escape; escapes kept as text)
      case 0x58:
        push(te.decode(take(u32())));
        break; // BINUNICODE
      case 0x8c:
        push(te.decode(take(u8())));
        break; // SHORT_BINUNICODE
      case 0x8d:
        push(te.decode(take(u64n())));
        break; // BINUNICODE8
      case 0x42: {
        const n = u32();
        take(n);
        push({ kind: 'bytes', length: n });
        break;
      } // BINBYTES
      case 0x43: {
        const n = u8();
        take(n);
        push({ kind: 'bytes', length: n });
        break;
      } // SHORT_BINBYTES
      case 0x8e:
      case 0x96: {
        const n = u64n();
        take(n);
        push({ kind: 'bytes', length: n });
        break;
      } // BINBYTES8, BYTEARRAY8
      case 0x4e:
        push(null);
        break; // NONE
      case 0x88:
        push(true);
        break; // NEWTRUE
      case 0x89:
        push(false);
        break; // NEWFALSE
      // containers
      case 0x5d:
        push({ kind: 'list', items: [] });
        break; // EMPTY_LIST
      case 0x6c:
        push({ kind: 'list', items: popMark() });
        break; // LIST
      case 0x61: {
        const v = pop();
        appendItems(top(), [v]);
        break;
      } // APPEND
      case 0x65: {
        const items = popMark();
        appendItems(top(), items);
        break;
      } // APPENDS
      case 0x29:
        push({ kind: 'tuple', items: [] });
        break; // EMPTY_TUPLE
      case 0x74:
        push({ kind: 'tuple', items: popMark() });
        break; // TUPLE
      case 0x85:
        push({ kind: 'tuple', items: [pop()] });
        break; // TUPLE1
      case 0x86: {
        const b2 = pop();
        const a = pop();
        push({ kind: 'tuple', items: [a, b2] });
        break;
      }
      case 0x87: {
        const c = pop();
        const b2 = pop();
        const a = pop();
        push({ kind: 'tuple', items: [a, b2, c] });
        break;
      }
      case 0x7d:
        push({ kind: 'dict', entries: [] });
        break; // EMPTY_DICT
      case 0x64: {
        const dct: PDict = { kind: 'dict', entries: [] };
        setItems(dct, popMark());
        push(dct);
        break;
      } // DICT
      case 0x73: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      } // SETITEM
      case 0x75: {
        const kvs = popMark();
        setItems(top(), kvs);
        break;
      } // SETITEMS
      case 0x8f:
        push({ kind: 'set', items: [] });
        break; // EMPTY_SET
      case 0x90: {
        const items = popMark();
        appendItems(top(), items);
        break;
      } // ADDITEMS
      case 0x91:
        push({ kind: 'set', items: popMark() });
        break; // FROZENSET
      // memo
      case 0x67:
        push(memoGet(parseIntText(line()) as number));
        break; // GET
      case 0x68:
        push(memoGet(u8()));
        break; // BINGET
      case 0x6a:
        push(memoGet(u32()));
        break; // LONG_BINGET
      case 0x70:
        memoPut(parseIntText(line()) as number, top());
        break; // PUT
      case 0x71:
        memoPut(u8(), top());
        break; // BINPUT
      case 0x72:
        memoPut(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memoPut(memo.size, top());
        break; // MEMOIZE
      // "code": recorded, never executed
      case 0x63: {
        const module = line();
        const name = line();
        push({ kind: 'global', module, name });
        break;
      } // GLOBAL
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== 'string' || typeof module !== 'string')
          throw new PickleError('STACK_GLOBAL needs two strings');
        push({ kind: 'global', module, name });
        break;
      }
      case 0x52: {
        const args = pop();
        const fn = pop();
        push(reduce(fn, args));
        break;
      } // REDUCE
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        if (isKind(obj, 'call') || isKind(obj, 'object') || isKind(obj, 'dict')) obj.state = state;
        else if (isKind(obj, 'tensor')) {
          /* tensor state (e.g. Parameter attributes): ignored */
        }
        break;
      }
      case 0x81: {
        const args = pop();
        const cls = pop();
        push({ kind: 'object', cls, args });
        break;
      } // NEWOBJ
      case 0x92: {
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        push({ kind: 'object', cls, args: { kind: 'tuple', items: [args, kwargs] } });
        break;
      }
      case 0x69: {
        // INST
        const module = line();
        const name = line();
        push({ kind: 'object', cls: { kind: 'global', module, name }, args: { kind: 'tuple', items: popMark() } });
        break;
      }
      case 0x6f: {
        const items = popMark();
        if (items.length === 0) throw new PickleError('OBJ without class');
        push({ kind: 'object', cls: items[0]!, args: { kind: 'tuple', items: items.slice(1) } });
        break;
      }
      case 0x50:
        push(persistent(line()));
        break; // PERSID
      case 0x51:
        push(persistent(pop()));
        break; // BINPERSID
      case 0x82:
      case 0x83:
      case 0x84:
        throw new PickleError('extension registry opcodes (EXT1/2/4) are not supported');
      case 0x97:
      case 0x98:
        throw new PickleError('out-of-band buffers (protocol 5) are not supported');
      default:
        throw new PickleError(`unknown opcode 0x${op.toString(16).padStart(2, '0')} at byte ${pos - 1}`);
    }
  }
}

function parseIntText(s: string): number | bigint {
  if (!/^[+-]?\d{1,400}$/.test(s.trim())) throw new PickleError(`bad integer text "${s.slice(0, 20)}"`);
  const v = BigInt(s.trim());
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && (t[0] === "'" || t[0] === '"') && t[t.length - 1] === t[0]) return t.slice(1, -1);
  throw new PickleError('STRING argument is not quoted');
}

export function isKind<K extends Exclude<PValue, null | boolean | number | bigint | string>['kind']>(
  v: PValue,
  k: K,
): v is Extract<PValue, { kind: K }> {
  return typeof v === 'object' && v !== null && (v as { kind: string }).kind === k;
}

function describe(v: PValue): string {
  if (v === null) return 'None';
  if (typeof v !== 'object') return typeof v;
  return v.kind;
}

function isGlobal(v: PValue, module: string, name: string): boolean {
  return isKind(v, 'global') && v.module === module && v.name === name;
}

/** Persistent ids of PyTorch zip checkpoints: ('storage', <torch.XStorage>, key, location, numel). */
function persistent(pid: PValue): PValue {
  if (isKind(pid, 'tuple') && pid.items[0] === 'storage' && pid.items.length >= 5) {
    const [, type, key, location, numel] = pid.items;
    if (
      isKind(type!, 'global') &&
      typeof key === 'string' &&
      typeof numel === 'number' &&
      Number.isSafeInteger(numel) &&
      numel >= 0
    ) {
      return {
        kind: 'storage',
        key,
        typeName: type.name,
        location: typeof location === 'string' ? location : '',
        numel,
      };
    }
  }
  return { kind: 'persistent', pid };
}

function intList(v: PValue | undefined): number[] | undefined {
  if (!v || !(isKind(v, 'tuple') || isKind(v, 'list'))) return undefined;
  const out: number[] = [];
  for (const x of v.items) {
    if (typeof x !== 'number' || !Number.isSafeInteger(x)) return undefined;
    out.push(x);
  }
  return out;
}

/** REDUCE: interprets the allow-listed PyTorch rebuild functions; everything else becomes a record. */
function reduce(fn: PValue, args: PValue): PValue {
  const a = isKind(args, 'tuple') ? args.items : undefined;
  if (a && (isGlobal(fn, 'torch._utils', '_rebuild_tensor_v2') || isGlobal(fn, 'torch._utils', '_rebuild_tensor'))) {
    const [storage, offset, size, stride] = a;
    const shape = intList(size);
    const strides = intList(stride);
    if (
      storage &&
      isKind(storage, 'storage') &&
      typeof offset === 'number' &&
      shape &&
      strides &&
      shape.length === strides.length
    ) {
      const t: PTensor = { kind: 'tensor', storage, storageOffset: offset, shape, stride: strides };
      return t;
    }
  }
  if (
    a &&
    (isGlobal(fn, 'torch._utils', '_rebuild_parameter') ||
      isGlobal(fn, 'torch._utils', '_rebuild_parameter_with_state'))
  ) {
    const t = a[0];
    if (t && isKind(t, 'tensor')) return { ...t, parameter: true };
  }
  if (a && isGlobal(fn, 'torch._tensor', '_rebuild_from_type_v2') && a.length >= 3) {
    const inner = a[0]!;
    const innerArgs = a[2]!;
    const r = reduce(inner, innerArgs);
    if (isKind(r, 'tensor')) return r;
  }
  if (isGlobal(fn, 'collections', 'OrderedDict') && a && a.length === 0) return { kind: 'dict', entries: [] };
  if (
    a &&
    a.length === 1 &&
    isKind(fn, 'global') &&
    fn.module === 'torch.jit._pickle' &&
    fn.name.startsWith('build_')
  ) {
    const l = a[0]!;
    if (isKind(l, 'list')) return l;
  }
  return { kind: 'call', fn, args };
}

export interface FoundTensor {
  name: string;
  tensor: PTensor;
}

/**
 * Lists every tensor (and bare storage) reachable from `root`, named by the path of dict keys,
 * object attributes and list indices that leads to it ('model.layers.0.weight'). A tensor reached
 * by several paths (tied weights) is listed once per path; containers are walked once, so depth
 * and cycles are guarded.
 */
export function walkTensors(root: PValue, maxDepth = 200): FoundTensor[] {
  const out: FoundTensor[] = [];
  const seen = new Set<object>();
  const visit = (v: PValue, path: string[], depth: number): void => {
    if (v === null || typeof v !== 'object') return;
    if (depth > maxDepth) throw new PickleError(`structure nested deeper than ${maxDepth} levels`);
    // tensors are leaves: every path to one is a view name (tied weights); containers once
    if (v.kind !== 'tensor' && v.kind !== 'storage') {
      if (seen.has(v)) return;
      seen.add(v);
    }
    switch (v.kind) {
      case 'tensor':
        out.push({ name: path.join('.') || 'tensor', tensor: v });
        return;
      case 'storage':
        out.push({
          name: path.join('.') || 'storage',
          tensor: { kind: 'tensor', storage: v, storageOffset: 0, shape: [v.numel], stride: [1] },
        });
        return;
      case 'dict':
        visitEntries(v.entries, path, depth);
        return;
      case 'list':
      case 'tuple':
      case 'set':
        v.items.forEach((x, i) => visit(x, [...path, String(i)], depth + 1));
        return;
      case 'call':
      case 'object': {
        if (v.entries) visitEntries(v.entries, path, depth);
        if (v.items) v.items.forEach((x, i) => visit(x, [...path, String(i)], depth + 1));
        if (v.state !== undefined) visitState(v.state, path, depth);
        const args = v.args;
        if (isKind(args, 'tuple') && args.items.length === 1) visit(args.items[0]!, path, depth + 1);
        else visit(args, path, depth + 1);
        return;
      }
      default:
        return;
    }
  };
  const visitEntries = (entries: [PValue, PValue][], path: string[], depth: number): void => {
    for (const [k, val] of entries) {
      const key = typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' ? String(k) : '?';
      visit(val, [...path, key], depth + 1);
    }
  };
  // BUILD state is a dict of attributes, or (dict, slots) for classes with __slots__
  const visitState = (s: PValue, path: string[], depth: number): void => {
    if (isKind(s, 'dict')) visitEntries(s.entries, path, depth);
    else if (isKind(s, 'tuple'))
      s.items.forEach((x) => (isKind(x, 'dict') ? visitEntries(x.entries, path, depth) : visit(x, path, depth + 1)));
    else visit(s, path, depth + 1);
  };
  visit(root, [], 0);
  return out;
}

/** Short description of the root object for metadata ("dict", "__torch__.Model", ...). */
export function rootType(v: PValue): string {
  if (v === null) return 'None';
  if (typeof v !== 'object') return typeof v;
  if ((v.kind === 'object' || v.kind === 'call') && isKind(v.kind === 'object' ? v.cls : v.fn, 'global')) {
    const g = (v.kind === 'object' ? v.cls : v.fn) as PGlobal;
    return `${g.module}.${g.name}`;
  }
  return v.kind;
}
