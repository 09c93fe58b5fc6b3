#!/usr/bin/python3
"""Small PyTorch / NumPy fixtures for the format readers' tests (test/unit/formats-*.test.ts).

Their output is committed in test/fixtures/torch (a few KB each), so the tests run without torch.
To regenerate it (after changing this script), with Debian's python (apt-get install -y python3-torch
python3-numpy) and the corpus beside the repo (for the silero_vad.jit facts):
    /usr/bin/python3 scripts/make-fixtures.py test/fixtures/torch ../shared/corpus

Besides the files, writes expected.json: for every file, what an independent reader (torch /
numpy themselves) says about each tensor: dtype, shape, stride, storage offset, storage key and
the SHA-256 of the raw bytes, so the tests can compare names, dtypes, shapes and exact byte ranges.
Fixed seeds; torch's own archives are not byte-identical between runs (recorded data pointers, ids).
"""
import collections
import hashlib
import json
import os
import sys

import numpy as np
import torch

out = sys.argv[1] if len(sys.argv) > 1 else 'test/fixtures/torch'
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
rng = np.random.default_rng(0)
expected = {}

TORCH_DTYPES = {
    torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.float64: 'F64',
    torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8', torch.bool: 'BOOL',
}


def storage_bytes(t):
    s = t.storage()
    flat = torch.empty(0, dtype=t.dtype).set_(s, 0, (s.size(),), (1,))
    if t.dtype == torch.bool:
        flat = flat.view(torch.uint8)
    elif t.dtype == torch.bfloat16:
        flat = flat.view(torch.int16)
    return flat.numpy().tobytes()


def describe_torch(obj, prefix=''):
    """name -> facts, walking dicts/lists like the reader names them."""
    res = {}
    if isinstance(obj, torch.Tensor):
        b = storage_bytes(obj)
        res[prefix] = {
            'dtype': TORCH_DTYPES[obj.dtype], 'shape': list(obj.shape), 'stride': list(obj.stride()),
            'storageOffset': obj.storage_offset(), 'storageBytes': len(b),
            'storageSha256': hashlib.sha256(b).hexdigest(), 'storagePtr': obj.storage().data_ptr(),
        }
    elif isinstance(obj, dict):
        for k, v in obj.items():
            res.update(describe_torch(v, f'{prefix}.{k}' if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            res.update(describe_torch(v, f'{prefix}.{i}' if prefix else str(i)))
    return res


# --- PyTorch zip checkpoint: nested state dict, shared storages, several dtypes ---
base = torch.randn(6, 8)
emb = torch.nn.Parameter(torch.randn(16, 4))
state = collections.OrderedDict()
state['model'] = collections.OrderedDict([
    ('embed.weight', emb),
    ('head.weight', emb),                      # tied weight: same tensor object
    ('linear.weight', base),
    ('linear.weight_t', base.t()),             # non-contiguous view of the same storage
    ('linear.rows', base[2:5]),                # view with a storage offset
    ('half', torch.randn(3, 5).half()),
    ('bf16', torch.randn(7, 3).bfloat16()),
    ('f64', torch.randn(4, dtype=torch.float64)),
    ('ids', torch.arange(10, dtype=torch.int64)),
    ('mask', torch.rand(9) > 0.5),
    ('i8', torch.randint(-100, 100, (5,), dtype=torch.int8)),
    ('scalar', torch.tensor(3.5)),
])
state['optimizer'] = {'step': 7, 'lr': 1e-3, 'betas': (0.9, 0.999), 'state': {0: {'exp_avg': torch.zeros(16, 4)}}}
state['extra'] = [torch.ones(2, 2), 'a string', None]
torch.save(state, os.path.join(out, 'state_dict.pt'))
expected['state_dict.pt'] = describe_torch(state)

# --- legacy (pre-1.6) non-zip serialization ---
torch.save({'w': torch.randn(3)}, os.path.join(out, 'legacy.pt'), _use_new_zipfile_serialization=False)


# --- TorchScript archive ---
class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(2, 3, 3)
        self.lin = torch.nn.Linear(3, 2)
        self.register_buffer('scale', torch.tensor([0.5, 2.0]))

    def forward(self, x):
        return self.lin(self.conv(x).mean(-1)) * self.scale


m = torch.jit.script(Small().eval())
torch.jit.save(m, os.path.join(out, 'small.jit'))
expected['small.jit'] = {k: {'dtype': TORCH_DTYPES[v.dtype], 'shape': list(v.shape)} for k, v in m.state_dict().items()}

# --- NumPy .npy: several dtypes, versions, fortran order, big-endian ---
npy = {
    'f32': rng.standard_normal((4, 5)).astype('<f4'),
    'f16': rng.standard_normal((3, 7)).astype('<f2'),
    'f64': rng.standard_normal(6).astype('<f8'),
    'i64': np.arange(12, dtype='<i8').reshape(3, 4),
    'u8': rng.integers(0, 255, 10).astype('|u1'),
    'bool': rng.standard_normal(5) > 0,
    'fortran': np.asfortranarray(rng.standard_normal((3, 4)).astype('<f4')),
    'bigendian': rng.standard_normal(5).astype('>f4'),
    'scalar': np.array(2.5, dtype='<f4'),
    'empty': np.zeros((0, 3), dtype='<f4'),
}
expected['npy'] = {}
for name, a in npy.items():
    p = os.path.join(out, f'{name}.npy')
    np.save(p, a)
    raw = a.tobytes(order='F' if a.flags.f_contiguous and not a.flags.c_contiguous else 'C')
    expected['npy'][name] = {'descr': a.dtype.str, 'shape': list(a.shape), 'fortran': bool(a.flags.f_contiguous and not a.flags.c_contiguous),
                             'bytes': len(raw), 'sha256': hashlib.sha256(raw).hexdigest()}
# explicit format versions 2.0 and 3.0
for ver in [(2, 0), (3, 0)]:
    a = rng.standard_normal((2, 3)).astype('<f4')
    name = f'v{ver[0]}'
    with open(os.path.join(out, f'{name}.npy'), 'wb') as f:
        np.lib.format.write_array(f, a, version=ver)
    raw = a.tobytes()
    expected['npy'][name] = {'descr': a.dtype.str, 'shape': list(a.shape), 'fortran': False, 'bytes': len(raw), 'sha256': hashlib.sha256(raw).hexdigest()}

# --- NumPy .npz: stored and deflated ---
arrays = {'weights': rng.standard_normal((8, 16)).astype('<f4'), 'bias': rng.standard_normal(16).astype('<f2'),
          'steps': np.arange(5, dtype='<i8'), 'zeros': np.zeros(4096, dtype='<f4')}
np.savez(os.path.join(out, 'stored.npz'), **arrays)
np.savez_compressed(os.path.join(out, 'deflated.npz'), **arrays)
expected['npz'] = {k: {'descr': a.dtype.str, 'shape': list(a.shape), 'bytes': a.nbytes, 'sha256': hashlib.sha256(a.tobytes()).hexdigest()}
                   for k, a in arrays.items()}

# --- independent facts about the corpus TorchScript file, when the corpus is there ---
corpus = sys.argv[2] if len(sys.argv) > 2 else '../shared/corpus'
jit = os.path.join(corpus, 'originals', 'silero_vad.jit')
if os.path.exists(jit):
    sd = torch.jit.load(jit).state_dict()
    expected['silero_vad.jit'] = {k: {'dtype': TORCH_DTYPES[v.dtype], 'shape': list(v.shape), 'storageOffset': v.storage_offset(),
                                      'storageSha256': hashlib.sha256(storage_bytes(v)).hexdigest()} for k, v in sd.items()}

expected['versions'] = {'torch': torch.__version__, 'numpy': np.__version__}
with open(os.path.join(out, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print(f'wrote fixtures to {out}')
