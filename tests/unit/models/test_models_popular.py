"""``popular``: counts, measures and time decay, checked by hand."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsmith.data.interactions import Interactions
from recsmith.models import create_model

DAY = 86_400


def _interactions(rows: list[tuple[int, int, int, float]], n_users: int = 10, n_items: int = 4) -> Interactions:
    frame = pl.DataFrame(rows, schema=["user", "item", "timestamp", "weight"], orient="row")
    return Interactions(frame, n_users, n_items)


# item 0: 3 users long ago (day 0); item 1: 2 users now (day 10); item 2: user 5 four times now,
# with weight 2.5 each; item 3: never. User 9 has no interactions.
ROWS = [
    (0, 0, 0, 1.0), (1, 0, 0, 1.0), (2, 0, 0, 1.0),
    (3, 1, 10 * DAY, 1.0), (4, 1, 10 * DAY, 1.0),
    *[(5, 2, 10 * DAY, 2.5)] * 4,
]  # fmt: skip


def _scores(**params) -> np.ndarray:
    model = create_model("popular", params).fit(_interactions(ROWS))
    items, scores = model.recommend([9], k=4)
    return scores[0][np.argsort(items[0])]  # back in item order


def test_most_popular_unseen_items_in_order() -> None:
    model = create_model("popular").fit(_interactions(ROWS))
    items, scores = model.recommend([9, 0, 3], k=4)
    np.testing.assert_array_equal(items[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(scores[0], [3, 2, 1, 0])
    np.testing.assert_array_equal(items[1], [1, 2, 3, -1])  # user 0 saw item 0
    np.testing.assert_array_equal(items[2], [0, 2, 3, -1])  # user 3 saw item 1


@pytest.mark.parametrize(
    ("measure", "expected"),
    [("users", [3, 2, 1, 0]), ("interactions", [3, 2, 4, 0]), ("weight", [3, 2, 10, 0])],
)
def test_measures(measure: str, expected: list[float]) -> None:
    np.testing.assert_allclose(_scores(measure=measure), expected)


def test_half_life_weights_interactions_by_age() -> None:
    # one day half-life: 10-day-old interactions count 2**-10
    np.testing.assert_allclose(_scores(half_life_days=1.0), [3 * 2.0**-10, 2, 1, 0], rtol=1e-6)
    np.testing.assert_allclose(_scores(half_life_days=10.0), [1.5, 2, 1, 0], rtol=1e-6)


def test_ranking_changes_with_half_life() -> None:
    model = lambda h: create_model("popular", {"half_life_days": h}).fit(_interactions(ROWS))  # noqa: E731
    assert list(model(None).recommend([9], k=2)[0][0]) == [0, 1]  # old but many
    assert list(model(100.0).recommend([9], k=2)[0][0]) == [0, 1]  # slow decay: still many wins
    assert list(model(5.0).recommend([9], k=2)[0][0]) == [1, 2]  # fast decay: recent wins


def test_users_measure_counts_each_pair_once_at_its_latest_time() -> None:
    rows = [(0, 0, 0, 1.0), (0, 0, 2 * DAY, 1.0), (1, 1, 2 * DAY, 1.0)]
    model = create_model("popular", {"half_life_days": 1.0}).fit(_interactions(rows))
    _items, scores = model.recommend([9], k=2)
    np.testing.assert_allclose(scores[0], [1.0, 1.0])  # user 0's repeat is fresh, counted once


def test_timestamps_as_steps() -> None:
    rows = [(0, 0, 0, 1.0), (1, 0, 0, 1.0), (2, 1, 4, 1.0)]  # positions, not seconds
    model = create_model("popular", {"half_life_days": 2.0, "timestamps": "steps"}).fit(_interactions(rows))
    _, scores = model.recommend([9], k=2)
    np.testing.assert_allclose(scores[0], [1.0, 0.5])  # item 0: two interactions 4 steps old
    in_seconds = create_model("popular", {"half_life_days": 2.0}).fit(_interactions(rows))
    np.testing.assert_allclose(in_seconds.recommend([9], k=2)[1][0], [2.0, 1.0], rtol=1e-4)
