"""recsmith retrain: feedback -> new dataset version -> challenger vs production -> register -> promote."""

from __future__ import annotations

import sqlite3

import numpy as np
import polars as pl
import pytest

from recsmith.config import dump_config, validate_config
from recsmith.data.dataset import Dataset
from recsmith.data.idmap import IdMap
from recsmith.data.interactions import Interactions
from recsmith.errors import DataError, RecsmithError
from recsmith.models.registry import create_model
from recsmith.pipelines.retrain import RetrainOptions, run_retrain
from recsmith.serving.bundle import write_bundle
from recsmith.serving.feedback import Event, FeedbackLog
from recsmith.serving.registry import ModelRegistry, sha256_file

N_USERS, N_ITEMS, NEW_ITEMS, DAY = 60, 40, 10, 86_400
CONFIG = {
    "models": {"als": {"factors": 8, "iterations": 10, "num_threads": 1}},
    "evaluation": {"ks": [10], "select_metric": "ndcg@10"},
}


def before_drift(seed: int = 0) -> Dataset:
    """Every user picks 8 items of group A (items 0..19) over the first ten days."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(N_USERS), 8)
    items = np.concatenate([rng.choice(20, 8, replace=False) for _ in range(N_USERS)])
    frame = pl.DataFrame(
        {"user": users, "item": items, "timestamp": np.sort(rng.integers(0, 10 * DAY, users.size)), "weight": 1.0}
    )
    return Dataset(
        Interactions(frame.sort(["user", "timestamp"]), N_USERS, N_ITEMS),
        IdMap([f"u{i}" for i in range(N_USERS)], kind="user"),
        IdMap([f"i{i}" for i in range(N_ITEMS)], kind="item"),
        manifest={"name": "drift", "preparation": {"dedupe": "none"}},
    )


def drifted_feedback(path, seed: int = 1) -> int:
    """Tastes moved to group B and to ten new items; new users too; plus malformed rows. Returns
    the number of malformed rows written."""
    rng = np.random.default_rng(seed)
    events = []
    for u in range(N_USERS + 10):
        # five new favourites from days 11-14, then three more in the newest window (days 15-17)
        pool = np.concatenate([np.arange(20, 40), np.arange(N_ITEMS, N_ITEMS + NEW_ITEMS)])
        picks = rng.choice(pool, 8, replace=False)
        times = np.concatenate([rng.integers(11 * DAY, 14 * DAY, 5), rng.integers(15 * DAY, 17 * DAY, 3)])
        events += [Event(f"u{u}", f"i{i}", "click", int(t)) for i, t in zip(picks, times)]
    events.append(Event("u1", "i1", "dislike", 12 * DAY))
    log = FeedbackLog(path)
    log.append(events)
    log.close()
    with sqlite3.connect(path) as db:  # rows no service would write: a log from elsewhere, or damaged
        db.execute(
            "INSERT INTO events (user_id, item_id, type, timestamp, value, received) VALUES ('', 'i1', 'click', 5, NULL, 0)"
        )
        db.execute(
            "INSERT INTO events (user_id, item_id, type, timestamp, value, received) VALUES ('u1', 'i1', 'zap', 5, NULL, 0)"
        )
        db.execute(
            "INSERT INTO events (user_id, item_id, type, timestamp, value, received) VALUES ('u1', 'i1', 'click', 'noon', NULL, 0)"
        )
    return 3


@pytest.fixture
def world(tmp_path, seed_mlflow_db):
    data = before_drift()
    data.save(tmp_path / "data")
    cfg = validate_config(CONFIG)
    (tmp_path / "config.yaml").write_text(dump_config(cfg))
    model = create_model("als", CONFIG["models"]["als"]).fit(data.interactions)
    bundle = write_bundle(
        tmp_path / "v1", model, data.user_map, data.item_map, version="als-v1", source={"model_entry": "als"}
    )
    registry = ModelRegistry(f"sqlite:///{seed_mlflow_db(tmp_path / 'registry' / 'mlflow.db')}")
    registry.promote("recs", registry.register(bundle, "recs").version)
    malformed = drifted_feedback(tmp_path / "feedback.sqlite3")
    opts = RetrainOptions(
        model="recs",
        feedback=tmp_path / "feedback.sqlite3",
        out=tmp_path / "retrain",
        registry=registry.uri,
        data=tmp_path / "data",
        config=tmp_path / "config.yaml",
        window_s=3 * DAY,
    )
    return registry, opts, malformed


def test_retraining_on_drifted_feedback_beats_production_and_is_promoted(world, tmp_path):
    registry, opts, malformed = world
    before = sha256_file(tmp_path / "data" / "manifest.json")
    report = run_retrain(opts)
    # every row accounted for: malformed ones counted by reason, the dislike as negative
    assert report["feedback"]["malformed"] == malformed and report["feedback"]["negative"] == 1
    assert set(report["feedback"]["malformed_by_reason"]) == {
        "empty user_id",
        "unknown event type",
        "timestamp not a whole number of seconds in 0..9999-12-31",
    }
    # the new dataset version: old ids kept, new users and items after them, old version untouched
    grown = Dataset.load(opts.out / "data")
    old = Dataset.load(tmp_path / "data")
    assert grown.user_map.external_ids[:N_USERS].to_list() == old.user_map.external_ids.to_list()
    assert grown.item_map.external_ids[:N_ITEMS].to_list() == old.item_map.external_ids.to_list()
    assert report["dataset"]["new_users"] == 10 and report["dataset"]["new_items"] == NEW_ITEMS
    assert sha256_file(tmp_path / "data" / "manifest.json") == before and len(old.interactions) == N_USERS * 8
    assert grown.manifest["lineage"]["feedback"]["last_id"] == report["feedback"]["last_id"]
    # the challenger knows the new tastes: better on the newest window, significantly
    c = report["comparison"]
    assert c["challenger"] > c["champion"] and c["verdict"] == "better" and c["p_t"] < 0.05
    assert report["promoted"] and report["warm_start"]
    production = registry.production("recs")
    assert production.version == report["challenger_version"] == 2
    assert production.tags["recsmith.parent_version"] == "1" and "recsmith.dataset_sha256" in production.tags


def test_nothing_new_or_a_refused_id_leaves_production_untouched(world, tmp_path):
    registry, opts, _ = world
    run_retrain(opts)
    # the grown dataset recorded the last event it consumed: a second pass finds nothing new
    again = opts.model_copy(update={"data": opts.out / "data", "out": tmp_path / "again"})
    with pytest.raises(RecsmithError, match="nothing to retrain; production is unchanged"):
        run_retrain(again)
    assert registry.production("recs").version == 2
    registry.rollback("recs")
    strict = opts.model_copy(update={"out": tmp_path / "strict", "unknown_items": "error"})
    with pytest.raises(DataError, match="10 unknown item ids"):
        run_retrain(strict)
    assert registry.production("recs").version == 1 and len(registry.versions("recs")) == 2


def test_the_never_rule_registers_without_promoting(world):
    registry, opts, _ = world
    report = run_retrain(opts.model_copy(update={"promote": "never"}))
    assert not report["promoted"] and registry.production("recs").version == 1
    assert [v.version for v in registry.versions("recs")] == [2, 1]
