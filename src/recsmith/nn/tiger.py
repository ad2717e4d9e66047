"""TIGER's seq2seq network: encode a user's history as semantic-id tokens, generate the next item's id.

Tokens (one shared vocabulary, one embedding table)::

    0 PAD | 1 BOS | 2 .. 2+U-1 user buckets | level 0 codes | level 1 codes | ... | level D-1 codes

so the same code at two levels is two different tokens. Encoder input for history ``[i_1 .. i_n]``
(left-padded, most recent last) and user ``u``::

    PAD .. PAD  user(u)  s(i_1)_0 .. s(i_1)_{D-1}  ...  s(i_n)_0 .. s(i_n)_{D-1}

Every token also gets a level embedding (its level within the item's id; the user token has its
own). Order is given either by a T5-style relative attention bias (``positions="relative"``:
learned per head and log-bucketed distance, bidirectional in the encoder, causal in the decoder) or
by learned absolute position embeddings (``positions="learned"``). The decoder reads ``[BOS,
s_0 .. s_{D-2}]`` under a causal mask and predicts ``s_0 .. s_{D-1}``; the output layer of level
``t`` scores only level ``t``'s codes.

Scoring protocol (:mod:`recsmith.nn.objectives`): ``network((users, history), items)`` gives

    items None       -> (B, n_items)  top ``beam`` items from trie-constrained beam search, their id's
                                      log-probability; -inf for every other item
    items (M,)       -> (B, M)        log-probability of each item's id (teacher forcing)
    items (B, M)     -> (B, M)        the same, a set per row
    loss=True        -> scalar        mean token cross-entropy of the ids of ``items`` (B,) (the
                                      ``network_loss`` objective)

**Cold items** (the paper's cold-start retrieval, section 4.2). An item without training
interactions (``cold``) has a semantic id from its content, but its last, enumerating code was never
a target, so the search rarely generates it. With ``cold_per_user = n > 0``, every cold item whose
first ``D - 1`` codes (its content prefix) equal those of a generated item inherits that item's score
less ``COLD_MARGIN`` (so it ranks right below it), and the ``n`` best of them per user join the
beam's items (the paper's epsilon: at most ``n`` cold items per list). A cold item the search
generated itself keeps the higher of its two scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recsmith.nn.trie import PrefixTrie, constrained_beam_search

PAD, BOS, N_SPECIAL = 0, 1, 2
_NEG = float("-inf")
COLD_MARGIN = 1e-3  # log-probability a cold item ranks below the generated item whose prefix it shares


def user_bucket(users: Tensor, buckets: int) -> Tensor:
    """Hash internal user ids into ``buckets`` (Knuth's multiplicative hash), as TIGER's user token."""
    return ((users * 2654435761) % (1 << 32)) % buckets


def relative_bucket(distance: Tensor, *, bidirectional: bool, buckets: int, max_distance: int) -> Tensor:
    """T5's bucketing of ``distance = key - query``: exact for small distances, log-spaced up to
    ``max_distance``; signed (half the buckets each way) when ``bidirectional``."""
    out = torch.zeros_like(distance)
    n = -distance
    if bidirectional:
        buckets //= 2
        out = out + (n < 0).long() * buckets
        n = n.abs()
    else:
        n = n.clamp(min=0)  # causal: keys after the query never matter
    exact = buckets // 2
    large = (
        exact + (torch.log(n.float().clamp(min=1) / exact) / math.log(max_distance / exact) * (buckets - exact)).long()
    )
    return out + torch.where(n < exact, n, large.clamp(max=buckets - 1))


class RelativeBias(nn.Module):
    """``(1, heads, T, S)`` additive attention bias from learned per-bucket, per-head scalars."""

    def __init__(self, heads: int, *, bidirectional: bool, buckets: int = 32, max_distance: int = 128) -> None:
        super().__init__()
        self.table = nn.Embedding(buckets, heads)
        self.bidirectional, self.buckets, self.max_distance = bidirectional, buckets, max_distance

    def forward(self, length: int, device: torch.device) -> Tensor:
        pos = torch.arange(length, device=device)
        bucket = relative_bucket(
            pos[None, :] - pos[:, None],
            bidirectional=self.bidirectional,
            buckets=self.buckets,
            max_distance=self.max_distance,
        )
        return self.table(bucket).permute(2, 0, 1)[None]


class Attention(nn.Module):
    """Multi-head attention whose keys / values can be computed once and shared.

    ``keys(context)`` gives ``(k, v)``, each ``(B, H, S, d / H)``; ``attend(x, kv, bias)`` lets
    ``x`` ``(G * B, T, d)`` attend to them, where the ``G`` consecutive rows of ``x`` that belong to
    one row of ``kv`` (the beams of one user) share its keys without copies. ``bias`` is additive
    and broadcasts to ``(B, H, G * T, S)``.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def keys(self, context: Tensor) -> tuple[Tensor, Tensor]:
        b, s, _ = context.shape
        k, v = self.kv(context).view(b, s, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        return k, v

    def attend(self, x: Tensor, kv: tuple[Tensor, Tensor], bias: Tensor) -> Tensor:
        n, t, d = x.shape
        b = kv[0].shape[0]
        g = n // b
        q = self.q(x).view(b, g, t, self.heads, -1).permute(0, 3, 1, 2, 4).reshape(b, self.heads, g * t, -1)
        y = self._sdpa(q, *kv, bias)
        return self.out(y.view(b, self.heads, g, t, -1).permute(0, 2, 3, 1, 4).reshape(n, t, d))

    def packed_self(self, x: Tensor, mask: Tensor, bias: Tensor) -> Tensor:
        """Self-attention of the real tokens ``x`` ``(N, d)`` of a padded ``(B, S)`` batch (``mask``
        marks them): projections run on real tokens only, attention on the padded layout."""
        b, s = mask.shape
        d = x.shape[1]
        full = x.new_zeros(b, s, 3 * d)
        full[mask] = torch.cat([self.q(x), self.kv(x)], dim=1)
        q, k, v = full.view(b, s, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        y = self._sdpa(q, k, v, bias)
        return self.out(y.transpose(1, 2).reshape(b, s, d)[mask])

    def _sdpa(self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:
        # no dropout on the attention probabilities: drawing a mask of B x H x S x S cost a sixth of
        # a CPU training step; dropout stays on the residual branches and the feed-forward layer
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))


class Block(nn.Module):
    """Pre-norm transformer block: self-attention, cross-attention (decoder only), feed-forward."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float, *, cross: bool) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.cross = Attention(dim, heads) if cross else None
        self.norm2 = nn.LayerNorm(dim) if cross else None
        self.norm3 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim, dim))
        self.drop = nn.Dropout(dropout)

    def cross_parts(self) -> tuple[Attention, nn.LayerNorm]:
        """The cross-attention and its norm, which only decoder blocks (``cross=True``) have."""
        if self.cross is None or self.norm2 is None:
            raise ValueError("an encoder block (cross=False) has no cross-attention")
        return self.cross, self.norm2

    def encode(self, x: Tensor, mask: Tensor, bias: Tensor) -> Tensor:
        """Encoder block on packed real tokens ``x`` ``(N, d)`` of the padded batch ``mask`` ``(B, S)``."""
        x = x + self.drop(self.attn.packed_self(self.norm1(x), mask, bias))
        return x + self.drop(self.ff(self.norm3(x)))

    def decode(
        self,
        x: Tensor,
        bias: Tensor,
        memory_kv: tuple[Tensor, Tensor],
        memory_bias: Tensor,
        cache: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Decoder block on ``x`` ``(N, T, d)``; with ``cache`` (the self-attention keys / values of
        the earlier positions) ``x`` holds only the new positions. Returns the output and the new cache."""
        cross, norm2 = self.cross_parts()
        h = self.norm1(x)
        k, v = self.attn.keys(h)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        x = x + self.drop(self.attn.attend(h, (k, v), bias))
        x = x + self.drop(cross.attend(norm2(x), memory_kv, memory_bias))
        return x + self.drop(self.ff(self.norm3(x))), (k, v)


class TigerNetwork(nn.Module):
    """Encoder-decoder over semantic-id tokens, with trie-constrained generation.

    Args:
        ids: ``(n_items, D)`` unique semantic ids (see :func:`recsmith.nn.trie.unique_ids`).
        vocab_sizes: codes per level, ``D`` ints.
        user_buckets: hashed user-id tokens (at least 1; the user token also keeps an empty history
            from leaving the encoder with nothing to attend to).
        max_items: history items read by the encoder (the most recent ones).
        beam: beams kept by the search, i.e. items given a finite score per user.
        cold: ``(n_items,)`` bool, items without training interactions (saved with the weights).
        cold_per_user: most cold items added per user through a generated prefix (0: none).
    """

    # buffers (``register_buffer`` does not declare them to a type checker)
    level_offsets: Tensor  # (D,) first vocabulary token of each level's codes
    ids: Tensor  # (n_items, D) codes per level
    tokens: Tensor  # (n_items, D) vocabulary tokens
    cold: Tensor  # (n_items,) bool
    prefix_group: Tensor  # (n_items,) index of each item's content prefix (its first D - 1 codes)
    head_offsets: Tensor  # (D + 1,) each level's slice of the output layer

    def __init__(
        self,
        ids: np.ndarray,
        vocab_sizes: list[int],
        *,
        user_buckets: int = 2000,
        max_items: int = 20,
        dim: int = 128,
        heads: int = 4,
        encoder_layers: int = 2,
        decoder_layers: int = 2,
        ff_dim: int = 512,
        dropout: float = 0.1,
        positions: Literal["relative", "learned"] = "relative",
        beam: int = 20,
        cold: np.ndarray | None = None,
        cold_per_user: int = 0,
    ) -> None:
        super().__init__()
        depth = len(vocab_sizes)
        self.depth, self.vocab_sizes, self.beam, self.cold_per_user = depth, list(vocab_sizes), beam, cold_per_user
        self.user_buckets, self.max_items, self.positions = user_buckets, max_items, positions
        level_offsets = N_SPECIAL + user_buckets + np.r_[0, np.cumsum(vocab_sizes)[:-1]]
        self.register_buffer("level_offsets", torch.as_tensor(level_offsets, dtype=torch.int64))
        ids_t = torch.as_tensor(np.asarray(ids), dtype=torch.int64)
        self.register_buffer("ids", ids_t)  # (n_items, D) codes per level
        self.register_buffer("tokens", ids_t + self.level_offsets)  # (n_items, D) vocabulary tokens
        cold_t = torch.zeros(len(ids_t), dtype=torch.bool) if cold is None else torch.as_tensor(cold, dtype=torch.bool)
        self.register_buffer("cold", cold_t)
        prefix_group = (
            np.unique(np.asarray(ids)[:, :-1], axis=0, return_inverse=True)[1].ravel()
            if len(ids_t)
            else np.zeros(0, dtype=np.int64)
        )
        # derived from ids: rebuilt, not saved
        self.register_buffer("prefix_group", torch.as_tensor(prefix_group, dtype=torch.int64), persistent=False)
        n_tokens = N_SPECIAL + user_buckets + int(sum(vocab_sizes))
        self.embed = nn.Embedding(n_tokens, dim, padding_idx=PAD)
        self.level = nn.Embedding(depth + 1, dim)  # + 1: the user token's level
        seq_len = 1 + max_items * depth
        self.position = nn.Embedding(seq_len, dim) if positions == "learned" else None
        self.encoder_bias = RelativeBias(heads, bidirectional=True) if positions == "relative" else None
        self.decoder_bias = RelativeBias(heads, bidirectional=False) if positions == "relative" else None
        self.encoder = nn.ModuleList(Block(dim, heads, ff_dim, dropout, cross=False) for _ in range(encoder_layers))
        self.decoder = nn.ModuleList(Block(dim, heads, ff_dim, dropout, cross=True) for _ in range(decoder_layers))
        self.encoder_norm, self.decoder_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.head = nn.Linear(dim, int(sum(vocab_sizes)))
        self.drop = nn.Dropout(dropout)
        self.register_buffer("head_offsets", torch.as_tensor(np.r_[0, np.cumsum(vocab_sizes)], dtype=torch.int64))
        self._trie: PrefixTrie | None = None
        nn.init.normal_(self.embed.weight, std=0.02)

    @property
    def n_items(self) -> int:
        return self.ids.shape[0]

    def trie(self) -> PrefixTrie:
        """The prefix trie of the ids, built on first use (it is derived from the ``ids`` buffer)."""
        if self._trie is None or self._trie.child_offsets[0].device != self.ids.device:
            self._trie = PrefixTrie(self.ids.cpu().numpy(), self.vocab_sizes).to(self.ids.device)
        return self._trie

    # ------------------------------------------------------------------ encoder
    def encode(self, users: Tensor, history: Tensor) -> tuple[Tensor, Tensor]:
        """Memory ``(B, S, d)`` and its key-padding bias ``(B, 1, 1, S)`` for ``history`` ``(B, n)``
        (item ids, left-padded with ``-1``, most recent last) and ``users`` ``(B,)`` (``-1``: anonymous)."""
        b, n = history.shape
        if n > self.max_items:
            history = history[:, -self.max_items :]
            n = self.max_items
        valid = history >= 0
        tokens = torch.where(valid[..., None], self.tokens[history.clamp(min=0)], PAD).reshape(b, n * self.depth)
        levels = torch.arange(self.depth, device=history.device).repeat(n).expand(b, -1)
        # the user token sits just before the first real item, so padding is all on the left
        tokens = torch.cat([torch.full((b, 1), PAD, device=tokens.device, dtype=tokens.dtype), tokens], dim=1)
        levels = torch.cat([torch.zeros((b, 1), dtype=levels.dtype, device=levels.device), levels], dim=1)
        first = (n - valid.sum(dim=1)) * self.depth
        rows = torch.arange(b, device=tokens.device)
        anonymous = users < 0
        tokens[rows, first] = N_SPECIAL + user_bucket(users.clamp(min=0), self.user_buckets)
        levels[rows, first] = self.depth
        # columns that are padding in every row (all histories of the batch shorter than n) go
        real_cols = torch.nonzero((tokens != PAD).any(dim=0))
        start = int(real_cols[0]) if len(real_cols) else 0
        tokens, levels = tokens[:, start:], levels[:, start:]
        x = self.embed(tokens) + self.level(levels)
        if bool(anonymous.any()):
            # an anonymous session (user -1) gets the average user token: "some user", not a real one's bucket
            typical = (
                self.embed.weight[N_SPECIAL : N_SPECIAL + self.user_buckets].mean(0) + self.level.weight[self.depth]
            )
            x = x.index_put((rows[anonymous], (first - start)[anonymous]), typical)
        seq = x.shape[1]
        if self.position is not None:
            x = x + self.position.weight[-seq:]  # left-padded: the last position is always "now"
        real = tokens != PAD
        pad_bias = torch.zeros(b, 1, 1, seq, device=x.device).masked_fill(~real[:, None, None, :], _NEG)
        bias = pad_bias if self.encoder_bias is None else pad_bias + self.encoder_bias(seq, x.device)
        # most of a batch is padding (histories are short, windows long): layers run on real tokens only
        h = self.drop(x[real])
        for block in _blocks(self.encoder):
            h = block.encode(h, real, bias)
        memory = x.new_zeros(x.shape)
        memory[real] = self.encoder_norm(h)
        return memory, pad_bias

    # ------------------------------------------------------------------ decoder
    def memory_keys(self, memory: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Cross-attention keys / values of every decoder block, computed once per encoded history."""
        return [block.cross_parts()[0].keys(memory) for block in _blocks(self.decoder)]

    def decode(self, memory_kv: list[tuple[Tensor, Tensor]], memory_bias: Tensor, prefix: Tensor) -> Tensor:
        """Hidden states ``(N, t + 1, d)`` for decoder input ``[BOS, prefix]``; ``prefix`` ``(N, t)`` codes;
        ``N`` a multiple of the memory's rows (consecutive groups share one history)."""
        n, t = prefix.shape
        tokens = torch.cat(
            [torch.full((n, 1), BOS, device=prefix.device, dtype=torch.int64), prefix + self.level_offsets[:t]], dim=1
        )
        x = self.drop(self.embed(tokens) + self.level.weight[: t + 1])
        causal = torch.full((t + 1, t + 1), _NEG, device=x.device).triu(1)[None, None]
        bias = causal if self.decoder_bias is None else causal + self.decoder_bias(t + 1, x.device)
        for block, kv in zip(_blocks(self.decoder), memory_kv):
            x, _ = block.decode(x, bias, kv, memory_bias)
        return self.decoder_norm(x)

    def level_logits(self, hidden: Tensor, level: int) -> Tensor:
        """``(..., vocab_sizes[level])`` logits of level ``level``'s codes."""
        lo, hi = int(self.head_offsets[level]), int(self.head_offsets[level + 1])
        return F.linear(hidden, self.head.weight[lo:hi], self.head.bias[lo:hi])

    def id_log_probs(self, memory_kv: list[tuple[Tensor, Tensor]], memory_bias: Tensor, ids: Tensor) -> Tensor:
        """``(N, D)`` log-probability of each token of ``ids`` ``(N, D)`` under teacher forcing."""
        hidden = self.decode(memory_kv, memory_bias, ids[:, :-1])
        return torch.stack(
            [
                self.level_logits(hidden[:, t], t).log_softmax(-1).gather(1, ids[:, t : t + 1])[:, 0]
                for t in range(self.depth)
            ],
            dim=1,
        )

    # ------------------------------------------------------------------ the protocol
    def forward(self, inputs: tuple[Tensor, Tensor], items: Tensor | None = None, *, loss: bool = False) -> Tensor:
        users, history = inputs
        memory, memory_bias = self.encode(users, history)
        memory_kv = self.memory_keys(memory)
        if loss:
            if items is None:
                raise ValueError("the token loss needs the target items")
            return self.token_loss(memory_kv, memory_bias, items)
        if items is None:
            return self.generate(memory_kv, memory_bias)
        b = memory.shape[0]
        items = items.expand(b, -1) if items.dim() == 1 else items
        return self.id_log_probs(memory_kv, memory_bias, self.ids[items.reshape(-1)]).sum(1).view(b, -1)

    def token_loss(self, memory_kv: list[tuple[Tensor, Tensor]], memory_bias: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy over the ``D`` tokens of the target items' ids (teacher forcing)."""
        ids = self.ids[targets]
        hidden = self.decode(memory_kv, memory_bias, ids[:, :-1])
        losses = [F.cross_entropy(self.level_logits(hidden[:, t], t).float(), ids[:, t]) for t in range(self.depth)]
        return torch.stack(losses).mean()

    def generate(self, memory_kv: list[tuple[Tensor, Tensor]], memory_bias: Tensor) -> Tensor:
        """``(B, n_items)``: the beam's items get their id's log-probability, all others ``-inf``.

        The decoder runs one position per step with its self-attention keys cached (and reordered
        as beams are re-ranked), and every beam of a user shares that user's memory keys.
        """
        b, beam = memory_bias.shape[0], min(self.beam, self.n_items)
        device = memory_bias.device
        caches: list[tuple[Tensor, Tensor] | None] = [None] * len(self.decoder)
        bias_rows = None if self.decoder_bias is None else self.decoder_bias(self.depth, device)

        def log_probs(prefix: Tensor, t: int, parent: Tensor | None) -> Tensor:
            if t == 0:
                token = torch.full((b * beam, 1), BOS, device=device, dtype=torch.int64)
            else:
                token = prefix[:, -1:] + self.level_offsets[t - 1]
                for i, cache in enumerate(caches):
                    if cache is not None:  # every block's cache is set at t = 0
                        caches[i] = (cache[0][parent], cache[1][parent])
            x = self.embed(token) + self.level.weight[t]
            bias = torch.zeros(1, 1, 1, 1, device=device) if bias_rows is None else bias_rows[:, :, t : t + 1, : t + 1]
            for i, (block, kv) in enumerate(zip(_blocks(self.decoder), memory_kv)):
                x, caches[i] = block.decode(x, bias, kv, memory_bias, caches[i])
            return self.level_logits(self.decoder_norm(x[:, 0]), t).log_softmax(-1)

        items, scores = constrained_beam_search(log_probs, self.trie(), b, beam)
        out = torch.full((b, self.n_items), _NEG, device=device)
        found = items >= 0
        rows = torch.arange(b, device=device)[:, None].expand_as(items)
        out[rows[found], items[found]] = scores[found]
        if self.cold_per_user > 0 and bool(self.cold.any()):
            self._add_cold_items(out, items, scores)
        return out

    def _add_cold_items(self, out: Tensor, items: Tensor, scores: Tensor) -> None:
        """Cold items under a generated item's content prefix, the best ``cold_per_user`` per row."""
        b = out.shape[0]
        n_groups = int(self.prefix_group.max()) + 1
        best = torch.full((b, n_groups), _NEG, device=out.device)  # best generated score per prefix
        found = items >= 0
        group = self.prefix_group[items.clamp(min=0)]
        best.scatter_reduce_(1, group, scores.masked_fill(~found, _NEG), reduce="amax")
        cold_items = self.cold.nonzero()[:, 0]
        inherited = best[:, self.prefix_group[cold_items]] - COLD_MARGIN  # (b, n_cold)
        top, index = inherited.topk(min(self.cold_per_user, len(cold_items)), dim=1)
        chosen = cold_items[index]
        rows = torch.arange(b, device=out.device)[:, None].expand_as(chosen)
        out[rows, chosen] = torch.maximum(out[rows, chosen], top)  # -inf stays -inf: no prefix generated


def _blocks(modules: nn.ModuleList) -> Iterable[Block]:
    """``modules`` as the Blocks they hold (torch types a ModuleList's items as plain Modules)."""
    return cast("Iterable[Block]", modules)
