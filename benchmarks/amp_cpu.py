"""bf16 autocast vs fp32: training epoch time of MF on the CPU, through the Trainer.

Usage (from the repository root)::

    .venv/bin/python benchmarks/amp_cpu.py [--data data/ml100k] [--epochs 2] [--rounds 3] [--threads 1]

Trains ``mf`` (no validation, no checkpoints) for ``--epochs`` epochs per run and keeps the epoch
times after the first (warm-up) one; fp32 and bf16 runs alternate for ``--rounds`` rounds, so that
a change in the machine's load hits both alike, and the medians are compared. The load average is
recorded next to the numbers. Settings: two losses that stress different
kernels (``sampled_softmax``: one large matmul of each batch against 1024 + 1024 items; ``bpr``:
gathers and small per-row dot products) at two widths. Prints a table and writes
``benchmarks/results/amp_cpu.json`` with the machine it ran on (bf16 needs AVX512-BF16 / AMX to be
fast; without them autocast only adds casts).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [
    {"loss": "sampled_softmax", "n_negatives": 1024, "dim": 64},
    {"loss": "sampled_softmax", "n_negatives": 1024, "dim": 256},
    {"loss": "bpr", "n_negatives": 4, "dim": 64},
    {"loss": "bpr", "n_negatives": 4, "dim": 256},
]


def cpu_info() -> dict[str, object]:
    flags: set[str] = set()
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags |= set(line.split(":", 1)[1].split())
    return {"model": model, "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags}


def epoch_seconds(parts, setting: dict, amp: str, epochs: int, threads: int) -> list[float]:
    from recsmith.models import create_model
    from recsmith.training.config import resolve_train_config
    from recsmith.training.trainer import Trainer

    train = {
        "epochs": epochs,
        "batch_size": 1024,
        "amp": amp,
        "threads": threads,
        "loss": {"name": setting["loss"]},
        "sampler": {"name": "uniform", "n_negatives": setting["n_negatives"]},
        "tracking": {"mlflow": False},
        "checkpoint": {"enabled": False},
    }
    model = create_model("mf", {"dim": setting["dim"]})
    result = Trainer(resolve_train_config(model, overrides=train)).fit(model, parts.train)
    return [h["seconds"] for h in result.history]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT / "data" / "ml100k"), help="prepared dataset (default ml100k)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (the first is warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating fp32 / bf16 runs per setting")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "amp_cpu.json"))
    args = parser.parse_args()

    import torch

    from recsmith.config import SplitConfig
    from recsmith.data.dataset import Dataset
    from recsmith.data.splits import split

    dataset = Dataset.load(args.data)
    parts = split(dataset.interactions, SplitConfig(method="loo", valid=False))
    rows = []
    load_before = os.getloadavg()
    for setting in SETTINGS:
        timing: dict[str, list[float]] = {"off": [], "bf16": []}
        for _ in range(args.rounds):
            for amp in ("off", "bf16"):
                times = epoch_seconds(parts, setting, amp, args.epochs, args.threads)
                timing[amp] += times[1:] or times  # the first epoch warms caches and allocators up
        fp32, bf16 = statistics.median(timing["off"]), statistics.median(timing["bf16"])
        rows.append(
            {**setting, "fp32_seconds": fp32, "bf16_seconds": bf16, "speedup": fp32 / bf16, "epoch_seconds": timing}
        )

    header = f"{'loss':<16} {'negatives':>9} {'dim':>5} {'fp32 s/epoch':>13} {'bf16 s/epoch':>13} {'bf16 speed-up':>14}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['loss']:<16} {r['n_negatives']:>9} {r['dim']:>5} {r['fp32_seconds']:>13.3f} "
            f"{r['bf16_seconds']:>13.3f} {r['speedup']:>13.2f}x"
        )

    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "dataset": os.path.relpath(args.data, ROOT),
        "train_interactions": len(parts.train),
        "epochs": args.epochs,
        "rounds": args.rounds,
        "threads": args.threads,
        "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu_info(),
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
