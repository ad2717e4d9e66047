"""The union of the sources' proposals: exact per-source scores and ranks, the cap, the exclusions,
and candidate recall."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsmith.data.histories import Histories
from recsmith.data.interactions import Interactions
from recsmith.ranking.candidates import candidates, recall_report
from recsmith.ranking.config import PopularSpec, RepurchaseSpec
from recsmith.ranking.sources import Context, FitData, Source, make_source

N_ITEMS = 6


class Fixed(Source):
    """A source with given scores: row r of ``table`` for user r."""

    def __init__(self, name: str, n: int, table: np.ndarray) -> None:
        super().__init__(name, type("Spec", (), {"n": n})())
        self.table = table

    def fit(self, data: FitData) -> None: ...

    def scores(self, users: np.ndarray, ctx: Context) -> np.ndarray:
        return self.table[users].astype(np.float32).copy()


def _ctx() -> Context:
    frame = pl.DataFrame({"user": [0, 0, 1], "item": [0, 1, 2], "timestamp": [0, 1, 2], "weight": [1.0, 1.0, 1.0]})
    return Context(Histories.from_interactions(Interactions(frame, 2, N_ITEMS)), now=3)


A = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
B = np.array([[-np.inf, 9.0, -np.inf, -np.inf, -np.inf, 8.0], [-np.inf] * 6])


def test_union_scores_and_ranks() -> None:
    sources = [Fixed("a", 2, A), Fixed("b", 3, B)]
    out = candidates(sources, np.array([0, 1]), _ctx())
    rows = {(r["user"], r["item"]): r for r in out.iter_rows(named=True)}
    assert sorted(rows) == [(0, 0), (0, 1), (0, 5), (1, 4), (1, 5)]
    assert rows[(0, 0)]["a:rank"] == 1 and np.isnan(rows[(0, 0)]["b:rank"])
    assert rows[(0, 1)]["a:rank"] == 2 and rows[(0, 1)]["b:rank"] == 1 and rows[(0, 1)]["b:score"] == 9.0
    # item 5 of user 0: proposed by b only, but a's score of it is still a feature
    assert rows[(0, 5)]["a:score"] == 0.0 and np.isnan(rows[(0, 5)]["a:rank"]) and rows[(0, 5)]["b:rank"] == 2
    # b cannot score user 1's items at all: null scores, no ranks
    assert np.isnan(rows[(1, 4)]["b:score"]) and rows[(1, 5)]["a:rank"] == 1


def test_exclude_and_cap() -> None:
    sources = [Fixed("a", 3, A), Fixed("b", 3, B)]
    exclude = sp.csr_matrix(([1.0], ([0], [1])), shape=(2, N_ITEMS))
    out = candidates(sources, np.array([0, 1]), _ctx(), exclude=exclude, max_per_user=2)
    got = out.group_by("user", maintain_order=True).agg("item").sort("user")["item"].to_list()
    # user 0 without item 1: a proposes 0, 2, 3 and b proposes 5; the cap keeps rank 1s: items 0 and 5
    assert got == [[0, 5], [4, 5]]


def test_recall_report() -> None:
    proposals: dict[str, np.ndarray] = {}
    users = np.array([1, 0])
    out = candidates([Fixed("a", 2, A)], users, _ctx(), proposals=proposals)
    truth = sp.csr_matrix(([1.0, 1.0, 1.0], ([0, 0, 1], [0, 3, 5])), shape=(2, N_ITEMS))
    report = recall_report(truth, users, proposals, out)
    # user 0 gets items 0, 1 (one of its two relevant); user 1 gets 5, 4 (its one relevant)
    assert report["a"]["recall"] == pytest.approx((0.5 + 1.0) / 2)
    assert report["union"]["recall"] == pytest.approx(0.75) and report["union"]["candidates_per_user"] == 2.0


def test_transaction_sources() -> None:
    ctx = _ctx()
    frame = pl.DataFrame(
        {"user": [0, 0, 0, 1], "item": [0, 1, 0, 2], "timestamp": [0, 86_400, 2 * 86_400, 0], "weight": [1.0] * 4}
    )
    data = FitData(
        Interactions(frame, 2, N_ITEMS),
        None,
        Context(Histories.from_interactions(Interactions(frame, 2, N_ITEMS)), 3 * 86_400),
        seed=0,
    )
    again = make_source("again", RepurchaseSpec(n=5, half_life_days=1.0))
    again.fit(data)
    scores = again.scores(np.array([0, 1]), data.context)
    # item 0 twice (ages 2 days and 0 from the user's last interaction), item 1 once (1 day)
    np.testing.assert_allclose(scores[0, :2], [0.25 + 1.0, 0.5], rtol=1e-6)
    assert np.isneginf(scores[0, 2:]).all() and scores[1, 2] == 1.0
    pop = make_source("pop", PopularSpec(n=5, half_life_days=None))
    pop.fit(data)
    np.testing.assert_array_equal(pop.scores(np.array([1]), ctx)[0, :3], [2.0, 1.0, 1.0])
    assert pop.propose(np.array([1]), pop.scores(np.array([1]), ctx), 5, ctx).tolist() == [[0, 1, 2, -1, -1]]
