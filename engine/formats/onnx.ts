import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { TzError } from '../core/errors';
import { elementCount } from '../core/dtypes';
import type { FormatReader, ModelLayout, TensorEntry } from './types';
import { FileWindow, withWindow, text } from './window';
import { protoFields, protoFieldsSync, packedVarints, WIRE_LEN, WIRE_VARINT, type ProtoField } from './protobuf';

/**
 * ONNX reader: walks the protobuf (see protobuf.ts for why not a protobuf library) and reports
 * every tensor that carries weights: graph initializers, sparse initializers (values/indices),
 * tensors inside node attributes (Constant `value`, and any TENSOR/TENSORS attribute), recursively
 * through subgraphs (If/Loop/Scan bodies), training-info graphs and model-local functions.
 * External data (`data_location = EXTERNAL`) is reported with `file` set to the resolved path.
 *
 * Names: a tensor inside a subgraph is prefixed `<node name>/<attribute name>/` per nesting level
 * (the same naming as the corpus safetensors conversions); a Constant node's tensor is named after
 * the node's first output. Duplicates get `#2`, `#3`...
 */

/** ONNX TensorProto.DataType → canonical name and bytes per element (0.5 for 4-bit, 0.25 for 2-bit). */
const ONNX_DTYPES: Record<number, { name: string; size: number }> = {
  1: { name: 'F32', size: 4 },
  2: { name: 'U8', size: 1 },
  3: { name: 'I8', size: 1 },
  4: { name: 'U16', size: 2 },
  5: { name: 'I16', size: 2 },
  6: { name: 'I32', size: 4 },
  7: { name: 'I64', size: 8 },
  8: { name: 'STRING', size: 0 },
  9: { name: 'BOOL', size: 1 },
  10: { name: 'F16', size: 2 },
  11: { name: 'F64', size: 8 },
  12: { name: 'U32', size: 4 },
  13: { name: 'U64', size: 8 },
  14: { name: 'C64', size: 8 },
  15: { name: 'C128', size: 16 },
  16: { name: 'BF16', size: 2 },
  17: { name: 'F8_E4M3', size: 1 },
  18: { name: 'F8_E4M3FNUZ', size: 1 },
  19: { name: 'F8_E5M2', size: 1 },
  20: { name: 'F8_E5M2FNUZ', size: 1 },
  21: { name: 'U4', size: 0.5 },
  22: { name: 'I4', size: 0.5 },
  23: { name: 'F4_E2M1', size: 0.5 },
  24: { name: 'F8_E8M0', size: 1 },
  25: { name: 'U2', size: 0.25 },
  26: { name: 'I2', size: 0.25 },
};

const MAX_DEPTH = 32; // subgraph nesting
const MAX_DIMS = 64;
const MAX_TENSORS = 10_000_000;
const MAX_STRING = 1 << 16;

/** TensorProto field numbers */
const T_DIMS = 1,
  T_DATA_TYPE = 2,
  T_SEGMENT = 3,
  T_FLOAT = 4,
  T_INT32 = 5,
  T_STRING = 6,
  T_INT64 = 7,
  T_NAME = 8,
  T_RAW = 9,
  T_DOUBLE = 10,
  T_UINT64 = 11,
  T_EXTERNAL = 13,
  T_LOCATION = 14;

interface Ctx {
  w: FileWindow;
  dir: string;
  tensors: TensorEntry[];
  names: Map<string, number>;
  unreported: { name: string; reason: string }[];
  externalFiles: Map<string, number>; // resolved path → size
  counts: { nodes: number; graphs: number };
}

export const onnxReader: FormatReader = {
  format: 'onnx',
  detect(file, head) {
    if (path.extname(file).toLowerCase() === '.onnx') return true;
    // ModelProto usually starts with ir_version (field 1 varint) then producer_name (field 2)
    return head.length > 3 && head[0] === 0x08 && head[1]! >= 3 && head[1]! <= 15 && head[2] === 0x12;
  },
  async read(file) {
    return withWindow(file, (w) => readOnnx(w));
  },
};

async function readOnnx(w: FileWindow): Promise<ModelLayout> {
  const file = w.file;
  if (w.size === 0) throw new TzError('BAD_INPUT', file, 'empty file, not an ONNX model');
  const ctx: Ctx = {
    w,
    dir: path.dirname(path.resolve(file)),
    tensors: [],
    names: new Map(),
    unreported: [],
    externalFiles: new Map(),
    counts: { nodes: 0, graphs: 0 },
  };
  const metadata: Record<string, unknown> = {};
  let irVersion: number | undefined;
  let graphSeen = false;
  const opsets: Record<string, number> = {};
  const props: Record<string, string> = {};
  for (const f of await protoFields(w, 0, w.size, 'ModelProto')) {
    switch (f.no) {
      case 1:
        if (f.wire === WIRE_VARINT) irVersion = f.value;
        break;
      case 2:
        if (f.wire === WIRE_LEN) metadata.producer = await str(w, f);
        break;
      case 3:
        if (f.wire === WIRE_LEN) metadata.producerVersion = await str(w, f);
        break;
      case 4:
        if (f.wire === WIRE_LEN) metadata.domain = await str(w, f);
        break;
      case 5:
        if (f.wire === WIRE_VARINT) metadata.modelVersion = f.value;
        break;
      case 7:
        expectLen(w, f, 'ModelProto.graph');
        graphSeen = true;
        metadata.graphName = await walkGraph(ctx, f.start, f.end, '', 0);
        break;
      case 8: {
        expectLen(w, f, 'ModelProto.opset_import');
        const kv = await smallMessage(w, f, 'opset_import');
        let domain = '';
        let version = 0;
        for (const g of kv.fields) {
          if (g.no === 1 && g.wire === WIRE_LEN) domain = text(kv.slice(g));
          if (g.no === 2 && g.wire === WIRE_VARINT) version = g.value;
        }
        if (Object.keys(opsets).length < 64) opsets[domain || 'ai.onnx'] = version;
        break;
      }
      case 14: {
        expectLen(w, f, 'ModelProto.metadata_props');
        const kv = await smallMessage(w, f, 'metadata_props');
        let k = '';
        let v = '';
        for (const g of kv.fields) {
          if (g.no === 1 && g.wire === WIRE_LEN) k = text(kv.slice(g));
          if (g.no === 2 && g.wire === WIRE_LEN) v = text(kv.slice(g));
        }
        if (Object.keys(props).length < 256) props[k] = v.length > 512 ? v.slice(0, 512) + '…' : v;
        break;
      }
      case 20: // TrainingInfoProto: initialization (1) and algorithm (2) graphs
        expectLen(w, f, 'ModelProto.training_info');
        for (const g of await protoFields(w, f.start, f.end, 'TrainingInfoProto')) {
          if ((g.no === 1 || g.no === 2) && g.wire === WIRE_LEN) {
            await walkGraph(ctx, g.start, g.end, `training_info/${g.no === 1 ? 'initialization' : 'algorithm'}/`, 1);
          }
        }
        break;
      case 25: {
        // FunctionProto: name (1), node (7)
        expectLen(w, f, 'ModelProto.functions');
        const fields = await collect(w, f.start, f.end, 'FunctionProto');
        let fname = 'function';
        for (const g of fields) if (g.no === 1 && g.wire === WIRE_LEN) fname = await str(w, g);
        for (const g of fields) if (g.no === 7 && g.wire === WIRE_LEN) await walkNode(ctx, g, `functions/${fname}/`, 1);
        break;
      }
      default:
        break;
    }
  }
  if (irVersion === undefined || !graphSeen) {
    throw new TzError(
      'BAD_INPUT',
      file,
      `not an ONNX model: no ${irVersion === undefined ? 'ir_version' : 'graph'} field`,
    );
  }
  metadata.irVersion = irVersion;
  metadata.opsets = opsets;
  if (Object.keys(props).length) metadata.metadataProps = props;
  metadata.nodes = ctx.counts.nodes;
  metadata.subgraphs = ctx.counts.graphs - 1;
  if (ctx.unreported.length) {
    metadata.unreportedTensors = ctx.unreported.length;
    metadata.unreportedExamples = ctx.unreported.slice(0, 20);
  }
  const mainFile = path.resolve(file);
  ctx.tensors.sort((a, b) => {
    const fa = a.file ?? '';
    const fb = b.file ?? '';
    return fa < fb ? -1 : fa > fb ? 1 : a.offset - b.offset;
  });
  const layout: ModelLayout = { path: file, format: 'onnx', size: w.size, tensors: ctx.tensors, metadata };
  if (ctx.externalFiles.size) layout.files = [mainFile, ...ctx.externalFiles.keys()];
  return layout;
}

/** Walks a GraphProto; returns its name. */
async function walkGraph(ctx: Ctx, start: number, end: number, prefix: string, depth: number): Promise<string> {
  if (depth > MAX_DEPTH) throw new TzError('BAD_INPUT', ctx.w.file, `subgraphs nested deeper than ${MAX_DEPTH} levels`);
  ctx.counts.graphs++;
  let name = '';
  for (const f of await protoFields(ctx.w, start, end, 'GraphProto')) {
    if (f.no === 2 && f.wire === WIRE_LEN) name = await str(ctx.w, f);
    else if (f.no === 5) {
      expectLen(ctx.w, f, 'GraphProto.initializer');
      await readTensor(ctx, f, prefix, undefined, depth, { kind: 'initializer' });
    } else if (f.no === 15) {
      expectLen(ctx.w, f, 'GraphProto.sparse_initializer');
      await readSparse(ctx, f, prefix, undefined, depth, 'sparse_initializer');
    } else if (f.no === 1) {
      expectLen(ctx.w, f, 'GraphProto.node');
      await walkNode(ctx, f, prefix, depth);
    }
  }
  return name;
}

async function walkNode(ctx: Ctx, node: ProtoField, prefix: string, depth: number): Promise<void> {
  const w = ctx.w;
  ctx.counts.nodes++;
  const fields = await collect(w, node.start, node.end, 'NodeProto');
  let name = '';
  let opType = '';
  let firstOutput: string | undefined;
  for (const f of fields) {
    if (f.wire !== WIRE_LEN) continue;
    if (f.no === 3) name = await str(w, f);
    else if (f.no === 4) opType = await str(w, f);
    else if (f.no === 2 && firstOutput === undefined) firstOutput = await str(w, f);
  }
  const nodeName = name || `${opType || 'node'}_${ctx.counts.nodes - 1}`;
  for (const f of fields) {
    if (f.no !== 5 || f.wire !== WIRE_LEN) continue;
    // AttributeProto: name 1, t 5, g 6, tensors 10, graphs 11, sparse_tensor 22, sparse_tensors 23
    const attr = await collect(w, f.start, f.end, 'AttributeProto');
    let attrName = '';
    for (const a of attr) if (a.no === 1 && a.wire === WIRE_LEN) attrName = await str(w, a);
    let ti = 0;
    let gi = 0;
    const multiT = attr.filter((a) => a.no === 10).length > 1;
    const multiG = attr.filter((a) => a.no === 11).length > 1;
    for (const a of attr) {
      if (a.wire !== WIRE_LEN) continue;
      if (a.no === 5) {
        const fallback = opType === 'Constant' && firstOutput ? firstOutput : `${nodeName}.${attrName}`;
        await readTensor(
          ctx,
          a,
          prefix,
          fallback,
          depth,
          { kind: 'attribute', node: nodeName, attribute: attrName },
          opType === 'Constant' && !!firstOutput,
        );
      } else if (a.no === 10) {
        const fallback = `${nodeName}.${attrName}${multiT ? `.${ti}` : ''}`;
        ti++;
        await readTensor(ctx, a, prefix, fallback, depth, { kind: 'attribute', node: nodeName, attribute: attrName });
      } else if (a.no === 22 || a.no === 23) {
        await readSparse(ctx, a, prefix, `${nodeName}.${attrName}`, depth, 'attribute');
      } else if (a.no === 6 || a.no === 11) {
        const sub = `${prefix}${nodeName}/${attrName}/${a.no === 11 && multiG ? `${gi++}/` : ''}`;
        await walkGraph(ctx, a.start, a.end, sub, depth + 1);
      }
    }
  }
}

async function readSparse(
  ctx: Ctx,
  f: ProtoField,
  prefix: string,
  fallback: string | undefined,
  depth: number,
  kind: string,
): Promise<void> {
  // SparseTensorProto: values 1, indices 2, dims 3
  const fields = await collect(ctx.w, f.start, f.end, 'SparseTensorProto');
  let valuesName: string | undefined;
  for (const g of fields) {
    if (g.wire !== WIRE_LEN) continue;
    if (g.no === 1)
      valuesName = await readTensor(ctx, g, prefix, fallback ? `${fallback}/values` : undefined, depth, {
        kind,
        sparse: 'values',
      });
    else if (g.no === 2)
      await readTensor(
        ctx,
        g,
        prefix,
        `${valuesName ?? fallback ?? 'sparse'}/indices`,
        depth,
        { kind, sparse: 'indices' },
        true,
      );
  }
}

/**
 * Reads one TensorProto and reports its data range. `fallback` names tensors without a name;
 * `preferFallback` makes it win over the proto's own name (Constant outputs, sparse indices).
 */
async function readTensor(
  ctx: Ctx,
  f: ProtoField,
  prefix: string,
  fallback: string | undefined,
  depth: number,
  origin: Record<string, unknown>,
  preferFallback = false,
): Promise<string | undefined> {
  const w = ctx.w;
  const dims: number[] = [];
  let dataType = 0;
  let protoName = '';
  let location = 0;
  let segmented = false;
  const ext: Record<string, string> = {};
  const payloads = new Map<number, ProtoField[]>();
  for (const g of await protoFields(w, f.start, f.end, 'TensorProto')) {
    switch (g.no) {
      case T_DIMS:
        if (g.wire === WIRE_VARINT) dims.push(g.value);
        else if (g.wire === WIRE_LEN) {
          if (g.end - g.start > MAX_DIMS * 10) bad(ctx, `tensor dims field of ${g.end - g.start} bytes`);
          try {
            dims.push(...packedVarints(await w.bytes(g.start, g.end - g.start, 'dims'), MAX_DIMS));
          } catch (e) {
            bad(ctx, `tensor dims at byte ${g.start}: ${(e as Error).message}`);
          }
        }
        if (dims.length > MAX_DIMS) bad(ctx, `tensor with more than ${MAX_DIMS} dimensions`);
        break;
      case T_DATA_TYPE:
        if (g.wire === WIRE_VARINT) dataType = g.value;
        break;
      case T_NAME:
        if (g.wire === WIRE_LEN) protoName = await str(w, g);
        break;
      case T_LOCATION:
        if (g.wire === WIRE_VARINT) location = g.value;
        break;
      case T_SEGMENT:
        segmented = true;
        break;
      case T_EXTERNAL: {
        if (g.wire !== WIRE_LEN) break;
        const kv = await smallMessage(w, g, 'external_data');
        let k = '';
        let v = '';
        for (const h of kv.fields) {
          if (h.no === 1 && h.wire === WIRE_LEN) k = text(kv.slice(h));
          if (h.no === 2 && h.wire === WIRE_LEN) v = text(kv.slice(h));
        }
        ext[k] = v;
        break;
      }
      case T_RAW:
      case T_FLOAT:
      case T_INT32:
      case T_STRING:
      case T_INT64:
      case T_DOUBLE:
      case T_UINT64: {
        const list = payloads.get(g.no) ?? [];
        if (list.length < 2) list.push(g); // more than one chunk is reported as unsupported anyway
        payloads.set(g.no, list);
        break;
      }
      default:
        break;
    }
  }
  let name = preferFallback && fallback ? fallback : protoName || fallback || `tensor_${ctx.tensors.length}`;
  name = uniqueName(ctx, prefix + name);
  for (const d of dims)
    if (!Number.isSafeInteger(d) || d < 0)
      bad(ctx, `tensor "${name}" has an invalid dimension ${Number.isNaN(d) ? '(out of range)' : d}`);
  const count = elementCount(dims);
  if (Number.isNaN(count)) bad(ctx, `tensor "${name}" has an element count beyond 2^53`);
  const dt = ONNX_DTYPES[dataType];
  const extra: Record<string, unknown> = { ...origin, onnxDataType: dataType };
  if (depth > 0 || prefix) extra.graph = prefix.replace(/\/$/, '');
  const expected = dt && dt.size > 0 ? Math.ceil(count * dt.size) : undefined;
  if (ctx.tensors.length >= MAX_TENSORS) bad(ctx, `more than ${MAX_TENSORS} tensors`);

  if (segmented) {
    ctx.unreported.push({ name, reason: 'segmented tensor' });
    return name;
  }
  if (location === 1) {
    await externalTensor(ctx, name, dt?.name ?? `ONNX_${dataType}`, dims, expected, ext, extra);
    return name;
  }
  const raw = payloads.get(T_RAW);
  if (raw) {
    if (raw.length > 1) return unreported(ctx, name, 'raw_data given twice');
    const r = raw[0]!;
    const bytes = r.end - r.start;
    if (dataType === 8) return unreported(ctx, name, 'STRING tensor');
    if (expected !== undefined && bytes !== expected) {
      bad(
        ctx,
        `tensor "${name}" has ${bytes} bytes of raw_data, expected ${expected} for ${dt!.name}[${dims.join(', ')}]`,
      );
    }
    ctx.tensors.push(entry(name, dt?.name ?? `ONNX_${dataType}`, dims, r.start, bytes, extra));
    return name;
  }
  // typed fields: packed fixed-width ones are raw little-endian values (codable in place);
  // packed varints (int32_data/int64_data) are not fixed-width and are reported as opaque VARINT
  const typed: [number, string, number][] = [
    [T_FLOAT, dataType === 14 ? 'C64' : 'F32', dataType === 14 ? 8 : 4],
    [T_DOUBLE, dataType === 15 ? 'C128' : 'F64', dataType === 15 ? 16 : 8],
    [T_UINT64, 'U64', 8],
    [T_INT32, 'VARINT', 0],
    [T_INT64, 'VARINT', 0],
  ];
  for (const [no, dtype, size] of typed) {
    const list = payloads.get(no);
    if (!list) continue;
    const g = list[0]!;
    if (list.length > 1 || g.wire !== WIRE_LEN) return unreported(ctx, name, 'typed data not packed in one run');
    const bytes = g.end - g.start;
    if (size > 0 && bytes !== count * size) {
      bad(ctx, `tensor "${name}" has ${bytes} bytes of packed data, expected ${count * size}`);
    }
    if (size === 0) extra.elementType = dt?.name ?? `ONNX_${dataType}`;
    extra.field = { 4: 'float_data', 5: 'int32_data', 7: 'int64_data', 10: 'double_data', 11: 'uint64_data' }[no];
    ctx.tensors.push(entry(name, dtype, dims, g.start, bytes, extra));
    return name;
  }
  if (payloads.has(T_STRING)) return unreported(ctx, name, 'STRING tensor');
  if (count !== 0) return unreported(ctx, name, 'no data');
  // an empty tensor without any data field: a zero-byte range at its TensorProto
  extra.empty = true;
  ctx.tensors.push(entry(name, dt?.name ?? `ONNX_${dataType}`, dims, f.start, 0, extra));
  return name;
}

async function externalTensor(
  ctx: Ctx,
  name: string,
  dtype: string,
  dims: number[],
  expected: number | undefined,
  ext: Record<string, string>,
  extra: Record<string, unknown>,
): Promise<void> {
  const loc = ext.location;
  if (!loc) bad(ctx, `tensor "${name}" has external data without a location`);
  if (path.isAbsolute(loc) || path.win32.isAbsolute(loc) || loc.includes('\0')) {
    bad(ctx, `tensor "${name}" external data location "${loc}" is an absolute path (refused)`);
  }
  const resolved = path.resolve(ctx.dir, loc);
  const rel = path.relative(ctx.dir, resolved);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    bad(ctx, `tensor "${name}" external data location "${loc}" escapes the model's folder (refused)`);
  }
  let size = ctx.externalFiles.get(resolved);
  if (size === undefined) {
    const st = await stat(resolved).catch(() => undefined);
    if (!st || !st.isFile()) bad(ctx, `tensor "${name}" external data file "${loc}" not found`);
    size = st.size;
    ctx.externalFiles.set(resolved, size);
  }
  const num = (k: string, dflt: number): number => {
    if (ext[k] === undefined) return dflt;
    if (!/^\d{1,16}$/.test(ext[k]!)) bad(ctx, `tensor "${name}" external data ${k} "${ext[k]}" is not a number`);
    return Number(ext[k]);
  };
  const offset = num('offset', 0);
  const length = num('length', Math.max(0, size - offset));
  if (offset + length > size)
    bad(
      ctx,
      `tensor "${name}" external data [${offset}, ${offset + length}) runs past the end of "${loc}" (${size} bytes)`,
    );
  if (expected !== undefined && length !== expected)
    bad(ctx, `tensor "${name}" external data has ${length} bytes, expected ${expected}`);
  extra.external = { location: loc, offset, length };
  const e = entry(name, dtype, dims, offset, length, extra);
  e.file = resolved;
  ctx.tensors.push(e);
}

function entry(
  name: string,
  dtype: string,
  shape: number[],
  offset: number,
  bytes: number,
  extra: Record<string, unknown>,
): TensorEntry {
  return { name, dtype, shape, offset, bytes, extra };
}

function unreported(ctx: Ctx, name: string, reason: string): string {
  ctx.unreported.push({ name, reason });
  return name;
}

function uniqueName(ctx: Ctx, name: string): string {
  const n = ctx.names.get(name);
  if (n === undefined) {
    ctx.names.set(name, 1);
    return name;
  }
  ctx.names.set(name, n + 1);
  return uniqueName(ctx, `${name}#${n + 1}`);
}

function collect(w: FileWindow, start: number, end: number, what: string): Promise<ProtoField[]> {
  return protoFields(w, start, end, what);
}

async function str(w: FileWindow, f: ProtoField): Promise<string> {
  if (f.wire !== WIRE_LEN) return '';
  const n = f.end - f.start;
  if (n > MAX_STRING)
    throw new TzError(
      'BAD_INPUT',
      w.file,
      `string field of ${n} bytes at byte ${f.start} (names are limited to ${MAX_STRING})`,
    );
  return text(await w.bytes(f.start, n, 'string'));
}

async function smallMessage(
  w: FileWindow,
  f: ProtoField,
  what: string,
): Promise<{ fields: ProtoField[]; slice: (g: ProtoField) => Uint8Array }> {
  const n = f.end - f.start;
  if (n > MAX_STRING * 4)
    throw new TzError('BAD_INPUT', w.file, `${what} entry of ${n} bytes at byte ${f.start} is implausibly large`);
  const b = (await w.bytes(f.start, n, what)).slice();
  let fields: ProtoField[];
  try {
    fields = protoFieldsSync(b, f.start);
  } catch (e) {
    throw new TzError('BAD_INPUT', w.file, `malformed protobuf in ${what}: ${(e as Error).message}`);
  }
  return { fields, slice: (g) => b.subarray(g.start - f.start, g.end - f.start) };
}

function expectLen(w: FileWindow, f: ProtoField, what: string): void {
  if (f.wire !== WIRE_LEN)
    throw new TzError(
      'BAD_INPUT',
      w.file,
      `malformed protobuf: ${what} at byte ${f.start} has wire type ${f.wire}, expected a message`,
    );
}

function bad(ctx: Ctx, problem: string): never {
  throw new TzError('BAD_INPUT', ctx.w.file, problem);
}
