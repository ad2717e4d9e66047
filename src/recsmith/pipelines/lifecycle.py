"""``recsmith demo lifecycle``: the whole loop on synthetic data, with real processes and real logs.

1. v1: a synthetic dataset (:mod:`recsmith.pipelines.lifecycle_world`), an ALS leaderboard run,
   exported, registered (SQLite MLflow registry in ``OUT/registry``) and promoted;
2. serve: ``recsmith serve --registry-model`` as a separate process, following the registry;
3. drift: simulated users whose tastes moved (new collection, other clusters, new users) ask for
   lists and send feedback over HTTP; the service's own drift statistic (PSI, ``/metrics``) must pass
   its alert threshold;
4. retrain: ``recsmith retrain``'s pipeline on the service's feedback log, while a load generator
   sends ``rps`` requests a second; the challenger must beat the champion on the newest window (paired
   test) and be promoted; the service switches to it live; every request during the switch is counted;
5. A/B: v1 against v2 on a second service process (50/50, sticky), simulated users who click items
   of their new taste; ``recsmith ab report``'s statistics.

Writes ``OUT/lifecycle.json`` (versions, promoted, drift, retrain, switch, ab, failed_requests) and
returns it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from recsmith.config import validate_config
from recsmith.evaluation.drift import PSI_ALERT
from recsmith.pipelines.ab_report import ab_report
from recsmith.pipelines.benchmark import run_benchmark
from recsmith.pipelines.export import export_bundle
from recsmith.pipelines.lifecycle_world import DAY, World
from recsmith.pipelines.retrain import RetrainOptions, run_retrain
from recsmith.serving.registry import ModelRegistry
from recsmith.utils.atomic import atomic_write_text
from recsmith.utils.logging import log

MODEL = "recs"
API_KEY = "lifecycle-demo-key"
CONFIG = {
    "seed": 0,
    "split": {"method": "loo", "valid": True},
    "models": {"als": {"factors": 32, "iterations": 15, "regularization": 0.1, "num_threads": 1}},
    "evaluation": {"ks": [10], "select_metric": "ndcg@10", "bootstrap": 200},
}


def run_lifecycle(
    out: str | Path, *, world: World | None = None, rps: float = 100.0, ab_visits: int = 3
) -> dict[str, Any]:
    """Run the story into ``out`` (module docstring); returns what ``lifecycle.json`` holds."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    world = world or World()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    registry = ModelRegistry(f"sqlite:///{out / 'registry' / 'mlflow.db'}")

    # 1. v1
    data = world.before_drift()
    data.save(out / "data_v1", overwrite=True)
    cfg = validate_config(CONFIG)
    run_benchmark(data, cfg, ["als"], out / "run_v1", dataset_path=out / "data_v1", overwrite=True)
    bundle = export_bundle(out / "run_v1", "als", out / "bundle_v1", version="als-v1", overwrite=True)
    v1 = registry.register(bundle, MODEL)
    registry.promote(MODEL, v1.version, reason="first model")
    timings["v1"] = time.perf_counter() - started
    log(f"v1 registered and promoted (version {v1.version})")

    # 2. serve, following the registry
    state = out / "state"
    with _Server(out, state, registry_model=MODEL, registry_uri=registry.uri) as server:
        # 3. drifted users
        start_day = world.days_before + 1
        events = world.drifted_events(start_day, days=14)
        _visit_and_send(server.url, events)
        psi = _drift_from_metrics(server.url)
        detected = max(psi.values()) > PSI_ALERT
        log(f"drift (PSI vs training data): {psi} -> {'detected' if detected else 'not detected'}")
        if not detected:
            raise RuntimeError(f"the drifted feedback did not raise the drift statistic above {PSI_ALERT}: {psi}")
        timings["drift"] = time.perf_counter() - started

        # 4. retrain under load; the service follows the promotion
        load = _Load(server.url, [f"u{u}" for u in range(world.n_users)], rps)
        load.start()
        report = run_retrain(
            RetrainOptions(
                model=MODEL,
                feedback=state / "feedback.sqlite3",
                out=out / "retrain",
                registry=registry.uri,
                window_s=4 * DAY,
                overwrite=True,
            )
        )
        switched = _wait_for_version(server.url, f"version {report['challenger_version']}", registry, timeout=60)
        time.sleep(2.0)  # keep the load on after the switch
        traffic = load.stop()
        timings["retrain_and_switch"] = time.perf_counter() - started
        log(f"switch: {traffic['requests']} requests at {traffic['rps']:.0f}/s, {traffic['failed']} failed")

    # 5. A/B test: v1 against v2
    ab_file = out / "ab.yaml"
    ab_file.write_text(
        yaml.safe_dump(
            {
                "name": "v1-vs-v2",
                "registry_model": MODEL,
                "variants": [
                    {"name": "v1", "version": v1.version, "share": 0.5},
                    {"name": "v2", "version": report["challenger_version"], "share": 0.5},
                ],
            }
        )
    )
    _, after = world.tastes()
    with _Server(out, out / "state_ab", ab_config=ab_file, registry_uri=registry.uri) as server:
        _ab_traffic(server.url, world, after, visits=ab_visits)
        time.sleep(1.5)  # the exposure log writes once a second
    ab = ab_report(out / "state_ab")
    timings["ab"] = time.perf_counter() - started

    versions = registry.versions(MODEL)
    result = {
        "versions": [
            {
                "version": v.version,
                "bundle_version": v.bundle_version,
                "production": v.production,
                "parent_version": v.tags.get("recsmith.parent_version"),
                "dataset_sha256": v.tags.get("recsmith.dataset_sha256"),
            }
            for v in versions
        ],
        "promoted": {
            "promoted": report["promoted"],
            "from_version": report["champion_version"],
            "to_version": report["challenger_version"],
            "served_after_switch": switched,
        },
        "drift": {
            "statistic": "PSI over training-popularity bins",
            "values": psi,
            "threshold": PSI_ALERT,
            "detected": detected,
        },
        "retrain": {
            "comparison": report["comparison"],
            "feedback": report["feedback"],
            "dataset": report["dataset"],
            "challenger_beats_champion": report["comparison"]["verdict"] == "better",
        },
        "switch": traffic,
        "failed_requests": traffic["failed"],
        "ab": {
            "experiment": ab["experiment"],
            "variants": list(ab["variants"]),
            "exposures": {k: v["exposures"] for k, v in ab["variants"].items()},
            "users": {k: v["users"] for k, v in ab["variants"].items()},
            "conversion": {k: v["conversion"] for k, v in ab["variants"].items()},
            "ci": {k: v["ci"] for k, v in ab["variants"].items()},
            "p_value": ab["p_value"],
            "verdict": ab["verdict"],
        },
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    atomic_write_text(out / "lifecycle.json", json.dumps(result, indent=2, default=float))
    return result


# ---------------------------------------------------------------------- the service as a process
class _Server:
    """``recsmith serve`` in a subprocess on a free port (stopped on exit)."""

    def __init__(self, out: Path, state: Path, **settings: Any) -> None:
        self.out, self.state, self.settings = out, state, settings
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "_Server":
        env = {
            **os.environ,
            "RECSMITH_API_KEYS": API_KEY,
            "RECSMITH_RATE_LIMIT_PER_S": "0",
            "RECSMITH_REGISTRY_POLL_S": "0.5",
            "RECSMITH_PROGRESS": "0",
            "PYTHONPATH": os.pathsep.join(
                p for p in [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")] if p
            ),
        }
        args = [
            sys.executable,
            "-m",
            "recsmith.cli.main",
            "serve",
            "--port",
            str(self.port),
            "--state-dir",
            str(self.state),
        ]
        if "registry_model" in self.settings:
            args += [
                "--registry-model",
                self.settings["registry_model"],
                "--registry-uri",
                self.settings["registry_uri"],
            ]
        if "ab_config" in self.settings:
            env["RECSMITH_REGISTRY_URI"] = self.settings["registry_uri"]
            args += ["--ab", str(self.settings["ab_config"])]
        log_file = (self.out / f"serve-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(args, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_ready(self.url, self.proc, timeout=180)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with {proc.returncode} before it was ready (see its log)")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the service at {url} was not ready within {timeout:.0f} s")


# ---------------------------------------------------------------------- simulated users
def _visit_and_send(url: str, events: list[dict[str, Any]], batch: int = 500) -> None:
    """Drifted users: each asks for a list once, then their events are sent in time order."""
    import httpx

    headers = {"X-API-Key": API_KEY}
    with httpx.Client(base_url=url, timeout=30) as client:
        for user in sorted({e["user_id"] for e in events}):
            client.get(f"/v1/users/{user}/recommendations", params={"k": 10}).raise_for_status()
        for i in range(0, len(events), batch):
            client.post("/v1/feedback", json={"events": events[i : i + batch]}, headers=headers).raise_for_status()


def _drift_from_metrics(url: str) -> dict[str, float]:
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.findall(r'^recsmith_drift_psi\{signal="(\w+)",variant="default"\} (\S+)$', text, re.M)
    return {signal: float(value) for signal, value in found}


def _wait_for_version(url: str, what: str, registry: ModelRegistry, timeout: float) -> str:
    """The bundle version the service answers with once it serves the production version."""
    import httpx

    target = registry.production(MODEL)
    assert target is not None
    deadline = time.time() + timeout
    while time.time() < deadline:
        version = httpx.get(f"{url}/v1/model", timeout=5).json().get("version")
        if version == target.bundle_version:
            return str(version)
        time.sleep(0.2)
    raise RuntimeError(f"the service did not switch to {what} within {timeout:.0f} s")


class _Load:
    """``rps`` GET requests a second from a process of its own (its own GIL: the retrain in this one
    does not slow it down), asyncio + httpx; counts every failure (non-200 answer or exception)."""

    def __init__(self, url: str, users: list[str], rps: float) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._answered = ctx.Event()
        self._results: Any = ctx.Queue()
        self._process = ctx.Process(
            target=_load_main, args=(url, users, rps, self._stop, self._answered, self._results), daemon=True
        )
        self.rps = rps

    def start(self, timeout: float = 120.0) -> None:
        """Start the load and return once it has its first answer, so what follows happens under load
        (a spawned process needs seconds to import on a busy machine)."""
        self._process.start()
        if not self._answered.wait(timeout):
            self._stop.set()
            raise RuntimeError(f"the load generator got no answer from the service within {timeout:.0f} s")

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        stats = self._results.get(timeout=60)
        self._process.join(timeout=30)
        return {**stats, "rps": stats["requests"] / max(stats["seconds"], 1e-9), "target_rps": self.rps}


def _load_main(url: str, users: list[str], rps: float, stop: Any, answered: Any, results: Any) -> None:
    stats: dict[str, Any] = {"requests": 0, "failed": 0, "versions": {}}

    async def one(client: Any, user: str) -> None:
        stats["requests"] += 1
        try:
            r = await client.get(f"/v1/users/{user}/recommendations", params={"k": 10})
            if r.status_code != 200:
                stats["failed"] += 1
                return
            version = r.json()["model_version"]
            stats["versions"][version] = stats["versions"].get(version, 0) + 1
            answered.set()
        except Exception:
            stats["failed"] += 1

    async def run() -> None:
        import httpx

        rng = np.random.default_rng(0)
        pending: set[asyncio.Task[None]] = set()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
            tick = time.perf_counter()
            while not stop.is_set():
                task = asyncio.create_task(one(client, users[int(rng.integers(len(users)))]))
                pending.add(task)
                task.add_done_callback(pending.discard)
                tick += 1.0 / rps
                await asyncio.sleep(max(0.0, tick - time.perf_counter()))
            if pending:
                await asyncio.gather(*pending)

    started = time.perf_counter()
    asyncio.run(run())
    results.put({**stats, "seconds": round(time.perf_counter() - started, 1)})


def _ab_traffic(url: str, world: World, after: np.ndarray, visits: int) -> None:
    """Every user visits ``visits`` times; a visit clicks the first listed item of the user's new
    taste with probability 0.3 per such item in the list (at most one click a visit)."""
    import httpx

    rng = np.random.default_rng(world.seed + 3)
    liked = {c: {f"i{i}" for i in world.cluster_items(c)} for c in range(world.n_clusters + 1)}
    headers = {"X-API-Key": API_KEY}
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(visits):
            clicks = []
            for u in range(world.n_users + world.n_new_users):
                body = client.get(f"/v1/users/u{u}/recommendations", params={"k": 10}).json()
                hits = [i["item_id"] for i in body["items"] if i["item_id"] in liked[int(after[u])]]
                if hits and rng.random() < 1 - 0.7 ** len(hits):
                    clicks.append({"user_id": f"u{u}", "item_id": hits[0], "type": "click"})
            for i in range(0, len(clicks), 500):
                client.post("/v1/feedback", json={"events": clicks[i : i + 500]}, headers=headers).raise_for_status()
