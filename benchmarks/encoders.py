"""Throughput of the Hugging Face encoders on CPU: items/second of frozen embedding.

* text: :func:`recsmith.encoders.encode_texts` with all-MiniLM-L6-v2 (the packaged weights) on the
  Beauty item texts (``data/beauty/items.parquet``, ``attributes`` joined with ", "), at several
  batch sizes, plus a rerun served from the :class:`~recsmith.encoders.EmbeddingCache`;
* image: :func:`recsmith.encoders.encode_images` with a tiny random ViT (32x32, 1 layer) on generated
  PNGs, which measures the loading / preprocessing path more than the model.

Model loading is excluded (the encoders are built once, before timing). ``os.getloadavg()`` is
recorded before and after, since the machine may be shared. Results: ``benchmarks/results/encoders.json``.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/encoders.py [--items 2000] [--threads 2]
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RECSMITH_PROGRESS", "0")


def beauty_texts(n: int | None) -> list[str]:
    import polars as pl

    items = pl.read_parquet(ROOT / "data" / "beauty" / "items.parquet", columns=["attributes"])
    texts = [", ".join(a or []) for a in items["attributes"].to_list()]
    return texts[:n] if n else texts


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_text(texts: list[str], batch_sizes: list[int]) -> list[dict]:
    from recsmith.encoders import EmbeddingCache, TextEncoder, encode_texts

    enc = TextEncoder()
    encode_texts(texts[:64], enc, progress=False)  # warm-up (first calls allocate)
    rows = []
    for bs in batch_sizes:
        seconds = timed(lambda bs=bs: encode_texts(texts, enc, batch_size=bs, progress=False))
        rows.append(
            {
                "encoder": "text all-MiniLM-L6-v2",
                "batch_size": bs,
                "items": len(texts),
                "seconds": round(seconds, 2),
                "items_per_s": round(len(texts) / seconds, 1),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(tmp)
        keys = [str(i) for i in range(len(texts))]
        encode_texts(texts, enc, batch_size=max(batch_sizes), cache=cache, keys=keys, progress=False)
        seconds = timed(lambda: encode_texts(texts, enc, cache=cache, keys=keys, progress=False))
    rows.append(
        {
            "encoder": "text, all rows cached",
            "batch_size": None,
            "items": len(texts),
            "seconds": round(seconds, 2),
            "items_per_s": round(len(texts) / seconds, 1),
        }
    )
    return rows


def bench_image(n_images: int, batch_sizes: list[int]) -> list[dict]:
    import torch
    from PIL import Image
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    from recsmith.encoders import ImageEncoder, encode_images

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model_dir = Path(tmp) / "tiny-vit"
        ViTModel(
            ViTConfig(
                image_size=32,
                patch_size=8,
                hidden_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=64,
            )
        ).save_pretrained(model_dir)
        ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(model_dir)
        rng = np.random.default_rng(0)
        paths = []
        for i in range(n_images):  # 96x96 noise: every image is resized like a real one
            paths.append(str(Path(tmp) / f"{i}.png"))
            Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(paths[-1])
        enc = ImageEncoder(str(model_dir))
        encode_images(paths[:32], enc, progress=False)
        for bs in batch_sizes:
            seconds = timed(lambda bs=bs: encode_images(paths, enc, batch_size=bs, progress=False))
            rows.append(
                {
                    "encoder": "image tiny ViT 32x32",
                    "batch_size": bs,
                    "items": n_images,
                    "seconds": round(seconds, 2),
                    "items_per_s": round(n_images / seconds, 1),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=None, help="first N Beauty items (default: all)")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--batch-sizes", default="32,128")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "encoders.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    load_before = os.getloadavg()
    texts = beauty_texts(args.items)
    rows = bench_text(texts, batch_sizes) + bench_image(args.images, batch_sizes)
    out = {
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "load_avg_1_5_15_before": [round(v, 2) for v in load_before],
        "load_avg_1_5_15_after": [round(v, 2) for v in os.getloadavg()],
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'encoder':<26} {'batch':>5} {'items':>6} {'seconds':>8} {'items/s':>9}")
    for r in rows:
        print(f"{r['encoder']:<26} {r['batch_size'] or '-':>5} {r['items']:>6} {r['seconds']:>8} {r['items_per_s']:>9}")
    print(f"load average before {out['load_avg_1_5_15_before']}, after {out['load_avg_1_5_15_after']}")


if __name__ == "__main__":
    main()
