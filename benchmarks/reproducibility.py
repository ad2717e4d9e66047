"""How far docs/results.md's numbers move on another machine: one leaderboard, several BLAS / thread set-ups.

Runs ``recsmith benchmark`` on MovieLens 100K (``configs/ml100k.yaml``, its tune grids) for the
baselines once per set-up, each in a fresh process whose environment picks the OpenBLAS kernel
(``OPENBLAS_CORETYPE``: what another CPU would run) and the thread counts (OpenBLAS / OpenMP, and
ALS's own ``num_threads``). It prints, per model and metric, the largest difference from the
default set-up, and writes ``benchmarks/results/reproducibility.json``.

    python benchmarks/reproducibility.py [--models random,popular,itemknn,ease,als,bpr]

Why a difference at all: ALS and BPR fit in float32, and ALS's conjugate-gradient steps start from
the Gram matrix ``Y^T Y`` that BLAS sums in a kernel- and thread-dependent order; those last-bit
differences grow over the alternating sweeps, the factors move in the 4th-5th significant digit,
and a user whose held-out item sits at the edge of the top K flips in or out. On 943 test users
one flip moves Recall@10 by 1/943 = 0.0011.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUPS: dict[str, dict[str, str]] = {
    "default": {},
    "1-thread": {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    "2-threads": {"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"},
    "haswell-1-thread":  # the AVX2 kernel
    {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1"},
    "sandybridge-2-threads":  # the AVX kernel of an older CPU
    {"OPENBLAS_CORETYPE": "Sandybridge", "OPENBLAS_NUM_THREADS": "2"},
    # numpy's own SIMD loops (sums, element-wise) without AVX2: an older CPU's summation order
    "no-avx2": {"NPY_DISABLE_CPU_FEATURES": "X86_V3", "OPENBLAS_CORETYPE": "Sandybridge"},
}
METRICS = ("ndcg@10", "recall@10", "ndcg@20", "recall@20")


def recsmith(*args: str, env: dict[str, str] | None = None) -> None:
    command = [sys.executable, "-m", "recsmith.cli.main", *args]
    subprocess.run(command, check=True, env={**os.environ, **(env or {})}, cwd=ROOT, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="random,popular,itemknn,ease,als,bpr")
    parser.add_argument("--setups", default=",".join(SETUPS), help="comma-separated names of SETUPS (default: all)")
    args = parser.parse_args()
    setups = {name: SETUPS[name] for name in args.setups.split(",")}
    boards: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "ml100k"
        recsmith("data", "prepare", "movielens-100k", "--path", "../shared/data/ml-100k", "--out", str(data))
        for name, env in setups.items():
            start = time.perf_counter()
            out = Path(tmp) / name
            command = [
                "benchmark",
                "--data",
                str(data),
                "--models",
                args.models,
                "--config",
                "ml100k",
                "--out",
                str(out),
            ]
            recsmith(*command, env={"RECSMITH_QUIET": "1", **env})
            boards[name] = json.loads((out / "leaderboard.json").read_text())
            print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    base = boards["default"]
    diffs = {
        model: {
            metric: max(abs(b[model]["test"][metric] - base[model]["test"][metric]) for b in boards.values())
            for metric in METRICS
        }
        for model in base
    }
    header = f"{'model':<8}  " + "  ".join(f"{m:>9}" for m in METRICS) + "  (largest |difference| from default)"
    print(header)
    for model, row in diffs.items():
        print(f"{model:<8}  " + "  ".join(f"{row[m]:>9.4f}" for m in METRICS))
    result = {
        "setups": setups,
        "test": {name: {m: {k: b[m]["test"][k] for k in METRICS} for m in b} for name, b in boards.items()},
        "max_abs_difference": diffs,
        "params": {name: {m: b[m]["params"] for m in b} for name, b in boards.items()},
        "load_average": os.getloadavg(),
    }
    target = ROOT / "benchmarks" / "results" / "reproducibility.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2))
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
