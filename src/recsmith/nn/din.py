"""A candidate ranker with target attention (DIN, Zhou et al. 2018), as multi-head cross-attention:
each candidate item attends to the user's recent history, and an MLP scores the candidate from
what it found, its own embedding and its ranking features.

Shapes: ``B`` users (groups), ``M`` candidates per user (padded), ``L`` history items (padded),
``F`` features per candidate, ``d`` the embedding width::

    history    (B, L) int64   item ids, ``n_items`` = padding
    candidates (B, M) int64   item ids, ``n_items`` = padding
    features   (B, M, F) float32, already standardised (missing = 0, see the missing flags)
    labels     (B, M) float32, 1 = relevant (training only)

    e_c = E[candidates] (B, M, d);  e_h = E[history] (B, L, d) plus one learned "no history" slot
    a   = MultiheadAttention(query=e_c, key=value=e_h, key_padding_mask=padding)   (B, M, d)
    s   = MLP([a, e_c, a * e_c, features])                                          (B, M)

Training loss (``loss=True``): listwise softmax cross-entropy over each user's real candidates,
the target spread evenly over the relevant ones. The network returns it itself, so the Trainer
trains it with ``loss: network_loss`` (see :mod:`recsmith.nn.objectives`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TargetAttentionRanker(nn.Module):
    def __init__(self, n_items: int, n_features: int, dim: int, heads: int, hidden: list[int], dropout: float) -> None:
        super().__init__()
        self.n_items = n_items
        self.items = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        self.empty = nn.Parameter(torch.zeros(1, 1, dim))  # attended to when the history is empty
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        layers: list[nn.Module] = []
        width = 3 * dim + n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)
        nn.init.normal_(self.items.weight, std=0.05)

    def forward(self, inputs: dict[str, Tensor], items: Tensor | None = None, *, loss: bool = False) -> Tensor:
        history, candidates, features = inputs["history"], inputs["candidates"], inputs["features"]
        b = history.shape[0]
        keys = torch.cat([self.empty.expand(b, 1, -1), self.items(history)], dim=1)  # (B, 1 + L, d)
        padding = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=history.device), history == self.n_items], 1)
        query = self.items(candidates)  # (B, M, d)
        attended, _ = self.attention(query, keys, keys, key_padding_mask=padding, need_weights=False)
        scores = self.mlp(torch.cat([attended, query, attended * query, features], dim=-1)).squeeze(-1)
        real = candidates != self.n_items
        scores = scores.masked_fill(~real, float("-inf"))
        if not loss:
            return scores
        labels = inputs["labels"] * real
        target = labels / labels.sum(dim=1, keepdim=True).clamp_min(1.0)
        log_p = torch.log_softmax(scores.float(), dim=1).masked_fill(~real, 0.0)
        return -(target * log_p).sum(dim=1).mean()
