"""What a run directory keeps of an evaluation: written and read back unchanged."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsmith.data.interactions import Interactions
from recsmith.data.splits import Split
from recsmith.errors import RecsmithError
from recsmith.evaluation.analysis import ModelEval
from recsmith.evaluation.store import has_evaluations, load_evaluation, load_manifest, load_split, save_evaluations


def part(pairs, n_users=5, n_items=7) -> Interactions:
    u, i = zip(*pairs)
    return Interactions(
        pl.DataFrame({"user": u, "item": i, "timestamp": list(range(len(u))), "weight": [1.0] * len(u)}),
        n_users,
        n_items,
    )


def test_round_trip(tmp_path):
    parts = Split(train=part([(0, 1), (1, 2), (2, 3)]), valid=part([(0, 4)]), test=part([(0, 5), (2, 6)]))
    ev = ModelEval(
        np.array([0, 2]),
        np.array([[5, 1, -1], [6, 0, 3]]),
        {"ndcg@3": np.array([1.0, 0.5]), "hit@3": np.array([1.0, 1.0])},
    )
    assert not has_evaluations(tmp_path)
    with pytest.raises(RecsmithError, match="no eval"):
        load_manifest(tmp_path)
    save_evaluations(tmp_path, {"m": ev}, parts, ks=[3], filter_seen=True)
    manifest = load_manifest(tmp_path)
    assert manifest["fitted_on"] == ["train", "valid"] and manifest["k_max"] == 3
    back = load_evaluation(tmp_path, "m")
    np.testing.assert_array_equal(back.users, ev.users)
    np.testing.assert_array_equal(back.lists, ev.lists)
    assert set(back.per_user) == {"ndcg@3", "hit@3"}
    np.testing.assert_array_equal(back.per_user["ndcg@3"], ev.per_user["ndcg@3"])
    train, test = load_split(tmp_path, manifest)
    assert len(train) == 4 and len(test) == 2 and (train.n_users, train.n_items) == (5, 7)
