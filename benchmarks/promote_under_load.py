"""Production switches under load: promotions in the registry while ~100 requests/s hit the service.

Usage (from the repository root)::

    .venv/bin/python benchmarks/promote_under_load.py [--rps 100] [--seconds 40] [--every 5]

Two ALS versions of a synthetic catalogue (20,000 items, 5,000 users) are registered in a SQLite
MLflow registry; ``recsmith serve --registry-model`` runs as a process polling it every 0.5 s. A
fixed-rate sender (raw HTTP/1.1 keep-alive connections on asyncio, light enough for a busy machine)
asks for lists at ``--rps`` while the production alias flips between the versions every ``--every``
seconds. Counted: requests, non-200 answers and connection errors, the versions seen in answers,
the achieved rate. JSON in ``benchmarks/results/promote_under_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import Conn, free_port  # noqa: E402 (the minimal client of the load benchmark)

KEY = "promote-load-key-0123456789"


def build(work: Path):
    from recsmith.models.registry import create_model
    from recsmith.pipelines.lifecycle_world import World
    from recsmith.serving.bundle import write_bundle
    from recsmith.serving.registry import ModelRegistry

    world = World(n_users=5000, n_new_users=0, n_clusters=10, items_per_cluster=2000, per_user=20)
    data = world.before_drift()
    registry = ModelRegistry(f"sqlite:///{work / 'registry' / 'mlflow.db'}")
    versions = []
    for factors, name in ((32, "a"), (48, "b")):
        model = create_model("als", {"factors": factors, "iterations": 5, "num_threads": 1}).fit(data.interactions)
        bundle = write_bundle(
            work / f"bundle-{name}", model, data.user_map, data.item_map, version=f"als-{name}", overwrite=True
        )
        versions.append(registry.register(bundle, "load").version)
    registry.promote("load", versions[0])
    return registry, versions, [f"u{u}" for u in range(world.n_users)]


def start_server(registry_uri: str, state: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "RECSMITH_API_KEYS": KEY,
        "RECSMITH_RATE_LIMIT_PER_S": "0",
        "RECSMITH_REGISTRY_POLL_S": "1",
        "RECSMITH_QUIET": "1",
        "PYTHONPATH": str(ROOT / "src"),
    }
    args = [
        sys.executable,
        "-m",
        "recsmith.cli.main",
        "serve",
        "--registry-model",
        "load",
        "--registry-uri",
        registry_uri,
    ]
    proc = subprocess.Popen(
        [*args, "--state-dir", str(state), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("server not ready after 180 s")


async def load(port: int, users: list[str], rps: float, seconds: float, flip) -> dict:
    n = int(rps * seconds)
    rng = np.random.default_rng(0)
    chosen = [users[i] for i in rng.integers(0, len(users), n)]
    idle = [await Conn.open(port) for _ in range(8)]
    failures: list[str] = []
    versions: dict[str, int] = {}
    timeline: list[tuple[float, str]] = []
    start = time.perf_counter() + 0.2

    async def one(i: int) -> None:
        delay = start + i / rps - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = idle.pop() if idle else await Conn.open(port)
        if time.perf_counter() - conn.last_used > 2.0:
            conn.close()
            conn = await Conn.open(port)
        try:
            status, body = await asyncio.wait_for(
                conn.request("GET", f"/v1/users/{chosen[i]}/recommendations?k=10"), 10
            )
            if status != 200:
                failures.append(f"{status} {body[:120]!r}")
            else:
                version = json.loads(body)["model_version"]
                versions[version] = versions.get(version, 0) + 1
                timeline.append((time.perf_counter() - start, version))
            idle.append(conn)
        except Exception as err:  # a dropped connection or a timeout is a failed request
            failures.append(repr(err))
            conn.close()

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    flip.go()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    switches = sum(1 for a, b in itertools.pairwise(timeline) if a[1] != b[1])
    return {
        "requests": n,
        "failed": len(failures),
        "failures": failures[:10],
        "achieved_rps": n / elapsed,
        "versions": versions,
        "version_changes_seen": switches,
        "promotions": flip.finish(),
    }


PROMOTER = """
import sys, time
from recsmith.serving.registry import ModelRegistry
uri, every, seconds, versions = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
registry = ModelRegistry(uri)
print("ready", flush=True)
sys.stdin.readline()  # the load has started
end, count = time.monotonic() + seconds, 0
while time.monotonic() + every < end:
    time.sleep(every)
    count += 1
    registry.promote("load", int(versions[count % 2]), reason="benchmark flip")
    print(f"promoted {versions[count % 2]}", flush=True)
"""


class Flip:
    """Promotions from a process of its own (as an operator or a retrain job promotes): it imports
    MLflow once, then flips the production alias every ``every`` seconds. MLflow in the sender's
    process would stall the sender's event loop, which is not what is measured."""

    def __init__(self, registry, versions, every: float, seconds: float) -> None:
        self.every, self.count = every, 0
        self.proc: subprocess.Popen | None = None
        if every > 0:
            args = [sys.executable, "-c", PROMOTER, registry.uri, str(every), str(seconds), *map(str, versions)]
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            self.proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def go(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()

    def finish(self) -> int:
        if self.proc is None:
            return 0
        out, _ = self.proc.communicate(timeout=120)
        return sum(line.startswith("promoted") for line in out.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rps", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--every", type=float, default=10)
    parser.add_argument("--no-flips", action="store_true", help="the same load without promotions (a baseline)")
    parser.add_argument("--work", default="runs/promote_bench")
    args = parser.parse_args()
    work = (ROOT / args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    registry, versions, users = build(work)
    port = free_port()
    proc = start_server(registry.uri, work / "state", port)
    try:
        load_before = os.getloadavg()
        flip = Flip(registry, versions, 0 if args.no_flips else args.every, args.seconds)
        result = asyncio.run(load(port, users, args.rps, args.seconds, flip))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    result.update(
        target_rps=args.rps,
        seconds=args.seconds,
        flip_every_s=args.every,
        load_before=[round(x, 2) for x in load_before],
        load_after=[round(x, 2) for x in os.getloadavg()],
    )
    out = ROOT / "benchmarks" / "results" / "promote_under_load.json"
    runs = json.loads(out.read_text()) if out.exists() else {}
    runs = runs if "baseline" in runs or "promotions" in runs else {}
    runs["baseline" if args.no_flips else "promotions"] = result
    out.write_text(json.dumps(runs, indent=2))
    print("| requests | achieved rps | promotions | version changes seen | failed |\n|---:|---:|---:|---:|---:|")
    print(
        f"| {result['requests']} | {result['achieved_rps']:.1f} | {result['promotions']} | "
        f"{result['version_changes_seen']} | {result['failed']} |"
    )
    print(f"load average before / after: {result['load_before']} / {result['load_after']}; JSON: {out}")


if __name__ == "__main__":
    main()
