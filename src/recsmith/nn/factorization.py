"""Matrix factorisation as a scoring network: ``score(u, i) = <p_u, q_i> + b_i (+ b_u)``."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MatrixFactorization(nn.Module):
    """User and item embedding tables; follows the scoring protocol of :mod:`recsmith.nn.objectives`.

    Every table is an ``nn.Embedding`` read through lookups (never ``.weight`` directly), so with
    ``sparse=True`` all gradients are sparse and ``sparse_adam`` can update only the touched rows.
    """

    all_items: Tensor  # buffer: arange(n_items), the item ids scored when none are given

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        *,
        item_bias: bool = True,
        user_bias: bool = False,
        init_std: float = 0.05,
        sparse: bool = False,
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.user = nn.Embedding(n_users, dim, sparse=sparse)
        self.item = nn.Embedding(n_items, dim, sparse=sparse)
        self.item_bias = nn.Embedding(n_items, 1, sparse=sparse) if item_bias else None
        self.user_bias = nn.Embedding(n_users, 1, sparse=sparse) if user_bias else None
        nn.init.normal_(self.user.weight, std=init_std)
        nn.init.normal_(self.item.weight, std=init_std)
        for bias in (self.item_bias, self.user_bias):
            if bias is not None:
                nn.init.zeros_(bias.weight)
        self.register_buffer("all_items", torch.arange(n_items), persistent=False)

    def forward(self, users: Tensor, items: Tensor | None = None) -> Tensor:
        """Scores.

        Args:
            users: ``(B,)`` int64 user ids.
            items: ``None`` (every item), ``(M,)`` shared by the batch, or ``(B, M)`` per row.

        Returns:
            ``(B, n_items)``, ``(B, M)`` or ``(B, M)``.
        """
        p = self.user(users)  # (B, d)
        shared = items is None or items.dim() == 1
        items = self.all_items if items is None else items
        q = self.item(items)  # (M, d) or (B, M, d)
        scores = p @ q.T if shared else torch.bmm(q, p[:, :, None]).squeeze(-1)
        if self.item_bias is not None:
            b = self.item_bias(items).squeeze(-1)  # (M,) or (B, M)
            scores = scores + (b[None, :] if shared else b)
        if self.user_bias is not None:
            scores = scores + self.user_bias(users)
        return scores
