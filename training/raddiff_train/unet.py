"""A small diffusion UNet (DDPM / ADM style): sinusoidal timestep embedding + MLP, ResBlocks with
GroupNorm + SiLU, skip connections, self-attention only at the levels listed in `attn_levels`
(meant for levels whose feature maps are ≤ 32², where attention is cheap).

Input x [B, C, H, W] (+ cond [B, Cc, H, W], concatenated on channels), t [B] float32 timesteps.
H and W must be multiples of 2^(len(mults) - 1).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32: under CPU bf16 autocast (torch 1.13) a convolution hands it bf16
    activations, which plain GroupNorm rejects against its float32 affine parameters. Exports
    unchanged (the cast is a no-op on float32 input)."""

    def forward(self, x):
        return super().forward(x.float())


def norm(ch: int, groups: int) -> nn.GroupNorm:
    return GroupNorm32(min(groups, ch), ch)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb, groups):
        super().__init__()
        self.n1, self.c1 = norm(cin, groups), nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(temb, cout)
        self.n2, self.c2 = norm(cout, groups), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(emb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)


class Attention(nn.Module):
    def __init__(self, ch, groups, heads=1):
        super().__init__()
        self.n, self.heads = norm(ch, groups), heads
        self.qkv, self.proj = nn.Conv2d(ch, 3 * ch, 1), nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.n(x)).reshape(b * self.heads, 3 * c // self.heads, h * w).chunk(3, dim=1)
        a = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(c // self.heads), dim=-1)
        o = torch.bmm(v, a.transpose(1, 2)).reshape(b, c, h, w)
        return x + self.proj(o)


class UNet(nn.Module):
    def __init__(self, in_ch=1, out_ch=1, cond_ch=0, ch=16, mults=(1, 2, 4, 8, 8), num_res=1,
                 attn_levels=(4,), groups=8, heads=1):
        super().__init__()
        self.config = dict(in_ch=in_ch, out_ch=out_ch, cond_ch=cond_ch, ch=ch, mults=list(mults),
                           num_res=num_res, attn_levels=list(attn_levels), groups=groups, heads=heads)
        self.ch, temb = ch, 4 * ch
        self.temb = nn.Sequential(nn.Linear(ch, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.inp = nn.Conv2d(in_ch + cond_ch, ch, 3, padding=1)
        self.down, chans, c = nn.ModuleList(), [ch], ch
        for lvl, m in enumerate(mults):
            for _ in range(num_res):
                blk = nn.ModuleList([ResBlock(c, ch * m, temb, groups)])
                c = ch * m
                if lvl in attn_levels:
                    blk.append(Attention(c, groups, heads))
                self.down.append(blk)
                chans.append(c)
            if lvl < len(mults) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1)]))
                chans.append(c)
        self.mid = nn.ModuleList([ResBlock(c, c, temb, groups), Attention(c, groups, heads), ResBlock(c, c, temb, groups)])
        self.up = nn.ModuleList()
        for lvl, m in reversed(list(enumerate(mults))):
            for _ in range(num_res + 1):
                blk = nn.ModuleList([ResBlock(c + chans.pop(), ch * m, temb, groups)])
                c = ch * m
                if lvl in attn_levels:
                    blk.append(Attention(c, groups, heads))
                self.up.append(blk)
            if lvl > 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)]))
        self.out = nn.Sequential(norm(c, groups), nn.SiLU(), nn.Conv2d(c, out_ch, 3, padding=1))

    @staticmethod
    def _run(blk, h, emb):
        for layer in blk:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        return h

    def forward(self, x, t, cond=None):
        if cond is not None:
            x = torch.cat([x, cond], dim=1)
        emb = self.temb(timestep_embedding(t, self.ch))
        h = self.inp(x)
        hs = [h]
        for blk in self.down:
            h = self._run(blk, h, emb)
            hs.append(h)
        h = self._run(self.mid, h, emb)
        for blk in self.up:
            if isinstance(blk[0], ResBlock):
                h = torch.cat([h, hs.pop()], dim=1)
            h = self._run(blk, h, emb)
        return self.out(h)


def default_unet(**kw) -> UNet:
    """~4.3M parameters but only ~3.9 GFLOP per 128² slice: the parameters sit in the deep, small
    levels and the full-resolution level stays thin (16 channels), which is what 2 CPU cores can
    afford (a 48-channel, 4-level UNet of 3.4M parameters costs 17.7 GFLOP per 128² slice)."""
    return UNet(**kw)


def tiny_unet(**kw) -> UNet:
    return UNet(ch=8, mults=(1, 2), num_res=1, attn_levels=(1,), groups=4, **kw)


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
