"""Feature encoders: vocabularies (frequency order, min_count, OOV buckets, hashing), jagged
multi-valued features, numeric transforms fitted on the training rows only, text and images."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsmith.features.config import CategoricalSpec, ImageSpec, MultiSpec, NumericSpec, TextSpec
from recsmith.features.hashing import bucket, fnv1a
from recsmith.features.transforms import make_encoder


def fitted(name: str, spec, train: pl.DataFrame):
    enc = make_encoder(name, spec)
    enc.fit(train.lazy())
    return enc


def ids(enc, frame: pl.DataFrame) -> list:
    return enc.transform(frame)[0].to_list()


# ---- categorical ------------------------------------------------------------------------------


def test_vocabulary_is_frequency_ordered_with_zero_for_missing() -> None:
    train = pl.DataFrame({"c": ["b", "a", "b", "c", "b", "a", None]})
    enc = fitted("c", CategoricalSpec(), train)
    # b (3) -> 1, a (2) -> 2, c (1) -> 3; null -> 0; unseen -> the OOV bucket 4
    assert ids(enc, pl.DataFrame({"c": ["a", "b", "c", None, "zzz"]})) == [2, 1, 3, 0, 4]
    assert enc.state()["num_embeddings"] == 5 and enc.state()["vocabulary_size"] == 3


def test_ties_break_by_value_and_min_count_and_max_size() -> None:
    train = pl.DataFrame({"c": ["y", "x", "x", "y", "z"]})
    assert ids(fitted("c", CategoricalSpec(), train), pl.DataFrame({"c": ["x", "y", "z"]})) == [1, 2, 3]
    rare = fitted("c", CategoricalSpec(min_count=2), train)
    assert ids(rare, pl.DataFrame({"c": ["x", "y", "z"]})) == [1, 2, 3]  # z is out of vocabulary: 3 = OOV
    assert rare.state()["vocabulary_size"] == 2
    small = fitted("c", CategoricalSpec(max_size=1), train)
    assert ids(small, pl.DataFrame({"c": ["x", "y"]})) == [1, 2]


def test_oov_buckets_hash_stably_after_the_vocabulary() -> None:
    enc = fitted("c", CategoricalSpec(oov_buckets=10), pl.DataFrame({"c": ["a", "a", "b"]}))
    unseen = ["q", "r", "s", "q"]
    got = ids(enc, pl.DataFrame({"c": unseen}))
    expected = (1 + 2 + bucket(pl.Series(unseen), 10)).tolist()
    assert got == expected and got[0] == got[3] and all(3 <= g < 13 for g in got)


def test_numbers_and_floats_holding_integers_share_a_vocabulary() -> None:
    # FN is 1.0 in the Kaggle file: its text is "1", like the integer 1
    enc = fitted("fn", CategoricalSpec(column="FN"), pl.DataFrame({"FN": [1.0, 1.0, None, 0.0]}))
    assert ids(enc, pl.DataFrame({"FN": [1, 0, None]})) == [1, 2, 0]
    channel = fitted("ch", CategoricalSpec(column="ch"), pl.DataFrame({"ch": pl.Series([2, 2, 1], dtype=pl.Int16)}))
    assert ids(channel, pl.DataFrame({"ch": pl.Series([1, 2, 3], dtype=pl.Int16)})) == [2, 1, 3]


def test_hash_buckets_without_vocabulary() -> None:
    enc = fitted("p", CategoricalSpec(hash_buckets=7), pl.DataFrame({"p": ["x"]}))
    got = ids(enc, pl.DataFrame({"p": ["x", "y", None]}))
    assert got[:2] == (1 + bucket(pl.Series(["x", "y"]), 7)).tolist() and got[2] == 0
    assert enc.state()["num_embeddings"] == 8 and enc.tables() == {}


def test_fitted_state_round_trips_for_serving() -> None:
    enc = fitted("c", CategoricalSpec(min_count=2, oov_buckets=3), pl.DataFrame({"c": list("aabbbcd")}))
    again = make_encoder("c", enc.spec, state=enc.state(), tables=enc.tables())
    frame = pl.DataFrame({"c": ["a", "b", "c", "d", "e", None]})
    assert ids(again, frame) == ids(enc, frame)


def test_fnv1a_is_the_published_algorithm() -> None:
    def reference(text: str) -> int:
        h = 0xCBF29CE484222325
        for b in text.encode():
            h = ((h ^ b) * 0x100000001B3) % 2**64
        return h

    values = ["", "a", "Café", "0108775015", "x" * 70]
    assert [int(v) for v in fnv1a(pl.Series(values))] == [reference(v) for v in values]
    assert int(fnv1a(pl.Series(["a"]))[0]) == 0xAF63DC4C8601EC8C  # FNV-1a 64 of "a"


# ---- multi-valued -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "frame"),
    [
        (MultiSpec(column="genres"), pl.DataFrame({"genres": [["x", "y"], [], None, ["y", "q"]]})),
        (MultiSpec(column="genres", sep="|"), pl.DataFrame({"genres": ["x|y", "", None, "y| q"]})),
        (MultiSpec(columns=["a", "b"]), pl.DataFrame({"a": ["x", None, None, "y"], "b": ["y", None, None, "q"]})),
    ],
)
def test_multi_valued_jagged_layout(spec: MultiSpec, frame: pl.DataFrame) -> None:
    train = frame.head(2)  # q is only in the last row: out of vocabulary
    enc = make_encoder("g", spec)
    enc.fit(train.lazy())
    offsets, values = enc.jagged(frame)
    # vocabulary: x (1), y (1) -> ties by value: x = 1, y = 2; OOV bucket = 3
    assert offsets.tolist() == [0, 2, 2, 2, 4]
    assert values.tolist() == [1, 2, 2, 3]
    assert offsets.dtype == np.int64 and values.dtype == np.int32
    assert enc.transform(frame)[0].to_list() == [[1, 2], [], [], [2, 3]]


# ---- numeric ----------------------------------------------------------------------------------


def test_standardize_uses_training_statistics_only() -> None:
    train = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    enc = fitted("x", NumericSpec(), train)
    out = enc.transform(pl.DataFrame({"x": [2.0, 100.0, None]}))[0]
    assert out.dtype == pl.Float32
    assert out.to_list() == pytest.approx([0.0, 98.0, 0.0])  # std of the training rows is 1; null -> mean
    assert enc.state()["mean"] == pytest.approx(2.0) and enc.state()["std"] == pytest.approx(1.0)


def test_log1p_clips_negatives_and_standardizes() -> None:
    train = pl.DataFrame({"x": [0.0, np.e - 1]})  # log1p: 0 and 1
    out = fitted("x", NumericSpec(transform="log1p"), train).transform(pl.DataFrame({"x": [np.e - 1, -5.0]}))[0]
    std = np.std([0.0, 1.0], ddof=1)
    assert out.to_list() == pytest.approx([0.5 / std, -0.5 / std])


def test_quantile_buckets_from_training_quantiles() -> None:
    train = pl.DataFrame({"x": [float(v) for v in range(1, 101)]})
    enc = fitted("x", NumericSpec(transform="quantile", buckets=4), train)
    assert enc.state()["boundaries"] == [25.0, 50.0, 75.0]
    got = ids(enc, pl.DataFrame({"x": [1.0, 25.0, 25.5, 75.0, 1e9, None, float("nan")]}))
    assert got == [1, 2, 2, 4, 4, 0, 0]
    assert enc.state()["num_embeddings"] == 5


def test_numeric_none_keeps_the_value() -> None:
    enc = fitted("x", NumericSpec(transform="none"), pl.DataFrame({"x": [1, 2]}))
    assert enc.transform(pl.DataFrame({"x": [7, None]}))[0].to_list() == [7.0, None]


# ---- text and images -------------------------------------------------------------------------


def test_text_joins_columns_and_skips_missing() -> None:
    frame = pl.DataFrame({"name": ["Strap top", "Bag", None], "desc": ["Jersey.", None, "  "]})
    enc = make_encoder("t", TextSpec(columns=["name", "desc"]))
    assert ids(enc, frame) == ["Strap top | Jersey.", "Bag", None]
    assert ids(make_encoder("name", TextSpec()), frame) == ["Strap top", "Bag", None]


def test_image_template_and_column() -> None:
    frame = pl.DataFrame({"item_id": ["0108775015", None], "path": ["a.jpg", None]})
    enc = make_encoder("image", ImageSpec(template="images/{item_id:3}/{item_id}.jpg"))
    assert enc.inputs == ["item_id"]
    assert ids(enc, frame) == ["images/010/0108775015.jpg", None]
    assert ids(make_encoder("image", ImageSpec(column="path")), frame) == ["a.jpg", None]
