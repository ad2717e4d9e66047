"""ANN benchmark: recall@10 against exact search vs queries per second, for several FAISS indexes.

Data sets:

* ``synthetic``: FAISS's ``SyntheticDataset`` (clustered, hard to index) -- 1M x 64 base vectors,
  100k training vectors, 1,000 queries, inner product;
* ``beauty-als``: real item embeddings -- the ALS item factors of the committed Amazon-Beauty run
  (``runs/beauty/models/als``), queried with 1,000 users' factors, inner product (the scores the
  service ranks by).

For every index: build seconds, size on disk, then for each search parameter the throughput of
one batched search of all queries (``--threads`` OpenMP threads) and recall@10 against the exact
top-10. Results go to ``benchmarks/results/ann.json`` and a Markdown table on stdout.

    .venv/bin/python benchmarks/ann.py                      # both data sets (about 10 min on 2 cores)
    .venv/bin/python benchmarks/ann.py --dataset beauty-als
    .venv/bin/python benchmarks/ann.py --n 100000           # a smaller synthetic set
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from recsmith.retrieval.ann import AnnIndex  # noqa: E402

K = 10


def synthetic(n: int, n_queries: int, dim: int = 64):
    from faiss.contrib.datasets import SyntheticDataset

    ds = SyntheticDataset(dim, 100_000, n, n_queries, metric="IP", seed=1338)
    return ds.get_database(), ds.get_queries()


def beauty_als(n_queries: int):
    from recsmith.models.base import Recommender

    model = Recommender.load(ROOT / "runs" / "beauty" / "models" / "als")
    rng = np.random.default_rng(0)
    users = rng.choice(model.n_users, size=min(n_queries, model.n_users), replace=False)
    return model.item_factors, model.user_factors[users]


def configs(n: int) -> list[tuple[str, dict[str, list[int]]]]:
    nlist = 2048 if n >= 500_000 else 256 if n >= 10_000 else 32
    return [
        ("Flat", {}),
        (f"IVF{nlist},Flat", {"nprobe": [1, 8, 32, 128]}),
        (f"IVF{nlist},PQ16", {"nprobe": [8, 32, 128]}),
        (f"IVF{nlist},PQ32", {"nprobe": [32, 128]}),
        ("HNSW32", {"efSearch": [16, 64, 256]}),
    ]


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth)]))


def run(name: str, base: np.ndarray, queries: np.ndarray, threads: int) -> list[dict]:
    import faiss

    faiss.omp_set_num_threads(threads)
    exact = AnnIndex.build(base, factory="Flat", metric="ip")
    truth, _ = exact.search(queries, K)
    rows = []
    for factory, grid in configs(len(base)):
        start = time.perf_counter()
        # indexes that need training train on 100k vectors sampled from the base (as `recsmith export` does)
        index = AnnIndex.build(base, factory=factory, metric="ip", train_size=100_000)
        build_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            index.save(Path(tmp) / "idx")
            size_mb = (Path(tmp) / "idx" / "index.faiss").stat().st_size / 2**20
        ((param, values),) = grid.items() if grid else (("-", [None]),)
        for value in values:
            params = {param: value} if value is not None else None
            index.search(queries[:50], K, params=params)  # warm-up
            start = time.perf_counter()
            found, _ = index.search(queries, K, params=params)
            secs = time.perf_counter() - start
            rows.append(
                {
                    "dataset": name,
                    "n": len(base),
                    "dim": base.shape[1],
                    "factory": factory,
                    "param": f"{param}={value}" if value is not None else "-",
                    "recall@10": round(recall_at_k(found, truth), 4),
                    "qps": round(len(queries) / secs, 1),
                    "build_s": round(build_s, 1),
                    "size_mb": round(size_mb, 1),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| data set | n x d | index | search param | recall@10 | QPS | build s | size MB |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['n']:,} x {r['dim']} | `{r['factory']}` | {r['param']} | "
            f"{r['recall@10']:.3f} | {r['qps']:,.0f} | {r['build_s']} | {r['size_mb']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["synthetic", "beauty-als", "all"], default="all")
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic base vectors")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ann.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows: list[dict] = []
    if args.dataset in ("beauty-als", "all"):
        rows += run("beauty-als", *beauty_als(args.queries), threads=args.threads)
    if args.dataset in ("synthetic", "all"):
        rows += run("synthetic", *synthetic(args.n, args.queries), threads=args.threads)
    result = {
        "command": " ".join(["benchmarks/ann.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_avg_1_5_15_before": [round(x, 2) for x in load_before],
            "load_avg_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
        },
        "threads": args.threads,
        "k": K,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(markdown(rows))
    print(
        f"\nload average before {result['machine']['load_avg_1_5_15_before']}, "
        f"after {result['machine']['load_avg_1_5_15_after']}; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
