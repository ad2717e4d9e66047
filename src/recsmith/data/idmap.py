"""External <-> internal id mapping.

External ids (whatever the source uses: ``"196"``, an H&M ``"0108775015"``, a customer hash) are
kept as strings and live only at the edges (readers, CLI, API). Inside recsmith every user and
item is a contiguous ``int32`` in ``[0, n)`` so that models can index arrays and sparse matrices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from recsmith.errors import UnknownIdError

_EXTERNAL = "external_id"
#: key of the Parquet file metadata that records zero-padded numeric ids (see ``IdMap.digits``)
_DIGITS_KEY = "recsmith.zero_padded_digits"


class IdMap:
    """A bijection between external string ids and internal ids ``0..n-1``.

    The internal id of an external id is its position in :attr:`external_ids`.

    ``digits``: set when the source writes numeric ids zero-padded to this width (H&M's article
    ``0108775015``). Lookups then accept an id without its leading zeros too (``108775015``, as a
    spreadsheet or pandas shows it); the ids kept and returned are the padded ones. It is saved
    with the ids, so a run and a bundle made from the dataset look up the same way.
    """

    def __init__(
        self, external_ids: Sequence[str] | np.ndarray | pl.Series, kind: str = "id", *, digits: int | None = None
    ) -> None:
        series = pl.Series(_EXTERNAL, external_ids, dtype=pl.Utf8)
        if series.null_count():
            raise ValueError(f"{kind} ids contain nulls")
        if series.n_unique() != len(series):
            dup = series.filter(series.is_duplicated()).head(3).to_list()
            raise ValueError(f"{kind} ids are not unique, e.g. {dup}")
        self.kind = kind
        self.digits = digits
        self._external = series
        self._lookup: dict[str, int] | None = None

    @classmethod
    def from_values(cls, values: pl.Series, kind: str = "id", *, digits: int | None = None) -> "IdMap":
        """Ids in order of first appearance in ``values`` (deterministic for a given input order)."""
        return cls(values.cast(pl.Utf8).unique(maintain_order=True), kind=kind, digits=digits)

    def __len__(self) -> int:
        return len(self._external)

    @property
    def external_ids(self) -> pl.Series:
        return self._external

    def _table(self) -> dict[str, int]:
        if self._lookup is None:
            self._lookup = {e: i for i, e in enumerate(self._external.to_list())}
        return self._lookup

    def _key(self, external_id: object) -> str:
        text = str(external_id)
        if self.digits and text.isdigit() and len(text) < self.digits:
            return text.zfill(self.digits)
        return text

    def canonical(self, column: str) -> pl.Expr:
        """``column`` (Utf8 external ids) spelt as this map keeps them: numeric ids shorter than
        :attr:`digits` zero-padded (the vectorised :meth:`to_internal` rule)."""
        ids = pl.col(column)
        if not self.digits:
            return ids
        short = ids.str.contains(r"^\d+$") & (ids.str.len_chars() < self.digits)
        return pl.when(short).then(ids.str.zfill(self.digits)).otherwise(ids).alias(column)

    def __contains__(self, external_id: object) -> bool:
        return self._key(external_id) in self._table()

    def to_internal(self, external: Iterable[object], *, strict: bool = True) -> np.ndarray:
        """Map external ids to internal ints. Unknown ids raise, or become -1 with ``strict=False``."""
        table = self._table()
        out = []
        for e in external:
            i = table.get(self._key(e), -1)
            if i < 0 and strict:
                raise UnknownIdError(
                    f"unknown {self.kind} id {str(e)!r}: it is not in the prepared dataset "
                    f"({len(self)} {self.kind}s; e.g. {self._external.head(3).to_list()})"
                )
            out.append(i)
        return np.asarray(out, dtype=np.int64)

    def to_external(self, internal: Iterable[int] | np.ndarray) -> list[str]:
        idx = np.asarray(list(internal) if not isinstance(internal, np.ndarray) else internal, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"internal {self.kind} id out of range [0, {len(self)})")
        return self._external.gather(idx).to_list() if idx.size else []

    def encode(self, frame: pl.DataFrame, column: str, out: str) -> pl.DataFrame:
        """Replace the external id ``column`` by internal ints in column ``out`` (a join, not a loop).

        Rows whose id is unknown get a null in ``out``.
        """
        table = self.to_frame(column, out)
        return frame.with_columns(pl.col(column).cast(pl.Utf8)).join(table, on=column, how="left")

    def to_frame(self, external_col: str = _EXTERNAL, internal_col: str = "idx") -> pl.DataFrame:
        return pl.DataFrame(
            {
                external_col: self._external,
                internal_col: pl.Series(np.arange(len(self), dtype=np.int32)),
            }
        )

    def save(self, path: str | Path) -> None:
        metadata = {_DIGITS_KEY: str(self.digits)} if self.digits else None
        pl.DataFrame({_EXTERNAL: self._external}).write_parquet(path, metadata=metadata)

    @classmethod
    def load(cls, path: str | Path, kind: str = "id") -> "IdMap":
        digits = pl.read_parquet_metadata(path).get(_DIGITS_KEY)
        return cls(pl.read_parquet(path)[_EXTERNAL], kind=kind, digits=int(digits) if digits else None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self._external.equals(other._external)

    def __repr__(self) -> str:
        return f"IdMap(kind={self.kind!r}, n={len(self)})"
