"""`recsmith demo lifecycle` end to end on a small world: real service processes, the registry, the
feedback log, retrain, the live switch under load, the A/B test."""

from __future__ import annotations

import json

import pytest

from recsmith.cli.main import main
from recsmith.pipelines.lifecycle import run_lifecycle
from recsmith.pipelines.lifecycle_world import World

pytestmark = pytest.mark.slow


def test_the_lifecycle_story_writes_its_record(tmp_path):
    world = World(n_users=240, n_new_users=30, items_per_cluster=30, new_items=20, per_user=15)
    result = run_lifecycle(tmp_path / "lc", world=world, rps=50, ab_visits=2)
    assert json.loads((tmp_path / "lc" / "lifecycle.json").read_text()) == json.loads(json.dumps(result, default=float))
    versions = {v["version"]: v for v in result["versions"]}
    assert set(versions) == {1, 2} and versions[2]["production"] and versions[2]["parent_version"] == "1"
    assert result["drift"]["detected"] and max(result["drift"]["values"].values()) > result["drift"]["threshold"]
    c = result["retrain"]["comparison"]
    assert result["retrain"]["challenger_beats_champion"] and c["p_t"] < 0.05 and c["challenger"] > c["champion"]
    assert result["promoted"]["promoted"] and result["promoted"]["to_version"] == 2
    assert result["failed_requests"] == 0 and result["switch"]["requests"] > 0
    assert set(result["switch"]["versions"]) == {"als-v1", result["promoted"]["served_after_switch"]}
    ab = result["ab"]
    assert ab["variants"] == ["v1", "v2"] and all(ab["exposures"][v] > 0 for v in ab["variants"])
    assert ab["conversion"]["v2"] > ab["conversion"]["v1"] and ab["p_value"] < 0.05


def test_the_demo_group_still_runs_the_first_demo(tmp_path, capsys):
    # without a subcommand, `recsmith demo` is the original demo (here stopped by its config check)
    assert main(["demo", "--config", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "d")]) == 2
    assert "missing.yaml not found" in capsys.readouterr().err
