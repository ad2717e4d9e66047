"""The two-tower retrieval network: an item tower and a user tower meeting in a dot product.

::

    item i  -> [id bag | categorical bags | W_text t_i] -> MLP -> v_i / |v_i|      (content of i)
    user u  -> [id bag | categorical bags | pool(content of u's last L items)] -> MLP -> q_u / |q_u|
    score(u, i) = <q_u, v_i> / temperature

The bags are TorchRec :class:`~recsmith.nn.embeddings.PooledFeatures` (``EmbeddingBagCollection``).
``t_i`` is the item's text vector: a row of a frozen matrix encoded once, or, when fine-tuning, the
output of a :class:`~recsmith.encoders.TextEncoder` held by the network. A user's history is
described by the same content layer as the item tower's input (ids, categories, text), so users and
items share what they learn about items; history items always read the frozen text matrix, since
encoding every history item of a batch would cost a catalogue-sized encoder pass per step.

An item with no id row (never seen in training, see :func:`~recsmith.nn.embeddings.id_feature`)
still gets a vector from its categories and text: that is what lets the model rank cold items.

The network follows the scoring protocol of :mod:`recsmith.nn.objectives`; its ``inputs`` are
``(users (B,), history (B, L))`` with history padded by -1 on the left (oldest item first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recsmith.nn.embeddings import JaggedFeature, PooledFeatures

if TYPE_CHECKING:
    from recsmith.encoders import TextEncoder

#: history padding
PAD = -1


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, dropout: float) -> nn.Sequential:
    """``Linear -> ReLU -> Dropout`` per hidden width, then a final ``Linear`` to ``out_dim``."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class ItemTower(nn.Module):
    """Item ids -> unit vectors ``(N, dim)``; :meth:`content` is its input layer ``(N, content_dim)``.

    Args:
        features: the item id feature and categorical features (pooled bags of ``embedding_dim``).
        text: ``(n_items, t)`` frozen text vectors, or None for no text.
        encoder: a fine-tunable text encoder replacing ``text`` in :meth:`forward`, with
        tokens: its tokenised item texts, ``name -> (n_items, T)``.
    """

    text: Tensor  # buffer (n_items, t), when ``text`` is given

    def __init__(
        self,
        features: Sequence[JaggedFeature],
        *,
        embedding_dim: int,
        dim: int,
        hidden: Sequence[int],
        dropout: float,
        init_std: float,
        text: np.ndarray | None = None,
        encoder: "TextEncoder | None" = None,
        tokens: dict[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        self.features = PooledFeatures(features, embedding_dim, init_std=init_std) if features else None
        self.content_dim = self.features.out_dim if self.features is not None else 0
        self.text_proj: nn.Linear | None = None
        if text is not None:
            # non-persistent: the model saves the matrix itself, beside the vocabularies
            self.register_buffer("text", torch.from_numpy(np.asarray(text, dtype=np.float32)), persistent=False)
            self.text_proj = nn.Linear(text.shape[1], embedding_dim)
            self.content_dim += embedding_dim
        self.text_encoder = encoder
        tokens = tokens or {}
        self.token_names = sorted(tokens)
        for name in self.token_names:
            self.register_buffer(f"tokens_{name}", torch.from_numpy(np.asarray(tokens[name])), persistent=False)
        if encoder is not None and (text is None or not self.token_names):
            raise ValueError("a fine-tuned text encoder needs the frozen text matrix and the item tokens")
        if self.content_dim == 0:
            raise ValueError("the item tower has no input: enable the item id, item columns or text columns")
        self.mlp = mlp(self.content_dim, hidden, dim, dropout)

    def content(self, items: Tensor, *, fresh_text: bool = False) -> Tensor:
        """``(N,)`` item ids -> ``(N, content_dim)``; ``fresh_text`` runs the fine-tuned encoder."""
        parts = []
        if self.features is not None:
            parts.append(self.features(items))
        if self.text_proj is not None:
            encoder = self.text_encoder
            text = self._encode(encoder, items) if fresh_text and encoder is not None else self.text[items]
            parts.append(self.text_proj(text))
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    def _encode(self, encoder: "TextEncoder", items: Tensor) -> Tensor:
        tokens = {name: getattr(self, f"tokens_{name}")[items] for name in self.token_names}
        width = int(tokens["attention_mask"].sum(dim=1).max())  # drop the columns that are padding everywhere
        return encoder({k: v[:, :width] for k, v in tokens.items()})

    def forward(self, items: Tensor) -> Tensor:
        """``(N,)`` item ids -> ``(N, dim)`` unit vectors."""
        return F.normalize(self.mlp(self.content(items, fresh_text=True)), dim=-1)


class UserTower(nn.Module):
    """``(users (B,), history content (B, L, c), mask (B, L))`` -> ``(B, dim)`` unit vectors.

    ``pooling``: ``mean`` over the valid history positions, or ``attention``: softmax weights from a
    small additive scorer ``w^T tanh(W (h_l + p_l))`` with a learned recency embedding ``p_l``.
    A user without history pools to zeros (and is described by their features alone).
    """

    def __init__(
        self,
        features: Sequence[JaggedFeature],
        *,
        embedding_dim: int,
        history_dim: int,
        history_len: int,
        pooling: Literal["mean", "attention"],
        dim: int,
        hidden: Sequence[int],
        dropout: float,
        init_std: float,
    ) -> None:
        super().__init__()
        self.features = PooledFeatures(features, embedding_dim, init_std=init_std) if features else None
        self.history_len = history_len
        self.pooling = pooling
        in_dim = (self.features.out_dim if self.features is not None else 0) + (history_dim if history_len else 0)
        if in_dim == 0:
            raise ValueError("the user tower has no input: enable the user id, user columns or a history")
        if history_len and pooling == "attention":
            self.position = nn.Parameter(torch.zeros(history_len, history_dim))
            self.attn_hidden = nn.Linear(history_dim, embedding_dim)
            self.attn_score = nn.Linear(embedding_dim, 1, bias=False)
        self.mlp = mlp(in_dim, hidden, dim, dropout)

    def pool(self, history: Tensor, mask: Tensor) -> Tensor:
        """``(B, L, c)``, ``(B, L)`` bool -> ``(B, c)``."""
        weights = mask.to(history.dtype)
        if self.pooling == "mean":
            weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1.0)
        else:
            logits = self.attn_score(torch.tanh(self.attn_hidden(history + self.position))).squeeze(-1)
            logits = logits.masked_fill(~mask, float("-inf"))
            # a row of padding only would be softmax(-inf, ...) = NaN; it gets zero weights instead
            weights = torch.where(mask.any(dim=1, keepdim=True), torch.softmax(logits, dim=1), 0.0)
        return torch.einsum("bl,blc->bc", weights, history)

    def forward(self, users: Tensor, history: Tensor | None, mask: Tensor | None) -> Tensor:
        """``users`` ``-1``: an anonymous history, whose features pool to zeros (as empty bags do)."""
        parts = []
        if self.features is not None:
            known = users >= 0
            pooled = self.features(users.clamp(min=0))
            parts.append(pooled if bool(known.all()) else pooled * known[:, None].to(pooled.dtype))
        if self.history_len:
            if history is None or mask is None:
                raise ValueError("a user tower that reads histories needs the history content and its mask")
            parts.append(self.pool(history, mask))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        return F.normalize(self.mlp(x), dim=-1)


class TwoTowerNetwork(nn.Module):
    """The two towers and the scoring protocol (see the module docstring)."""

    all_items: Tensor  # buffer: arange(n_items), the item ids scored when none are given

    def __init__(self, item_tower: ItemTower, user_tower: UserTower, *, n_items: int, temperature: float) -> None:
        super().__init__()
        self.item_tower = item_tower
        self.user_tower = user_tower
        self.n_items = n_items
        self.temperature = temperature
        self.register_buffer("all_items", torch.arange(n_items), persistent=False)

    def item_vectors(self, items: Tensor) -> Tensor:
        """Item ids of any shape ``S`` -> ``(*S, dim)``; each distinct item goes through the tower once."""
        unique, inverse = torch.unique(items.reshape(-1), return_inverse=True)
        return self.item_tower(unique)[inverse].reshape(*items.shape, -1)

    def user_vectors(self, users: Tensor, history: Tensor) -> Tensor:
        """``(B,)`` users and their ``(B, L)`` histories (-1 padded) -> ``(B, dim)``."""
        if not self.user_tower.history_len:
            return self.user_tower(users, None, None)
        history = history[:, -self.user_tower.history_len :]
        mask = history != PAD
        unique, inverse = torch.unique(history.clamp(min=0).reshape(-1), return_inverse=True)
        content = self.item_tower.content(unique)[inverse].reshape(*history.shape, -1)  # (B, L, c)
        return self.user_tower(users, content, mask)

    @torch.no_grad()
    def all_item_vectors(self, chunk: int = 4096) -> Tensor:
        """``(n_items, dim)`` vectors of the whole catalogue (in chunks: a fine-tuned encoder is big)."""
        if self.item_tower.text_encoder is not None:
            chunk = 256
        return torch.cat([self.item_tower(self.all_items[s : s + chunk]) for s in range(0, self.n_items, chunk)])

    def scores(self, q: Tensor, v: Tensor) -> Tensor:
        """``q (B, d)`` against ``v`` ``(M, d)`` -> ``(B, M)``, or ``(B, M, d)`` -> ``(B, M)``."""
        s = q @ v.T if v.dim() == 2 else torch.bmm(v, q[:, :, None]).squeeze(-1)
        return s / self.temperature

    def forward(self, inputs: tuple[Tensor, Tensor], items: Tensor | None = None) -> Tensor:
        """Scores: ``items`` None -> ``(B, n_items)``, ``(M,)`` -> ``(B, M)``, ``(B, M)`` -> ``(B, M)``."""
        q = self.user_vectors(*inputs)
        v = self.item_tower(self.all_items) if items is None else self.item_vectors(items)
        return self.scores(q, v)
