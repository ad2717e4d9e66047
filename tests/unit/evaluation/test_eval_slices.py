"""Slices: membership rules, per-slice metrics, and the sampled-negatives contrast protocol."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from recsmith.data.interactions import Interactions
from recsmith.evaluation import evaluate
from recsmith.evaluation.analysis import EvalContext, ModelEval, analyse_slices
from recsmith.evaluation.sampled import evaluate_sampled
from recsmith.evaluation.slices import (
    activity_quantiles,
    cold_start_users,
    new_items,
    slice_per_user,
    standard_slices,
    training_counts,
)
from recsmith.models.registry import create_model


def make(pairs, n_users, n_items) -> Interactions:
    users, items = zip(*pairs) if pairs else ((), ())
    n = len(pairs)
    return Interactions(
        pl.DataFrame({"user": list(users), "item": list(items), "timestamp": list(range(n)), "weight": [1.0] * n}),
        n_users,
        n_items,
    )


@pytest.fixture
def split():
    # user u has u + 1 training interactions (user 0: 1, ..., user 7: 8); item 9 is never trained on
    train = make([(u, i) for u in range(8) for i in [8, *range(u)]], 8, 10)
    test = make([(u, 9 if u % 3 == 0 else 8) for u in range(8)] + [(1, 9)], 8, 10)
    return train, test


def test_cold_start_and_counts(split):
    train, _test = split
    assert training_counts(train).tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    sl = cold_start_users(train, np.arange(8), max_interactions=3)
    assert sl.users.tolist() == [0, 1, 2] and sl.kind == "users"


def test_activity_quantiles_partition_the_users(split):
    train, _ = split
    slices = activity_quantiles(train, np.arange(8), 4)
    assert [s.users.tolist() for s in slices] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert slices[0].description == "training interactions 1-2"
    # heavy ties: everyone has the same count -> one bin holds everybody, the others are empty
    flat = make([(u, 0) for u in range(5)], 5, 2)
    sizes = [s.users.size for s in activity_quantiles(flat, np.arange(5), 4)]
    assert sorted(sizes) == [0, 0, 0, 5]


def test_new_items_are_test_items_without_training(split):
    train, test = split
    sl = new_items(train, test)
    assert sl.kind == "items" and np.flatnonzero(sl.items).tolist() == [9]


def test_item_slice_restricts_relevance(split):
    train, test = split
    users = np.arange(8)
    lists = np.tile([9, 8, 0], (8, 1))  # everybody gets [9, 8, 0]
    sl = new_items(train, test)
    who, per_user = slice_per_user(sl, users, lists, test.binary, [1, 2])
    # users whose test items include item 9: 0, 1, 3, 6; only item 9 counts as relevant
    assert who.tolist() == [0, 1, 3, 6]
    assert per_user["recall@1"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert per_user["precision@2"].tolist() == [0.5] * 4  # item 8 is relevant to user 1, not in this slice
    # the user slice of everybody gives the usual metrics
    everyone = standard_slices(train, test, users, cold_start_max=8)[0]
    who, per_user = slice_per_user(everyone, users, lists, test.binary, [1])
    assert who.tolist() == list(range(8)) and per_user["hit@1"].tolist() == [1, 1, 0, 1, 0, 0, 1, 0]


def test_analyse_slices_keeps_empty_slices(split):
    train, test = split
    model = create_model("popular").fit(train)
    res = evaluate(model, test, [2], return_per_user=True, return_lists=True)
    out = analyse_slices(
        {"popular": ModelEval.from_result(res)}, EvalContext(train, test), ks=[2], cold_start_max=0, n_bootstrap=50
    )
    names = [s["name"] for s in out]
    assert names == ["cold-start users", "activity Q1", "activity Q2", "activity Q3", "activity Q4", "new items"]
    assert out[0]["models"]["popular"]["n_users"] == 0
    assert out[0]["models"]["popular"]["metrics"]["ndcg@2"] is None
    assert sum(s["models"]["popular"]["n_users"] for s in out[1:5]) == 8


# ---------------------------------------------------------------------- sampled negatives
def test_sampled_rank_against_a_loop():
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 50
    pairs = {(int(u), int(i)) for u, i in zip(rng.integers(0, n_users, 300), rng.integers(0, n_items, 300))}
    train = make(sorted(pairs), n_users, n_items)
    test = make([(u, int(rng.integers(0, n_items))) for u in range(n_users)], n_users, n_items)
    model = create_model("itemknn", {"k": 10}).fit(train)
    out = evaluate_sampled(model, train, test, [1, 5, 10], n_negatives=20, seed=3, filter_seen=False)
    # reference: rebuild the same negatives and count, per case, negatives ranked above the target
    full, _ = model.recommend(np.arange(n_users), n_items, filter_seen=False)
    known = (train.binary + test.binary).toarray() > 0
    sampler = np.random.default_rng(3)
    noise = sampler.random((n_users, n_items))
    noise[known] = np.inf
    ranks = []
    for u in range(n_users):
        negatives = [i for i in np.argsort(noise[u], kind="stable")[:20] if np.isfinite(noise[u, i])]
        position = {int(item): p for p, item in enumerate(full[u])}
        target = int(test.frame.filter(pl.col("user") == u)["item"][0])
        ranks.append(1 + sum(position[n] < position[target] for n in negatives))
    ranks = np.array(ranks)
    assert out["n_cases"] == n_users
    for k in (1, 5, 10):
        assert out[f"hit@{k}"] == pytest.approx(np.mean(ranks <= k))
        assert out[f"ndcg@{k}"] == pytest.approx(np.mean(np.where(ranks <= k, 1 / np.log2(ranks + 1), 0)))


def test_sampled_metrics_are_much_higher_than_full_ranking():
    rng = np.random.default_rng(1)
    n_users, n_items = 80, 200
    pairs = {(int(u), int(i)) for u, i in zip(rng.integers(0, n_users, 1500), rng.zipf(1.3, 1500) % n_items)}
    train = make(sorted(pairs), n_users, n_items)
    test = make([(u, int(rng.zipf(1.3) % n_items)) for u in range(n_users)], n_users, n_items)
    model = create_model("popular").fit(train)
    full = evaluate(model, test, [10], filter_seen=False)
    sampled = evaluate_sampled(model, train, test, [10], n_negatives=20, filter_seen=False)
    assert sampled["hit@10"] > full["hit@10"]
    assert not math.isnan(sampled["ndcg@10"])
