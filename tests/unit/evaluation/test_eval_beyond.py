"""Beyond-accuracy metrics: vectorised code against plain-loop references written from the definitions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsmith.data.interactions import Interactions
from recsmith.evaluation import beyond as bm
from recsmith.models.registry import create_model


def random_lists(rng, n_users=60, n_items=40, width=8):
    lists = rng.integers(0, n_items, (n_users, width))  # repeats on purpose
    lists[rng.random(lists.shape) < 0.1] = -1
    lists[rng.choice(n_users, 3, replace=False)] = -1  # some empty lists
    return lists


def distinct(row) -> list[int]:
    out: list[int] = []
    for i in row:
        if i >= 0 and i not in out:
            out.append(int(i))
    return out


def cos(a, b) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return 0.0 if na == 0 or nb == 0 else float(a @ b / (na * nb))


@pytest.mark.parametrize("seed", range(3))
def test_set_level_metrics_against_loops(seed):
    rng = np.random.default_rng(seed)
    n_items = 40
    lists = random_lists(rng, n_items=n_items)
    member = bm.list_matrix(lists, n_items)
    rows = [distinct(r) for r in lists]
    assert bm.coverage(member) == pytest.approx(len(set().union(*rows)) / n_items)
    x = np.array([sum(i in r for r in rows) for i in range(n_items)], dtype=float)
    # Gini as the relative mean absolute difference: sum_ij |x_i - x_j| / (2 n^2 mean)
    gini = np.abs(x[:, None] - x[None, :]).sum() / (2 * n_items**2 * x.mean())
    assert bm.gini_index(bm.exposure(member)) == pytest.approx(gini)
    users = [r for r in rows if r]
    sims = []
    for a, b in itertools.combinations(users, 2):
        sims.append(len(set(a) & set(b)) / math.sqrt(len(a) * len(b)))
    assert bm.personalisation(member) == pytest.approx(1 - np.mean(sims))


def test_weights_equal_repeating_users():
    """A multiplicity w_u behaves like w_u copies of the user, except that personalisation never
    pairs a user with its own copies."""
    rng = np.random.default_rng(3)
    lists = random_lists(rng, n_users=20, n_items=15, width=4)
    w = rng.integers(0, 3, 20)
    member = bm.list_matrix(lists, 15)
    repeated = bm.list_matrix(np.repeat(lists, w, axis=0), 15)
    np.testing.assert_allclose(bm.exposure(member, w[None, :])[0], bm.exposure(repeated))
    assert bm.coverage(member, w[None, :])[0] == pytest.approx(bm.coverage(repeated))
    # distinct-user pairs only: build the reference by hand
    rows = [distinct(r) for r in lists]
    num = den = 0.0
    for u, v in itertools.permutations(range(20), 2):
        if rows[u] and rows[v]:
            num += w[u] * w[v] * len(set(rows[u]) & set(rows[v])) / math.sqrt(len(rows[u]) * len(rows[v]))
            den += w[u] * w[v]
    assert bm.personalisation(member, w[None, :])[0] == pytest.approx(1 - num / den)


@pytest.mark.parametrize("seed", range(3))
def test_per_user_popularity_metrics_against_loops(seed):
    rng = np.random.default_rng(seed)
    n_items = 40
    lists = random_lists(rng, n_items=n_items)
    pop = rng.integers(0, 30, n_items)
    n_train_users = 50
    head = set(np.lexsort((np.arange(n_items), -pop))[: math.ceil(0.2 * n_items)].tolist())
    nov, arp, tail = (
        bm.novelty(lists, pop, n_train_users),
        bm.average_popularity(lists, pop),
        bm.long_tail_share(lists, pop),
    )
    for u, row in enumerate(lists):
        items = distinct(row)
        if not items:
            assert math.isnan(nov[u]) and math.isnan(arp[u]) and math.isnan(tail[u])
            continue
        assert nov[u] == pytest.approx(np.mean([-math.log2(max(pop[i], 1) / n_train_users) for i in items]))
        assert arp[u] == pytest.approx(np.mean([pop[i] for i in items]))
        assert tail[u] == pytest.approx(np.mean([i not in head for i in items]))


@pytest.mark.parametrize("dense", [True, False])
def test_intra_list_diversity_against_loop(dense):
    rng = np.random.default_rng(4)
    n_items = 30
    lists = random_lists(rng, n_items=n_items, width=6)
    if dense:
        features = rng.standard_normal((n_items, 5)).astype(np.float32)
        features[3] = 0  # an item without features
    else:
        features = sp.random(n_items, 7, density=0.3, random_state=1, format="csr")
        features.data[:] = 1.0
    ild = bm.intra_list_diversity(lists, features, chunk=7)  # small chunks exercise the loop
    f = features if dense else features.toarray()
    for u, row in enumerate(lists):
        items = distinct(row)
        if len(items) < 2:
            assert math.isnan(ild[u])
            continue
        sims = [cos(f[a], f[b]) for a, b in itertools.permutations(items, 2)]
        assert ild[u] == pytest.approx(1 - np.mean(sims), abs=1e-5)


def test_serendipity_against_loop():
    rng = np.random.default_rng(5)
    lists = random_lists(rng, n_items=20, width=5)
    baseline = random_lists(rng, n_items=20, width=5)
    relevant = [rng.choice(20, rng.integers(1, 6), replace=False) for _ in range(len(lists))]
    got = bm.serendipity(lists, relevant, baseline)
    for u, row in enumerate(lists):
        items = distinct(row)
        expected = sum(i in relevant[u] and i not in baseline[u] for i in items) / 5
        assert got[u] == pytest.approx(expected)


def test_calibration_against_loop():
    rng = np.random.default_rng(6)
    n_users, n_items, n_cats = 40, 25, 5
    lists = random_lists(rng, n_users=n_users, n_items=n_items, width=5)
    cats = (rng.random((n_items, n_cats)) < 0.35).astype(float)
    cats[0] = 0  # an item without categories
    history = (rng.random((n_users, n_items)) < 0.15).astype(float)
    history[1] = 0  # a user without history -> nan
    got = bm.calibration(lists, sp.csr_matrix(history), sp.csr_matrix(cats), alpha=0.01)

    def mix(items):
        total = np.zeros(n_cats)
        for i in items:
            if cats[i].sum():
                total += cats[i] / cats[i].sum()
        return total / total.sum() if total.sum() else total

    for u in range(n_users):
        p = mix(np.flatnonzero(history[u]))
        if p.sum() == 0:
            assert math.isnan(got[u])
            continue
        q = mix(distinct(lists[u]))
        q_mixed = 0.99 * q + 0.01 * p
        expected = sum(p[g] * math.log(p[g] / q_mixed[g]) for g in range(n_cats) if p[g] > 0)
        assert got[u] == pytest.approx(expected), u


def test_calibration_is_zero_for_a_list_with_the_history_mix():
    cats = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=float))
    history = sp.csr_matrix(np.array([[1, 1, 0, 0]], dtype=float))
    assert bm.calibration(np.array([[2, 3]]), history, cats)[0] == pytest.approx(0.0, abs=1e-12)
    # a list of one category only: KL = 1/2 ln(1/2 / 0.995*... ) + 1/2 ln(1/2 / (0.01 * 1/2))
    off = bm.calibration(np.array([[2]]), history, cats)[0]
    expected = 0.5 * math.log(0.5 / (0.99 + 0.005)) + 0.5 * math.log(0.5 / 0.005)
    assert off == pytest.approx(expected)


def test_popularity_lists_equal_the_popular_model():
    rng = np.random.default_rng(8)
    n_users, n_items = 50, 30
    pairs = {(int(u), int(i)) for u, i in zip(rng.integers(0, n_users, 400), rng.zipf(1.5, 400) % n_items)}
    users, items = zip(*sorted(pairs))
    frame = pl.DataFrame({"user": users, "item": items, "timestamp": [0] * len(users), "weight": [1.0] * len(users)})
    train = Interactions(frame, n_users, n_items)
    model = create_model("popular").fit(train)
    who = np.arange(n_users)
    for filter_seen in (True, False):
        expected, _ = model.recommend(who, 12, filter_seen=filter_seen)
        np.testing.assert_array_equal(bm.popularity_lists(train, who, 12, filter_seen=filter_seen, chunk=7), expected)


def test_category_matrix_from_list_and_string_columns():
    items = pl.DataFrame({"item": [0, 1, 2], "genres": [["a", "b"], [], None], "kind": ["x", None, "y"]})
    m, names = bm.category_matrix(items, "genres", 4)
    assert names == ["a", "b"] and m.toarray().tolist() == [[1, 1], [0, 0], [0, 0], [0, 0]]
    m, names = bm.category_matrix(items, "kind", 3)
    assert names == ["x", "y"] and m.toarray().tolist() == [[1, 0], [0, 0], [0, 1]]
    assert bm.guess_category_column(items) == "genres"
    assert bm.guess_category_column(pl.DataFrame({"item": [0], "tags_list": [["t"]]})) == "tags_list"
    assert bm.guess_category_column(pl.DataFrame({"item": [0], "name": ["n"]})) is None
    with pytest.raises(ValueError, match="no column"):
        bm.category_matrix(items, "nope", 3)
