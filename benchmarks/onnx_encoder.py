"""ONNX export of the user/query encoder: latency and recall change against PyTorch.

For the ALS models of the committed runs (``runs/ml100k``, ``runs/beauty``), the history encoder
of :mod:`recsmith.retrieval.query_encoder` (item history -> query vector) is run three ways on the same
users' training histories (last ``--history`` items):

* PyTorch (eager, ``torch.no_grad``), ONNX Runtime fp32, ONNX Runtime with dynamic int8 quantisation;

and for each: median latency of one call at batch 1 and batch 256 (1 intra-op thread everywhere),
and recall@10 of the top-10 items retrieved with its query vectors (exact inner product, seen items
removed) against the top-10 retrieved with PyTorch's vectors. Results: ``benchmarks/results/onnx_encoder.json``.

    .venv/bin/python benchmarks/onnx_encoder.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from recsmith.models.base import Recommender, top_k  # noqa: E402
from recsmith.retrieval.query_encoder import (  # noqa: E402
    OnnxEncoder,
    build_history_encoder,
    export_onnx,
    factor_matrices,
    pad_histories,
    quantize_int8,
)


def median_ms(fn, x: np.ndarray, repeats: int) -> float:
    fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def retrieve(queries: np.ndarray, items: np.ndarray, seen, users: np.ndarray) -> np.ndarray:
    scores = queries @ items.T
    rows = seen[users]
    r = np.repeat(np.arange(len(users)), np.diff(rows.indptr))
    scores[r, rows.indices] = -np.inf
    return top_k(scores.astype(np.float32), 10)[0]


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b)]))


def bench(run: str, n_users: int, history: int) -> dict:
    import torch

    torch.set_num_threads(1)
    model = Recommender.load(ROOT / "runs" / run / "models" / "als")
    V, bias, _, _ = factor_matrices(model)
    item_vecs = V if bias is None else np.hstack([V, bias[:, None]])
    rng = np.random.default_rng(0)
    users = rng.choice(model.n_users, size=min(n_users, model.n_users), replace=False)
    seen = model.seen
    x = pad_histories([seen[u].indices for u in users], model.n_items, history)
    enc = build_history_encoder(model)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(enc, Path(tmp) / "q.onnx", model.n_items)
        int8 = quantize_int8(fp32, Path(tmp) / "q8.onnx")
        sizes = {"fp32": fp32.stat().st_size, "int8": int8.stat().st_size}
        runners = {
            "pytorch": lambda a: enc(torch.from_numpy(a)).numpy(),
            "onnxruntime fp32": OnnxEncoder(fp32),
            "onnxruntime int8": OnnxEncoder(int8),
        }
        with torch.no_grad():
            outputs = {name: fn(x) for name, fn in runners.items()}
            reference = retrieve(outputs["pytorch"], item_vecs, seen, users)
            trained = retrieve(model.user_factors[users], V, seen, users)
            rows = []
            for name, fn in runners.items():
                top = retrieve(outputs[name], item_vecs, seen, users)
                rows.append(
                    {
                        "run": run,
                        "runtime": name,
                        "batch1_ms": round(median_ms(fn, x[:1], 300), 4),
                        "batch256_ms": round(median_ms(fn, x[:256], 30), 3),
                        "recall@10_vs_pytorch": round(overlap(top, reference), 4),
                        "max_abs_diff": float(np.abs(outputs[name] - outputs["pytorch"]).max()),
                        "size_kb": round(
                            sizes.get(name.split()[-1], sum(p.numel() * 4 for p in enc.parameters())) / 1024
                        ),
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {
        "run": run,
        "n_items": model.n_items,
        "dim": V.shape[1],
        "users": len(users),
        "history": x.shape[1],
        "encoder_vs_trained_user_vectors_recall@10": round(overlap(reference, trained), 4),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="ml100k,beauty")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--history", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "onnx_encoder.json")
    args = parser.parse_args()
    load = os.getloadavg()
    results = [bench(r, args.users, args.history) for r in args.runs.split(",")]
    out = {
        "command": " ".join(["benchmarks/onnx_encoder.py", *sys.argv[1:]]),
        "load_avg_1_5_15_before": [round(v, 2) for v in load],
        "load_avg_1_5_15_after": [round(v, 2) for v in os.getloadavg()],
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print("| run (items x d) | runtime | batch 1 ms | batch 256 ms | recall@10 vs PyTorch | max abs diff | size KB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for res in results:
        for r in res["rows"]:
            print(
                f"| {res['run']} ({res['n_items']:,} x {res['dim']}) | {r['runtime']} | {r['batch1_ms']:.3f} | "
                f"{r['batch256_ms']:.2f} | {r['recall@10_vs_pytorch']:.4f} | {r['max_abs_diff']:.2e} | {r['size_kb']} |"
            )
    for res in results:
        print(
            f"\n{res['run']}: encoder vs trained ALS user vectors, recall@10 = "
            f"{res['encoder_vs_trained_user_vectors_recall@10']}"
        )
    print(f"load average before {out['load_avg_1_5_15_before']}, after {out['load_avg_1_5_15_after']}")


if __name__ == "__main__":
    main()
