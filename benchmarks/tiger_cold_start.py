"""TIGER's cold-start retrieval on Beauty: items never seen in training, reached through their content.

Usage (from the repository root, after ``recsmith data prepare sequences ... --out data/beauty``)::

    .venv/bin/python benchmarks/tiger_cold_start.py                          # the committed config
    .venv/bin/python benchmarks/tiger_cold_start.py --epochs 1 --max-users 2000 \
        --set models.tiger.dim=16 --set models.tiger.ff_dim=32 --set models.tiger.heads=1   # a smoke run

Protocol (the TIGER paper's cold-start experiment, section 4.2, on this project's split): leave-one-out
with ``split.cold_items`` (default 5 %) of the items held out of training, so every test interaction
with one of them is a cold-start case. TIGER is trained once with ``configs/beauty_tiger.yaml``; its
semantic ids come from item content only, so held-out items have ids too. Test lists are then
scored with ``cold_share`` (the paper's epsilon) set to each of ``--shares``: up to
``round(cold_share * beam)`` held-out items per user are listed right below the generated item whose
content prefix (first 3 codes) they share (:mod:`recsmith.nn.tiger`). For each share it reports
accuracy on all test users and on the cold slice (users whose test item is held out, relevant set
cut down to it), next to the content model ``tfidf`` on the same split as a reference that reads the
item text directly.

Prints a Markdown table and writes ``benchmarks/results/tiger_cold_start.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KS = [5, 10, 20]
SHOWN = ["recall@10", "ndcg@10", "recall@20"]


def main(args: argparse.Namespace) -> dict[str, Any]:
    import polars as pl

    from recsmith.config import load_config
    from recsmith.data.dataset import Dataset
    from recsmith.data.interactions import Interactions
    from recsmith.data.schema import Columns
    from recsmith.data.side import SideData
    from recsmith.data.splits import split
    from recsmith.evaluation import evaluate
    from recsmith.pipelines.benchmark import fit_model

    overrides = [f"split.cold_items={args.cold_items}", "split.method=loo"]
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
    overrides += args.set
    cfg = load_config(args.config, overrides)
    dataset = Dataset.load(args.data)
    parts = split(dataset.interactions, cfg.split)
    train = parts.train_full()
    side = SideData.from_dataset(dataset, args.data)
    test = parts.test
    if args.max_users:
        keep = np.random.default_rng(cfg.seed).permutation(test.n_users)[: args.max_users]
        test = Interactions(test.frame.filter(pl.col(Columns.User).is_in(keep)), test.n_users, test.n_items)

    started = time.perf_counter()
    tiger, _ = fit_model("tiger", cfg.model_params("tiger"), train, cfg, side)
    fit_seconds = time.perf_counter() - started
    cold = tiger.network.cold.cpu().numpy()  # items without training interactions
    held_out = test.frame.filter(pl.Series(cold[test.frame[Columns.Item].to_numpy()]))
    cold_test = Interactions(held_out, test.n_users, test.n_items)
    print(
        f"held out {int(cold.sum())} items; {cold_test.frame[Columns.User].n_unique()} test users have one as "
        f"their test item",
        file=sys.stderr,
    )

    def scores(model: Any) -> dict[str, dict[str, float]]:
        return {
            part: {k: float(v) for k, v in evaluate(model, target, KS, filter_seen=True).items()}
            for part, target in (("all", test), ("cold", cold_test))
        }

    rows: dict[str, Any] = {}
    beam = tiger.config.beam
    for share in args.shares:
        tiger.network.cold_per_user = round(share * beam)
        started = time.perf_counter()
        rows[f"tiger cold_share={share:g}"] = {**scores(tiger), "score_seconds": time.perf_counter() - started}
    tfidf, _ = fit_model("tfidf", {"text_columns": ["attributes"], "k": 200}, train, cfg, side)
    rows["tfidf (content reference)"] = scores(tfidf)

    record = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "config": str(args.config),
        "cold_items": args.cold_items,
        "epochs": cfg.train.epochs,
        "n_held_out_items": int(cold.sum()),
        "n_cold_users": int(cold_test.frame[Columns.User].n_unique()),
        "n_test_users": int(test.frame[Columns.User].n_unique()),
        "beam": beam,
        "tiger_fit_seconds": round(fit_seconds, 1),
        "threads": cfg.train.threads,
        "load_average_after": os.getloadavg(),
        "results": rows,
    }
    print(table(record))
    path = ROOT / "benchmarks" / "results" / "tiger_cold_start.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return record


def table(record: dict[str, Any]) -> str:
    head = ["model", *[f"all {m}" for m in SHOWN], *[f"cold {m}" for m in SHOWN]]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name, row in record["results"].items():
        cells = [f"{row['all'][m]:.4f}" for m in SHOWN] + [f"{row['cold'][m]:.4f}" for m in SHOWN]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT / "data" / "beauty", help="prepared Beauty dataset")
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "beauty_tiger.yaml")
    p.add_argument("--cold-items", type=float, default=0.05, help="share of items held out of training")
    p.add_argument(
        "--shares",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[0.0, 0.1, 0.25],
        help="cold_share values to score with (comma-separated)",
    )
    p.add_argument("--epochs", type=int, default=0, help="override train.epochs (0: the config's)")
    p.add_argument("--set", action="append", default=[], help="config override KEY=VALUE (repeatable)")
    p.add_argument("--max-users", type=int, default=0, help="score only this many random test users (0: all)")
    return p.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
