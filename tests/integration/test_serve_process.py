"""The real thing: `recsmith export` from a run, `recsmith serve` as a process on 127.0.0.1.

* durability: N acknowledged feedback events survive SIGKILL of the server, and take effect again
  after a restart (they are replayed from the log);
* hot reload in the middle of concurrent traffic: no failed request;
* several workers share feedback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from recsmith.cli.main import main

pytestmark = pytest.mark.slow

SMALL = [
    "--set",
    "data.options.n_customers=300",
    "--set",
    "data.options.n_articles=120",
    "--set",
    "data.options.n_transactions=5000",
    "--set",
    "data.dedupe=last",
]
KEY = "integration-key-0123"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    assert main(["data", "prepare", "synthetic", "--out", str(root / "data"), *SMALL]) == 0
    assert (
        main(
            [
                "benchmark",
                "--data",
                str(root / "data"),
                "--split",
                "loo",
                "--models",
                "itemknn,als",
                "--out",
                str(root / "run"),
                "--set",
                "models.als.iterations=3",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "export",
                "--run",
                str(root / "run"),
                "--model",
                "als",
                "--out",
                str(root / "b-als"),
                "--index",
                "HNSW32",
                "--search-param",
                "efSearch=64",
                "--version",
                "als-1",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "export",
                "--run",
                str(root / "run"),
                "--model",
                "itemknn",
                "--out",
                str(root / "b-knn"),
                "--version",
                "knn-1",
            ]
        )
        == 0
    )
    return root


def test_bundle_layout(exported):
    b = exported / "b-als"
    manifest = json.loads((b / "manifest.json").read_text())
    assert manifest["version"] == "als-1" and manifest["model"]["name"] == "als"
    assert manifest["created"] and "ndcg@10" in manifest["metrics"]["test"]
    assert manifest["index"]["factory"] == "HNSW32" and manifest["index"]["search_params"] == {"efSearch": 64}
    for f in (
        "model/config.json",
        "model/state.npz",
        "ids/user_ids.parquet",
        "ids/item_ids.parquet",
        "items.parquet",
        "index/index.faiss",
        "index/index.json",
        "index/labels.npy",
        "index/external_ids.parquet",
    ):
        assert (b / f).is_file(), f
        assert f in manifest["files"]
    assert json.loads((exported / "b-knn" / "manifest.json").read_text())["index"] is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, bundle: Path, state: Path, workers: int = 1) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "RECSMITH_ENVIRONMENT": "production",
            "RECSMITH_API_KEYS": KEY,
            "RECSMITH_RATE_LIMIT_PER_S": "0",
            "RECSMITH_QUIET": "1",
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "recsmith.cli.main",
                "serve",
                "--bundle",
                str(bundle),
                "--state-dir",
                str(state),
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become ready in 60 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)  # the server and its worker processes (own session)
            self.proc.wait(timeout=30)


def test_acknowledged_feedback_survives_sigkill(exported, tmp_path):
    state = tmp_path / "state"
    server = Server(exported / "b-knn", state)
    n = 40
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            items = [it["item_id"] for it in c.get("/v1/users/anyone/recommendations", params={"k": n}).json()["items"]]
            acked = 0
            for _i, item in enumerate(items):
                r = c.post(
                    "/v1/feedback",
                    headers={"X-API-Key": KEY},
                    json={"events": [{"user_id": "durable-user", "item_id": item, "type": "click"}]},
                )
                assert r.status_code == 201
                acked += 1
    finally:
        server.stop(signal.SIGKILL)  # no shutdown hook runs
    assert acked == n
    with sqlite3.connect(state / "feedback.sqlite3") as conn:
        stored = conn.execute("SELECT item_id FROM events WHERE user_id = 'durable-user' ORDER BY id").fetchall()
    assert [s[0] for s in stored] == items
    # after a restart the events are replayed: the user's list excludes every one of them
    server = Server(exported / "b-knn", state)
    try:
        body = httpx.get(server.url + "/v1/users/durable-user/recommendations", params={"k": 20}).json()
        assert body["strategy"] == "session"
        assert not {it["item_id"] for it in body["items"]} & set(items)
    finally:
        server.stop()


def test_hot_reload_under_traffic_fails_no_request(exported, tmp_path):
    server = Server(exported / "b-als", tmp_path / "state")
    failures: list[str] = []
    versions: set[str] = set()
    stop = threading.Event()
    counts = [0]

    def hammer(user: str) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    r = c.get(f"/v1/users/{user}/recommendations", params={"k": 10})
                    if r.status_code != 200 or len(r.json()["items"]) != 10:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        versions.add(r.json()["model_version"])
                except httpx.HTTPError as err:
                    failures.append(repr(err))
                counts[0] += 1

    try:
        users = httpx.get(server.url + "/v1/model").json()
        assert users["version"] == "als-1"
        threads = [threading.Thread(target=hammer, args=(f"user-{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        for target, version in (("b-knn", "knn-1"), ("b-als", "als-1"), ("b-knn", "knn-1")):
            r = httpx.post(
                server.url + "/v1/admin/reload",
                headers={"X-API-Key": KEY},
                json={"bundle": str(exported / target)},
                timeout=60,
            )
            assert r.status_code == 200 and r.json()["version"] == version
            time.sleep(0.7)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        stop.set()
        server.stop()
    assert not failures, failures[:5]
    assert counts[0] > 50 and versions == {"als-1", "knn-1"}


def test_two_workers_share_feedback_and_refuse_default_key(exported, tmp_path):
    server = Server(exported / "b-knn", tmp_path / "state", workers=2)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            items = [it["item_id"] for it in c.get("/v1/users/w-user/recommendations", params={"k": 3}).json()["items"]]
            r = c.post(
                "/v1/feedback",
                headers={"X-API-Key": KEY},
                json={"events": [{"user_id": "w-user", "item_id": items[0], "type": "click"}]},
            )
            assert r.status_code == 201
            # whichever worker answers (new connections spread over both), the event is applied
            for _ in range(10):
                with httpx.Client(base_url=server.url, timeout=10) as fresh:
                    got = [
                        it["item_id"]
                        for it in fresh.get("/v1/users/w-user/recommendations", params={"k": 3}).json()["items"]
                    ]
                    assert items[0] not in got
    finally:
        server.stop()
    env = {**os.environ, "RECSMITH_ENVIRONMENT": "production", "RECSMITH_API_KEYS": "changethis"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "recsmith.cli.main",
            "serve",
            "--bundle",
            str(exported / "b-knn"),
            "--port",
            str(_free_port()),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "not allowed" in proc.stderr


def test_export_with_onnx_encoder_and_feature_encoders(exported, tmp_path):
    features = tmp_path / "features"
    (features / "vocab").mkdir(parents=True)
    (features / "manifest.json").write_text(json.dumps({"format_version": 1, "encoders": {}}))
    (features / "vocab" / "items.colour.parquet").write_bytes(b"PAR1")
    (features / "interactions.parquet").write_bytes(b"big table, not an encoder")
    out = tmp_path / "bundle"
    assert (
        main(
            [
                "export",
                "--run",
                str(exported / "run"),
                "--model",
                "als",
                "--out",
                str(out),
                "--index",
                "Flat",
                "--onnx",
                "--quantize",
                "--features",
                str(features),
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["encoders"]["query_encoder"]["int8_file"] == "encoders/query_encoder.int8.onnx"
    assert (out / "encoders" / "query_encoder.onnx").is_file() and (
        out / "encoders" / "query_encoder.int8.onnx"
    ).is_file()
    assert manifest["features"] == "features" and (out / "features" / "vocab" / "items.colour.parquet").is_file()
    assert not (out / "features" / "interactions.parquet").exists()  # encoders only, not the feature tables
    assert main(["export", "--run", str(exported / "run"), "--model", "als", "--out", str(out)]) != 0  # exists
    assert main(["export", "--run", str(exported / "run"), "--model", "nope", "--out", str(tmp_path / "x")]) != 0
