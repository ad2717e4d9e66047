"""Soak test of `recsmith serve`: does the server's memory stay flat under hostile, endless variety?

1. Builds (once, cached in ``--work``) an ALS bundle of MovieLens-100k (``../shared/data/ml-100k``)
   through the CLI: ``recsmith data prepare``, ``recsmith benchmark --models als``, ``recsmith export``
   -- the bundle the issue was probed on (943 users, 1,682 items, item attributes).
2. Starts ``recsmith serve`` (one worker, production settings, rate limiting off, cache on with its
   defaults: 60 s lifetime, 64 MiB).
3. Open-loop load at ``--rate`` requests per second for ``--duration`` seconds, over keep-alive
   connections: half the requests for **unknown users** (a new random id each time: an attacker needs
   no key for this), half for known users with ``k`` drawn from 10 / 50 / 100 and, for half of those, a
   random ``exclude`` id (a new cache key each time).
4. Samples the server's resident memory (``/proc``, the whole process group) every ``--sample-s``
   seconds, and reports it at the end of the warm-up (``--warmup``, at least the cache lifetime: by
   then the cache holds all it will hold) against its maximum and final value afterwards.

Results: a Markdown table on stdout, JSON in ``benchmarks/results/serve_soak.json`` and the RSS
curve beside it (``.png``), over the curve of ``--baseline`` (an earlier result file) when given.

    .venv/bin/python benchmarks/serve_soak.py                    # 100 req/s for 10 minutes, warm-up 120 s
    .venv/bin/python benchmarks/serve_soak.py --duration 120 --warmup 60
    .venv/bin/python benchmarks/serve_soak.py --plot-only --baseline benchmarks/results/serve_soak_before_fix.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_load import Conn, free_port, group_rss_mb, start_server  # noqa: E402

ML100K = ROOT.parent / "shared" / "data" / "ml-100k"
TIMEOUT_S = 5.0


def build_bundle(work: Path) -> Path:
    bundle = work / "bundle-als"
    if (bundle / "manifest.json").exists():
        return bundle
    if not (ML100K / "u.data").exists():
        raise SystemExit(f"MovieLens-100k not found at {ML100K} (see ../shared/data/README.md)")
    from recsmith.cli.main import main

    steps = [
        ["data", "prepare", "movielens-100k", "--path", str(ML100K), "--out", str(work / "data"), "--overwrite"],
        ["benchmark", "--data", str(work / "data"), "--split", "loo", "--models", "als", "--out", str(work / "run")],
        ["export", "--run", str(work / "run"), "--model", "als", "--out", str(bundle), "--version", "soak-als"],
    ]
    for step in steps:
        print("recsmith " + " ".join(step), file=sys.stderr, flush=True)
        if main(step) != 0:
            raise SystemExit(f"recsmith {step[0]} failed")
    return bundle


def known_ids(bundle: Path) -> tuple[list[str], list[str]]:
    import polars as pl

    users = pl.read_parquet(bundle / "ids" / "user_ids.parquet").to_series().cast(pl.String).to_list()
    items = pl.read_parquet(bundle / "ids" / "item_ids.parquet").to_series().cast(pl.String).to_list()
    return users, items


def request_paths(n: int, users: list[str], items: list[str], seed: int) -> list[str]:
    """Half unknown users (never seen twice), half known users with varied k and exclude lists."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        if rng.random() < 0.5:
            paths.append(f"/v1/users/stranger-{i}-{secrets.token_hex(4)}/recommendations?k=100")
            continue
        user = users[rng.integers(len(users))]
        path = f"/v1/users/{user}/recommendations?k={rng.choice([10, 50, 100])}"
        if rng.random() < 0.5:
            path += f"&exclude={items[rng.integers(len(items))]}"
        paths.append(path)
    return paths


async def soak(port: int, pgid: int, paths: list[str], rate: float, sample_s: float) -> dict:
    idle: list[Conn] = [await Conn.open(port) for _ in range(8)]
    statuses: dict[int, int] = {}
    errors: list[str] = []
    latencies = np.full(len(paths), np.nan)
    samples: list[tuple[float, float]] = []
    start = time.perf_counter() + 0.2
    done = asyncio.Event()

    async def one(i: int) -> None:
        conn = idle.pop() if idle else await Conn.open(port)
        if time.perf_counter() - conn.last_used > 2.0:  # the server closes keep-alive connections idle 5 s
            conn.close()
            conn = await Conn.open(port)
        try:
            status, _ = await asyncio.wait_for(conn.request("GET", paths[i]), TIMEOUT_S)
            latencies[i] = time.perf_counter() - (start + i / rate)
            statuses[status] = statuses.get(status, 0) + 1
            idle.append(conn)
        except Exception as err:
            errors.append(repr(err))
            conn.close()

    async def sampler() -> None:
        while not done.is_set():
            samples.append((round(time.perf_counter() - start, 1), group_rss_mb(pgid)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), sample_s)

    sampling = asyncio.create_task(sampler())
    tasks: set[asyncio.Task] = set()
    for i in range(len(paths)):  # tasks are created on schedule: 60,000 at once would weigh on the sender
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    samples.append((round(time.perf_counter() - start, 1), group_rss_mb(pgid)))
    done.set()
    await sampling
    for c in idle:
        c.close()
    ok = latencies[~np.isnan(latencies)] * 1000
    return {
        "requests": len(paths),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": len(errors),
        "error_samples": errors[:5],
        "elapsed_s": round(time.perf_counter() - start, 1),
        "p50_ms": round(float(np.percentile(ok, 50)), 2) if ok.size else None,
        "p99_ms": round(float(np.percentile(ok, 99)), 2) if ok.size else None,
        "rss_samples_mb": samples,
    }


def growth(samples: list[tuple[float, float]], warmup: float) -> dict:
    """RSS at the end of the warm-up against its maximum and last value afterwards."""
    before = [mb for t, mb in samples if t <= warmup]
    after = [mb for t, mb in samples if t > warmup]
    base = before[-1]
    return {
        "rss_start_mb": samples[0][1],
        "rss_after_warmup_mb": base,
        "rss_max_after_warmup_mb": max(after),
        "rss_final_mb": after[-1],
        "growth_max_pct": round(100 * (max(after) - base) / base, 1),
        "growth_final_pct": round(100 * (after[-1] - base) / base, 1),
    }


def plot(result: dict, path: Path, baseline: dict | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, res in (("before (baseline)", baseline), ("this code", result)):
        if res is not None:
            t, mb = zip(*res["rss_samples_mb"])
            ax.plot(t, mb, label=f"{label}: {res['growth_max_pct']}% after warm-up")
    ax.axvline(result["warmup_s"], color="grey", linestyle=":", label="end of warm-up")
    ax.set_xlabel("seconds")
    ax.set_ylabel("server RSS, MB")
    ax.set_title(f"{result['rate']:g} req/s, half unknown users (ml-100k ALS bundle)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--warmup", type=float, default=120, help="seconds before the baseline RSS is taken")
    parser.add_argument("--sample-s", type=float, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/recsmith-serve-soak"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serve_soak.json")
    parser.add_argument("--baseline", type=Path, help="an earlier result file to draw beside this run")
    parser.add_argument("--plot-only", action="store_true", help="redraw the plot of --out; run nothing")
    args = parser.parse_args()
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    if args.plot_only:
        plot(json.loads(args.out.read_text()), args.out.with_suffix(".png"), baseline)
        return
    if args.warmup >= args.duration:
        raise SystemExit("--warmup must be shorter than --duration")
    args.work.mkdir(parents=True, exist_ok=True)
    bundle = build_bundle(args.work)
    users, items = known_ids(bundle)
    paths = request_paths(int(args.rate * args.duration), users, items, seed=0)
    state = args.work / "state"
    shutil.rmtree(state, ignore_errors=True)
    port = free_port()
    proc = start_server(bundle, state, port, workers=1)
    load_before = os.getloadavg()
    try:
        run = asyncio.run(soak(port, proc.pid, paths, args.rate, args.sample_s))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    result = {
        "command": " ".join(["benchmarks/serve_soak.py", *sys.argv[1:]]),
        "bundle": {"model": "als", "data": "ml-100k", "users": len(users), "items": len(items)},
        "rate": args.rate,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "load_avg_1_5_15_before": [round(x, 2) for x in load_before],
        "load_avg_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
        **growth(run["rss_samples_mb"], args.warmup),
        **run,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    plot(result, args.out.with_suffix(".png"), baseline)
    print(
        "| requests | statuses | errors | p50 ms | p99 ms | RSS start MB | after warm-up | max after | final | growth |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {result['requests']:,} | {result['statuses']} | {result['errors']} | {result['p50_ms']} | "
        f"{result['p99_ms']} | {result['rss_start_mb']} | {result['rss_after_warmup_mb']} | "
        f"{result['rss_max_after_warmup_mb']} | {result['rss_final_mb']} | {result['growth_max_pct']}% |"
    )
    print(
        f"\nload average before {result['load_avg_1_5_15_before']}, after {result['load_avg_1_5_15_after']}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
