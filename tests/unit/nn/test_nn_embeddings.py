"""TorchRec embeddings: jagged features from side columns, KeyedJaggedTensors cut from them, and
pooled / sequence collections that equal a hand computation on the embedding rows."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import pytest
import torch

from recsmith.errors import ConfigError
from recsmith.nn.embeddings import (
    UNKNOWN,
    JaggedFeature,
    PooledFeatures,
    TableSpec,
    embedding_collection,
    id_feature,
    jagged_from_column,
    kjt_for_rows,
)

# rows: [3, 1], [], [2], [4, 4, 1]  and  [7], [5], [], [6]
GENRES = (np.array([0, 2, 2, 3, 6]), np.array([3, 1, 2, 4, 4, 1]))
BRAND = (np.array([0, 1, 2, 2, 3]), np.array([7, 5, 6]))


def _tensors(*pairs):
    return tuple(torch.from_numpy(a) for pair in pairs for a in pair)


def test_kjt_for_rows_slices_each_key_in_order_with_empty_rows() -> None:
    go, gv, bo, bv = _tensors(GENRES, BRAND)
    kjt = kjt_for_rows({"genres": (go, gv), "brand": (bo, bv)}, torch.tensor([3, 1, 0, 3, 2]))
    assert kjt.keys() == ["genres", "brand"]
    # genres of rows 3, 1, 0, 3, 2, then brand of the same rows
    assert kjt.lengths().tolist() == [3, 0, 2, 3, 1, 1, 1, 1, 1, 0]
    assert kjt.values().tolist() == [4, 4, 1, 3, 1, 4, 4, 1, 2, 6, 5, 7, 6]
    assert kjt.offsets().tolist() == [0, 3, 3, 5, 8, 9, 10, 11, 12, 13, 13]
    assert kjt.values().dtype == torch.int64
    per_key = kjt.to_dict()
    assert per_key["brand"].lengths().tolist() == [1, 1, 1, 1, 0]
    assert per_key["genres"].values().tolist() == [4, 4, 1, 3, 1, 4, 4, 1, 2]


def test_kjt_for_rows_all_empty_and_empty_batch() -> None:
    go, gv = _tensors(GENRES)
    kjt = kjt_for_rows({"genres": (go, gv)}, torch.tensor([1, 1]))
    assert kjt.lengths().tolist() == [0, 0] and kjt.values().numel() == 0
    none = kjt_for_rows({"genres": (go, gv)}, torch.tensor([], dtype=torch.int64))
    assert none.lengths().numel() == 0 and none.values().numel() == 0


def test_pooled_features_equal_manual_mean_and_sum() -> None:
    torch.manual_seed(0)
    genres = JaggedFeature("item.genres", *GENRES, num_embeddings=5, vocab=np.array(list("abcd")))
    brand = JaggedFeature("item.brand", *BRAND, num_embeddings=8, vocab=np.array(list("abcdefg")))
    module = PooledFeatures([genres, brand], dim=3)
    assert module.out_dim == 6
    rows = torch.tensor([0, 1, 2, 3, 3])
    out = module(rows)
    assert out.shape == (5, 6)
    g = module.ebc.embedding_bags["t_item_genres"].weight.detach()
    b = module.ebc.embedding_bags["t_item_brand"].weight.detach()
    # genres has rows with several values: mean-pooled; brand has at most one: summed
    expected_g = torch.stack([g[[3, 1]].mean(0), torch.zeros(3), g[2], g[[4, 4, 1]].mean(0), g[[4, 4, 1]].mean(0)])
    expected_b = torch.stack([b[7], b[5], torch.zeros(3), b[6], b[6]])
    torch.testing.assert_close(out[:, :3], expected_g)
    torch.testing.assert_close(out[:, 3:], expected_b)
    out.sum().backward()  # gradients reach the tables through the standard EBC
    assert g.shape == module.ebc.embedding_bags["t_item_genres"].weight.grad.shape


def test_embedding_collection_gives_one_row_per_value() -> None:
    go, gv = _tensors(GENRES)
    ec = embedding_collection([TableSpec("genres", 5, 4)])
    jt = ec(kjt_for_rows({"genres": (go, gv)}, torch.tensor([0, 3])))["genres"]
    w = ec.embeddings["t_genres"].weight.detach()
    assert jt.lengths().tolist() == [2, 3]
    torch.testing.assert_close(jt.values(), w[[3, 1, 4, 4, 1]])


def test_jagged_from_column_lists_with_missing_values() -> None:
    column = pl.Series("genres", [["Drama", "War"], None, [], ["War"], ["Comedy", None], ["War", "Drama"]])
    f = jagged_from_column(column, "item.genres")
    # vocabulary by descending count, ties by value; 0 is unknown / missing
    assert f.vocab.tolist() == ["War", "Drama", "Comedy"]
    assert f.offsets.tolist() == [0, 2, 3, 4, 5, 7, 9]
    assert f.values.tolist() == [2, 1, UNKNOWN, UNKNOWN, 1, 3, UNKNOWN, 1, 2]
    assert f.num_embeddings == 4 and f.n_rows == 6


def test_jagged_from_column_scalars_and_vocabulary_cap() -> None:
    ages = jagged_from_column(pl.Series("age", [21, 30, None, 21]), "user.age")
    assert ages.vocab.tolist() == ["21", "30"] and ages.values.tolist() == [1, 2, UNKNOWN, 1]
    assert ages.offsets.tolist() == [0, 1, 2, 3, 4]
    capped = jagged_from_column(pl.Series("g", ["M", "F", "M", "X"]), "user.g", max_vocab=1)
    assert capped.vocab.tolist() == ["M"] and capped.values.tolist() == [1, UNKNOWN, 1, UNKNOWN]
    with pytest.raises(ConfigError, match="float column"):
        jagged_from_column(pl.Series("price", [1.5, 2.0]), "item.price")


def test_feature_arrays_roundtrip_without_objects() -> None:
    f = jagged_from_column(pl.Series("c", ["x", "y", None]), "item.c")
    arrays = f.to_arrays("item_feature.c")
    assert all(a.dtype != object for a in arrays.values())
    back = JaggedFeature.from_arrays("item.c", "item_feature.c", arrays)
    assert back.num_embeddings == f.num_embeddings
    np.testing.assert_array_equal(back.values, f.values)
    with pytest.raises(ValueError, match="id feature"):
        id_feature("item.id", 3).to_arrays("x")


def test_id_feature_leaves_absent_rows_empty() -> None:
    f = id_feature("item.id", 4, present=np.array([True, False, True, True]))
    assert f.num_embeddings == 4 and f.vocab is None
    assert f.offsets.tolist() == [0, 1, 1, 2, 3] and f.values.tolist() == [0, 2, 3]
    module = PooledFeatures([f], dim=2)
    out = module(torch.arange(4))
    w = module.ebc.embedding_bags["t_item_id"].weight.detach()
    torch.testing.assert_close(out, torch.stack([w[0], torch.zeros(2), w[2], w[3]]))


def test_fx_tracing_notice_is_dropped_and_nothing_else() -> None:
    logger = logging.getLogger("torch.fx._symbolic_trace")
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        logger.warning("is_fx_tracing will return true for both fx.symbolic_trace and torch.export. ...")
        logger.warning("another warning")
    finally:
        logger.removeHandler(handler)
    assert seen == ["another warning"]
