"""The internal interactions table and its sparse-matrix view, the input to every model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import cast

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsmith.data.schema import INTERNAL_SCHEMA, Columns, conform


@dataclass(frozen=True)
class Interactions:
    """Interactions with internal ids, plus the size of the id spaces.

    ``frame`` has columns ``user`` (int32), ``item`` (int32), ``timestamp`` (int64) and ``weight``
    (float32). ``n_users`` / ``n_items`` are the sizes of the whole dataset's id spaces (not just
    the ids present here), so matrices from different splits line up.
    """

    frame: pl.DataFrame
    n_users: int
    n_items: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame", conform(self.frame, INTERNAL_SCHEMA))
        if self.frame.height:
            # int32 columns (conformed above): their bounds are ints, which polars' stubs cannot say
            users, items = self.frame[Columns.User], self.frame[Columns.Item]
            u_max, i_max = cast(int, users.max()), cast(int, items.max())
            if cast(int, users.min()) < 0 or u_max >= self.n_users:
                raise ValueError(f"user ids must lie in [0, {self.n_users}); max is {u_max}")
            if cast(int, items.min()) < 0 or i_max >= self.n_items:
                raise ValueError(f"item ids must lie in [0, {self.n_items}); max is {i_max}")

    def __len__(self) -> int:
        return self.frame.height

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """User x item CSR matrix of summed weights (duplicates add up), float32."""
        f = self.frame
        m = sp.csr_matrix(
            (
                f[Columns.Weight].to_numpy().astype(np.float32),
                (f[Columns.User].to_numpy(), f[Columns.Item].to_numpy()),
            ),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )
        m.sum_duplicates()
        m.sort_indices()
        return m

    @cached_property
    def binary(self) -> sp.csr_matrix:
        """User x item CSR with 1.0 where the user interacted (what ``filter_seen`` removes)."""
        m = self.matrix.copy()
        m.data = np.ones_like(m.data)
        return m

    def users(self) -> np.ndarray:
        """Distinct users present, sorted."""
        return np.unique(self.frame[Columns.User].to_numpy())

    def concat(self, other: "Interactions") -> "Interactions":
        if (self.n_users, self.n_items) != (other.n_users, other.n_items):
            raise ValueError("cannot concatenate interactions over different id spaces")
        return Interactions(pl.concat([self.frame, other.frame]), self.n_users, self.n_items)
