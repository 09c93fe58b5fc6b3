import * as path from 'node:path';
import { TzError } from '../core/errors';
import { elementCount } from '../core/dtypes';
import type { FormatReader, ModelLayout, TensorEntry } from './types';
import { withWindow, text } from './window';
import { ZipArchive, readMember, isZipHead, firstMemberName, type ZipMember } from './zip';
import { readPickle, walkTensors, rootType, PickleError, type FoundTensor, type PValue } from './pickle';

/**
 * PyTorch zip checkpoints (`torch.save`, .pt/.pth/.bin/.ckpt) and TorchScript archives
 * (`torch.jit.save`). `<prefix>/data.pkl` (and TorchScript's `constants.pkl`) are read with the
 * static pickle reader (pickle.ts, nothing is executed); tensor storages live in stored zip members
 * `<prefix>/data/<key>` (`constants/<key>`).
 *
 * One TensorEntry per storage, not per view: several tensors can be views of one storage (tied
 * weights, slices, transposes). Reporting the storage once keeps the ranges disjoint, so every
 * byte is analyzed and coded exactly once and totals stay meaningful. The entry is named after the
 * first tensor that uses it; when that tensor is the whole storage, contiguous, its shape is the
 * entry's shape, otherwise the shape is [numel of the storage]. `extra.views` lists every view
 * (name, shape, stride, storage offset).
 *
 * Legacy (non-zip) torch.save files are a bare pickle stream with tensor data interleaved; they
 * can only be read by unpickling, which TensorZip never does, so they are refused.
 */

/** torch.<X>Storage → canonical dtype and element size */
const STORAGE_TYPES: Record<string, { dtype: string; size: number }> = {
  DoubleStorage: { dtype: 'F64', size: 8 },
  FloatStorage: { dtype: 'F32', size: 4 },
  HalfStorage: { dtype: 'F16', size: 2 },
  BFloat16Storage: { dtype: 'BF16', size: 2 },
  LongStorage: { dtype: 'I64', size: 8 },
  IntStorage: { dtype: 'I32', size: 4 },
  ShortStorage: { dtype: 'I16', size: 2 },
  CharStorage: { dtype: 'I8', size: 1 },
  ByteStorage: { dtype: 'U8', size: 1 },
  BoolStorage: { dtype: 'BOOL', size: 1 },
  UInt16Storage: { dtype: 'U16', size: 2 },
  UInt32Storage: { dtype: 'U32', size: 4 },
  UInt64Storage: { dtype: 'U64', size: 8 },
  UntypedStorage: { dtype: 'U8', size: 1 },
  ComplexFloatStorage: { dtype: 'C64', size: 8 },
  ComplexDoubleStorage: { dtype: 'C128', size: 16 },
  ComplexHalfStorage: { dtype: 'C32', size: 4 },
  Float8_e4m3fnStorage: { dtype: 'F8_E4M3', size: 1 },
  Float8_e5m2Storage: { dtype: 'F8_E5M2', size: 1 },
  Float8_e4m3fnuzStorage: { dtype: 'F8_E4M3FNUZ', size: 1 },
  Float8_e5m2fnuzStorage: { dtype: 'F8_E5M2FNUZ', size: 1 },
  Float8_e8m0fnuStorage: { dtype: 'F8_E8M0', size: 1 },
  QInt8Storage: { dtype: 'QINT8', size: 1 },
  QUInt8Storage: { dtype: 'QUINT8', size: 1 },
  QInt32Storage: { dtype: 'QINT32', size: 4 },
  QUInt4x2Storage: { dtype: 'QUINT4X2', size: 1 },
  QUInt2x4Storage: { dtype: 'QUINT2X4', size: 1 },
};

const TORCH_EXT = new Set(['.pt', '.pth', '.bin', '.ckpt', '.jit', '.ptl', '.pkl', '.torchscript']);
const MAX_PICKLE = 256 << 20;
const MAX_VIEWS_LISTED = 64;

export const pytorchReader: FormatReader = {
  format: 'pytorch',
  detect(file, head) {
    const ext = path.extname(file).toLowerCase();
    if (isZipHead(head)) {
      if (ext === '.npz') return false;
      const first = firstMemberName(head) ?? '';
      return TORCH_EXT.has(ext) || /(^|\/)(data\.pkl|version|\.data\/version|data\/\d+)$/.test(first);
    }
    return TORCH_EXT.has(ext) && isLegacyPickle(head);
  },
  async read(file) {
    return withWindow(file, async (w): Promise<ModelLayout> => {
      const head = await w.upTo(0, 8);
      if (!isZipHead(head)) {
        if (isLegacyPickle(head)) {
          throw new TzError(
            'UNSUPPORTED',
            file,
            'legacy (non-zip) PyTorch file: it can only be read by unpickling it, which runs code from the ' +
              'file and which TensorZip never does; re-save it with torch.save(obj, path) (zip format, the ' +
              'default since PyTorch 1.6)',
          );
        }
        throw new TzError('BAD_INPUT', file, 'not a PyTorch zip checkpoint (no zip header)');
      }
      const zip = await ZipArchive.open(w);
      // the pickle at the top level of the archive folder: "<prefix>/data.pkl"
      const dataPkl = zip.members.find((m) => /^[^/]*\/?data\.pkl$/.test(m.name));
      if (!dataPkl) throw new TzError('BAD_INPUT', file, 'zip archive has no data.pkl: not a PyTorch checkpoint');
      const prefix = dataPkl.name.slice(0, dataPkl.name.length - 'data.pkl'.length);
      const byteorder = zip.get(`${prefix}byteorder`);
      const bigEndian = byteorder ? text(await readMember(zip, byteorder, 64)).trim() === 'big' : false;
      const versionM = zip.get(`${prefix}version`) ?? zip.get(`${prefix}.data/version`);
      const version = versionM ? text(await readMember(zip, versionM, 64)).trim() : undefined;

      const found: { pkl: string; dir: string; t: FoundTensor }[] = [];
      const parse = async (m: ZipMember, dir: string, namePrefix: string): Promise<PValue> => {
        const bytes = await readMember(zip, m, MAX_PICKLE);
        let root: PValue;
        let list: FoundTensor[];
        try {
          root = readPickle(bytes);
          list = walkTensors(root);
        } catch (e) {
          if (e instanceof PickleError)
            throw new TzError('BAD_INPUT', file, `${m.name}: malformed pickle: ${e.message}`);
          throw e;
        }
        for (const t of list) found.push({ pkl: m.name, dir, t: { ...t, name: namePrefix + t.name } });
        return root;
      };
      const root = await parse(dataPkl, 'data/', '');
      const constants = zip.get(`${prefix}constants.pkl`);
      if (constants) await parse(constants, 'constants/', 'constants.');
      const torchscript = !!constants || zip.members.some((m) => m.name.startsWith(`${prefix}code/`));

      // group views by storage member
      interface Group {
        member: ZipMember;
        dtype: string;
        size: number;
        numel: number;
        key: string;
        views: FoundTensor[];
      }
      const groups = new Map<string, Group>();
      for (const { dir, t } of found) {
        const s = t.tensor.storage;
        const st = STORAGE_TYPES[s.typeName] ?? { dtype: s.typeName.replace(/Storage$/, '').toUpperCase(), size: 0 };
        const memberName = `${prefix}${dir}${s.key}`;
        let g = groups.get(memberName);
        if (!g) {
          const member = zip.get(memberName);
          if (!member)
            throw new TzError(
              'BAD_INPUT',
              file,
              `tensor "${t.name}" refers to storage "${s.key}" but member "${memberName}" is missing`,
            );
          g = { member, dtype: st.dtype, size: st.size, numel: s.numel, key: s.key, views: [] };
          groups.set(memberName, g);
        } else if (g.dtype !== st.dtype) {
          throw new TzError('BAD_INPUT', file, `storage "${s.key}" is used as both ${g.dtype} and ${st.dtype}`);
        }
        checkView(file, t, g.numel);
        g.views.push(t);
      }

      const tensors: TensorEntry[] = [];
      for (const [memberName, g] of groups) {
        const m = g.member;
        const offset = await zip.dataOffset(m);
        const first = g.views[0]!;
        const ft = first.tensor;
        const whole =
          g.views.length === 1 &&
          ft.storageOffset === 0 &&
          elementCount(ft.shape) === g.numel &&
          isContiguous(ft.shape, ft.stride);
        const extra: Record<string, unknown> = {
          storage: g.key,
          member: memberName,
          views: g.views.slice(0, MAX_VIEWS_LISTED).map((v) => ({
            name: v.name,
            shape: v.tensor.shape,
            stride: v.tensor.stride,
            storageOffset: v.tensor.storageOffset,
            ...(v.tensor.parameter ? { parameter: true } : {}),
          })),
        };
        if (g.views.length > MAX_VIEWS_LISTED) extra.viewCount = g.views.length;
        if (!whole) extra.storageNumel = g.numel;
        const shape = whole ? ft.shape : [g.numel];
        let dtype = g.dtype;
        if (bigEndian && g.size > 1) {
          extra.bigEndian = true;
          dtype = `${dtype}_BE`;
        }
        if (g.size > 0 && m.size !== g.numel * g.size) {
          // torch writes exactly numel*size bytes; anything else means a corrupted or edited archive
          throw new TzError(
            'BAD_INPUT',
            file,
            `storage "${g.key}" (${first.name}) holds ${m.size} bytes, expected ${g.numel} × ${g.size}`,
          );
        }
        if (m.method === 0) {
          tensors.push({ name: first.name, dtype, shape, offset, bytes: m.size, extra });
        } else {
          // a re-zipped checkpoint with compressed members: kept as it is by the container
          extra.deflated = true;
          extra.method = m.method;
          extra.innerDtype = dtype;
          extra.uncompressedBytes = m.size;
          tensors.push({
            name: first.name,
            dtype: m.method === 8 ? 'DEFLATE' : `ZIP_METHOD_${m.method}`,
            shape,
            offset,
            bytes: m.compressedSize,
            extra,
          });
        }
      }
      tensors.sort((a, b) => a.offset - b.offset);
      const metadata: Record<string, unknown> = {
        archive: prefix.replace(/\/$/, ''),
        torchscript,
        root: rootType(root),
        storages: groups.size,
        views: found.length,
        members: zip.members.length,
      };
      if (version !== undefined) metadata.version = version;
      if (bigEndian) metadata.byteorder = 'big';
      return { path: file, format: 'pytorch', size: w.size, tensors, metadata };
    });
  },
};

function isLegacyPickle(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5;
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i]!;
  }
  return true;
}

/** A view must stay inside its storage: offset + Σ (size-1)·stride < numel. */
function checkView(file: string, t: FoundTensor, numel: number): void {
  const { shape, stride, storageOffset } = t.tensor;
  if (!Number.isSafeInteger(storageOffset) || storageOffset < 0)
    throw new TzError('BAD_INPUT', file, `tensor "${t.name}" has an invalid storage offset`);
  if (shape.some((d) => d < 0) || stride.some((s) => s < 0))
    throw new TzError('BAD_INPUT', file, `tensor "${t.name}" has a negative size or stride`);
  if (shape.some((d) => d === 0)) return;
  let last = storageOffset;
  for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * stride[i]!;
  if (!Number.isSafeInteger(last) || last >= numel) {
    throw new TzError(
      'BAD_INPUT',
      file,
      `tensor "${t.name}" [${shape.join(', ')}] reaches element ${last} of a storage of ${numel}`,
    );
  }
}
