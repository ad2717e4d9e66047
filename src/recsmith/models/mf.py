"""``mf``: matrix factorisation trained by the Trainer, with any objective.

The reference torch model: user and item embeddings, ``score = <p_u, q_i> + b_i``. What it learns
from is the Trainer's choice (``train.loss`` / ``train.sampler``): BPR or BCE with uniform,
popularity or hard negatives, gBCE, full or sampled softmax, in-batch InfoNCE, or rating regression
(``mse`` on the interaction weights). Examples::

    models:
      mf: {dim: 64}
    train:
      loss: {name: bpr}
      sampler: {name: uniform, n_negatives: 4}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from recsmith.models.abilities import FoldIn, ItemSimilarity, read_only, tensor_table
from recsmith.models.explainers import FoldInExplanations
from recsmith.models.registry import register
from recsmith.models.torch_base import TorchModelConfig, TorchRecommender

if TYPE_CHECKING:
    from recsmith.nn.factorization import MatrixFactorization


@register("mf")
class MF(FoldInExplanations, FoldIn, ItemSimilarity, TorchRecommender):
    """Matrix factorisation; its embedding tables are the ``embeddings`` (the optional user bias is a
    per-user constant, left out), item similarity is the cosine of item embeddings."""

    summary = "matrix factorisation trained by the Trainer with any loss and sampler (torch)"

    class Config(TorchModelConfig):
        dim: int = Field(64, ge=1, description="embedding width")
        item_bias: bool = Field(True, description="a learned bias per item (popularity)")
        user_bias: bool = Field(False, description="a learned bias per user (matters for rating regression only)")
        init_std: float = Field(0.05, gt=0, description="std of the normal initialisation of the embeddings")

    config: Config
    network: MatrixFactorization | None

    def build_network(self, *, sparse: bool = False):
        from recsmith.nn.factorization import MatrixFactorization

        c = self.config
        return MatrixFactorization(
            self.n_users,
            self.n_items,
            c.dim,
            item_bias=c.item_bias,
            user_bias=c.user_bias,
            init_std=c.init_std,
            sparse=sparse,
        )

    def user_embeddings(self, users: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        self._check_fitted()
        table = tensor_table(self._fitted(self.network, "network").user.weight)
        return table if users is None else table[self._checked_users(users)]

    def item_embeddings(self) -> np.ndarray:
        self._check_fitted()
        return tensor_table(self._fitted(self.network, "network").item.weight)

    def item_biases(self) -> np.ndarray | None:
        self._check_fitted()
        bias = self._fitted(self.network, "network").item_bias
        return None if bias is None else read_only(tensor_table(bias.weight)[:, 0])  # contiguous

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        v = self._fitted(self.network, "network").item.weight.detach().cpu().numpy().astype(np.float32)
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        unit = v / np.where(norms > 0, norms, 1.0)  # an all-zero vector is similar to nothing, not NaN
        return unit[items] @ unit.T
