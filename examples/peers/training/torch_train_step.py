#!/usr/bin/env python3
"""PyTorch (CPU) peer for Loom's training-step benchmark.

Times one training step (zero_grad, forward, loss, backward, clip_grad_norm_ to 1.0, AdamW step)
of the "reverse" encoder-decoder Transformer or the "gpt2-5m" decoder-only model, and prints ONE
JSON line on stdout. Weights and token ids come from a counter-based hash (init_values, token_ids)
that jax-train-step.ts reproduces bit for bit, so both peers start from the same model and batch.

Run with Debian's torch:  /usr/bin/python3 torch_train_step.py --model reverse --threads 2 --steps 5 --warmup 1
"""
import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MASK32 = 0xFFFFFFFF


def fnv1a32(text: str) -> int:
    h = 0x811C9DC5
    for byte in text.encode('utf-8'):
        h = ((h ^ byte) * 0x01000193) & MASK32
    return h


def _mix32(x: np.ndarray) -> np.ndarray:
    """lowbias32 on a uint32 array (wrapping multiplies, as Math.imul in JS)."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    x = x ^ (x >> np.uint32(16))
    return x


def hash_stream(name: str, count: int) -> np.ndarray:
    """count uint32 values for `name`: mix32(i + mix32(fnv1a(name))) mod 2^32."""
    with np.errstate(over='ignore'):
        base = int(_mix32(np.array([fnv1a32(name)], dtype=np.uint32))[0])
        idx = (np.arange(count, dtype=np.uint64) + np.uint64(base)) & np.uint64(MASK32)
        return _mix32(idx.astype(np.uint32))


def uniform_values(name: str, shape, bound: float) -> np.ndarray:
    """Uniform in [-bound, bound), float32, row-major over `shape` (torch layout)."""
    count = int(np.prod(shape))
    u = (hash_stream(name, count) >> np.uint32(8)).astype(np.float64) * (2.0 ** -24)
    return ((2.0 * u - 1.0) * bound).astype(np.float32).reshape(shape)


def token_ids(name: str, shape, low: int, high: int) -> np.ndarray:
    """Ids in [low, high), int64."""
    count = int(np.prod(shape))
    return (low + (hash_stream(name, count) % np.uint32(high - low)).astype(np.int64)).reshape(shape)


# ---------------------------------------------------------------------------------------------
# Models

REVERSE = dict(vocab=30, d=128, heads=4, d_ff=512, enc_layers=2, dec_layers=2, batch=32, src_len=32, tgt_len=32, bos=1, smoothing=0.1)
GPT2 = dict(vocab=8192, d=256, heads=4, layers=4, n_positions=128, batch=8, seq=128)


def sinusoid_table(length: int, d: int) -> torch.Tensor:
    """Interleaved: even dims sin(pos / 10000^(2i/d)), odd dims cos of the same angle."""
    pe = np.zeros((length, d), dtype=np.float64)
    pos = np.arange(length, dtype=np.float64)[:, None]
    div = np.power(10000.0, np.arange(0, d, 2, dtype=np.float64) / d)
    pe[:, 0::2] = np.sin(pos / div)
    pe[:, 1::2] = np.cos(pos / div)
    return torch.from_numpy(pe.astype(np.float32))


class ReverseModel(nn.Module):
    """The paper's encoder-decoder Transformer, post-LN (nn.Transformer, norm_first=False)."""

    def __init__(self, c):
        super().__init__()
        self.d = c['d']
        self.src_emb = nn.Embedding(c['vocab'], c['d'])
        self.tgt_emb = nn.Embedding(c['vocab'], c['d'])
        self.transformer = nn.Transformer(d_model=c['d'], nhead=c['heads'], num_encoder_layers=c['enc_layers'],
                                          num_decoder_layers=c['dec_layers'], dim_feedforward=c['d_ff'], dropout=0.0,
                                          activation='relu', batch_first=True, norm_first=False)
        self.out = nn.Linear(c['d'], c['vocab'])
        self.register_buffer('pe', sinusoid_table(max(c['src_len'], c['tgt_len']), c['d']), persistent=False)
        self.register_buffer('causal', nn.Transformer.generate_square_subsequent_mask(c['tgt_len']), persistent=False)

    def forward(self, src, tgt_in):
        scale = math.sqrt(self.d)
        s = self.src_emb(src) * scale + self.pe[: src.shape[1]]
        t = self.tgt_emb(tgt_in) * scale + self.pe[: tgt_in.shape[1]]
        h = self.transformer(s, t, tgt_mask=self.causal)
        return self.out(h)


class Gpt2Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x, causal):
        b, l, d = x.shape
        hd = d // self.heads
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q = q.view(b, l, self.heads, hd).transpose(1, 2)
        k = k.view(b, l, self.heads, hd).transpose(1, 2)
        v = v.view(b, l, self.heads, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd)) + causal
        y = att.softmax(dim=-1) @ v
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, l, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate='tanh'))


class Gpt2Model(nn.Module):
    """GPT-2 style: learned positions, pre-LN blocks, tanh-GELU MLP, final LN, tied lm head."""

    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c['vocab'], c['d'])
        self.wpe = nn.Embedding(c['n_positions'], c['d'])
        self.h = nn.ModuleList([Gpt2Block(c['d'], c['heads']) for _ in range(c['layers'])])
        self.ln_f = nn.LayerNorm(c['d'])
        self.register_buffer('causal', nn.Transformer.generate_square_subsequent_mask(c['seq']), persistent=False)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1])
        x = self.wte(ids) + self.wpe(pos)
        for block in self.h:
            x = block(x, self.causal)
        return self.ln_f(x) @ self.wte.weight.t()


def init_bound(model: str, name: str, shape) -> float:
    """Uniform bound of a weight (biases are 0, LayerNorm weights 1; see init_model)."""
    if model == 'reverse':
        if name.endswith('emb.weight'):
            return math.sqrt(3.0 / shape[1])  # std d^-1/2, times sqrt(d) at the input
        return 1.0 / math.sqrt(shape[1])  # Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    std = 0.02
    if name.endswith('c_proj.weight') or name.endswith('mlp_proj.weight'):
        std /= math.sqrt(2 * GPT2['layers'])  # GPT-2's residual projection scaling
    return std * math.sqrt(3.0)


def is_norm(name: str) -> bool:
    return '.norm' in name or name.startswith('norm') or '.ln_' in name or name.startswith('ln_')


def init_model(model_name: str, model: nn.Module) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('bias'):
                p.zero_()
            elif is_norm(name):
                p.fill_(1.0)
            else:
                p.copy_(torch.from_numpy(uniform_values(name, tuple(p.shape), init_bound(model_name, name, tuple(p.shape)))))


def reverse_batch():
    c = REVERSE
    src = token_ids('reverse.src', (c['batch'], c['src_len']), 3, c['vocab'])
    labels = src[:, ::-1].copy()  # the target is the reversed source
    tgt_in = np.concatenate([np.full((c['batch'], 1), c['bos'], dtype=np.int64), labels[:, :-1]], axis=1)
    return torch.from_numpy(src), torch.from_numpy(tgt_in), torch.from_numpy(labels)


def gpt2_batch():
    return torch.from_numpy(token_ids('gpt2.ids', (GPT2['batch'], GPT2['seq']), 0, GPT2['vocab']))


def build(model_name: str):
    """(model, loss_fn, tokens_per_step); loss_fn() runs forward and the loss on the fixed batch."""
    if model_name == 'reverse':
        model = ReverseModel(REVERSE)
        init_model('reverse', model)
        src, tgt_in, labels = reverse_batch()

        def loss_fn():
            logits = model(src, tgt_in)
            return F.cross_entropy(logits.reshape(-1, REVERSE['vocab']), labels.reshape(-1), label_smoothing=REVERSE['smoothing'])

        return model, loss_fn, REVERSE['batch'] * REVERSE['tgt_len']
    model = Gpt2Model(GPT2)
    init_model('gpt2-5m', model)
    ids = gpt2_batch()

    def loss_fn():
        logits = model(ids)
        return F.cross_entropy(logits[:, :-1].reshape(-1, GPT2['vocab']), ids[:, 1:].reshape(-1))

    return model, loss_fn, GPT2['batch'] * GPT2['seq']


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--model', choices=['reverse', 'gpt2-5m'], required=True)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--print-losses', action='store_true', help='add every step\'s loss to the JSON (checks)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model, loss_fn, tokens = build(args.model)
    params = [p for p in model.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    n_params = sum(p.numel() for p in params)

    runs_ms, losses = [], []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        value = loss.item()
        ms = (time.perf_counter() - t0) * 1e3
        losses.append(value)
        if i >= args.warmup:
            runs_ms.append(round(ms, 3))

    out = {
        'peer': 'pytorch',
        'version': torch.__version__,
        'model': args.model,
        'threads': torch.get_num_threads(),
        'median_ms': round(statistics.median(runs_ms), 3) if runs_ms else None,
        'runs_ms': runs_ms,
        'params': n_params,
        'tokens_per_step': tokens,
    }
    if args.print_losses:
        out['losses'] = [round(x, 6) for x in losses]
    sys.stdout.write(json.dumps(out) + '\n')


if __name__ == '__main__':
    main()
