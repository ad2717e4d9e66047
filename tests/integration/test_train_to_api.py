"""One path from a trained run to the API, as real processes: ``recsmith train`` (interrupted and
resumed) -> ``recsmith recommend --run`` -> ``recsmith export`` -> ``recsmith serve`` -> HTTP, and
the served list is the offline one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from test_serve_process import SMALL, Server

from recsmith.data.idmap import IdMap
from tolerance import assert_same_ranking

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "mf_ml100k.yaml"


def recsmith(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "recsmith.cli.main", *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train-api")
    recsmith("data", "prepare", "synthetic", "--out", str(root / "data"), *SMALL)
    common = ["--data", str(root / "data"), "--config", str(CONFIG), "--out", str(root / "run")]
    overrides = [
        "--set", "models.mf.dim=16", "--set", "train.batch_size=256", "--set", "train.sampler.n_negatives=32",
        "--set", "train.tracking.mlflow=false",
    ]  # fmt: skip
    # a run, then the same run resumed: the directory of a resumed run is what gets exported
    recsmith("train", *common, *overrides, "--set", "train.epochs=2")
    recsmith("train", *common, *overrides, "--set", "train.epochs=2", "--resume")  # already done: ends at once
    return root


def test_a_train_run_is_a_run_directory(trained: Path) -> None:
    run = trained / "run"
    info = json.loads((run / "run.json").read_text())
    assert info["kind"] == "train" and info["models"] == ["mf"]
    for name in ("config.yaml", "results.json", "dataset/user_ids.parquet", "dataset/item_ids.parquet"):
        assert (run / name).is_file(), name
    assert (run / "models" / "mf" / "state.npz").is_file()


def test_train_recommend_export_serve(trained: Path, tmp_path: Path) -> None:
    run = trained / "run"
    user = str(IdMap.load(run / "dataset" / "user_ids.parquet", kind="user").external_ids[0])
    (offline,) = json.loads(
        recsmith("recommend", "--run", str(run), "--user-id", user, "--top-n", "5", "--format", "json").stdout
    )["results"]
    assert offline["user_id"] == user and not offline["cold_start"] and len(offline["items"]) == 5

    bundle = tmp_path / "bundle"
    recsmith("export", "--run", str(run), "--out", str(bundle), "--index", "Flat", "--version", "mf-trained")
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["source"]["run_kind"] == "train" and manifest["model"]["name"] == "mf"
    assert "ndcg@10" in manifest["metrics"]["test"]

    server = Server(bundle, tmp_path / "state")
    try:
        r = httpx.get(f"{server.url}/v1/users/{user}/recommendations", params={"k": 5}, timeout=10)
    finally:
        server.stop()
    assert r.status_code == 200, r.text
    served = r.json()
    assert served["model_version"] == "mf-trained"
    # the service scores through the FAISS index, offline through the network: floats agree to a
    # tolerance, ids exactly outside near ties (tests/tolerance.py)
    as_arrays = lambda items: (  # noqa: E731
        np.array([[i["item_id"] for i in items]]),
        np.array([[i["score"] for i in items]], dtype=np.float32),
    )
    assert_same_ranking(as_arrays(served["items"]), as_arrays(offline["items"]))
