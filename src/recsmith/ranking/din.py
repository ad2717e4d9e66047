"""``din``: the neural ranker (target attention between each candidate and the user's history,
:class:`~recsmith.nn.din.TargetAttentionRanker`), trained by the one Trainer.

The Trainer trains :class:`~recsmith.models.torch_base.TorchRecommender` models, so the ranker is
one, unregistered: its training examples are users (each with their padded candidates, features,
labels and recent history) instead of interactions, its loss is the network's own listwise loss
(``loss: network_loss``), and for validation it scores the held-out users' candidates (every other
item ``-inf``), so the Trainer's early stopping on NDCG@k measures exactly the ranking it learns.

Features are standardised with the training rows' mean and deviation; a missing value becomes 0
and a flag (one per feature) says it was missing.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl

from recsmith.data.histories import Histories
from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.errors import NotFittedError, RecsmithError
from recsmith.models.torch_base import TorchModelConfig, TorchRecommender
from recsmith.ranking.rankers import Ranker, RankingData

if TYPE_CHECKING:
    import torch

_SCORE_GROUPS = 256  # users per forward pass when predicting


class DINRanker(Ranker):
    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.model: _DINModel | None = None
        self.mean = self.std = np.empty(0, dtype=np.float32)

    @property
    def network(self) -> _DINModel:
        if self.model is None:
            raise NotFittedError("the din ranker is not fitted: fit or load the two_stage model")
        return self.model

    def fit(self, data: RankingData, seed: int) -> None:
        from recsmith.ranking.fitting import fit_submodel

        finite = np.where(np.isfinite(data.features), data.features, np.nan)
        self.mean = np.nan_to_num(np.nanmean(finite, axis=0)).astype(np.float32)
        self.std = np.nan_to_num(np.nanstd(finite, axis=0), nan=1.0).astype(np.float32)
        self.std[self.std <= 0] = 1.0
        train, valid = data.split_users(self.spec.valid_share, seed)
        h = _histories(data)
        model = _DINModel(TorchModelConfig())
        model.setup(self.spec, h.n_items, 2 * data.features.shape[1])
        model.groups = self._pack(train)
        model.eval_groups = self._pack(valid) if valid is not None else None
        fit_submodel(
            model,
            _labels(train, h.n_users, h.n_items),
            overrides=self.spec.train,
            valid=_labels(valid, h.n_users, h.n_items) if valid is not None else None,
            seed=seed,
            prefix=["ranker"],
        )
        self.model = model  # a torch model is trained in place

    def _pack(self, data: RankingData) -> dict[str, np.ndarray]:
        """Users as padded groups: candidates / features / labels ``(G, M, ...)``, history ``(G, L)``."""
        sizes = data.group_sizes()
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        g, m = len(sizes), int(sizes.max()) if len(sizes) else 1
        slot = np.arange(len(data.users)) - np.repeat(starts, sizes)
        group = np.repeat(np.arange(g), sizes)
        histories = _histories(data)
        n_items = histories.n_items
        candidates = np.full((g, m), n_items, dtype=np.int64)
        candidates[group, slot] = data.items
        features = np.zeros((g, m, 2 * data.features.shape[1]), dtype=np.float32)
        features[group, slot] = self._standardise(data.features)
        labels = np.zeros((g, m), dtype=np.float32)
        if data.labels is not None:
            labels[group, slot] = data.labels
        users = data.users[starts].astype(np.int64)
        history = histories.last(users, self.spec.history, pad=n_items)
        return {
            "user": users,
            "candidates": candidates,
            "features": features,
            "labels": labels,
            "history": history,
            "slot": slot,
            "group": group,
        }

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        missing = ~np.isfinite(x)
        z = np.where(missing, 0.0, (np.where(missing, 0.0, x) - self.mean) / self.std)
        return np.concatenate([z, missing], axis=1).astype(np.float32)

    def predict(self, data: RankingData) -> np.ndarray:
        if len(data.users) == 0:
            return np.empty(0)
        packed = self._pack(data)
        scores = self.network.group_scores(packed)
        return scores[packed["group"], packed["slot"]].astype(np.float64)

    def importance(self) -> dict[str, float]:
        return {}  # a network has no split gains; LightGBM's importance is the one written

    def state(self) -> dict[str, np.ndarray]:
        network = self.network
        meta = np.asarray([network.n_items, network.n_features], dtype=np.int64)
        return {
            "mean": self.mean,
            "std": self.std,
            "meta": meta,
            **{f"net.{k}": v for k, v in network._state().items()},
        }

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.mean, self.std = state["mean"], state["std"]
        n_items, n_features = (int(v) for v in state["meta"])
        model = _DINModel(TorchModelConfig())
        model.setup(self.spec, n_items, n_features)
        model.n_items = n_items
        model._load_state({k[4:]: v for k, v in state.items() if k.startswith("net.")})
        self.model = model


def _histories(data: RankingData) -> Histories:
    if data.histories is None:  # two_stage always passes them; a direct caller may not
        raise RecsmithError("the din ranker reads the users' histories: pass RankingData(histories=...)")
    return data.histories


def _labels(data: RankingData, n_users: int, n_items: int) -> Interactions:
    """The relevant (user, item) rows of ``data``: what the Trainer validates against."""
    if data.labels is None:
        raise RecsmithError("the din ranker learns from labels: pass RankingData(labels=...)")
    keep = np.asarray(data.labels > 0)
    frame = pl.DataFrame(
        {
            Columns.User: data.users[keep].astype(np.int32),
            Columns.Item: data.items[keep].astype(np.int32),
            Columns.Timestamp: np.zeros(int(keep.sum()), dtype=np.int64),
            Columns.Weight: np.ones(int(keep.sum()), dtype=np.float32),
        }
    )
    return Interactions(frame, n_users, n_items)


class _DINModel(TorchRecommender):
    """The Trainer's view of the ranker (not registered: it only ranks given candidates)."""

    name = "din_ranker"
    required_loss: ClassVar[str | None] = "network_loss"  # the network computes its listwise loss
    default_train: ClassVar[dict[str, Any]] = {
        "loss": {"name": "network_loss"},
        "epochs": 10,
        "batch_size": 64,
        "optimizer": {"name": "adam", "lr": 0.001},
        "early_stopping": {"monitor": "ndcg@10", "patience": 2},
        "validation": {"ks": [10], "filter_seen": False},
    }

    def setup(self, spec: Any, n_items: int, n_features: int) -> None:
        self.spec, self.n_features = spec, n_features
        self.n_items = n_items
        self.groups: dict[str, np.ndarray] = {}
        self.eval_groups: dict[str, np.ndarray] | None = None

    def build_network(self, *, sparse: bool = False):
        from recsmith.nn.din import TargetAttentionRanker

        s = self.spec
        return TargetAttentionRanker(self.n_items, self.n_features, s.dim, s.heads, list(s.hidden), s.dropout)

    def training_examples(self, interactions: Interactions) -> dict[str, np.ndarray]:
        return {k: v for k, v in self.groups.items() if k not in ("slot", "group")}

    def make_batch(self, rows: dict[str, Any]):
        from recsmith.nn.objectives import Batch

        inputs = {k: rows[k] for k in ("history", "candidates", "features", "labels")}
        return Batch(inputs=inputs, users=rows["user"], positives=rows["user"], targets=rows["labels"][:, 0])

    def group_scores(self, packed: dict[str, np.ndarray]) -> np.ndarray:
        """``(G, M)`` scores of packed groups (``-inf`` at padding)."""
        import torch

        out = np.empty(packed["candidates"].shape, dtype=np.float32)
        for start in range(0, len(out), _SCORE_GROUPS):
            part = {
                k: torch.from_numpy(packed[k][start : start + _SCORE_GROUPS])
                for k in ("history", "candidates", "features")
            }
            out[start : start + _SCORE_GROUPS] = self.network_scores(functools.partial(_to_device, part)).cpu().numpy()
        return out

    def _score(self, users: np.ndarray) -> np.ndarray:
        """Validation: each held-out user's candidates scored, every other item ``-inf``."""
        packed = self._fitted(self.eval_groups, "validation groups")
        out = np.full((len(users), self.n_items), -np.inf, dtype=np.float32)
        row_of = {int(u): i for i, u in enumerate(packed["user"])}
        rows = np.array([row_of.get(int(u), -1) for u in users])
        found = rows >= 0
        if found.any():
            sub = {k: packed[k][rows[found]] for k in ("history", "candidates", "features")}
            scores = self.group_scores(sub)
            r, c = np.nonzero(np.isfinite(scores))
            out[np.flatnonzero(found)[r], sub["candidates"][r, c]] = scores[r, c]
        return out


def _to_device(part: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in part.items()}
