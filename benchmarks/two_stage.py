"""Candidate recall of a two-stage run, on its test part: what caps any ranker (issue 15).

Reads a finished ``recsmith benchmark`` run that holds ``two_stage`` (its model was refitted on
train + validation), splits the prepared dataset again with the run's own config, and measures, for
every test user, the share of their test items among the candidates of each source and of the
union. Also prints the leaderboard's test metrics, the two-stage model's wall time and how far it
is above the best single model, and the load average. Writes ``benchmarks/results/two_stage.json``
(one entry per run, merged into what is there) and prints a Markdown table::

    .venv/bin/python benchmarks/two_stage.py --run runs/beauty_two_stage_board --data data/beauty
    .venv/bin/python benchmarks/two_stage.py --run runs/hm_synth_two_stage --data data/hm_synth --name hm_synth
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from recsmith.config import load_config  # noqa: E402
from recsmith.data.dataset import Dataset  # noqa: E402
from recsmith.data.splits import split  # noqa: E402
from recsmith.models import Recommender  # noqa: E402
from recsmith.utils.atomic import atomic_write_text  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "two_stage.json"


def measure(run: Path, data: Path, model_name: str = "two_stage") -> dict:
    cfg = load_config(run / "config.yaml")
    parts = split(Dataset.load(data).interactions, cfg.split)
    model = Recommender.load(run / "models" / model_name)
    start = time.perf_counter()
    recall = model.candidate_recall(parts.test)
    board = json.loads((run / "leaderboard.json").read_text())
    metric = cfg.evaluation.select_metric
    singles = {name: r["test"][metric] for name, r in board.items() if name != model_name}
    best = max(singles, key=singles.get) if singles else None
    out = {
        "run": str(run),
        "metric": metric,
        "test": board[model_name]["test"],
        "two_stage_total_seconds": board[model_name].get("total_seconds"),
        "best_single": {"model": best, metric: singles.get(best)} if best else None,
        "ratio_to_best_single": board[model_name]["test"][metric] / singles[best] if best else None,
        "candidate_recall_test": recall,
        "candidate_recall_holdout": json.loads((run / "models" / model_name / "candidates.json").read_text()),
        "recall_seconds": round(time.perf_counter() - start, 1),
        "load_average": os.getloadavg(),
    }
    return out


def table(name: str, result: dict) -> str:
    lines = [f"### {name}", "", "| source | n | candidate recall (test) | candidates / user |", "|---|---:|---:|---:|"]
    for source, r in result["candidate_recall_test"].items():
        lines.append(f"| {source} | {r.get('n', '-')} | {r['recall']:.4f} | {r['candidates_per_user']:.1f} |")
    metric = result["metric"]
    best = result["best_single"]
    lines += ["", f"two_stage test {metric} {result['test'][metric]:.4f}"]
    if best:
        lines[-1] += f"; best single model {best['model']} {best[metric]:.4f} (x{result['ratio_to_best_single']:.3f})"
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--name", default=None, help="key in the JSON (default: the run's directory name)")
    args = parser.parse_args()
    result = measure(args.run, args.data)
    name = args.name or args.run.name
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[name] = result
    atomic_write_text(RESULTS, json.dumps(results, indent=2, default=float))
    print(table(name, result))


if __name__ == "__main__":
    main()
