"""Sequence networks (SASRec, BERT4Rec, GRU4Rec) behind one scoring network.

:class:`SequentialNetwork` follows the scoring protocol of :mod:`recsmith.nn.objectives`; its
``inputs`` are :class:`SeqInputs`. The *rows* it scores are positions, not users: in training every
selected (real, non-padding) position of every sequence is a row, so the loss never touches padding
and costs nothing for it; at scoring time each sequence contributes its last real position (SASRec,
GRU4Rec) or its appended mask token (BERT4Rec).

Token ids: items ``0..n_items-1``, ``n_items`` = padding, ``n_items + 1`` = the mask token. Output
scores are tied to the input item representations (Kang & McAuley 2018): the item table is the
id embedding plus, by config, the summed embeddings of the item's categorical attributes, so two
items sharing a brand or category start close together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from recsmith.nn.transformer import TransformerEncoder

#: log2 buckets of the time between consecutive interactions (seconds): 0, 1, 2-3, 4-7, ... ~34 years
N_GAP_BUCKETS = 32


@dataclass
class SeqInputs:
    """A batch of right-padded sequences.

    Attributes:
        tokens: ``(B, L)`` int64 token ids, real tokens first, then padding.
        lengths: ``(B,)`` int64 real tokens per row (at least 1).
        select: ``(B, L)`` bool, the positions whose outputs are scored (training), or None for the
            last real position of each row (scoring).
        timestamps: ``(B, L)`` int64 seconds of each token (time features), or None.
    """

    tokens: Tensor
    lengths: Tensor
    select: Tensor | None = None
    timestamps: Tensor | None = None

    def to(self, device: torch.device) -> "SeqInputs":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return SeqInputs(self.tokens.to(device), self.lengths.to(device), move(self.select), move(self.timestamps))


class ItemTable(nn.Module):
    """Item representations: id embedding + (optional) mean of the item's attribute embeddings.

    ``attr_offsets`` / ``attr_values``: the items' attribute ids as jagged arrays (item ``i``'s ids
    are ``values[offsets[i]:offsets[i + 1]]``, ids ``>= 1``), or None for ids only.
    """

    def __init__(
        self,
        n_items: int,
        dim: int,
        *,
        attr_offsets: Tensor | None = None,
        attr_values: Tensor | None = None,
        n_attr_values: int = 0,
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.ids = nn.Embedding(n_items + 2, dim)  # + padding + mask token
        nn.init.normal_(self.ids.weight, std=1.0 / math.sqrt(dim))
        self.attrs = None
        if attr_values is not None and len(attr_values):
            if attr_offsets is None:
                raise ValueError("attr_values need their attr_offsets")
            self.attrs = nn.EmbeddingBag(n_attr_values + 1, dim, mode="mean")
            nn.init.normal_(self.attrs.weight, std=1.0 / math.sqrt(dim))
            self.register_buffer("attr_values", attr_values.long(), persistent=True)
            self.register_buffer("attr_offsets", attr_offsets[:-1].long(), persistent=True)

    def full(self) -> Tensor:
        """``(n_items + 2, d)``: every item, then the padding and mask tokens (no attributes)."""
        table = self.ids.weight
        if self.attrs is None:
            return table
        attrs = self.attrs(self.attr_values, self.attr_offsets)  # (n_items, d); empty bags give 0
        return torch.cat([table[: self.n_items] + attrs, table[self.n_items :]])


class SequentialNetwork(nn.Module):
    """Embeddings -> sequence encoder -> scores against the (tied) item table.

    ``kind``: ``"causal"`` (SASRec), ``"bidirectional"`` (BERT4Rec) or ``"gru"`` (GRU4Rec).
    """

    #: takes ``items = (positives, shared negatives)`` (see :mod:`recsmith.nn.objectives`)
    scores_positive_and_shared = True

    def __init__(
        self,
        n_items: int,
        *,
        kind: str,
        dim: int,
        max_len: int,
        layers: int,
        heads: int,
        dropout: float,
        positions: str = "learned",
        time_gaps: bool = False,
        time_of_day: bool = False,
        item_table: ItemTable | None = None,
        ffn_mult: int = 1,
    ) -> None:
        super().__init__()
        self.n_items, self.kind, self.dim = n_items, kind, dim
        self.items = item_table or ItemTable(n_items, dim)
        self.position = nn.Embedding(max_len, dim) if positions == "learned" and kind != "gru" else None
        self.gaps = nn.Embedding(N_GAP_BUCKETS, dim) if time_gaps else None
        self.hours = nn.Embedding(24, dim) if time_of_day else None
        self.days = nn.Embedding(7, dim) if time_of_day else None
        for table in (self.position, self.gaps, self.hours, self.days):
            if table is not None:
                nn.init.normal_(table.weight, std=0.02)
        self.input_drop = nn.Dropout(dropout)
        self.encoder: nn.GRU | TransformerEncoder
        if kind == "gru":
            self.encoder = nn.GRU(dim, dim, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
            self.norm = nn.LayerNorm(dim)
        else:
            self.encoder = TransformerEncoder(
                dim, heads, layers, dropout, max_len=max_len, ffn_mult=ffn_mult, rope=positions == "rope"
            )
        self.register_buffer("all_items", torch.arange(n_items), persistent=False)

    def hidden(self, inputs: SeqInputs, table: Tensor) -> Tensor:
        """``(R, d)``: the encoder output of every scored row (see :class:`SeqInputs`)."""
        tokens, lengths = inputs.tokens, inputs.lengths
        x = table[tokens] * math.sqrt(self.dim)
        if self.position is not None:  # position = recency: 0 is the most recent real token
            recency = (lengths[:, None] - 1 - torch.arange(tokens.shape[1], device=tokens.device)).clamp(min=0)
            x = x + self.position(recency)
        if inputs.timestamps is not None and (self.gaps is not None or self.hours is not None):
            x = x + self._time_embeddings(inputs.timestamps)
        x = self.input_drop(x)
        if self.kind == "gru":
            h = self.norm(self.encoder(x)[0])
        else:
            key_mask = tokens != self.n_items if self.kind == "bidirectional" else None
            h = self.encoder(x, causal=self.kind == "causal", key_mask=key_mask)
        if inputs.select is not None:
            return h[inputs.select]
        return h[torch.arange(tokens.shape[0], device=tokens.device), lengths - 1]  # shape[0]: traced as dynamic (ONNX)

    def _time_embeddings(self, ts: Tensor) -> Tensor:
        """The sum of the configured time embeddings of ``ts`` (the caller checks there is one)."""
        parts: list[Tensor] = []
        if self.gaps is not None:
            gap = torch.zeros_like(ts)
            gap[:, 1:] = (ts[:, 1:] - ts[:, :-1]).clamp(min=0)
            parts.append(self.gaps(gap_bucket(gap)))
        if self.hours is not None and self.days is not None:  # both or neither (time_of_day)
            parts += [self.hours((ts // 3600) % 24), self.days((ts // 86_400 + 3) % 7)]  # 1970-01-01: Thursday
        return sum(parts[1:], parts[0])  # added left to right

    def forward(self, inputs: SeqInputs, items: Tensor | tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Scores of the scored rows: ``(R, n_items)``, ``(R, M)``, ``(R, M)`` or ``(R, 1 + M)`` (protocol)."""
        table = self.items.full()
        h = self.hidden(inputs, table)
        if isinstance(items, tuple):
            positives, shared = items
            own = (h * table[positives]).sum(-1, keepdim=True)
            return torch.cat([own, h @ table[shared].T], dim=1)
        if items is None:
            return h @ table[: self.n_items].T
        if items.dim() == 1:
            return h @ table[items].T
        return torch.bmm(table[items], h[:, :, None]).squeeze(-1)


def gap_bucket(gap_seconds: Tensor) -> Tensor:
    """``0`` for no gap, else ``1 + floor(log2(gap))`` capped at ``N_GAP_BUCKETS - 1``."""
    b = torch.floor(torch.log2(gap_seconds.clamp(min=1).double())).long() + 1
    return torch.where(gap_seconds > 0, b.clamp(max=N_GAP_BUCKETS - 1), torch.zeros_like(b))
