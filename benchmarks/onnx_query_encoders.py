"""Should the service run the sequential / two-tower query encoders with ONNX Runtime (fp32, int8)?

For each ``query_vectors`` model of the runs ``benchmarks/serve_load.py`` trains (``WORK/runs/NAME``),
the network part that serving runs -- a history to its query vector (``model.query_vectors``: the
encoder's output at the history's end) -- is run three ways on the same inputs: PyTorch (eager,
no_grad), ONNX Runtime fp32 (the file ``recsmith export`` writes into the bundle,
``model.query_encoder()``) and ONNX Runtime with dynamic int8 quantisation (weights of MatMul /
Gather), one intra-op thread each, as the service runs it. Inputs are users' training histories
(the last ``max_len`` items), cut to the longest history of each batch as ``query_vectors`` does.

Per runtime: median wall time of one call at batch 1 and at batch 16 (what the micro-batcher forms
under load), the largest absolute difference of the query vectors from PyTorch's, and recall@10 of
the items ranked by its queries (all items, inner product) against PyTorch's ranking. Models without
an exported encoder (``query_encoder()`` is None: the two-tower user tower embeds through TorchRec) say so.
Results: ``benchmarks/results/onnx_query_encoders.json`` and a Markdown table.

    .venv/bin/python benchmarks/onnx_query_encoders.py --runs /tmp/recsmith-serve-families/runs
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
from recsmith.models.sessions import QueryVectors  # noqa: E402
from recsmith.retrieval.query_encoder import (  # noqa: E402
    QUERY_VECTORS_FILE,
    OnnxEncoder,
    export_query_vectors_encoder,
    quantize_int8,
)


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def recall_at_10(queries: np.ndarray, reference: np.ndarray, items: np.ndarray) -> float:
    a = top_k((queries @ items.T).astype(np.float32), 10)[0]
    b = top_k((reference @ items.T).astype(np.float32), 10)[0]
    return float(np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b)]))


def bench_model(name: str, model, n_users: int, repeats: int) -> list[dict]:
    rng = np.random.default_rng(0)
    users = rng.choice(model.n_users, size=min(n_users, model.n_users), replace=False)
    histories = [model.training_history(int(u)) for u in users]
    V = np.asarray(model.output_item_vectors(), dtype=np.float32)
    reference = model.query_vectors(histories)
    one, sixteen = histories[:1], histories[:16]
    rows = [
        {
            "model": name,
            "runtime": "pytorch",
            "batch1_ms": median_ms(lambda: model.query_vectors(one), repeats),
            "batch16_ms": median_ms(lambda: model.query_vectors(sixteen), repeats),
            "max_abs_diff": 0.0,
            "recall@10": 1.0,
        }
    ]
    encoder = model.query_encoder()
    if encoder is None:  # two_tower: its user tower embeds through TorchRec, which recsmith does not export
        rows.append({"model": name, "runtime": "onnxruntime", "note": "no exported encoder: served by PyTorch"})
        return rows
    with tempfile.TemporaryDirectory() as tmp:
        if export_query_vectors_encoder(model, tmp) is None:  # what `recsmith export` writes into a bundle
            rows.append({"model": name, "runtime": "onnxruntime", "note": "export differs from PyTorch"})
            return rows
        fp32 = Path(tmp) / QUERY_VECTORS_FILE
        int8 = quantize_int8(fp32, Path(tmp) / "int8.onnx")
        for runtime, path in (("onnxruntime fp32", fp32), ("onnxruntime int8", int8)):
            onnx = OnnxEncoder(path, threads=1)

            def run(batch: list[np.ndarray], onnx=onnx) -> np.ndarray:  # as the service runs it
                return onnx.run(encoder.inputs(batch, None))

            queries = np.concatenate([run(histories[s : s + 64]) for s in range(0, len(histories), 64)])
            rows.append(
                {
                    "model": name,
                    "runtime": runtime,
                    "batch1_ms": median_ms(lambda run=run: run(one), repeats),
                    "batch16_ms": median_ms(lambda run=run: run(sixteen), repeats),
                    "max_abs_diff": float(np.abs(queries - reference).max()),
                    "recall@10": recall_at_10(queries, reference, V),
                    "size_kb": round(path.stat().st_size / 1024),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=Path, default=Path("/tmp/recsmith-serve-families/runs"), help="serve_load.py's runs (WORK/runs)"
    )
    parser.add_argument("--models", default="sasrec,bert4rec,gru4rec,two_tower")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "onnx_query_encoders.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    rows = []
    for name in args.models.split(","):
        model = Recommender.load(args.runs / name / "models" / name)
        assert isinstance(model, QueryVectors), name
        rows += bench_model(name, model, args.users, args.repeats)
    result = {
        "command": " ".join(["benchmarks/onnx_query_encoders.py", *sys.argv[1:]]),
        "runs": str(args.runs),
        "threads": 1,
        "load_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("| model | runtime | batch 1 ms | batch 16 ms | max abs diff | recall@10 vs PyTorch | size KB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if "note" in r:
            print(f"| {r['model']} | {r['runtime']} | {r['note']} | | | | |")
            continue
        print(
            f"| {r['model']} | {r['runtime']} | {r['batch1_ms']:.3f} | {r['batch16_ms']:.3f} | "
            f"{r['max_abs_diff']:.1e} | {r['recall@10']:.3f} | {r.get('size_kb', '-')} |"
        )
    print(f"\nload average (1 min) before -> after: {result['load_1min_before_after']}")


if __name__ == "__main__":
    main()
