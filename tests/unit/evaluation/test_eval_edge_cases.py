"""The defined edge cases of evaluation (docs/evaluation.md, "Edge cases"), end to end.

* a user with no relevant items is not evaluated (never scored 0, never a division by zero);
* K larger than the list: missing positions are misses, precision still divides by K;
* ties in scores: the model contract ranks the lower item id first, also at the top-K boundary;
* duplicate recommendations: counted once at the first position, the later copy is a miss that
  keeps its slot; beyond-accuracy metrics count the item once.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from recsmith.data.interactions import Interactions
from recsmith.evaluation import beyond as bm
from recsmith.evaluation import evaluate
from recsmith.evaluation.metrics import hit_matrix, per_user_metrics
from recsmith.models.base import ModelConfig, Recommender


class TableModel(Recommender):
    """Scores from a fixed table (set before fit), for exact control of ties."""

    name = "table-edge-test"

    class Config(ModelConfig):
        pass

    table: np.ndarray

    def _fit(self, interactions: Interactions) -> None:
        pass

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.table[users].copy()

    def _state(self) -> dict[str, np.ndarray]:
        return {"table": self.table}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.table = state["table"]


def interactions(pairs, n_users, n_items) -> Interactions:
    users, items = zip(*pairs) if pairs else ((), ())
    n = len(pairs)
    return Interactions(
        pl.DataFrame({"user": list(users), "item": list(items), "timestamp": [0] * n, "weight": [1.0] * n}),
        n_users,
        n_items,
    )


def fitted(table, train_pairs) -> TableModel:
    table = np.asarray(table, dtype=np.float32)
    model = TableModel()
    model.table = table
    return model.fit(interactions(train_pairs, *table.shape))


# ---------------------------------------------------------------------- no relevant items
def test_user_without_relevant_items_is_not_evaluated():
    # users 0..2; only users 0 and 2 have test items; user 1 must not pull the mean down
    model = fitted(np.tile([0.9, 0.5, 0.1, 0.0], (3, 1)), [(0, 3), (1, 3), (2, 3)])
    test = interactions([(0, 0), (2, 1)], 3, 4)
    out = evaluate(model, test, [1], return_per_user=True)
    assert out["n_users"] == 2
    np.testing.assert_array_equal(out["per_user"]["user"], [0, 2])
    assert out["hit@1"] == 0.5  # user 0 hits, user 2 does not; user 1 is absent, not a 0


def test_per_user_metrics_refuses_zero_relevant_and_hit_matrix_reports_it():
    hits, n_rel = hit_matrix(np.array([[1, 2], [3, 4]]), [np.array([2]), np.array([], dtype=np.int64)])
    assert n_rel.tolist() == [1, 0]
    with pytest.raises(ValueError, match="1 user"):
        per_user_metrics(hits, n_rel, [2])
    keep = n_rel > 0  # what callers do
    assert per_user_metrics(hits[keep], n_rel[keep], [2])["mrr@2"].tolist() == [0.5]


# ---------------------------------------------------------------------- K beyond the list
def test_k_larger_than_the_list_and_the_catalogue():
    # 4 items, user saw 2 of them: only 2 can be recommended; K = 10
    model = fitted([[0.4, 0.3, 0.2, 0.1]], [(0, 0), (0, 1)])
    test = interactions([(0, 3)], 1, 4)
    out = evaluate(model, test, [1, 2, 10], return_lists=True, return_per_user=True)
    assert out["lists"][0].tolist() == [2, 3] + [-1] * 8
    assert out["hit@1"] == 0.0 and out["hit@2"] == 1.0
    assert out["precision@10"] == pytest.approx(1 / 10)  # divided by K, not by the 2 items shown
    assert out["recall@10"] == 1.0
    assert out["ndcg@10"] == pytest.approx(1 / math.log2(3))


# ---------------------------------------------------------------------- ties
def test_tied_scores_rank_the_lower_item_id_first():
    # all items tie: the list is 0, 1, 2, ... and the relevant item 2 sits at position 3
    model = fitted(np.ones((1, 6)), [(0, 5)])
    out = evaluate(model, interactions([(0, 2)], 1, 6), [2, 3], return_lists=True)
    assert out["lists"][0].tolist() == [0, 1, 2]
    assert out["hit@2"] == 0.0 and out["mrr@3"] == pytest.approx(1 / 3)


def test_ties_at_the_top_k_boundary_keep_the_lowest_ids():
    # item 4 is best; items 0..3 tie for the second place; top-3 = [4, 0, 1]
    scores = np.array([[0.5, 0.5, 0.5, 0.5, 0.9]])
    model = fitted(scores, [(0, 0)])
    out = evaluate(model, interactions([(0, 3)], 1, 5), [3], return_lists=True, filter_seen=False)
    assert out["lists"][0].tolist() == [4, 0, 1]
    assert out["hit@3"] == 0.0


# ---------------------------------------------------------------------- duplicates
def test_duplicate_recommendations_count_once_and_keep_their_slot():
    hits, n_rel = hit_matrix(np.array([[7, 7, 3]]), [np.array([7, 3])])
    m = per_user_metrics(hits, n_rel, [2, 3])
    assert hits.tolist() == [[True, False, True]]
    assert m["recall@2"][0] == 0.5  # the second 7 does not count again
    assert m["precision@3"][0] == pytest.approx(2 / 3)
    assert m["ndcg@3"][0] == pytest.approx((1 + 1 / 2) / (1 + 1 / math.log2(3)))


def test_beyond_metrics_count_a_duplicate_once_and_ignore_padding():
    lists = np.array([[2, 2, -1], [0, 1, 2]])
    assert bm.clean_lists(lists).tolist() == [[2, -1, -1], [0, 1, 2]]
    pop = np.array([4, 2, 1])
    np.testing.assert_allclose(bm.average_popularity(lists, pop), [1.0, 7 / 3])
    ild = bm.intra_list_diversity(lists, np.eye(3))
    assert math.isnan(ild[0]) and ild[1] == pytest.approx(1.0)  # one distinct item: undefined
    assert bm.exposure(bm.list_matrix(lists, 3)).tolist() == [1, 1, 2]


def test_empty_lists_give_nan_per_user_and_are_skipped_by_set_metrics():
    lists = np.array([[-1, -1], [0, 1]])
    assert math.isnan(bm.novelty(lists, np.array([1, 1]), 2)[0])
    member = bm.list_matrix(lists, 2)
    assert bm.coverage(member) == 1.0
    assert math.isnan(bm.personalisation(member))  # only one user has a list
