#!/usr/bin/python3
"""Really trained checkpoints for delta coding and model diff (issue 15; test/unit/delta*.test.ts,
bench). Trains a small byte-level transformer from scratch on CPU with a high learning rate on the
licence texts in /usr/share/common-licenses, saving a checkpoint every 25 steps; then fine-tunes
the last one for 100 steps at 1/20 of the learning rate on different text (Debian changelogs from
/usr/share/doc). Each checkpoint is written twice, F32 and BF16 (the F32 weights rounded, as
torch's .to(bfloat16) does), as safetensors (written here with struct/json: Debian has no
safetensors package).

Run with Debian's python (apt-get install -y python3-torch python3-numpy):
    nice -n 19 /usr/bin/python3 scripts/make-checkpoints.py <out-folder>

Layout of <out-folder>:
    pretrain/f32/step-00100.safetensors ... step-00200.safetensors   (25 steps apart)
    pretrain/bf16/ (the same steps)
    finetune/f32/finetune-step-00100.safetensors   (base: pretrain/*/step-00200)
    finetune/bf16/
    expected.json: for pairs of checkpoints, per tensor, what numpy computes independently of
        TensorZip: elements whose bits differ and max |a-b| (as float64 of the stored values).
Deterministic for a given machine (fixed seed, one thread).
"""
import gzip
import glob
import json
import os
import struct
import sys

import numpy as np
import torch

out = sys.argv[1] if len(sys.argv) > 1 else 'test/fixtures/generated/checkpoints'
torch.manual_seed(0)
torch.set_num_threads(1)

LR = 1e-3
FT_LR = LR / 20
FIRST_SAVE, LAST_SAVE, EVERY = 100, 200, 25
FT_STEPS = 100
CTX, BATCH = 64, 8
D, LAYERS, HEADS, FF = 128, 3, 4, 512


def read_text(paths, limit):
    buf = bytearray()
    for p in sorted(paths):
        try:
            data = gzip.open(p).read() if p.endswith('.gz') else open(p, 'rb').read()
        except (OSError, EOFError):
            continue
        buf += data
        if len(buf) >= limit:
            break
    return torch.tensor(list(buf[:limit]), dtype=torch.long)


pretrain_text = read_text([p for p in glob.glob('/usr/share/common-licenses/*') if os.path.isfile(p)], 1 << 20)
finetune_text = read_text(glob.glob('/usr/share/doc/*/changelog.Debian.gz'), 1 << 20)
if len(pretrain_text) < 10000 or len(finetune_text) < 10000:
    sys.exit('make-checkpoints.py: not enough text found in /usr/share/common-licenses and /usr/share/doc')


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(D)
        self.attn = torch.nn.MultiheadAttention(D, HEADS, batch_first=True)
        self.ln2 = torch.nn.LayerNorm(D)
        self.ff1 = torch.nn.Linear(D, FF)
        self.ff2 = torch.nn.Linear(FF, D)

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.ff2(torch.nn.functional.gelu(self.ff1(self.ln2(x))))


class ByteLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = torch.nn.Embedding(256, D)
        self.pos = torch.nn.Embedding(CTX, D)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln = torch.nn.LayerNorm(D)
        self.head = torch.nn.Linear(D, 256, bias=False)

    def forward(self, idx):
        mask = torch.triu(torch.full((idx.shape[1], idx.shape[1]), float('-inf')), 1)
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln(x))


def batch(text, gen):
    ix = torch.randint(0, len(text) - CTX - 1, (BATCH,), generator=gen)
    x = torch.stack([text[i:i + CTX] for i in ix])
    y = torch.stack([text[i + 1:i + CTX + 1] for i in ix])
    return x, y


def step(model, opt, text, gen):
    x, y = batch(text, gen)
    loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


DT = {'F32': (torch.float32, np.float32), 'BF16': (torch.bfloat16, None)}


def tensor_bytes(t, dtype):
    t = t.detach().to(DT[dtype][0]).contiguous()
    if dtype == 'BF16':
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def save(model, path, dtype, meta):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    header, blobs, off = {'__metadata__': meta}, [], 0
    for name, t in model.state_dict().items():
        b = tensor_bytes(t, dtype)
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-(8 + len(h)) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_values(path):
    """name -> (dtype, float64 values, raw integer bit patterns), read back from the file itself."""
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    res = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        raw = data[8 + n + e['data_offsets'][0]:8 + n + e['data_offsets'][1]]
        if e['dtype'] == 'BF16':
            bits = np.frombuffer(raw, dtype='<u2')
            vals = (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            bits = np.frombuffer(raw, dtype='<u4')
            vals = np.frombuffer(raw, dtype='<f4').astype(np.float64)
        res[name] = (e['dtype'], vals, bits)
    return res


def expected_pair(a, b):
    va, vb = load_values(a), load_values(b)
    tensors = {}
    for name in va:
        if name not in vb:
            continue
        (_, x, xb), (_, y, yb) = va[name], vb[name]
        tensors[name] = {
            'elements': int(x.size),
            'changedElements': int(np.count_nonzero(xb != yb)),
            'maxAbsDiff': float(np.max(np.abs(x - y))) if x.size else 0.0,
        }
    return {'a': os.path.relpath(a, out), 'b': os.path.relpath(b, out), 'tensors': tensors}


model = ByteLM()
opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
gen = torch.Generator().manual_seed(1)
saved = []
for s in range(1, LAST_SAVE + 1):
    loss = step(model, opt, pretrain_text, gen)
    if s >= FIRST_SAVE and s % EVERY == 0:
        for dt in DT:
            save(model, os.path.join(out, 'pretrain', dt.lower(), f'step-{s:05d}.safetensors'), dt, {'step': str(s), 'loss': f'{loss:.4f}'})
        saved.append(s)
        print(f'step {s}: loss {loss:.3f}', flush=True)

ft_opt = torch.optim.AdamW(model.parameters(), lr=FT_LR, weight_decay=0.01)
ft_gen = torch.Generator().manual_seed(2)
for s in range(1, FT_STEPS + 1):
    loss = step(model, ft_opt, finetune_text, ft_gen)
for dt in DT:
    save(model, os.path.join(out, 'finetune', dt.lower(), f'finetune-step-{FT_STEPS:05d}.safetensors'), dt, {'step': str(FT_STEPS), 'loss': f'{loss:.4f}', 'base': f'step-{LAST_SAVE:05d}'})
print(f'fine-tune step {FT_STEPS}: loss {loss:.3f}', flush=True)

pairs = []
for dt in DT:
    d = dt.lower()
    pre = [os.path.join(out, 'pretrain', d, f'step-{s:05d}.safetensors') for s in saved]
    pairs += [expected_pair(pre[i], pre[i + 1]) for i in range(len(pre) - 1)]
    pairs.append(expected_pair(pre[-1], os.path.join(out, 'finetune', d, f'finetune-step-{FT_STEPS:05d}.safetensors')))
with open(os.path.join(out, 'expected.json.tmp'), 'w') as f:
    json.dump({'lr': LR, 'finetuneLr': FT_LR, 'every': EVERY, 'finetuneSteps': FT_STEPS, 'pairs': pairs}, f)
os.replace(os.path.join(out, 'expected.json.tmp'), os.path.join(out, 'expected.json'))
