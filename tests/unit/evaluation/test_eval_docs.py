"""The worked example of docs/evaluation.md, recomputed: every number in its table must match."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsmith.data.interactions import Interactions
from recsmith.evaluation import beyond as bm
from recsmith.evaluation.analysis import EvalContext, ModelEval, analyse
from recsmith.evaluation.metrics import ALL_METRIC_NAMES, hit_matrix, per_user_metrics

DOC = Path(__file__).resolve().parents[3] / "docs" / "evaluation.md"
A, B, C, D, E, F, G, H = range(8)
GENRES = [
    ["drama"],
    ["comedy"],
    ["drama"],
    ["comedy"],
    ["comedy"],
    ["comedy", "drama"],
    ["horror"],
    ["drama", "horror"],
]


def interactions(pairs) -> Interactions:
    users, items = zip(*pairs)
    n = len(pairs)
    frame = pl.DataFrame({"user": users, "item": items, "timestamp": list(range(n)), "weight": [1.0] * n})
    return Interactions(frame, 4, 8)


@pytest.fixture(scope="module")
def example():
    train = interactions([(0, A), (0, B), (1, A), (1, C), (2, A), (2, B), (2, D), (3, B), (3, C), (3, E)])
    test = interactions([(0, C), (0, F), (0, G), (1, B), (2, H)])
    users = np.array([0, 1, 2])
    lists = np.array([[F, D, C], [B, G, D], [C, G, H]])
    items = pl.DataFrame({"item": list(range(8)), "genres": GENRES})
    return train, test, users, lists, items


def documented() -> dict[str, tuple[list[float | None], float]]:
    """``{metric: ([u1, u2, u3] or Nones, mean)}`` from the marked table of the doc."""
    text = DOC.read_text()
    block = text.split("<!-- worked-example:begin -->")[1].split("<!-- worked-example:end -->")[0]
    rows = {}
    for line in block.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        key = re.fullmatch(r"`(.+)`", cells[0]).group(1)
        per_user = [float(c) if c else None for c in cells[1:4]]
        rows[key] = (per_user, float(cells[4]))
    return rows


def computed(example) -> dict[str, tuple[np.ndarray | None, float]]:
    train, test, users, lists, items = example
    hits, n_rel = hit_matrix(lists, test.binary[users])
    out = {k: (v, float(v.mean())) for k, v in per_user_metrics(hits, n_rel, [2, 3], ALL_METRIC_NAMES).items()}
    pop = bm.item_popularity(train)
    cats, _ = bm.category_matrix(items, "genres", 8)
    per_user = {
        "novelty": bm.novelty(lists, pop, 4),
        "arp": bm.average_popularity(lists, pop),
        "long_tail_share": bm.long_tail_share(lists, pop),
        "ild": bm.intra_list_diversity(lists, cats),
        "serendipity": bm.serendipity(lists, test.binary[users], bm.popularity_lists(train, users, 3)),
        "calibration": bm.calibration(lists, train.binary[users], cats),
    }
    out.update({k: (v, float(v.mean())) for k, v in per_user.items()})
    m2, m3 = bm.list_matrix(lists[:, :2], 8), bm.list_matrix(lists, 8)
    out["coverage@2"] = (None, float(bm.coverage(m2)))
    out["coverage@3"] = (None, float(bm.coverage(m3)))
    out["gini"] = (None, float(bm.gini_index(bm.exposure(m3))))
    out["personalisation"] = (None, float(bm.personalisation(m3)))
    return out


def test_every_documented_number_is_what_the_code_computes(example):
    doc, got = documented(), computed(example)
    assert len(doc) == 22
    for key, (per_user, mean) in doc.items():
        values, expected_mean = got[key]
        assert mean == pytest.approx(expected_mean, abs=6e-5), key
        if values is None:
            assert per_user == [None, None, None], key
        else:
            np.testing.assert_allclose(per_user, values, atol=6e-5, err_msg=key)


def test_hand_derivations_in_the_text(example):
    got = computed(example)
    assert got["ndcg@3"][0][0] == pytest.approx(1.5 / (1 + 1 / np.log2(3) + 0.5))
    assert got["map@3"][0][0] == pytest.approx(5 / 9)
    assert got["gini"][1] == pytest.approx(27 / 72)
    assert got["calibration"][0][1] == pytest.approx(np.log(100))
    assert got["recall_capped@2"][0][0] == 0.5 and got["map_trec@2"][0][0] == pytest.approx(1 / 3)


def test_the_analysis_pipeline_agrees_with_the_table(example):
    train, test, users, lists, items = example
    hits, n_rel = hit_matrix(lists, test.binary[users])
    ev = ModelEval(users, lists, per_user_metrics(hits, n_rel, [2, 3]))
    ctx = EvalContext.from_items(train, test, items)
    beyond = analyse({"m": ev}, ctx, ks=[2, 3], k=3, n_bootstrap=0)["m"]["beyond"]
    for key, (_, mean) in documented().items():
        if key in beyond:
            assert beyond[key] == pytest.approx(mean, abs=6e-5), key
