"""Drift of what users do and what a model serves, against its training data: the Population
Stability Index over popularity bins.

PSI of an observed distribution ``a`` against an expected one ``e`` over the same bins::

    PSI = sum_b (a_b - e_b) * ln(a_b / e_b)        (shares; empty bins get eps = 1e-4)

It is 0 for identical distributions and grows with any shift in either direction. The usual reading
(Siddiqi, *Credit Risk Scorecards*, 2006): below 0.1 no real change, 0.1-0.25 a moderate shift,
above 0.25 a significant one; :data:`PSI_ALERT` is that last threshold.

The bins are fixed by the training data (:class:`PopularityBins`): items sorted by training
popularity and cut into ``n_bins`` groups of equal training-interaction mass, so the training
interactions spread evenly over them (the expected distribution is uniform), plus one bin for items
the model never saw. The same is done for users by their training activity (interaction count).
Three statistics use them (:mod:`recsmith.serving.monitoring` keeps them live per variant):

* ``feedback_items``: the items of incoming feedback events by popularity bin: users turning to
  items that were rare (or new) in training move mass to the low bins;
* ``feedback_users``: the users sending feedback by activity bin: new users, or a change in who is
  active;
* ``served_items``: the items the service recommends by popularity bin (the output side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PSI_ALERT = 0.25
PSI_EPS = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = PSI_EPS) -> float:
    """PSI of ``actual`` against ``expected`` (counts or shares over the same bins); 0 with no data."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape:
        raise ValueError(f"bins differ: {e.shape} vs {a.shape}")
    if a.sum() <= 0 or e.sum() <= 0:
        return 0.0
    e = np.maximum(e / e.sum(), eps)
    a = np.maximum(a / a.sum(), eps)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class PopularityBins:
    """Each of ``n`` ids mapped to one of ``n_bins`` equal-mass bins of its training count; ids past
    ``n`` (unknown to the model) fall in the extra last bin, ``n_bins``."""

    bin_of: np.ndarray  # (n,) int64 bin of each known id
    expected: np.ndarray  # (n_bins + 1,) training mass per bin (the unknown bin: 0)

    @classmethod
    def from_counts(cls, counts: np.ndarray, n_bins: int = 10) -> "PopularityBins":
        counts = np.asarray(counts, dtype=np.float64)
        order = np.argsort(-counts, kind="stable")  # most popular first
        ranked = counts[order]
        before = np.cumsum(ranked) - ranked  # training mass of the more popular ids
        total = ranked.sum() if ranked.size and ranked.sum() > 0 else 1.0
        # bin b holds the ids whose mass starts in [b/n, (b+1)/n) of the total, most popular first
        ranked_bin = np.minimum((before / total * n_bins).astype(np.int64), n_bins - 1)
        bin_of = np.empty(counts.size, dtype=np.int64)
        bin_of[order] = ranked_bin
        expected = np.bincount(bin_of, weights=counts, minlength=n_bins + 1).astype(np.float64)
        return cls(bin_of, expected)

    @property
    def n_bins(self) -> int:
        return self.expected.size

    def counts(self, ids: np.ndarray) -> np.ndarray:
        """Observations per bin of ``ids`` (internal ids; negative or ``>= n`` ones are unknown)."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        known = (ids >= 0) & (ids < self.bin_of.size)
        bins = np.full(ids.size, self.n_bins - 1, dtype=np.int64)
        bins[known] = self.bin_of[ids[known]]
        return np.bincount(bins, minlength=self.n_bins).astype(np.float64)

    def psi(self, observed: np.ndarray) -> float:
        return psi(self.expected, observed)
