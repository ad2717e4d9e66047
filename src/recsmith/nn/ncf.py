"""Neural collaborative filtering (He et al., WWW 2017) as a scoring network.

::

    GMF:    phi_G = p_u * q_i                                   (element-wise product, d)
    MLP:    phi_M = MLP([p'_u ; q'_i])                          (ReLU layers, last width h)
    NeuMF:  score = h^T [phi_G ; phi_M] + b                     (GMF and MLP with separate embeddings)

GMF alone is ``h^T phi_G``, MLP alone ``h^T phi_M``. The score is a logit (for BCE).

Unlike a dot product, an MLP cannot score a user against all items with one matrix product, so the
MLP is evaluated per (user, item) pair. Three things keep that affordable: the GMF term
``h_G^T (p * q) = (h_G * p)^T q`` is a matrix product; the first MLP layer ``W [p; q] = W_u p + W_i q``
is split, so for a shared set of items the item half is computed once per item rather than once per
pair; and pairs are processed in blocks of at most :data:`PAIR_BLOCK`, so scoring every item for a
batch of users never holds more than ``PAIR_BLOCK x width`` activations.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

#: (user, item) pairs per block when scoring many items
PAIR_BLOCK = 1 << 18

Variant = Literal["gmf", "mlp", "neumf"]


class NCF(nn.Module):
    """GMF, MLP or NeuMF; follows the scoring protocol of :mod:`recsmith.nn.objectives`.

    Args:
        dim: GMF embedding width (``gmf`` / ``neumf``).
        mlp_dim: width of the MLP's user and item embeddings (``mlp`` / ``neumf``).
        layers: widths of the MLP's layers after the (split) first one, e.g. ``[64, 32, 16]`` makes
            ``2 * mlp_dim -> 64 -> 32 -> 16``.
    """

    all_items: Tensor  # buffer: arange(n_items), the item ids scored when none are given

    def __init__(
        self,
        n_users: int,
        n_items: int,
        *,
        variant: Variant,
        dim: int,
        mlp_dim: int,
        layers: Sequence[int],
        dropout: float = 0.0,
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.variant = variant
        self.use_gmf = variant in ("gmf", "neumf")
        self.use_mlp = variant in ("mlp", "neumf")
        self.gmf_dim = dim if self.use_gmf else 0
        out = 0
        if self.use_gmf:
            self.gmf_user = nn.Embedding(n_users, dim)
            self.gmf_item = nn.Embedding(n_items, dim)
            out += dim
        if self.use_mlp:
            if not layers:
                raise ValueError("the MLP of ncf needs at least one layer width")
            self.mlp_user = nn.Embedding(n_users, mlp_dim)
            self.mlp_item = nn.Embedding(n_items, mlp_dim)
            self.first_user = nn.Linear(mlp_dim, layers[0])  # W_u of the split first layer, with the bias
            self.first_item = nn.Linear(mlp_dim, layers[0], bias=False)  # W_i
            rest: list[nn.Module] = []
            for a, b in itertools.pairwise(layers):
                rest += [nn.ReLU()] + ([nn.Dropout(dropout)] if dropout > 0 else []) + [nn.Linear(a, b)]
            rest.append(nn.ReLU())
            self.tower = nn.Sequential(*rest)
            out += layers[-1]
        self.predict = nn.Linear(out, 1)  # h and b over [phi_G ; phi_M]
        for table in (getattr(self, n, None) for n in ("gmf_user", "gmf_item", "mlp_user", "mlp_item")):
            if table is not None:
                nn.init.normal_(table.weight, std=init_std)
        self.register_buffer("all_items", torch.arange(n_items), persistent=False)

    def forward(self, users: Tensor, items: Tensor | None = None) -> Tensor:
        """Logits: ``items`` None -> ``(B, n_items)``, ``(M,)`` -> ``(B, M)``, ``(B, M)`` -> ``(B, M)``."""
        if items is not None and items.dim() == 2:
            return self._pairs(users, items)
        items = self.all_items if items is None else items
        block = max(1, PAIR_BLOCK // max(users.numel(), 1))
        return torch.cat([self._pairs(users, items[s : s + block]) for s in range(0, items.numel(), block)], dim=1)

    def _pairs(self, users: Tensor, items: Tensor) -> Tensor:
        """``(B,)`` users x items ``(M,)`` shared or ``(B, M)`` per row -> ``(B, M)`` logits."""
        shared = items.dim() == 1
        w = self.predict.weight[0]
        scores = self.predict.bias[0]
        if self.use_gmf:
            # h_G^T (p * q) = (h_G * p)^T q: a matrix product, no (B, M, d) tensor
            p = self.gmf_user(users) * w[: self.gmf_dim]  # (B, d)
            q = self.gmf_item(items)  # (M, d) or (B, M, d)
            scores = scores + (p @ q.T if shared else torch.bmm(q, p[:, :, None]).squeeze(-1))
        if self.use_mlp:
            item_half = self.first_item(self.mlp_item(items))  # once per item of a shared set
            user_half = self.first_user(self.mlp_user(users))[:, None, :]
            phi = self.tower(user_half + (item_half[None] if shared else item_half))  # (B, M, h)
            scores = scores + phi @ w[self.gmf_dim :]
        return scores

    def item_vectors(self) -> Tensor:
        """``(n_items, d)``: the item embeddings the variant has (GMF and MLP ones concatenated)."""
        tables = [t.weight for t in (getattr(self, "gmf_item", None), getattr(self, "mlp_item", None)) if t is not None]
        return torch.cat(tables, dim=1)
