"""Pre-LayerNorm transformer blocks for item sequences, on ``scaled_dot_product_attention``.

Attention goes through :func:`torch.nn.functional.scaled_dot_product_attention`, so on a GPU torch
picks the flash or memory-efficient kernel (``O(L)`` memory instead of materialising ``L x L``
weights per head). Causal blocks (SASRec) pass ``is_causal=True`` and no mask: sequences are
*right*-padded, so a real position only ever attends to earlier real positions and the flash
kernel stays eligible. Bidirectional blocks (BERT4Rec) pass a key-padding mask.

Positions are learned absolute embeddings (added by the caller) or rotary embeddings (RoPE, Su et
al. 2021), applied here to queries and keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RotaryEmbedding(nn.Module):
    """Rotary position embedding of a head dimension ``head_dim`` (even) for positions ``0..max_len-1``."""

    cos: Tensor  # buffers (L, head_dim / 2)
    sin: Tensor

    def __init__(self, head_dim: int, max_len: int, base: float = 10_000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RoPE needs an even head dimension, got {head_dim}")
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.arange(max_len, dtype=torch.float32)[:, None] * inv_freq[None, :]  # (L, hd/2)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """Rotate ``x`` of shape ``(B, heads, L, head_dim)`` by its positions."""
        length = x.shape[-2]
        cos, sin = self.cos[:length].to(x.dtype), self.sin[:length].to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class TransformerBlock(nn.Module):
    """``x + attn(LN(x))`` then ``x + FFN(LN(x))`` (pre-LN: stable without warm-up tricks)."""

    def __init__(
        self, dim: int, heads: int, dropout: float, *, ffn_mult: int = 1, rope: RotaryEmbedding | None = None
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads, self.dropout, self.rope = heads, dropout, rope
        self.attn_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_mult * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_mult * dim, dim)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, *, causal: bool, key_mask: Tensor | None = None) -> Tensor:
        """``x``: ``(B, L, d)``; ``key_mask``: ``(B, L)`` bool, True = a real position (bidirectional only)."""
        b, length, d = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(b, length, 3, self.heads, d // self.heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, h, L, hd)
        if self.rope is not None:
            q, k = self.rope(q), self.rope(k)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        attn = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=causal and mask is None,
            dropout_p=self.dropout if self.training else 0.0,
        )
        x = x + self.drop(self.out(attn.transpose(1, 2).reshape(b, length, d)))
        return x + self.drop(self.ffn(self.ffn_norm(x)))


class TransformerEncoder(nn.Module):
    """A stack of :class:`TransformerBlock` and a final LayerNorm."""

    def __init__(
        self, dim: int, heads: int, layers: int, dropout: float, *, max_len: int, ffn_mult: int = 1, rope: bool = False
    ) -> None:
        super().__init__()
        rotary = RotaryEmbedding(dim // heads, max_len) if rope else None
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, heads, dropout, ffn_mult=ffn_mult, rope=rotary) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, *, causal: bool, key_mask: Tensor | None = None) -> Tensor:
        for block in self.blocks:
            x = block(x, causal=causal, key_mask=key_mask)
        return self.norm(x)
