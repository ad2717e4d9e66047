"""Ranking metrics: a hand-worked example, edge cases, and random cases against a loop reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recsmith.evaluation.metrics import METRIC_NAMES, hit_matrix, mean_metrics, per_user_metrics


# ---------------------------------------------------------------------- independent reference
def reference(recommended: list[int], relevant: set[int], k: int) -> dict[str, float]:
    """Plain-loop metrics for one user, written straight from the definitions."""
    seen: set[int] = set()
    rel = []
    for i in range(k):
        item = recommended[i] if i < len(recommended) else -1
        rel.append(1 if item >= 0 and item in relevant and item not in seen else 0)
        seen.add(item)
    n_rel = len(relevant)
    n_hits = sum(rel)
    dcg = sum(r / math.log2(i + 2) for i, r in enumerate(rel))
    idcg = sum(1 / math.log2(i + 2) for i in range(min(n_rel, k)))
    mrr = 0.0
    for i, r in enumerate(rel):
        if r:
            mrr = 1 / (i + 1)
            break
    ap, running = 0.0, 0
    for i, r in enumerate(rel):
        if r:
            running += 1
            ap += running / (i + 1)
    return {
        "recall": n_hits / n_rel,
        "precision": n_hits / k,
        "ndcg": dcg / idcg,
        "mrr": mrr,
        "hit": float(n_hits > 0),
        "map": ap / min(n_rel, k),
    }


def compute(recommended, relevant, ks):
    hits, n_rel = hit_matrix(np.asarray(recommended), relevant)
    return per_user_metrics(hits, n_rel, ks)


# ---------------------------------------------------------------------- worked example
def test_worked_example_by_hand():
    # Items A=0, B=1, C=2. Relevant {A, C}; recommended [A, B, C] -> rel = [1, 0, 1], R = 2.
    #   recall@3    = 2 hits / 2 relevant                          = 1
    #   precision@3 = 2 hits / 3                                   = 2/3
    #   ndcg@3      = (1/log2 2 + 1/log2 4) / (1/log2 2 + 1/log2 3) = (1 + 1/2) / (1 + 1/log2 3)
    #   mrr@3       = first hit at position 1                      = 1
    #   hit@3       = 1
    #   map@3       = (P@1*1 + P@3*1) / min(2, 3) = (1 + 2/3) / 2  = 5/6
    # At k = 1: rel = [1]; recall 1/2, precision 1, ndcg 1/1 = 1, mrr 1, map P@1/min(2,1) = 1.
    # At k = 2: rel = [1, 0]; recall 1/2, precision 1/2, ndcg 1/(1 + 1/log2 3), map 1/2.
    m = compute([[0, 1, 2]], [np.array([0, 2])], [1, 2, 3])
    expected = {
        "recall@3": 1.0,
        "precision@3": 2 / 3,
        "ndcg@3": (1 + 1 / 2) / (1 + 1 / math.log2(3)),
        "mrr@3": 1.0,
        "hit@3": 1.0,
        "map@3": (1 + 2 / 3) / 2,
        "recall@1": 0.5,
        "precision@1": 1.0,
        "ndcg@1": 1.0,
        "map@1": 1.0,
        "recall@2": 0.5,
        "precision@2": 0.5,
        "ndcg@2": 1 / (1 + 1 / math.log2(3)),
        "map@2": 0.5,
    }
    for key, value in expected.items():
        assert m[key][0] == pytest.approx(value), key


def test_keys_and_order():
    m = compute([[0, 1]], [np.array([0])], [10, 5])
    assert list(m) == [f"{n}@{k}" for n in METRIC_NAMES for k in (10, 5)]
    assert set(METRIC_NAMES) == {"recall", "precision", "ndcg", "mrr", "hit", "map"}


# ---------------------------------------------------------------------- edge cases
def test_padding_never_hits_and_k_beyond_list():
    # relevant {3}; list [-1, 3, -1]; k = 10 > list length: the missing positions are misses.
    m = compute([[-1, 3, -1]], [np.array([3])], [10])
    assert m["recall@10"][0] == 1.0
    assert m["precision@10"][0] == pytest.approx(1 / 10)
    assert m["mrr@10"][0] == pytest.approx(1 / 2)
    assert m["ndcg@10"][0] == pytest.approx(1 / math.log2(3))
    assert m["map@10"][0] == pytest.approx(1 / 2)


def test_padding_is_not_item_zero():
    hits, _ = hit_matrix(np.array([[-1, -1]]), [np.array([0])])
    assert not hits.any()


def test_duplicates_count_once_at_first_position():
    # [5, 5, 7] with relevant {5, 7}: the second 5 is a miss -> rel [1, 0, 1], not [1, 1, 1].
    hits, n_rel = hit_matrix(np.array([[5, 5, 7]]), [np.array([5, 7])])
    assert hits.tolist() == [[True, False, True]]
    assert n_rel.tolist() == [2]
    m = per_user_metrics(hits, n_rel, [3])
    assert m["recall@3"][0] == 1.0 and m["precision@3"][0] == pytest.approx(2 / 3)


def test_duplicate_relevant_items_collapse():
    _, n_rel = hit_matrix(np.array([[1]]), [np.array([1, 1, 2])])
    assert n_rel.tolist() == [2]


def test_all_hits_and_no_hits():
    m = compute([[0, 1, 2], [3, 4, 5]], [np.array([0, 1, 2]), np.array([9])], [3])
    for name in METRIC_NAMES:
        assert m[f"{name}@3"][0] == pytest.approx(1.0), name
        assert m[f"{name}@3"][1] == 0.0, name


def test_single_relevant_item_ndcg_is_discount():
    m = compute([[4, 2, 9]], [np.array([9])], [3])
    assert m["ndcg@3"][0] == pytest.approx(1 / math.log2(4))
    assert m["map@3"][0] == pytest.approx(1 / 3)


def test_sparse_and_list_inputs_agree():
    rec = np.array([[0, 3, 1], [2, -1, -1], [4, 4, 0]])
    lists = [np.array([3]), np.array([0, 2]), np.array([0, 1, 4])]
    mat = sp.csr_matrix((np.ones(6), (np.repeat([0, 1, 2], [1, 2, 3]), np.concatenate(lists))), shape=(3, 6))
    h1, n1 = hit_matrix(rec, lists)
    h2, n2 = hit_matrix(rec, mat)
    assert (h1 == h2).all() and (n1 == n2).all()


def test_recommended_ids_beyond_matrix_width_do_not_leak_into_next_row():
    # item 5 in row 0 must not be confused with (row 1, item 0) by the key encoding.
    mat = sp.csr_matrix(np.array([[0, 0, 0, 0, 0], [1, 0, 0, 0, 0]]))
    hits, _ = hit_matrix(np.array([[5], [0]]), mat)
    assert hits.tolist() == [[False], [True]]


def test_users_without_relevant_items_are_refused():
    with pytest.raises(ValueError, match="no relevant items"):
        compute([[0, 1]], [np.array([], dtype=np.int64)], [2])


@pytest.mark.parametrize("ks", [[], [0], [-1], [2.5], [True]])
def test_bad_ks(ks):
    with pytest.raises(ValueError):
        compute([[0]], [np.array([0])], ks)


def test_mean_metrics():
    assert mean_metrics({"a@1": np.array([1.0, 0.0, 0.5])}) == {"a@1": 0.5}
    assert math.isnan(mean_metrics({"a@1": np.array([])})["a@1"])


# ---------------------------------------------------------------------- random cross-check
@pytest.mark.parametrize("seed", range(4))
def test_random_against_reference(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items, width = 150, 30, 12
    ks = [1, 3, 5, 12, 20]
    rec = rng.integers(0, n_items, size=(n_users, width))  # duplicates happen on purpose
    pad = rng.random((n_users, width)) < 0.15
    rec[pad] = -1
    # pad some rows as a suffix too, like a model with few eligible items
    for u in rng.choice(n_users, 20, replace=False):
        rec[u, rng.integers(0, width) :] = -1
    relevant = [rng.choice(n_items, size=rng.integers(1, 8), replace=True) for _ in range(n_users)]
    got = compute(rec, relevant, ks)
    for u in range(n_users):
        for k in ks:
            ref = reference(rec[u].tolist(), set(relevant[u].tolist()), k)
            for name in METRIC_NAMES:
                assert got[f"{name}@{k}"][u] == pytest.approx(ref[name], abs=1e-12), (u, k, name)
