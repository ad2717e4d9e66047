"""docs/your_data.md's walk-through runs as written: a CSV log with an item table of names and
attributes (the H&M sample read by the generic csv source), prepared, benchmarked, recommended."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsmith.cli.main import main

pytestmark = pytest.mark.realdata

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "docs" / "examples" / "shop.yaml"


def test_the_walk_through(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = shared_data / "hm-sample" / "transactions_train.csv"
    path = f"--set=data.path={json.dumps(str(log))}"  # the doc's relative path, made absolute for any cwd
    data, run = tmp_path / "shop", tmp_path / "runs"
    assert main(["data", "prepare", "csv", "--config", str(CONFIG), path, "--out", str(data)]) == 0
    assert "10000 interactions, 2954 users, 4903 items" in capsys.readouterr().out
    args = ["--data", str(data), "--config", str(CONFIG), "--models", "popular,tfidf", "--out", str(run)]
    assert main(["benchmark", *args]) == 0
    board = json.loads((run / "leaderboard.json").read_text())
    # docs/your_data.md's table (same config, seeded split): content beats popularity on this sample
    assert board["tfidf"]["test"]["ndcg@10"] == pytest.approx(0.0836, abs=5e-5)
    assert board["popular"]["test"]["ndcg@10"] == pytest.approx(0.0226, abs=5e-5)
    capsys.readouterr()
    assert main(["recommend", "--run", str(run), "--model", "tfidf", "--item-id", "108775015", "-f", "json"]) == 0
    (similar,) = json.loads(capsys.readouterr().out)["results"]
    assert similar["name"] == "Strap top" and all(item["name"] for item in similar["items"])
    assert any("strap top" in item["name"].lower() for item in similar["items"][:3])
