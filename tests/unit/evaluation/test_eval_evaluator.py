"""Full-ranking evaluation of a model: batching, seen-item filtering, user restriction."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsmith.data.interactions import Interactions
from recsmith.errors import RecsmithError
from recsmith.evaluation import METRIC_NAMES, evaluate
from recsmith.evaluation.metrics import hit_matrix, per_user_metrics
from recsmith.models.base import ModelConfig, Recommender


class FixedScores(Recommender):
    """Scores drawn once from a seeded RNG (or given), independent of the training data."""

    name = "fixed-scores-test"

    class Config(ModelConfig):
        seed: int = 0

    table: np.ndarray | None = None

    def _fit(self, interactions: Interactions) -> None:
        if self.table is None:
            rng = np.random.default_rng(self.config.seed)
            self.table = rng.random((self.n_users, self.n_items)).astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.table[users]

    def _state(self) -> dict[str, np.ndarray]:
        return {"table": self.table}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.table = state["table"]


def make(pairs: list[tuple[int, int]], n_users: int, n_items: int) -> Interactions:
    users, items = zip(*pairs) if pairs else ((), ())
    n = len(pairs)
    frame = pl.DataFrame({"user": list(users), "item": list(items), "timestamp": [0] * n, "weight": [1.0] * n})
    return Interactions(frame, n_users, n_items)


def random_split(seed: int, n_users: int = 40, n_items: int = 25):
    rng = np.random.default_rng(seed)
    train = [(u, int(i)) for u in range(n_users) for i in rng.choice(n_items, 4, replace=False)]
    # some users have no target at all; targets may repeat and may overlap training items
    test = [(u, int(rng.integers(n_items))) for u in range(0, n_users, 2) for _ in range(3)]
    return make(train, n_users, n_items), make(test, n_users, n_items)


@pytest.fixture
def fitted():
    train, test = random_split(0)
    return FixedScores(seed=1).fit(train), train, test


def test_batch_size_does_not_change_results(fitted):
    model, _, test = fitted
    a = evaluate(model, test, (1, 5, 10), batch_size=1, return_per_user=True)
    b = evaluate(model, test, (1, 5, 10), batch_size=1000, return_per_user=True)
    c = evaluate(model, test, (1, 5, 10), batch_size=7, return_per_user=True)
    for key in a["per_user"]:
        np.testing.assert_array_equal(a["per_user"][key], b["per_user"][key])
        np.testing.assert_array_equal(a["per_user"][key], c["per_user"][key])
    assert {k: v for k, v in a.items() if k != "per_user"} == {k: v for k, v in b.items() if k != "per_user"}


def test_matches_direct_computation_and_counts_users(fitted):
    model, _, test = fitted
    out = evaluate(model, test, (5, 10))
    users = np.unique(test.frame["user"].to_numpy())
    assert out["n_users"] == users.size == 20
    recs, _ = model.recommend(users, 10)
    relevant = [np.unique(test.frame.filter(pl.col("user") == u)["item"].to_numpy()) for u in users]
    per_user = per_user_metrics(*hit_matrix(recs, relevant), [5, 10])
    for key, values in per_user.items():
        assert out[key] == pytest.approx(values.mean())
    assert list(out) == [f"{n}@{k}" for n in METRIC_NAMES for k in (5, 10)] + ["n_users"]


def test_filter_seen_makes_repeat_targets_unhittable():
    # 1 user, 4 items; the model likes item 0 best, the user had item 0 in training and again in target.
    train, test = make([(0, 0)], 1, 4), make([(0, 0)], 1, 4)
    model = FixedScores()
    model.table = np.array([[0.9, 0.5, 0.2, 0.1]], dtype=np.float32)
    model.fit(train)
    assert evaluate(model, test, (1, 4), filter_seen=False)["hit@1"] == 1.0
    filtered = evaluate(model, test, (1, 4), filter_seen=True)
    assert filtered["hit@4"] == 0.0 and filtered["recall@4"] == 0.0


def test_exclude_passes_through():
    train, test = make([(0, 3)], 1, 4), make([(0, 1)], 1, 4)
    model = FixedScores()
    model.table = np.array([[0.1, 0.9, 0.5, 0.2]], dtype=np.float32)
    model.fit(train)
    assert evaluate(model, test, (1,))["hit@1"] == 1.0
    exclude = sp.csr_matrix(np.array([[0, 1, 0, 0]]))
    assert evaluate(model, test, (1,), exclude=exclude)["hit@1"] == 0.0


def test_users_restriction(fitted):
    model, _, test = fitted
    full = evaluate(model, test, (5,), return_per_user=True)
    # 3 has no target interactions and is dropped; 0, 2, 10 are evaluated.
    part = evaluate(model, test, (5,), users=[10, 3, 0, 2], return_per_user=True)
    assert part["n_users"] == 3
    np.testing.assert_array_equal(part["per_user"]["user"], [0, 2, 10])
    idx = np.searchsorted(full["per_user"]["user"], [0, 2, 10])
    assert part["ndcg@5"] == pytest.approx(full["per_user"]["ndcg@5"][idx].mean())


def test_no_users_gives_nan_and_zero_count(fitted):
    model, _, test = fitted
    out = evaluate(model, test, (5,), users=[1, 3])
    assert out["n_users"] == 0 and np.isnan(out["recall@5"])


def test_k_beyond_catalogue_is_padded():
    train, test = make([(0, 0)], 1, 3), make([(0, 2)], 1, 3)
    model = FixedScores().fit(train)
    out = evaluate(model, test, (10,))
    # two eligible items, one of which is relevant: recall 1, precision 1/10
    assert out["recall@10"] == 1.0 and out["precision@10"] == pytest.approx(0.1)


def test_input_errors(fitted):
    model, _, test = fitted
    with pytest.raises(RecsmithError, match="same dataset"):
        evaluate(model, make([(0, 0)], 5, 5), (5,))
    with pytest.raises(RecsmithError, match="positive"):
        evaluate(model, test, (0,))
    with pytest.raises(RecsmithError, match="batch_size"):
        evaluate(model, test, (5,), batch_size=0)
    with pytest.raises(RecsmithError, match="user ids"):
        evaluate(model, test, (5,), users=[999])


def test_workers_and_auto_batch_size_do_not_change_results(fitted):
    from recsmith.evaluation.evaluator import auto_batch_size

    model, _, test = fitted
    a = evaluate(model, test, (1, 5), batch_size=3, return_per_user=True, return_lists=True)
    b = evaluate(model, test, (1, 5), batch_size=3, workers=3, return_per_user=True, return_lists=True)
    c = evaluate(model, test, (1, 5), batch_size=None, return_per_user=True, return_lists=True)
    for other in (b, c):
        np.testing.assert_array_equal(a["lists"], other["lists"])
        for key in a["per_user"]:
            np.testing.assert_array_equal(a["per_user"][key], other["per_user"][key])
    assert a["lists"].shape == (20, 5) and a["lists"].dtype == np.int32
    assert auto_batch_size(100_000) == 157 and auto_batch_size(10) == 4096 and auto_batch_size(10**12) == 1
    with pytest.raises(RecsmithError, match="workers"):
        evaluate(model, test, (5,), workers=0)
