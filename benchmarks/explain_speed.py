"""How long a user's recommendations with explanations take, in the app and in the API (issue 16).

1. Prepares Amazon Beauty and a run of ``configs/app_beauty.yaml`` (itemknn, ease, als, sasrec) under
   ``--work``, once.
2. App: for ``--users`` random users per model, the work of the app's "show a user" event --
   history, the list of 10 with explanations, the beyond-accuracy figures and the first
   explanation (``recsmith.app.views``) -- timed in-process (p50 / p99 / max); and the engine's
   ``recommend`` alone with and without ``explain``. Target: <= 1 s.
3. API: ``recsmith serve`` on each model's bundle, ``GET /v1/users/{u}/recommendations?k=10`` at
   each of ``--rates`` requests per second for ``--duration`` seconds (open loop, latency from the scheduled
   time, benchmarks/serve_load.py's client), without then with ``explain=true``. Target: explanations
   add <= 20% to the p99.

The load average is printed and stored with every result: the machine is shared. Results:
``benchmarks/results/explain_speed.json`` and a Markdown table.

    python benchmarks/explain_speed.py                        # 200 users; 100 and 50 req/s, 20 s each
    python benchmarks/explain_speed.py --models itemknn,als --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import Call, fixed_rate, free_port, start_server  # noqa: E402

BEAUTY = ROOT.parent / "shared" / "data" / "amazon-beauty" / "Beauty.txt"
CONFIG = ROOT / "configs" / "app_beauty.yaml"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def build_run(work: Path) -> Path:
    from recsmith.cli.main import main

    data, run = work / "beauty", work / "run"
    if not (data / "manifest.json").exists():
        assert main(["data", "prepare", "sequences", "--path", str(BEAUTY), "--out", str(data)]) == 0
    if not (run / "run.json").exists():
        assert main(["benchmark", "--data", str(data), "--config", str(CONFIG), "--out", str(run)]) == 0
    return run


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def app_timings(run: Path, models: list[str], n_users: int) -> dict[str, dict]:
    from recsmith.app import views
    from recsmith.app.source import AppSource

    src = AppSource.from_run(run)
    users = src.user_map.to_external(np.random.default_rng(0).choice(src.n_users, n_users, replace=False))
    out = {}
    for name in models:
        t0 = time.perf_counter()
        engine = src.engine(name)
        loaded = time.perf_counter() - t0
        show, plain, explained = [], [], []
        for user in users:
            t = time.perf_counter()
            views.user_history(src, user, name)
            view = views.user_recommendations(src, user, name, 10)
            views.list_metrics(src, [view])
            views.explanation(view, 1)
            show.append(time.perf_counter() - t)
            t = time.perf_counter()
            engine.recommend(user, 10)
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            engine.recommend(user, 10, explain=True)
            explained.append(time.perf_counter() - t)
        out[name] = {
            "model_load_s": round(loaded, 2),
            "show_user": percentiles(show),
            "recommend": percentiles(plain),
            "recommend_explain": percentiles(explained),
            "load_average": load(),
        }
        print(f"app {name}: {out[name]}", flush=True)
    return out


def api_timings(run: Path, models: list[str], work: Path, rates: list[float], duration: float) -> dict[str, dict]:
    from recsmith.pipelines.export import export_bundle
    from recsmith.runs.layout import Run

    users = Run.open(run).user_map.external_ids.to_list()
    out: dict[str, dict] = {}
    for name in models:
        bundle = work / "bundles" / name
        if not (bundle / "manifest.json").exists():
            export_bundle(run, name, bundle)
        state = work / "state" / name
        shutil.rmtree(state, ignore_errors=True)
        port = free_port()
        os.environ["RECSMITH_CACHE_TTL_S"] = "0"  # every request computes its list (start_server passes the env)
        proc = start_server(bundle, state, port, 1)
        out[name] = {}
        try:
            for rate in rates:
                result = {}
                for label, query in (("plain", "k=10"), ("explain", "k=10&explain=true")):
                    drawn = np.random.default_rng(0).integers(0, len(users), int(rate * duration))
                    calls = [Call("GET", f"/v1/users/{users[u]}/recommendations?{query}") for u in drawn]
                    result[label] = asyncio.run(fixed_rate(port, calls, rate, warmup_s=0.0))
                    result[label]["load_average"] = load()
                    print(
                        f"api {name} {rate:g}/s {label}: p50 {result[label]['p50_ms']} ms, p99 "
                        f"{result[label]['p99_ms']} ms, errors {result[label]['errors']}, load "
                        f"{result[label]['load_average']}",
                        flush=True,
                    )
                plain, explained = result["plain"]["p99_ms"], result["explain"]["p99_ms"]
                result["p99_added"] = round(explained / plain - 1, 3) if plain and explained else None
                out[name][f"{rate:g}/s"] = result
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="itemknn,ease,als,sasrec")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rates", default="100,50", help="request rates of the API runs, per second")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--work", type=Path, default=Path("/tmp/recsmith-explain-speed"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "explain_speed.json")
    args = parser.parse_args()
    if not BEAUTY.is_file():
        sys.exit(f"Amazon Beauty not found at {BEAUTY} (../shared/data)")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {load()} (2 shared cores)", flush=True)
    run = build_run(args.work)
    result = {"config": str(CONFIG.relative_to(ROOT)), "users": args.users, "app": app_timings(run, models, args.users)}
    if not args.skip_api:
        rates = [float(r) for r in args.rates.split(",")]
        result["api"] = api_timings(run, models, args.work, rates, args.duration)
        result["api_settings"] = {"rates": rates, "duration_s": args.duration}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("\n| model | app: show a user p50 / p99 (ms) | engine recommend p99 plain / explained (ms) | load avg |")
    print("|---|---|---|---|")
    for name in models:
        a = result["app"][name]
        print(
            f"| {name} | {a['show_user']['p50_ms']} / {a['show_user']['p99_ms']} | "
            f"{a['recommend']['p99_ms']} / {a['recommend_explain']['p99_ms']} | {a['load_average']} |"
        )
    print(
        "\n| model | rate | API p50 plain / explain (ms) | API p99 plain / explain (ms) | p99 added | errors | load avg |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, by_rate in result.get("api", {}).items():
        for rate, r in by_rate.items():
            added = f"{r['p99_added']:+.0%}" if r["p99_added"] is not None else "-"
            print(
                f"| {name} | {rate} | {r['plain']['p50_ms']} / {r['explain']['p50_ms']} | {r['plain']['p99_ms']} / "
                f"{r['explain']['p99_ms']} | {added} | {r['plain']['errors']} / {r['explain']['errors']} | "
                f"{r['explain']['load_average']} |"
            )


if __name__ == "__main__":
    main()
