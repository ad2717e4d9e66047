"""Per-user chronological item sequences as CSR arrays, and padded windows cut from them.

Sequential models (SASRec, BERT4Rec, GRU4Rec, TIGER) read a user's history in time order. Holding
one Python list per user costs ~100 bytes per interaction and a loop per batch; here the whole data
is three flat arrays (user ``u``'s items are ``items[offsets[u]:offsets[u + 1]]``, oldest first),
and a batch of windows is built with one vectorised gather, in numpy or torch, in ``O(batch x L)``
memory whatever the history lengths.

Windows are *left*-padded: the most recent item is always in the last column, so position ``L - 1``
is "now" for every row (what scoring reads) and padding never sits between real items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Histories:
    """Chronological sequences of every user ``0..n_users-1`` (empty for users without interactions).

    Attributes:
        offsets: ``(n_users + 1,)`` int64; user ``u``'s rows are ``offsets[u]:offsets[u + 1]``.
        items: ``(n,)`` int64 item ids, oldest first within a user.
        timestamps: ``(n,)`` int64, aligned with ``items``.
        n_items: size of the item id space.
    """

    offsets: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    n_items: int

    @classmethod
    def from_interactions(cls, interactions: Interactions) -> "Histories":
        """Sequences ordered by (user, timestamp); ties keep the table's row order (a stable sort)."""
        f = interactions.frame.select(Columns.User, Columns.Item, Columns.Timestamp)
        f = f.with_row_index("_row").sort([Columns.User, Columns.Timestamp, "_row"])
        users = f[Columns.User].to_numpy()
        counts = np.bincount(users, minlength=interactions.n_users)
        offsets = np.zeros(interactions.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return cls(
            offsets=offsets,
            items=f[Columns.Item].to_numpy().astype(np.int64),
            timestamps=f[Columns.Timestamp].to_numpy().astype(np.int64),
            n_items=interactions.n_items,
        )

    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def of(self, user: int) -> np.ndarray:
        """One user's items, oldest first (a view)."""
        return self.items[self.offsets[user] : self.offsets[user + 1]]

    def last(self, users: np.ndarray, length: int, *, pad: int, shift: int = 0, right_pad: bool = False) -> np.ndarray:
        """``(len(users), length)`` int64: each user's most recent ``length`` items, left-padded with ``pad``.

        ``shift`` drops that many most recent items first (``shift=1`` gives the inputs of next-item
        training, whose targets are ``last(users, length)``).
        """
        users = np.asarray(users, dtype=np.int64)
        return window_gather(self.offsets, self.items, users, length, pad=pad, shift=shift, right_pad=right_pad)

    def last_timestamps(self, users: np.ndarray, length: int, *, shift: int = 0, right_pad: bool = False) -> np.ndarray:
        """Timestamps aligned with :meth:`last` (0 at padding positions)."""
        users = np.asarray(users, dtype=np.int64)
        return window_gather(self.offsets, self.timestamps, users, length, pad=0, shift=shift, right_pad=right_pad)


def window_gather(
    offsets, values, rows, length: int, *, pad: int, shift: int | np.ndarray | torch.Tensor = 0, right_pad: bool = False
):
    """The last ``length`` values of CSR rows ``rows`` (minus ``shift`` most recent: one for all rows,
    or one per row), padded with ``pad``.

    Left-padded by default (the most recent value in the last column); ``right_pad=True`` puts the
    window first and the padding after it (what causal attention wants: no real position then
    attends to padding). Works on numpy arrays and on torch tensors alike (the same indexing
    operations), so training batches are cut on the training device.
    """
    end = offsets[rows + 1] - shift  # exclusive end of each window
    start = offsets[rows]
    cols = _arange_like(offsets, length)
    if right_pad:
        first = _maximum(start, end - length)
        idx = first[:, None] + cols[None, :]
        valid = idx < end[:, None]
    else:
        idx = end[:, None] - length + cols[None, :]  # (B, L) source positions, oldest first
        valid = (idx >= start[:, None]) & (idx < end[:, None])
    n = len(values)
    if not n:
        return _full_like(values, idx.shape, pad)
    return _where(valid, values[idx.clip(0, n - 1)], pad)


def _maximum(a, b):
    if isinstance(a, np.ndarray):
        return np.maximum(a, b)
    import torch

    return torch.maximum(a, b)


# ---------------------------------------------------------------------- numpy / torch twins
def _arange_like(ref, n: int):
    if isinstance(ref, np.ndarray):
        return np.arange(n, dtype=np.int64)
    import torch

    return torch.arange(n, dtype=torch.int64, device=ref.device)


def _full_like(ref, shape, value):
    if isinstance(ref, np.ndarray):
        return np.full(shape, value, dtype=ref.dtype)
    import torch

    return torch.full(tuple(shape), value, dtype=ref.dtype, device=ref.device)


def _where(mask, a, value):
    if isinstance(a, np.ndarray):
        return np.where(mask, a, value)
    import torch

    return torch.where(mask, a, torch.as_tensor(value, dtype=a.dtype, device=a.device))


def frame_of(histories: Histories) -> pl.DataFrame:
    """The sequences back as a (user, item, timestamp) frame, in sequence order (for tests and debugging)."""
    users = np.repeat(np.arange(histories.n_users), histories.lengths)
    return pl.DataFrame({Columns.User: users, Columns.Item: histories.items, Columns.Timestamp: histories.timestamps})
