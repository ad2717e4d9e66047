"""Every accuracy metric against an independent implementation: pytrec_eval (trec_eval's C code).

Which recsmith key matches which trec_eval measure (docs/evaluation.md, "Names"):

================  ==============================  ===========================================
recsmith          trec_eval / pytrec_eval         note
================  ==============================  ===========================================
``recall@K``      ``recall_K``                    hits / |relevant|
``precision@K``   ``P_K``                         hits / K, also when fewer than K retrieved
``ndcg@K``        ``ndcg_cut_K``                  binary gains, ideal over min(|relevant|, K)
``hit@K``         ``success_K``                   any hit in the top K
``mrr@K``         ``recip_rank`` of the run cut   trec_eval's recip_rank has no cutoff
                  to its first K documents
``map_trec@K``    ``map_cut_K``                   sum P@i rel_i / |relevant|
``map@K``         (none: differs from map_cut)    sum P@i rel_i / min(|relevant|, K) (H&M)
``recall_capped``  (none)                         hits / min(|relevant|, K)
================  ==============================  ===========================================

trec_eval ranks by score and breaks ties by document id (descending *string* order), and it
scores a query without relevant documents as 0; recsmith metrics are computed on lists whose
ties the model already broke (lower item id first) and refuse users without relevant items.
The random tests therefore give trec_eval distinct scores in list order.
"""

from __future__ import annotations

import numpy as np
import pytest

from recsmith.evaluation.metrics import ALL_METRIC_NAMES, hit_matrix, per_user_metrics

pytrec_eval = pytest.importorskip("pytrec_eval")

KS = [1, 3, 5, 10, 20]


def trec_run(lists: np.ndarray, cut: int | None = None) -> dict[str, dict[str, float]]:
    """Each row as a trec run with strictly decreasing scores in list order (padding dropped)."""
    run = {}
    for u, row in enumerate(lists):
        row = [int(i) for i in row[:cut] if i >= 0]
        run[f"u{u}"] = {f"i{i}": float(len(row) - p) for p, i in enumerate(row)}
    return run


def trec_qrels(relevant: list[np.ndarray]) -> dict[str, dict[str, int]]:
    return {f"u{u}": {f"i{int(i)}": 1 for i in rel} for u, rel in enumerate(relevant)}


def random_case(seed: int, n_users: int = 200, n_items: int = 60, width: int = 20):
    """Random rankings without repeats (trec runs are sets), some short, some with R > K."""
    rng = np.random.default_rng(seed)
    lists = np.stack([rng.permutation(n_items)[:width] for _ in range(n_users)])
    for u in rng.choice(n_users, n_users // 5, replace=False):  # short lists, padded
        lists[u, rng.integers(1, width) :] = -1
    relevant = [rng.choice(n_items, rng.integers(1, 25), replace=False) for _ in range(n_users)]
    return lists, relevant


def ours(lists, relevant, ks=KS):
    hits, n_rel = hit_matrix(lists, relevant)
    return per_user_metrics(hits, n_rel, ks, ALL_METRIC_NAMES)


@pytest.mark.parametrize("seed", range(3))
def test_metrics_that_trec_eval_defines_identically(seed):
    lists, relevant = random_case(seed)
    got = ours(lists, relevant)
    measures = {f"{m}.{','.join(map(str, KS))}" for m in ("recall", "P", "ndcg_cut", "map_cut", "success")}
    trec = pytrec_eval.RelevanceEvaluator(trec_qrels(relevant), measures).evaluate(trec_run(lists))
    pairs = {"recall": "recall", "precision": "P", "ndcg": "ndcg_cut", "map_trec": "map_cut", "hit": "success"}
    for u in range(len(lists)):
        for k in KS:
            for name, measure in pairs.items():
                assert got[f"{name}@{k}"][u] == pytest.approx(trec[f"u{u}"][f"{measure}_{k}"], abs=1e-9), (u, k, name)


@pytest.mark.parametrize("seed", range(3))
def test_mrr_is_trec_recip_rank_of_the_cut_run(seed):
    lists, relevant = random_case(seed)
    got = ours(lists, relevant)
    for k in KS:
        trec = pytrec_eval.RelevanceEvaluator(trec_qrels(relevant), {"recip_rank"}).evaluate(trec_run(lists, cut=k))
        expected = np.array([trec[f"u{u}"]["recip_rank"] for u in range(len(lists))])
        np.testing.assert_allclose(got[f"mrr@{k}"], expected, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_map_and_recall_variants_differ_from_trec_exactly_by_their_denominator(seed):
    """map@K (H&M) divides by min(R, K), trec's map_cut by R; recall_capped by min(R, K)."""
    lists, relevant = random_case(seed)
    got = ours(lists, relevant)
    n_rel = np.array([len(r) for r in relevant])
    trec = pytrec_eval.RelevanceEvaluator(trec_qrels(relevant), {"map_cut.5,20", "recall.5,20"}).evaluate(
        trec_run(lists)
    )
    for k in (5, 20):
        map_cut = np.array([trec[f"u{u}"][f"map_cut_{k}"] for u in range(len(lists))])
        recall = np.array([trec[f"u{u}"][f"recall_{k}"] for u in range(len(lists))])
        scale = n_rel / np.minimum(n_rel, k)
        np.testing.assert_allclose(got[f"map@{k}"], map_cut * scale, atol=1e-12)
        np.testing.assert_allclose(got[f"recall_capped@{k}"], recall * scale, atol=1e-12)
        # they agree exactly for users with R <= K, and only for them (when they have a hit)
        small = n_rel <= k
        np.testing.assert_allclose(got[f"map@{k}"][small], map_cut[small], atol=1e-12)
        differ = ~small & (map_cut > 0)
        assert differ.any() and (got[f"map@{k}"][differ] > map_cut[differ]).all()


def test_duplicates_keep_their_slot_as_a_miss():
    """A repeated item is a miss at its later position and still takes the slot: trec_eval agrees
    once each repeat is replaced by a distinct non-relevant document."""
    rng = np.random.default_rng(7)
    n_users, width, n_items = 100, 10, 15
    lists = rng.integers(0, n_items, (n_users, width))  # many repeats
    relevant = [rng.choice(n_items, rng.integers(1, 6), replace=False) for _ in range(n_users)]
    got = ours(lists, relevant, [3, 10])
    # replace later copies by fresh non-relevant ids (>= n_items) for trec_eval
    fixed = lists.copy()
    for u in range(n_users):
        seen: set[int] = set()
        for p in range(width):
            if fixed[u, p] in seen:
                fixed[u, p] = n_items + u * width + p
            seen.add(int(lists[u, p]))
    trec = pytrec_eval.RelevanceEvaluator(trec_qrels(relevant), {"ndcg_cut.3,10", "recall.3,10", "P.3,10"}).evaluate(
        trec_run(fixed)
    )
    for k in (3, 10):
        for name, measure in (("ndcg", "ndcg_cut"), ("recall", "recall"), ("precision", "P")):
            expected = np.array([trec[f"u{u}"][f"{measure}_{k}"] for u in range(n_users)])
            np.testing.assert_allclose(got[f"{name}@{k}"], expected, atol=1e-12)


def test_trec_eval_breaks_score_ties_by_document_id_not_by_list_order():
    """Why recsmith computes metrics on resolved lists: with tied scores trec_eval puts "i2" before
    "i10" and "i1" (descending strings); recsmith's contract ranks the lower item id first."""
    qrels = {"u": {"i1": 1}}
    tied = {"u": {"i1": 1.0, "i2": 1.0}}
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(tied)["u"]["recip_rank"]
    assert rr == 0.5  # trec_eval: i2 first
    ours_rr = ours(np.array([[1, 2]]), [np.array([1])], [2])["mrr@2"][0]
    assert ours_rr == 1.0  # recsmith: the lower id first


def test_users_without_relevant_items_trec_scores_zero_recsmith_refuses():
    trec = pytrec_eval.RelevanceEvaluator({"u": {"i1": 0}}, {"recall.5", "ndcg_cut.5"}).evaluate({"u": {"i1": 1.0}})
    assert trec["u"] == {"recall_5": 0.0, "ndcg_cut_5": 0.0}
    with pytest.raises(ValueError, match="no relevant items"):
        ours(np.array([[1]]), [np.array([], dtype=np.int64)], [5])
