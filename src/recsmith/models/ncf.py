"""``ncf``: neural collaborative filtering (He et al., WWW 2017) -- GMF, MLP or NeuMF.

``variant: gmf`` is a generalised matrix factorisation (a learned weighting of ``p_u * q_i``),
``mlp`` an MLP over the concatenated user and item embeddings, ``neumf`` both with separate
embeddings, joined by one output layer (:mod:`recsmith.nn.ncf`). As in the paper, it learns from
implicit feedback with binary cross-entropy against sampled negatives (4 uniform negatives per
positive by default; any loss and sampler of the Trainer work). The paper's NeuMF pre-trains GMF
and MLP separately; here NeuMF trains end to end, which on these data sizes reaches the same range.
Example::

    models:
      ncf: {variant: neumf, dim: 16, mlp_dim: 16, layers: [32, 16, 8]}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from recsmith.errors import ConfigError
from recsmith.models.abilities import ItemSimilarity
from recsmith.models.registry import register
from recsmith.models.torch_base import TorchModelConfig, TorchRecommender

if TYPE_CHECKING:
    from recsmith.nn.ncf import NCF as NCFNetwork


@register("ncf")
class NCF(ItemSimilarity, TorchRecommender):
    """NCF; item similarity is the cosine of the item embeddings (GMF and MLP ones concatenated)."""

    summary = "neural collaborative filtering: GMF, MLP or NeuMF (torch)"

    default_train: ClassVar[dict[str, Any]] = {
        "loss": {"name": "bce"},
        "sampler": {"name": "uniform", "n_negatives": 4},
        "batch_size": 1024,
        "epochs": 30,
        "optimizer": {"lr": 0.001},
    }

    class Config(TorchModelConfig):
        variant: Literal["gmf", "mlp", "neumf"] = Field("neumf", description="GMF, MLP or both (NeuMF)")
        dim: int = Field(16, ge=1, description="GMF embedding width")
        mlp_dim: int = Field(16, ge=1, description="width of the MLP's user and item embeddings")
        layers: list[PositiveInt] = Field(
            default_factory=lambda: [32, 16, 8], description="MLP layer widths after the input [p_u; q_i]"
        )
        dropout: float = Field(0.0, ge=0, lt=1, description="dropout between MLP layers")
        init_std: float = Field(0.01, gt=0, description="std of the normal initialisation of the embeddings")

        @model_validator(mode="after")
        def _mlp_has_layers(self) -> "NCF.Config":
            if self.variant != "gmf" and not self.layers:
                raise ValueError(f"layers must list at least one width for variant {self.variant!r}")
            return self

    config: Config
    network: NCFNetwork | None

    def build_network(self, *, sparse: bool = False):
        from recsmith.nn.ncf import NCF as Network

        if sparse:
            raise ConfigError("ncf has dense layers: train it with optimizer adam or adamw, not sparse_adam")
        c = self.config
        return Network(
            self.n_users,
            self.n_items,
            variant=c.variant,
            dim=c.dim,
            mlp_dim=c.mlp_dim,
            layers=c.layers,
            dropout=c.dropout,
            init_std=c.init_std,
        )

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        v = self._fitted(self.network, "network").item_vectors().detach().cpu().numpy().astype(np.float32)
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        unit = v / np.where(norms > 0, norms, 1.0)  # an all-zero vector is similar to nothing, not NaN
        return unit[items] @ unit.T
