"""Load test of `recsmith serve` on 127.0.0.1: fixed-rate GET recommendations with a hot reload midway.

1. Builds (once, cached in ``--work``) two bundles of an ALS model fitted on synthetic clustered
   interactions: 100,000 items x 30,000 users, 64 factors, an ``HNSW32`` index (efSearch 64).
   The two differ only in their version, so the reload swaps a whole bundle of the same size.
2. Starts ``recsmith serve`` (1 worker unless ``--workers``), rate limiting off.
3. Open-loop load: ``GET /v1/users/{user}/recommendations?k=10`` at ``--rate`` requests per second
   for ``--duration`` seconds, users drawn uniformly (95% known, 5% unknown -> cold start), over
   keep-alive connections of a minimal asyncio HTTP/1.1 client (little CPU next to the server).
   Latency counts from each request's *scheduled* time, so a stalled server shows up in the
   percentiles (no coordinated omission). At half time it POSTs ``/v1/admin/reload`` to the other bundle.
4. Optionally (``--wrk``, when ``wrk`` is installed) a closed-loop maximum-throughput run.

``--bundle PATH`` load-tests an existing bundle instead (e.g. a two-stage model exported with
``recsmith export``; no reload), requesting its own users (95%) and unknown ones (5%).

Every request is bounded (5 s timeout) and the run stops by itself. Results: JSON in
``benchmarks/results/serve_load.json`` and a Markdown table on stdout.

    .venv/bin/python benchmarks/serve_load.py                     # 200 req/s for 60 s, reload at 30 s
    .venv/bin/python benchmarks/serve_load.py --rate 400 --duration 30 --wrk
    .venv/bin/python benchmarks/serve_load.py --bundle bundles/beauty_two_stage --rate 100 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

KEY = "load-test-key-0123456789"
N_ITEMS, N_USERS, DIM = 100_000, 30_000, 64
TIMEOUT_S = 5.0


# ---------------------------------------------------------------------- bundles
def build_bundles(work: Path) -> tuple[Path, Path]:
    a, b = work / "bundle-v1", work / "bundle-v2"
    if (a / "manifest.json").exists() and (b / "manifest.json").exists():
        return a, b
    import polars as pl

    from recsmith.data.idmap import IdMap
    from recsmith.data.interactions import Interactions
    from recsmith.models.registry import create_model
    from recsmith.serving.bundle import write_bundle

    rng = np.random.default_rng(0)
    # 200 taste clusters; each user draws ~20 items, 80% from their cluster, popularity Zipf-like
    n_clusters, per_user = 200, 20
    cluster_of_item = rng.integers(0, n_clusters, N_ITEMS)
    order = np.argsort(cluster_of_item, kind="stable")
    starts = np.searchsorted(cluster_of_item[order], np.arange(n_clusters + 1))
    users = np.repeat(np.arange(N_USERS), per_user)
    user_cluster = rng.integers(0, n_clusters, N_USERS)[users]
    in_cluster = rng.random(users.size) < 0.8
    size = starts[user_cluster + 1] - starts[user_cluster]
    rank = np.minimum((rng.zipf(1.3, users.size) - 1), size - 1)
    items = np.where(in_cluster, order[starts[user_cluster] + rank], rng.integers(0, N_ITEMS, users.size))
    frame = pl.DataFrame(
        {"user": users, "item": items, "timestamp": np.arange(users.size), "weight": np.ones(users.size)}
    )
    inter = Interactions(frame.unique(["user", "item"], maintain_order=True), N_USERS, N_ITEMS)
    print(f"fitting ALS on {len(inter):,} interactions ...", file=sys.stderr, flush=True)
    model = create_model("als", {"factors": DIM, "iterations": 5}).fit(inter)
    user_map = IdMap([f"user{u}" for u in range(N_USERS)], kind="user")
    item_map = IdMap([f"item{i}" for i in range(N_ITEMS)], kind="item")
    attrs = pl.DataFrame(
        {
            "item": pl.Series(np.arange(N_ITEMS, dtype=np.int32)),
            "category": [f"c{c}" for c in cluster_of_item % 20],
            "price": rng.uniform(1, 200, N_ITEMS).round(2),
            "in_stock": rng.random(N_ITEMS) < 0.9,
        }
    )
    for path, version in ((a, "load-v1"), (b, "load-v2")):
        print(f"writing {path} (HNSW32 over {N_ITEMS:,} items) ...", file=sys.stderr, flush=True)
        write_bundle(
            path,
            model,
            user_map,
            item_map,
            items=attrs,
            version=version,
            index_factory="HNSW32",
            search_params={"efSearch": 64},
            overwrite=True,
        )
    return a, b


# ---------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(bundle: Path, state: Path, port: int, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "RECSMITH_ENVIRONMENT": "production",
        "RECSMITH_API_KEYS": KEY,
        "RECSMITH_RATE_LIMIT_PER_S": "0",
        "RECSMITH_QUIET": "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "recsmith.cli.main",
            "serve",
            "--bundle",
            str(bundle),
            "--state-dir",
            str(state),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("server not ready after 120 s")


# ---------------------------------------------------------------------- minimal HTTP/1.1 client
class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.last_used = time.perf_counter()

    @classmethod
    async def open(cls, port: int) -> "Conn":
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, method: str, path: str, body: bytes = b"", headers: str = "") -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        self.last_used = time.perf_counter()
        return status, body

    def close(self) -> None:
        self.writer.close()


async def fixed_rate(
    port: int,
    rate: float,
    duration: float,
    reload_to: Path | None,
    seed: int = 0,
    known: list[str] | None = None,
    query: str = "k=10",
) -> dict:
    """``known``: the known users to draw from (default: this script's bundles'); ``query``: the
    request's query string (e.g. ``k=10&explain=true``)."""
    rng = np.random.default_rng(seed)
    n = int(rate * duration)
    known = known or [f"user{u}" for u in range(N_USERS)]
    users = [known[u] if rng.random() < 0.95 else f"stranger{u}" for u in rng.integers(0, len(known), n)]
    idle: list[Conn] = [await Conn.open(port) for _ in range(8)]
    latencies = np.full(n, np.nan)
    service = np.full(n, np.nan)
    errors: list[str] = []
    versions: dict[str, int] = {}
    reload_info: dict = {}
    start = time.perf_counter() + 0.2

    async def one(i: int) -> None:
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = None
        sent = time.perf_counter()
        try:
            # opening a connection can fail too (an overloaded server's full accept queue): an error, not a crash
            conn = idle.pop() if idle else await asyncio.wait_for(Conn.open(port), TIMEOUT_S)
            if time.perf_counter() - conn.last_used > 2.0:  # the server closes keep-alive connections idle 5 s
                conn.close()
                conn = await asyncio.wait_for(Conn.open(port), TIMEOUT_S)
            sent = time.perf_counter()
            status, body = await asyncio.wait_for(
                conn.request("GET", f"/v1/users/{users[i]}/recommendations?{query}"), TIMEOUT_S
            )
            done = time.perf_counter()
            if status != 200:
                errors.append(f"{status} {body[:200]!r}")
            else:
                doc = json.loads(body)
                if len(doc["items"]) != 10:
                    errors.append(f"short list: {len(doc['items'])}")
                versions[doc["model_version"]] = versions.get(doc["model_version"], 0) + 1
            latencies[i] = done - scheduled
            service[i] = done - sent
            idle.append(conn)
        except Exception as err:
            errors.append(repr(err))
            if conn is not None:
                conn.close()

    async def reload() -> None:
        await asyncio.sleep(0.2 + duration / 2)
        conn = await Conn.open(port)
        body = json.dumps({"bundle": str(reload_to)}).encode()
        t0 = time.perf_counter()
        status, resp = await asyncio.wait_for(
            conn.request("POST", "/v1/admin/reload", body, f"X-API-Key: {KEY}\r\n"), 120
        )
        reload_info.update(
            status=status,
            response=json.loads(resp),
            wall_s=round(time.perf_counter() - t0, 3),
            at_s=round(t0 - start, 2),
        )
        conn.close()

    gc.disable()  # the sender's own collector pauses would count as server latency (bounded run)
    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    if reload_to is not None:
        tasks.append(asyncio.create_task(reload()))
    await asyncio.gather(*tasks)
    gc.enable()
    for c in idle:
        c.close()
    elapsed = time.perf_counter() - start
    phases = {}
    if reload_info.get("status") == 200:
        sched = np.arange(n) / rate
        t0, t1 = reload_info["at_s"], reload_info["at_s"] + reload_info["wall_s"] + 1.0
        for name, sel in (
            ("before_reload", sched < t0),
            ("reload_window", (sched >= t0) & (sched < t1)),
            ("after_reload", sched >= t1),
        ):
            lat = latencies[sel & ~np.isnan(latencies)] * 1000
            phases[name] = (
                {
                    "requests": int(sel.sum()),
                    "p50_ms": round(float(np.percentile(lat, 50)), 2),
                    "p99_ms": round(float(np.percentile(lat, 99)), 2),
                }
                if lat.size
                else {}
            )
    ok = latencies[~np.isnan(latencies)] * 1000
    svc = service[~np.isnan(service)] * 1000
    pct = lambda a, q: round(float(np.percentile(a, q)), 2) if a.size else None  # noqa: E731
    return {
        "mode": f"fixed rate {rate:g}/s",
        "requests": n,
        "completed": int(ok.size),
        "errors": len(errors),
        "error_samples": errors[:5],
        "throughput_rps": round(ok.size / elapsed, 1),
        "p50_ms": pct(ok, 50),
        "p95_ms": pct(ok, 95),
        "p99_ms": pct(ok, 99),
        "max_ms": pct(ok, 100),
        "service_p50_ms": pct(svc, 50),
        "service_p99_ms": pct(svc, 99),
        "versions": versions,
        "reload": reload_info,
        "phases": phases,
    }


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in the server's process group (the CLI and its workers)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ProcessLookupError):
            continue
    return round(total / 1024, 1)


def run_wrk(port: int, seconds: int, connections: int, work: Path) -> dict | None:
    if shutil.which("wrk") is None:
        return None
    script = work / "users.lua"
    script.write_text(
        f'math.randomseed(1)\nrequest = function()\n  return wrk.format("GET", "/v1/users/user" .. '
        f'math.random(0, {N_USERS - 1}) .. "/recommendations?k=10")\nend\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("JSON {\\"requests\\": %d, \\"errors\\": %d, \\"p50\\": %f, \\"p99\\": %f}\\n", '
        "summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write "
        "+ summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))\nend\n"
    )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("JSON ")), None)
    if line is None:
        return {"mode": "wrk", "raw": out.stdout[-1000:]}
    data = json.loads(line[5:])
    rps = next((float(ln.split()[1]) for ln in out.stdout.splitlines() if ln.startswith("Requests/sec")), None)
    return {
        "mode": f"wrk closed loop, {connections} connections, {seconds}s",
        "requests": data["requests"],
        "errors": data["errors"],
        "throughput_rps": rps,
        "p50_ms": round(data["p50"], 2),
        "p99_ms": round(data["p99"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-reload", action="store_true")
    parser.add_argument("--wrk", action="store_true", help="also a closed-loop wrk run (max throughput)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/recsmith-serve-load"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serve_load.json")
    parser.add_argument("--bundle", type=Path, default=None, help="load-test this bundle (no reload)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    known = None
    if args.bundle is not None:
        from recsmith.data.idmap import IdMap

        v1, v2, args.no_reload = args.bundle, None, True
        known = IdMap.load(args.bundle / "ids" / "user_ids.parquet", kind="user").external_ids.to_list()
    else:
        v1, v2 = build_bundles(args.work)
    state = args.work / "state"
    shutil.rmtree(state, ignore_errors=True)
    port = free_port()
    proc = start_server(v1, state, port, args.workers)
    load_before = os.getloadavg()
    try:
        rows = [asyncio.run(fixed_rate(port, args.rate, args.duration, None if args.no_reload else v2, known=known))]
        rss_mb = group_rss_mb(proc.pid)
        if args.wrk:
            rows.append(run_wrk(port, 20, 8, args.work))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    result = {
        "command": " ".join(["benchmarks/serve_load.py", *sys.argv[1:]]),
        "catalogue": (
            {"bundle": str(args.bundle), "users": len(known)}
            if args.bundle is not None
            else {"items": N_ITEMS, "users": N_USERS, "dim": DIM, "index": "HNSW32 efSearch=64", "model": "als"}
        ),
        "server": {"workers": args.workers, "cpus": os.cpu_count(), "rss_mb_after_run": rss_mb},
        "load_avg_1_5_15_before": [round(x, 2) for x in load_before],
        "load_avg_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
        "rows": [r for r in rows if r],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("| run | requests | errors | throughput req/s | p50 ms | p95 ms | p99 ms | reload |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in result["rows"]:
        rl = r.get("reload") or {}
        reload_txt = (
            f"{rl['response']['previous_version']} -> {rl['response']['version']} at {rl['at_s']} s ({rl['wall_s']} s)"
            if rl.get("status") == 200
            else ("failed" if rl else "-")
        )
        print(
            f"| {r['mode']} | {r['requests']:,} | {r['errors']} | {r['throughput_rps']} | {r.get('p50_ms')} | "
            f"{r.get('p95_ms', '-')} | {r.get('p99_ms')} | {reload_txt} |"
        )
    for r in result["rows"]:
        for name, ph in (r.get("phases") or {}).items():
            print(f"  {name}: {ph}")
    print(
        f"\nserver RSS {rss_mb} MB; load average before {result['load_avg_1_5_15_before']}, "
        f"after {result['load_avg_1_5_15_after']}"
    )


if __name__ == "__main__":
    main()
