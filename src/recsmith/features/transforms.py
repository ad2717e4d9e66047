"""Column transforms of the feature store ("feature encoders": vocabularies, hashing, scaling),
not to be confused with the pretrained text / image encoders of :mod:`recsmith.encoders` or the ONNX
query encoder of :mod:`recsmith.retrieval.query_encoder`. Fitted on the training rows with lazy (streaming) aggregations, applied to
eager frames (a batch of interactions, or a user / item table) with vectorised expressions.

Every encoder has the same life cycle::

    enc = make_encoder("colour", CategoricalSpec(column="colour_group_name", min_count=5))
    enc.fit(train_rows)                   # a LazyFrame; only aggregates are collected
    columns = enc.transform(frame)        # list of output Series, one row per input row
    state, tables = enc.state(), enc.tables()          # JSON + small frames (the vocabulary)
    same = make_encoder("colour", spec, state=state, tables=tables)   # at serving time

Ids of the vocabulary encoders (categorical, multi): 0 = missing, 1..V = the vocabulary in
descending frequency (ties by value), V+1..V+oov_buckets = values outside the vocabulary, hashed
with the stable :func:`~recsmith.features.hashing.fnv1a`. ``num_embeddings`` in the state is the
size of an embedding table that takes every id.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from recsmith.errors import ConfigError
from recsmith.features.config import CategoricalSpec, ImageSpec, MultiSpec, NumericSpec, TextSpec
from recsmith.features.hashing import bucket

VALUE, ID, COUNT = "value", "id", "count"


class Encoder:
    """Base class: ``inputs`` (columns read), ``outputs`` (columns written)."""

    kind = ""

    def __init__(self, name: str, spec: Any) -> None:
        self.name = name
        self.spec = spec
        self.fitted_rows = 0

    @property
    def inputs(self) -> list[str]:
        return [self.spec.column or self.name]

    @property
    def outputs(self) -> list[str]:
        return [self.name]

    def fit(self, rows: pl.LazyFrame) -> None:
        """Fit on ``rows`` (the training rows; only aggregates are collected). Default: nothing to fit."""

    def transform(self, frame: pl.DataFrame) -> list[pl.Series]:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "inputs": self.inputs, "outputs": self.outputs}

    def tables(self) -> dict[str, pl.DataFrame]:
        return {}

    def _load(self, state: dict[str, Any], tables: dict[str, pl.DataFrame]) -> None:
        self.fitted_rows = int(state.get("fitted_rows", 0))


# ------------------------------------------------------------------------------------------------
# vocabularies


class _Vocabulary:
    """value -> id with counts; the out-of-vocabulary values are hashed after the vocabulary."""

    def __init__(self, frame: pl.DataFrame, oov_buckets: int) -> None:
        self.frame = frame  # value (Utf8), id (Int32), count (Int64)
        self.oov_buckets = oov_buckets

    @classmethod
    def fit(cls, rows: pl.LazyFrame, column: str, spec: Any) -> tuple["_Vocabulary", int]:
        """From ``column`` of ``rows`` (nulls ignored); returns it and the number of values counted.

        Values are counted in their own type (cheap on integers), then turned into text.
        """
        counts = (
            rows.select(column).filter(pl.col(column).is_not_null())
            .group_by(column).agg(pl.len().cast(pl.Int64).alias(COUNT))
            .collect(engine="streaming")
        )  # fmt: skip
        counts = (
            counts.select(_as_text(counts[column]).alias(VALUE), COUNT)
            .filter(pl.col(VALUE).is_not_null())
            .group_by(VALUE).agg(pl.col(COUNT).sum())
        )  # fmt: skip
        n_rows = int(counts[COUNT].sum() or 0)
        kept = counts.filter(pl.col(COUNT) >= spec.min_count).sort([COUNT, VALUE], descending=[True, False])
        if spec.max_size is not None:
            kept = kept.head(spec.max_size)
        frame = kept.select(VALUE, pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias(ID), COUNT)
        return cls(frame, spec.oov_buckets), n_rows

    @property
    def size(self) -> int:
        return self.frame.height

    @property
    def num_embeddings(self) -> int:
        return 1 + self.size + self.oov_buckets

    def encode(self, values: pl.Series) -> np.ndarray:
        """Int32 ids of the values (0 for null); integers are looked up as integers."""
        if values.dtype.is_integer():
            keys = self.frame[VALUE].cast(pl.Int64, strict=False)
            usable = keys.is_not_null()
            ids = values.cast(pl.Int64).replace_strict(
                keys.filter(usable), self.frame[ID].filter(usable), default=None, return_dtype=pl.Int32
            )
        else:
            values = _as_text(values)
            ids = values.replace_strict(self.frame[VALUE], self.frame[ID], default=None, return_dtype=pl.Int32)
        out = ids.fill_null(0).to_numpy().astype(np.int32, copy=True)
        oov = (ids.is_null() & values.is_not_null()).to_numpy()
        if oov.any():
            out[oov] = 1 + self.size + bucket(_as_text(values.filter(pl.Series(oov))), self.oov_buckets)
        return out


def _strings(expr: pl.Expr) -> pl.Expr:
    """Values as stripped strings; empty means missing. Floats that hold integers (FN = 1.0) read as ints."""
    return expr.cast(pl.Utf8).str.strip_chars().replace("", None)


def _as_text(series: pl.Series) -> pl.Series:
    if series.dtype.is_float():
        whole = series.is_not_null() & (series == series.round(0))
        series = pl.select(
            pl.when(whole).then(series.cast(pl.Int64, strict=False).cast(pl.Utf8)).otherwise(series.cast(pl.Utf8))
        ).to_series()
    return series.cast(pl.Utf8).str.strip_chars().replace("", None)


def _text_expr(column: str, dtype: pl.DataType) -> pl.Expr:
    expr = pl.col(column)
    if dtype.is_float():
        whole = expr.is_not_null() & (expr == expr.round(0))
        expr = pl.when(whole).then(expr.cast(pl.Int64, strict=False).cast(pl.Utf8)).otherwise(expr.cast(pl.Utf8))
    return _strings(expr)


class CategoricalEncoder(Encoder):
    kind = "categorical"
    spec: CategoricalSpec | MultiSpec

    def __init__(self, name: str, spec: CategoricalSpec | MultiSpec) -> None:
        super().__init__(name, spec)
        self.vocab: _Vocabulary | None = None

    @property
    def _hash_buckets(self) -> int | None:
        return getattr(self.spec, "hash_buckets", None)  # multi-valued features always have a vocabulary

    def fit(self, rows: pl.LazyFrame) -> None:
        if self._hash_buckets is not None:
            self.fitted_rows = int(rows.select(pl.len()).collect(engine="streaming").item())
            return
        self.vocab, self.fitted_rows = _Vocabulary.fit(rows, self.inputs[0], self.spec)

    def transform(self, frame: pl.DataFrame) -> list[pl.Series]:
        values = frame[self.inputs[0]]
        if self._hash_buckets is not None:
            values = _as_text(values)
            ids = np.where(values.is_null().to_numpy(), 0, 1 + bucket(values, self._hash_buckets))
        else:
            assert self.vocab is not None, "fit the encoder first"
            ids = self.vocab.encode(values)
        return [pl.Series(self.name, ids, dtype=pl.Int32)]

    def num_embeddings(self) -> int:
        if self._hash_buckets is not None:
            return 1 + self._hash_buckets
        assert self.vocab is not None
        return self.vocab.num_embeddings

    def state(self) -> dict[str, Any]:
        mode = "hash" if self._hash_buckets is not None else "vocabulary"
        size = self.vocab.size if self.vocab is not None else None
        return {**super().state(), "mode": mode, "vocabulary_size": size, "num_embeddings": self.num_embeddings(),
                "fitted_rows": self.fitted_rows}  # fmt: skip

    def tables(self) -> dict[str, pl.DataFrame]:
        return {"vocab": self.vocab.frame} if self.vocab is not None else {}

    def _load(self, state: dict[str, Any], tables: dict[str, pl.DataFrame]) -> None:
        super()._load(state, tables)
        if "vocab" in tables:
            self.vocab = _Vocabulary(tables["vocab"], self.spec.oov_buckets)


class MultiValuedEncoder(CategoricalEncoder):
    """Lists of values; ``transform`` gives a List(Int32) column (see :meth:`jagged`)."""

    kind = "multi"
    spec: MultiSpec  # the base class reads what both specs have (the vocabulary settings)

    @property
    def inputs(self) -> list[str]:
        return list(self.spec.columns) if self.spec.columns else [self.spec.column or self.name]

    def _lists(self, schema: pl.Schema) -> pl.Expr:
        """One List(Utf8) expression of the row's values (stripped, missing ones dropped)."""
        if self.spec.columns:
            lists = pl.concat_list([_text_expr(c, schema[c]) for c in self.spec.columns])
        else:
            column = self.inputs[0]
            dtype = schema[column]
            if isinstance(dtype, (pl.List, pl.Array)):
                lists = pl.col(column).cast(pl.List(pl.Utf8))
            elif self.spec.sep is not None:
                lists = pl.col(column).cast(pl.Utf8).str.split(self.spec.sep)
            else:
                lists = pl.concat_list([_text_expr(column, dtype)])
        return lists.list.eval(pl.element().str.strip_chars().replace("", None).drop_nulls())

    def fit(self, rows: pl.LazyFrame) -> None:
        values = rows.select(self._lists(rows.collect_schema()).alias(VALUE)).explode(VALUE)
        self.vocab, self.fitted_rows = _Vocabulary.fit(values, VALUE, self.spec)

    def jagged(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(offsets, values)``: row i's ids are ``values[offsets[i]:offsets[i + 1]]`` (int64, int32)."""
        assert self.vocab is not None, "fit the encoder first"
        lists = frame.select(self._lists(frame.schema).fill_null([]).alias(VALUE)).to_series()
        lengths = lists.list.len().to_numpy().astype(np.int64)
        offsets = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = self.vocab.encode(lists.explode().drop_nulls()) if offsets[-1] else np.zeros(0, np.int32)
        return offsets, values

    def transform(self, frame: pl.DataFrame) -> list[pl.Series]:
        offsets, values = self.jagged(frame)
        array = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values, type=pa.int32()))
        return [pl.Series(self.name, pl.from_arrow(array), dtype=pl.List(pl.Int32))]


# ------------------------------------------------------------------------------------------------
# numbers, text, images


class NumericEncoder(Encoder):
    kind = "numeric"
    spec: NumericSpec

    def __init__(self, name: str, spec: NumericSpec) -> None:
        super().__init__(name, spec)
        self.mean = 0.0
        self.std = 1.0
        self.boundaries: list[float] = []

    def _value(self, expr: pl.Expr) -> pl.Expr:
        expr = expr.cast(pl.Float64)
        return expr.clip(lower_bound=0.0).log1p() if self.spec.transform == "log1p" else expr

    def fit(self, rows: pl.LazyFrame) -> None:
        x = self._value(pl.col(self.inputs[0]))
        finite = rows.select(x.alias("x")).filter(pl.col("x").is_finite())
        if self.spec.transform == "quantile":
            # exact quantiles from the value counts (one streaming group-by, no sort of the rows):
            # boundary q is the smallest value with at least a share q of the values at or below it
            counts = finite.group_by("x").agg(pl.len().alias("n")).collect(engine="streaming").sort("x")
            cum = np.cumsum(counts["n"].to_numpy())
            self.fitted_rows = int(cum[-1]) if cum.size else 0
            qs = np.arange(1, self.spec.buckets) / self.spec.buckets
            pos = np.searchsorted(cum, qs * self.fitted_rows, side="left") if cum.size else np.zeros(0, np.int64)
            values = counts["x"].to_numpy()
            self.boundaries = sorted({float(values[min(p, len(values) - 1)]) for p in pos})
        elif self.spec.transform != "none":
            stats = finite.select(pl.len().alias("n"), pl.col("x").mean().alias("mean"), pl.col("x").std().alias("std"))
            n, mean, std = stats.collect(engine="streaming").row(0)
            self.fitted_rows = int(n)
            self.mean = float(mean) if mean is not None else 0.0
            self.std = float(std) if std is not None and std > 0 and math.isfinite(std) else 1.0

    def transform(self, frame: pl.DataFrame) -> list[pl.Series]:
        x = self._value(pl.col(self.inputs[0]))
        x = pl.when(x.is_finite()).then(x)
        if self.spec.transform == "quantile":
            edges = pl.Series(self.boundaries, dtype=pl.Float64)
            ids = pl.lit(edges).search_sorted(x, side="right").cast(pl.Int32) + 1
            out = pl.when(x.is_null()).then(pl.lit(0, pl.Int32)).otherwise(ids)
        elif self.spec.transform == "none":
            out = x.cast(pl.Float32)
        else:
            out = ((x - self.mean) / self.std).fill_null(0.0).cast(pl.Float32)
        return [frame.select(out.alias(self.name)).to_series()]

    def state(self) -> dict[str, Any]:
        state = {**super().state(), "transform": self.spec.transform, "fitted_rows": self.fitted_rows}
        if self.spec.transform == "quantile":
            state.update(boundaries=self.boundaries, num_embeddings=len(self.boundaries) + 2)
        elif self.spec.transform != "none":
            state.update(mean=self.mean, std=self.std)
        return state

    def _load(self, state: dict[str, Any], tables: dict[str, pl.DataFrame]) -> None:
        super()._load(state, tables)
        self.mean = float(state.get("mean", 0.0))
        self.std = float(state.get("std", 1.0))
        self.boundaries = [float(b) for b in state.get("boundaries", [])]


class TextFeature(Encoder):
    """Text for a later text encoder: one column as is, or several joined (missing ones skipped)."""

    kind = "text"
    spec: TextSpec

    @property
    def inputs(self) -> list[str]:
        return list(self.spec.columns) if self.spec.columns else [self.spec.column or self.name]

    def transform(self, frame: pl.DataFrame) -> list[pl.Series]:
        parts = [_strings(pl.col(c)) for c in self.inputs]
        text = parts[0] if len(parts) == 1 else pl.concat_str(parts, separator=self.spec.sep, ignore_nulls=True)
        return [frame.select(_strings(text).alias(self.name)).to_series()]


_PLACEHOLDER = re.compile(r"\{([^{}:]+)(?::(\d+))?\}")


class ImageFeature(Encoder):
    """An image path: a column of paths, or a template over the row's columns."""

    kind = "image"
    spec: ImageSpec

    @property
    def inputs(self) -> list[str]:
        if self.spec.template is not None:
            return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(self.spec.template)))
        return [self.spec.column or self.name]

    def transform(self, frame: pl.DataFrame) -> list[pl.Series]:
        if self.spec.template is None:
            return [frame.select(_strings(pl.col(self.inputs[0])).alias(self.name)).to_series()]
        parts: list[pl.Expr] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(self.spec.template):
            parts.append(pl.lit(self.spec.template[pos : m.start()]))
            value = pl.col(m.group(1)).cast(pl.Utf8)
            parts.append(value.str.slice(0, int(m.group(2))) if m.group(2) else value)
            pos = m.end()
        parts.append(pl.lit(self.spec.template[pos:]))
        return [frame.select(pl.concat_str(parts).alias(self.name)).to_series()]


_ENCODERS: dict[str, type[Encoder]] = {
    "categorical": CategoricalEncoder,
    "multi": MultiValuedEncoder,
    "numeric": NumericEncoder,
    "text": TextFeature,
    "image": ImageFeature,
}


def make_encoder(
    name: str, spec: Any, *, state: dict[str, Any] | None = None, tables: dict[str, pl.DataFrame] | None = None
) -> Encoder:
    """The encoder of ``spec`` (fitted when ``state`` is given, e.g. from a feature store's manifest)."""
    enc = _ENCODERS[spec.kind](name, spec)
    if state is not None:
        enc._load(state, tables or {})
    return enc


def check_inputs(table: str, encoders: list[Encoder], columns: list[str]) -> None:
    """ConfigError naming the feature whose input column the table lacks."""
    for enc in encoders:
        for c in enc.inputs:
            if c not in columns:
                raise ConfigError(
                    f"features.{table}.{enc.name}: the {table} table has no column {c!r}; columns: {sorted(columns)}"
                )
