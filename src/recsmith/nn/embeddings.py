"""Categorical and multi-valued features embedded the TorchRec way.

A feature of a table (items or users) is *jagged*: row ``i`` has ids ``values[offsets[i]:offsets[i + 1]]``,
the layout of the feature store's ``jagged/<table>.<feature>.{offsets,values}.npy`` and of one key of
a TorchRec :class:`~torchrec.KeyedJaggedTensor`. For a batch of rows ``[0, 2, 3]`` of a table whose
``genres`` are ``[[3, 1], [], [2], [4, 4, 1]]``::

    offsets = [0, 2, 2, 3, 6]      values = [3, 1, 2, 4, 4, 1]
    batch rows [0, 2, 3]  ->  lengths = [2, 1, 3],  values = [3, 1, 2, 4, 4, 1]

Several features of one batch form one ``KeyedJaggedTensor`` (all rows of the first key, then all
rows of the next), built by :func:`kjt_for_rows` with tensor ops only. Id 0 of every vocabulary means
unknown or missing; a row without any value gets the single id 0, so "missing" has an embedding of
its own instead of pooling to zero.

The modules are a standard :class:`~torchrec.EmbeddingBagCollection` (pooled: an item's categories)
or :class:`~torchrec.EmbeddingCollection` (one vector per value) built from named table configs,
with no custom autograd, so ``DistributedModelParallel`` can shard them later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np
import polars as pl
import torch
from torch import Tensor, nn

from recsmith.errors import ConfigError

#: the id of an unknown or missing value in every vocabulary
UNKNOWN = 0


class _DropFxTracingWarning(logging.Filter):
    """torch.fx logs "is_fx_tracing will return true for both ..." the first time TorchRec's modules
    ask whether they are being traced: a note for torch.fx users, noise for ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("is_fx_tracing will return true")


logging.getLogger("torch.fx._symbolic_trace").addFilter(_DropFxTracingWarning())

from torchrec import (  # noqa: E402  (after the filter, which must exist before the first forward)
    EmbeddingBagCollection,
    EmbeddingBagConfig,
    EmbeddingCollection,
    EmbeddingConfig,
    KeyedJaggedTensor,
)
from torchrec.modules.embedding_configs import PoolingType  # noqa: E402

Pooling = Literal["sum", "mean"]
_POOLING = {"sum": PoolingType.SUM, "mean": PoolingType.MEAN}


# ---------------------------------------------------------------------- features from side tables
@dataclass(frozen=True)
class JaggedFeature:
    """One categorical feature of every row of a table, as jagged ids with its vocabulary.

    Attributes:
        key: feature name in the ``KeyedJaggedTensor``, e.g. ``"item.genres"``.
        offsets: ``(n_rows + 1,)`` int64.
        values: ``(offsets[-1],)`` int64 ids in ``[0, num_embeddings)``.
        num_embeddings: rows of the feature's embedding table.
        vocab: ``(num_embeddings - 1,)`` unicode, id ``j >= 1`` standing for ``vocab[j - 1]``; None for
            an id feature (:func:`id_feature`), whose ids are the row ids themselves.
    """

    key: str
    offsets: np.ndarray
    values: np.ndarray
    num_embeddings: int
    vocab: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return len(self.offsets) - 1

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Plain arrays for ``state.npz`` (no object dtype), read back by :meth:`from_arrays`."""
        if self.vocab is None:
            raise ValueError(f"feature {self.key!r} is an id feature: rebuild it with id_feature() instead")
        return {f"{prefix}.offsets": self.offsets, f"{prefix}.values": self.values, f"{prefix}.vocab": self.vocab}

    @classmethod
    def from_arrays(cls, key: str, prefix: str, arrays: Mapping[str, np.ndarray]) -> "JaggedFeature":
        vocab = arrays[f"{prefix}.vocab"]
        return cls(key, arrays[f"{prefix}.offsets"], arrays[f"{prefix}.values"], len(vocab) + 1, vocab)


def jagged_from_column(column: pl.Series, key: str, *, max_vocab: int | None = None) -> JaggedFeature:
    """Vocabulary ids of a side-table column, one jagged row per table row.

    String and integer columns give one id per row, ``list[...]`` columns one per element. The
    vocabulary holds every distinct value, most frequent first (ties by value, so it is
    deterministic), cut to ``max_vocab`` values; ids start at 1. Nulls, empty lists and values cut
    from the vocabulary get :data:`UNKNOWN`.
    """
    if isinstance(column.dtype, (pl.Float32, pl.Float64)):
        raise ConfigError(
            f"column {column.name!r} for feature {key!r} is a float column; categorical features need "
            "strings, integers or lists of them (bucket the numbers first)"
        )
    if isinstance(column.dtype, pl.List):
        lists = column.cast(pl.List(pl.Utf8))
        # a missing or empty list becomes [null] -> [UNKNOWN]: every row has at least one id
        lists = pl.select(
            pl.when(lists.list.len().fill_null(0) == 0).then(pl.lit([None], pl.List(pl.Utf8))).otherwise(lists)
        ).to_series()
        lengths = lists.list.len().to_numpy().astype(np.int64)
        flat = lists.explode()
    else:
        flat = column.cast(pl.Utf8)
        lengths = np.ones(len(column), dtype=np.int64)
    flat = flat.rename("value")
    counts = flat.drop_nulls().value_counts(name="n").sort(["n", "value"], descending=[True, False])
    vocab = counts["value"].to_numpy().astype(str)[: max_vocab if max_vocab is not None else None]
    ids = flat.replace_strict(
        pl.Series(vocab, dtype=pl.Utf8),
        pl.Series(np.arange(1, len(vocab) + 1), dtype=pl.Int64),
        default=UNKNOWN,
        return_dtype=pl.Int64,
    ).fill_null(UNKNOWN)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return JaggedFeature(key, offsets, ids.to_numpy().astype(np.int64), len(vocab) + 1, vocab)


def id_feature(key: str, n_rows: int, *, present: np.ndarray | None = None) -> JaggedFeature:
    """The row's own id as a feature (an id embedding through the collection, shardable like any table).

    Row ``i`` has the single id ``i``; rows where ``present`` is False have no id at all (an empty
    bag pools to zeros): an item never seen in training has no learned id vector, so it must be
    described by its other features alone instead of by an untrained random row.
    """
    present = np.ones(n_rows, dtype=bool) if present is None else np.asarray(present, dtype=bool)
    offsets = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(present, out=offsets[1:])
    return JaggedFeature(key, offsets, np.flatnonzero(present).astype(np.int64), n_rows)


# ---------------------------------------------------------------------- KeyedJaggedTensor
def kjt_for_rows(features: Mapping[str, tuple[Tensor, Tensor]], rows: Tensor) -> KeyedJaggedTensor:
    """The ``KeyedJaggedTensor`` of ``rows`` for every feature.

    Args:
        features: key -> ``(offsets (n_rows + 1,) int64, values (nnz,) int)``, on the device of ``rows``.
        rows: ``(B,)`` int64 row ids (repeats allowed).

    Returns:
        A KJT with ``keys = list(features)``, ``lengths`` ``(len(keys) * B,)`` and the values of each
        key's rows in order, gathered without a Python loop over rows.
    """
    keys, values, lengths = [], [], []
    rows = rows.long()
    for key, (offsets, vals) in features.items():
        start = offsets[rows]
        length = offsets[rows + 1] - start  # (B,)
        # value j of the batch belongs to row r(j) and sits at start[r] + (j - batch_start[r]) in vals
        batch_start = torch.cumsum(length, 0) - length
        total = int(length.sum())
        shift = torch.repeat_interleave(start - batch_start, length, output_size=total)
        index = shift + torch.arange(total, device=rows.device)
        keys.append(key)
        values.append(vals[index].long())
        lengths.append(length)
    if not keys:
        raise ValueError("kjt_for_rows needs at least one feature")
    return KeyedJaggedTensor(keys=keys, values=torch.cat(values), lengths=torch.cat(lengths))


# ---------------------------------------------------------------------- collections
@dataclass(frozen=True)
class TableSpec:
    """One embedding table serving one feature: ``num_embeddings`` rows of width ``dim``."""

    feature: str
    num_embeddings: int
    dim: int
    pooling: Pooling = "sum"

    @property
    def table(self) -> str:
        return "t_" + self.feature.replace(".", "_")


def embedding_bag_collection(specs: Sequence[TableSpec], *, init_std: float | None = None) -> EmbeddingBagCollection:
    """A pooled collection with one named table per feature; output widths in ``specs`` order.

    ``init_std``: normal initialisation of every table (default: TorchRec's uniform +-1/sqrt(rows)).
    """
    init = None if init_std is None else partial(nn.init.normal_, std=init_std)
    tables = [
        EmbeddingBagConfig(
            name=s.table,
            embedding_dim=s.dim,
            num_embeddings=s.num_embeddings,
            feature_names=[s.feature],
            pooling=_POOLING[s.pooling],
            init_fn=init,
        )
        for s in specs
    ]
    return EmbeddingBagCollection(tables=tables, device=torch.device("cpu"))


def embedding_collection(specs: Sequence[TableSpec], *, init_std: float | None = None) -> EmbeddingCollection:
    """An unpooled collection (one vector per value, e.g. a sequence), one named table per feature."""
    init = None if init_std is None else partial(nn.init.normal_, std=init_std)
    tables = [
        EmbeddingConfig(
            name=s.table, embedding_dim=s.dim, num_embeddings=s.num_embeddings, feature_names=[s.feature], init_fn=init
        )
        for s in specs
    ]
    return EmbeddingCollection(tables=tables, device=torch.device("cpu"))


class PooledFeatures(nn.Module):
    """Rows of one table -> the concatenated pooled embeddings of its features, ``(B, out_dim)``.

    The jagged arrays are non-persistent buffers: they follow ``.to(device)`` but stay out of the
    ``state_dict``, because the model saves them with their vocabularies (:meth:`JaggedFeature.to_arrays`).
    Multi-valued features are mean-pooled (an item with five categories is not five times as much of
    a category), single-valued ones summed (the same for one id).
    """

    def __init__(self, features: Sequence[JaggedFeature], dim: int, *, init_std: float | None = None) -> None:
        super().__init__()
        if not features:
            raise ValueError("PooledFeatures needs at least one feature")
        self.keys = [f.key for f in features]
        for i, f in enumerate(features):
            for name, array in (("offsets", f.offsets), ("values", f.values)):
                tensor = torch.from_numpy(np.asarray(array, dtype=np.int64))
                self.register_buffer(f"{name}_{i}", tensor, persistent=False)
        specs = [TableSpec(f.key, f.num_embeddings, dim, "mean" if _multi_valued(f) else "sum") for f in features]
        self.out_dim = dim * len(features)
        self.ebc = embedding_bag_collection(specs, init_std=init_std)

    def jagged(self) -> dict[str, tuple[Tensor, Tensor]]:
        return {k: (getattr(self, f"offsets_{i}"), getattr(self, f"values_{i}")) for i, k in enumerate(self.keys)}

    def forward(self, rows: Tensor) -> Tensor:
        """``rows`` ``(B,)`` int64 -> ``(B, out_dim)`` float32."""
        return self.ebc(kjt_for_rows(self.jagged(), rows)).values()


def _multi_valued(f: JaggedFeature) -> bool:
    return bool(np.any(np.diff(f.offsets) > 1))
