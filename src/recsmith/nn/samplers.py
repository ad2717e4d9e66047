"""Negative samplers, chosen by name (:data:`SAMPLERS`), and statistics of what they draw.

=============  ====================================================================================
sampler        draws
=============  ====================================================================================
``uniform``     every item with probability ``1 / n_items``
``popularity``  item ``i`` with probability ``count_i ** exponent / Z`` (``exponent`` 0 = uniform over
                the items seen in training, 1 = as often as they occur); unseen items never
``in_batch``    the batch's own positives (shared by all rows): popular items come up as often as
                they occur in the data, for free
``hard``        a mix: ``hard_ratio`` of the negatives from each user's pool of highest-scored
                non-positives under the current model (refreshed every ``refresh_every`` steps),
                the rest from a random base sampler
=============  ====================================================================================

A draw is a :class:`Negatives`: ``(B, N)`` items (one set per example) or ``(N,)`` items shared by
the batch, with the log probability of drawing each (for the logQ correction). Samplers do not
reject the user's own positives — that would bias the distribution and cost a lookup per draw —
the rate of such accidental positives is measured instead (:class:`NegativeStats`), and the losses
mask a negative equal to the example's positive.

All randomness comes from the (CPU) ``torch.Generator`` passed in, so a run is reproducible and a
resumed run draws what the uninterrupted one would have drawn; draws move to the batch's device.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

if TYPE_CHECKING:  # the config is plain data; nn/ does not depend on the training layer at run time
    from recsmith.nn.config import SamplerConfig

#: scores every item for some users: ``(b,) int64 -> (b, n_items) float``
Scorer = Callable[[Tensor], Tensor]


@dataclass
class Negatives:
    """A draw of negatives.

    ``items``: ``(B, N)`` int64, or ``(N,)`` shared by every row when ``shared``.
    ``log_q``: log probability of drawing each item in one draw, same shape; ``None`` when the
    sampler has no closed form (hard negatives).
    """

    items: Tensor
    log_q: Tensor | None
    shared: bool


class PositiveLookup:
    """Is ``(user, item)`` a training interaction? Vectorised via sorted keys ``user * n_items + item``."""

    def __init__(self, seen: sp.csr_matrix) -> None:
        seen = seen.tocsr()
        self.n_items = seen.shape[1]
        users = np.repeat(np.arange(seen.shape[0], dtype=np.int64), np.diff(seen.indptr))
        keys = np.sort(users * self.n_items + seen.indices.astype(np.int64))
        self.keys = torch.from_numpy(keys)
        self.seen = seen

    def contains(self, users: Tensor, items: Tensor) -> Tensor:
        """``users`` ``(B, 1)`` or ``(B,)``, ``items`` broadcastable against it -> bool of the broadcast shape."""
        query = (users.long() * self.n_items + items.long()).cpu()
        if self.keys.numel() == 0:
            return torch.zeros_like(query, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, query).clamp(max=self.keys.numel() - 1)
        return self.keys[pos] == query


class NegativeSampler(ABC):
    """Base of the samplers. ``popularity`` is the training count of every item, ``(n_items,)``."""

    def __init__(self, cfg: SamplerConfig, popularity: Tensor, lookup: PositiveLookup) -> None:
        self.cfg = cfg
        self.n_items = popularity.numel()
        self.popularity = popularity.float()
        self.lookup = lookup

    @abstractmethod
    def sample(
        self, users: Tensor, positives: Tensor, n: int, *, shared: bool, generator: torch.Generator
    ) -> Negatives:
        """``n`` negatives per row of ``users`` / ``positives`` (``(B,)`` each); ``shared`` is a preference."""

    def log_prob(self, items: Tensor) -> Tensor:
        """Log probability of drawing ``items`` (any shape) in one draw."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form sampling probability")

    def maybe_refresh(self, step: int, scorer: Scorer) -> None:  # noqa: B027 -- a no-op unless overridden
        """Called after every optimizer step (hard negatives re-score their pools here)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 -- stateless by default
        pass


class UniformSampler(NegativeSampler):
    def sample(self, users, positives, n, *, shared, generator):
        shape = (n,) if shared else (users.numel(), n)
        items = torch.randint(self.n_items, shape, generator=generator)
        return Negatives(items.to(users.device), self.log_prob(items).to(users.device), shared)

    def log_prob(self, items: Tensor) -> Tensor:
        return torch.full(items.shape, -math.log(self.n_items), device=items.device)


class PopularitySampler(NegativeSampler):
    def __init__(self, cfg: SamplerConfig, popularity: Tensor, lookup: PositiveLookup) -> None:
        super().__init__(cfg, popularity, lookup)
        weights = torch.where(self.popularity > 0, self.popularity.pow(cfg.exponent), 0.0)
        if weights.sum() <= 0:
            raise ValueError("popularity sampler: no item has a training interaction")
        self.probs = weights / weights.sum()
        self._log_probs = self.probs.log()  # -inf for items never drawn

    def sample(self, users, positives, n, *, shared, generator):
        count = n if shared else users.numel() * n
        items = torch.multinomial(self.probs, count, replacement=True, generator=generator)
        items = items if shared else items.view(users.numel(), n)
        return Negatives(items.to(users.device), self.log_prob(items).to(users.device), shared)

    def log_prob(self, items: Tensor) -> Tensor:
        return self._log_probs.to(items.device)[items]


class InBatchSampler(NegativeSampler):
    """The batch's positives; ``n`` is ignored (there are ``B`` of them)."""

    def __init__(self, cfg: SamplerConfig, popularity: Tensor, lookup: PositiveLookup) -> None:
        super().__init__(cfg, popularity, lookup)
        # an item is in a batch about as often as it occurs in the data
        self._log_probs = (self.popularity / self.popularity.sum()).log()

    def sample(self, users, positives, n, *, shared, generator):
        return Negatives(positives, self.log_prob(positives), shared=True)

    def log_prob(self, items: Tensor) -> Tensor:
        return self._log_probs.to(items.device)[items]


class HardNegativeSampler(NegativeSampler):
    """Highest-scored non-positives of each user, mixed with random negatives.

    Every ``refresh_every`` optimizer steps all users are scored with the current model and the
    ``hard_pool`` best items each user has *not* interacted with are kept; a draw takes
    ``round(hard_ratio * n)`` items uniformly from the user's pool and the rest from ``hard_base``.
    Pure hard negatives make training unstable (they include unlabelled positives); the random
    share keeps the easy ones that calibrate scores.
    """

    def __init__(self, cfg: SamplerConfig, popularity: Tensor, lookup: PositiveLookup) -> None:
        super().__init__(cfg, popularity, lookup)
        base_cls = SAMPLERS[cfg.hard_base]
        self.base = base_cls(cfg, popularity, lookup)
        self.pool: Tensor | None = None  # (n_users, P) int64 item ids, best first
        self.pool_size: Tensor | None = None  # (n_users,) how many leading entries are valid
        self.refreshed_at = -1

    def maybe_refresh(self, step: int, scorer: Scorer) -> None:
        if self.pool is not None and step - self.refreshed_at < self.cfg.refresh_every:
            return
        self.refresh(scorer)
        self.refreshed_at = step

    @torch.no_grad()
    def refresh(self, scorer: Scorer, chunk: int = 1024) -> None:
        seen = self.lookup.seen
        n_users = seen.shape[0]
        k = min(self.cfg.hard_pool, self.n_items)
        pools, sizes = [], []
        for start in range(0, n_users, chunk):
            users = torch.arange(start, min(start + chunk, n_users))
            scores = scorer(users).float().cpu()
            rows = seen[start : start + len(users)].tocoo()
            scores[torch.from_numpy(rows.row).long(), torch.from_numpy(rows.col).long()] = -math.inf
            top = torch.topk(scores, k, dim=1)
            pools.append(top.indices)
            sizes.append(torch.isfinite(top.values).sum(dim=1))
        self.pool, self.pool_size = torch.cat(pools), torch.cat(sizes)

    def sample(self, users, positives, n, *, shared, generator):
        if self.pool is None:
            raise RuntimeError("hard negative pools are empty: maybe_refresh() must run before sample()")
        n_hard = round(self.cfg.hard_ratio * n)
        rand = self.base.sample(users, positives, n, shared=False, generator=generator).items
        if n_hard == 0:
            return Negatives(rand, None, shared=False)
        u = users.cpu()
        size = self.pool_size[u]
        # an index into each user's valid pool prefix; users without any unseen item keep random ones
        pick = (torch.rand((u.numel(), n_hard), generator=generator) * size[:, None]).long()
        hard = self.pool[u[:, None], pick.clamp(max=self.pool.shape[1] - 1)]
        hard = torch.where(size[:, None] > 0, hard, rand[:, :n_hard].cpu())
        items = torch.cat([hard.to(users.device), rand[:, n_hard:]], dim=1)
        return Negatives(items, None, shared=False)

    def state_dict(self) -> dict[str, Any]:
        return {"pool": self.pool, "pool_size": self.pool_size, "refreshed_at": self.refreshed_at}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pool, self.pool_size, self.refreshed_at = state["pool"], state["pool_size"], state["refreshed_at"]


SAMPLERS: dict[str, type[NegativeSampler]] = {
    "uniform": UniformSampler,
    "popularity": PopularitySampler,
    "in_batch": InBatchSampler,
    "hard": HardNegativeSampler,
}


def build_sampler(cfg: SamplerConfig, seen: sp.csr_matrix) -> NegativeSampler:
    """The sampler named by ``cfg.name`` over the items of ``seen`` (the training user x item matrix)."""
    popularity = torch.from_numpy(np.asarray((seen > 0).sum(axis=0)).ravel().astype(np.float32))
    return SAMPLERS[cfg.name](cfg, popularity, PositiveLookup(seen))


class NegativeStats:
    """Running means over an epoch of what a sampler drew, for the logs.

    ``neg_popularity``: mean training count of the negatives (vs ``pos_popularity`` of the
    positives); ``neg_score`` / ``pos_score``: mean model score; ``accidental_positive_rate``: share
    of negatives the user actually interacted with in training.
    """

    #: rows and negatives per row inspected in each batch: an epoch's mean is stable with a
    #: sample, and the lookups of every (row, negative) pair would cost as much as the loss
    max_rows = 64
    max_negatives = 64

    def __init__(self, popularity: Tensor, lookup: PositiveLookup) -> None:
        self.popularity = popularity
        self.lookup = lookup
        self.reset()

    def reset(self) -> None:
        self._sums = {"neg_popularity": 0.0, "neg_score": 0.0, "accidental_positive_rate": 0.0}
        self._pos = {"pos_popularity": 0.0, "pos_score": 0.0}
        self._n = self._n_pos = 0

    @torch.no_grad()
    def update(
        self,
        users: Tensor,
        positives: Tensor,
        pos_scores: Tensor,
        negs: Negatives,
        neg_scores: Tensor,
        mask: Tensor | None,
    ) -> None:
        r, c = min(self.max_rows, users.numel()), self.max_negatives
        users, positives = users[:r].cpu(), positives[:r].cpu()
        items = (negs.items[None, :c].expand(r, -1) if negs.shared else negs.items[:r, :c]).cpu()
        neg_scores = neg_scores[:r, :c]
        keep = torch.ones_like(items, dtype=torch.bool) if mask is None else mask[:r, :c].cpu()
        n = int(keep.sum())
        if n == 0:
            return
        accidental = self.lookup.contains(users[:, None], items)
        self._sums["neg_popularity"] += float(self.popularity[items][keep].sum())
        self._sums["neg_score"] += float(neg_scores.float().cpu()[keep].sum())
        self._sums["accidental_positive_rate"] += float(accidental[keep].sum())
        self._pos["pos_popularity"] += float(self.popularity[positives].sum())
        self._pos["pos_score"] += float(pos_scores[:r].float().sum())
        self._n += n
        self._n_pos += r

    def compute(self) -> dict[str, float]:
        if self._n == 0:
            return {}
        out = {k: v / self._n for k, v in self._sums.items()}
        out.update({k: v / self._n_pos for k, v in self._pos.items()})
        return out
