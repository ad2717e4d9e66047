"""Full-ranking evaluation at scale: 1M users x 100k items, random embeddings of dimension 64.

Usage (from the repository root)::

    .venv/bin/python benchmarks/eval_speed.py                       # the full size
    .venv/bin/python benchmarks/eval_speed.py --users 100000        # a fraction; wall time extrapolated

A dot-product model with seeded random user / item embeddings is fitted on ``--train-per-user``
random interactions per user (so seen-item filtering has work to do) and evaluated against one
random held-out item per user with :func:`recsmith.evaluation.evaluate`: every item is scored for
every user, chunk by chunk, and only each chunk's top-K is kept. The script prints a table and
appends a record to ``benchmarks/results/eval_speed.json``: wall time (set-up and evaluation),
users per second, the time spent in the dot products, and memory -- resident set size after set-up
and its peak during evaluation (``VmHWM`` from ``/proc/self/status``, reset before evaluating via
``/proc/self/clear_refs``; ``ru_maxrss`` as a cross-check). The machine's load average is recorded
too, since other work on the machine slows the run down.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from recsmith.data.interactions import Interactions
from recsmith.evaluation import evaluate
from recsmith.evaluation.evaluator import auto_batch_size
from recsmith.models.base import ModelConfig, Recommender

ROOT = Path(__file__).resolve().parents[1]
MB = 1 << 20


class RandomEmbeddings(Recommender):
    """``score(u, i) = <p_u, q_i>`` with seeded standard-normal embeddings; times its dot products."""

    name = "random-embeddings-benchmark"

    class Config(ModelConfig):
        dim: int = 64
        seed: int = 0

    def _fit(self, interactions: Interactions) -> None:
        rng = np.random.default_rng(self.config.seed)
        self.user_emb = rng.standard_normal((self.n_users, self.config.dim), dtype=np.float32)
        self.item_emb_t = np.ascontiguousarray(rng.standard_normal((self.n_items, self.config.dim), dtype=np.float32).T)
        self.score_seconds = 0.0
        self._lock = threading.Lock()

    def _score(self, users: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        scores = self.user_emb[users] @ self.item_emb_t
        with self._lock:
            self.score_seconds += time.perf_counter() - start
        return scores

    def _state(self) -> dict[str, np.ndarray]:  # pragma: no cover - never saved
        return {}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:  # pragma: no cover
        pass


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def random_interactions(rng: np.random.Generator, n_users: int, n_items: int, per_user: int) -> Interactions:
    users = np.repeat(np.arange(n_users, dtype=np.int32), per_user)
    items = rng.integers(0, n_items, users.size, dtype=np.int32)
    frame = pl.DataFrame(
        {
            "user": users,
            "item": items,
            "timestamp": np.zeros(users.size, dtype=np.int64),
            "weight": np.ones(users.size, dtype=np.float32),
        }
    )
    return Interactions(frame, n_users, n_items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000, help="users to evaluate (full size: 1,000,000)")
    parser.add_argument("--total-users", type=int, default=1_000_000, help="the size the wall time is extrapolated to")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--ks", default="10,20")
    parser.add_argument("--train-per-user", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None, help="users per chunk (default: sized to ~256 MB)")
    parser.add_argument("--workers", type=int, default=1, help="chunks evaluated concurrently (threads)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "eval_speed.json"))
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    train = random_interactions(rng, args.users, args.items, args.train_per_user)
    test = random_interactions(rng, args.users, args.items, 1)
    model = RandomEmbeddings(dim=args.dim, seed=args.seed).fit(train)
    setup_seconds = time.perf_counter() - t0
    rss_setup = status_kb("VmRSS") * 1024
    peak_reset = reset_peak_rss()

    batch = args.batch_size or auto_batch_size(args.items, (256 << 20) // args.workers)
    t0 = time.perf_counter()
    result = evaluate(model, test, ks, batch_size=batch, workers=args.workers)
    eval_seconds = time.perf_counter() - t0
    load_after = os.getloadavg()
    peak_eval = status_kb("VmHWM") * 1024
    peak_process = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    scale = args.total_users / args.users
    record = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/eval_speed.py " + " ".join(sys.argv[1:]),
        "users": args.users,
        "items": args.items,
        "dim": args.dim,
        "ks": ks,
        "train_interactions": len(train),
        "batch_size": batch,
        "workers": args.workers,
        "setup_seconds": round(setup_seconds, 1),
        "eval_seconds": round(eval_seconds, 1),
        "users_per_second": round(args.users / eval_seconds),
        "score_seconds": round(model.score_seconds, 1),
        "extrapolated_eval_seconds_for_total_users": round(eval_seconds * scale, 1) if scale != 1 else None,
        "total_users": args.total_users,
        "rss_after_setup_mb": round(rss_setup / MB),
        "peak_rss_during_eval_mb": round(peak_eval / MB) if peak_reset else None,
        "peak_rss_process_mb": round(peak_process / MB),
        "ndcg@10": result.get("ndcg@10"),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }
    width = max(len(k) for k in record)
    for key, value in record.items():
        print(f"{key:<{width}}  {value}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(out.read_text())["runs"] if out.is_file() else []
    runs.append(record)
    out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    print(f"appended to {out}")


if __name__ == "__main__":
    main()
