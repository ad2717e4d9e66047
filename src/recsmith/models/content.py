"""Helpers shared by content-aware models (``tfidf``, ``hybrid``): item texts from side data,
recency-weighted user profiles, and per-user score normalisation."""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.data.side import SideData
from recsmith.errors import ConfigError


def item_texts(side: SideData | None, columns: list[str], n_items: int, model: str) -> list[str]:
    """One text per internal item ``0..n_items-1`` (the ``columns`` joined; see :meth:`SideData.item_texts`).

    Raises a :class:`ConfigError` that says what to do when the model got no side data, when the
    item table does not cover the interactions' items, or when a column is missing.
    """
    if side is None or side.items is None:
        raise ConfigError(
            f"model {model!r} reads item texts ({', '.join(columns)}) but has no item table: call "
            "model.with_side_data(SideData.from_dataset(dataset)) before fit (the benchmark does), "
            "and prepare the dataset from a source with item attributes"
        )
    if side.n_items != n_items:
        raise ConfigError(
            f"model {model!r}: the item table has {side.n_items} rows but the interactions have "
            f"{n_items} items; build the side data from the same prepared dataset"
        )
    if not columns:
        raise ConfigError(f"model {model!r}: text_columns is empty; name at least one item column")
    return side.item_texts(columns)


def recency_profiles(interactions: Interactions, half_life: float | None, *, binary: bool = True) -> sp.csr_matrix:
    """``(n_users, n_items)`` float32 profile of each user's history.

    Without ``half_life``: 0/1 (``binary``) or summed weights. With it, an item the user interacted
    with ``p`` interactions before their latest one weighs ``0.5 ** (p / half_life)`` (the most
    recent occurrence of a repeated item counts), so recent taste dominates long histories.
    """
    if half_life is None:
        return interactions.binary if binary else interactions.matrix
    # sort by time within user (train + valid are concatenated, so the frame's order is not enough)
    f = interactions.frame.with_row_index("__row").sort([Columns.User, Columns.Timestamp, "__row"])
    users = f[Columns.User].to_numpy().astype(np.int64)
    counts = np.bincount(users, minlength=interactions.n_users)
    ends = np.cumsum(counts)[users]  # one past each user's last row
    pos_from_end = ends - 1 - np.arange(f.height)
    weight = np.power(0.5, pos_from_end / half_life).astype(np.float32)
    if not binary:
        weight *= f[Columns.Weight].to_numpy()
    frame = pl.DataFrame({"u": users, "i": f[Columns.Item].to_numpy(), "w": weight})
    # the latest occurrence has the largest decay factor; keep it rather than summing repeats
    grouped = frame.group_by(["u", "i"]).agg(pl.col("w").max())
    m = sp.csr_matrix(
        (grouped["w"].to_numpy(), (grouped["u"].to_numpy(), grouped["i"].to_numpy())),
        shape=(interactions.n_users, interactions.n_items),
        dtype=np.float32,
    )
    m.sort_indices()
    return m


def normalise_rows(scores: np.ndarray, method: Literal["zscore", "rank"]) -> np.ndarray:
    """Per-row normalisation of ``(n, n_items)`` scores so that two models' scores can be blended.

    ``zscore``: ``(s - mean) / std`` over the row's finite scores (a constant row becomes 0).
    ``rank``: the position in the row's ascending order divided by ``n_items - 1`` (0 = worst,
    1 = best; ties share the mean rank), which ignores score magnitudes entirely.
    Both are increasing maps, so a row's ranking is unchanged. ``-inf`` entries stay ``-inf``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    out = np.full(scores.shape, -np.inf)
    if method == "zscore":
        n = np.maximum(finite.sum(axis=1, keepdims=True), 1)
        masked = np.where(finite, scores, 0.0)
        mean = masked.sum(axis=1, keepdims=True) / n
        var = (np.where(finite, scores - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / n
        std = np.sqrt(var)
        z = np.divide(scores - mean, std, out=np.zeros_like(scores), where=std > 0)
        np.copyto(out, z, where=finite)
    else:
        from scipy.stats import rankdata

        # -inf ranks lowest; it is put back as -inf below
        ranks = rankdata(np.where(finite, scores, -np.inf), axis=1, method="average") - 1.0
        span = max(scores.shape[1] - 1, 1)
        np.copyto(out, ranks / span, where=finite)
    return out.astype(np.float32)
