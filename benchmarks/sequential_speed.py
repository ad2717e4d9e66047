"""SASRec training speed on Beauty: recsmith's SASRec against RecTools' SASRec, in one run.

Usage (from the repository root; the peer needs its own virtualenv, made once by
``bash scripts/peer-venv.sh``)::

    .venv/bin/python benchmarks/sequential_speed.py                      # 3 epochs each, 2 threads
    .venv/bin/python benchmarks/sequential_speed.py --epochs 15 --ours-epochs 40
    .venv/bin/python benchmarks/sequential_speed.py --epochs 1 --max-batches 20   # a smoke run

Both models see the same data and the same set-up: Beauty (``data/beauty``), leave-one-out, trained
on train + validation and evaluated on test; dimension 64, one block, one head, dropout 0.2, 50
items of history, Adam at 1e-3, 128 histories per batch, sampled softmax over 256 uniform
negatives. recsmith's model takes its hyperparameters and ``train`` section from
``configs/beauty.yaml`` (only the loss, the epoch count, device, precision and thread count are set here)
and trains with the :class:`~recsmith.training.trainer.Trainer`. RecTools' ``SASRecModel`` runs in
a subprocess of ``.venv-peer/bin/python`` (this file, ``--peer-worker``), so the two stacks never
share a process or a package; it trains one epoch per ``fit_partial`` call (which keeps the Adam
state between calls) and a Lightning callback times each training pass.

After every epoch each model's top-10 test lists are scored by :func:`recsmith.evaluation.evaluate`
with seen (train + validation) items filtered -- the peer's lists through a small adapter model that
serves them -- so both numbers come from the same metric code. Epoch times exclude evaluation,
which is timed separately. Sequences are users with at least two training items (one training
example each); sequences per second is what a training pass gets through per wall second.

Known differences between the two (reported, not hidden): RecTools draws 256 negatives per position
(batch x 50 x 256 candidates), recsmith 256 shared by the batch; RecTools pads every batch to 50
positions, recsmith buckets histories by length and trims each batch to its longest history.

``--ours-epochs M`` lets recsmith's model train on, past ``--epochs``, until its test NDCG@10 first
reaches ``--target`` (default 0.0385, RecTools' figure after 15 epochs) or M epochs pass; the time
it took is reported as training time only and as wall time including the evaluations. The peer's
time to the target is known only if it gets there within its own epochs (``--peer-epochs``,
default ``--epochs``). ``--max-batches B`` stops every epoch of both after B batches (throughput
is measured on those; the full-epoch time is extrapolated), for smoke runs on a busy machine.

Prints a Markdown table and appends a record (arguments, versions, load averages before and after,
every epoch of both models) to ``benchmarks/results/sequential_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: RecTools' SASRec after 15 epochs on Beauty with these settings (issue 5): the NDCG@10 to reach
TARGET_NDCG = 0.0385
#: sampled softmax over this many uniform negatives, for both models (RecTools' per position, ours per batch)
PEER_NEGATIVES = 256
K = 10
#: marks the one stdout line of the peer worker that carries its JSON result (Lightning may print too)
RESULT_PREFIX = "SEQUENTIAL_SPEED_RESULT "


# ---------------------------------------------------------------------------------------------- ours
def run_ours(parts, args: argparse.Namespace, n_sequences: int) -> dict[str, Any]:
    """recsmith's SASRec under the Trainer, evaluated on test after each epoch (see the module docstring)."""
    from recsmith.config import load_config, model_entry
    from recsmith.models.sasrec import SASRec
    from recsmith.training.config import TrainConfig, resolve_train_config
    from recsmith.training.trainer import Trainer
    from recsmith.utils.dicts import deep_merge

    class CappedSASRec(SASRec):
        """SASRec whose epochs stop after ``max_batches`` batches (smoke runs); unchanged otherwise."""

        max_batches: int | None = None

        def batch_order(self, order, batch_size, generator):
            order = super().batch_order(order, batch_size, generator)
            return order if self.max_batches is None else order[: self.max_batches * batch_size]

    class EpochTimedTrainer(Trainer):
        """The Trainer, timing each evaluation and stopping once the test NDCG@10 reaches the target.

        The Trainer has no end-of-epoch callback, so this hooks its validation step, which the
        benchmark points at the test part (no model selection happens here: the epoch count is fixed).
        """

        def __init__(self, *a: Any, min_epochs: int, stop_at: float | None, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.min_epochs, self.stop_at = min_epochs, stop_at
            self.started = time.perf_counter()
            self.eval_seconds: list[float] = []
            self.wall_after_eval: list[float] = []

        def _validate(self, model, valid):
            start = time.perf_counter()
            metrics = super()._validate(model, valid)
            self.eval_seconds.append(time.perf_counter() - start)
            self.wall_after_eval.append(time.perf_counter() - self.started)
            return metrics

        def _early_stopping(self, run, loop, epoch, value):
            super()._early_stopping(run, loop, epoch, value)
            if self.stop_at is not None and epoch >= self.min_epochs and value >= self.stop_at:
                loop.stopped = True

    cfg = load_config(args.config)
    entry = model_entry("sasrec", cfg.model_params("sasrec"))
    model = CappedSASRec(entry.params)
    model.max_batches = args.max_batches
    epochs = max(args.epochs, args.ours_epochs or 0)
    train_cfg = TrainConfig.model_validate(
        deep_merge(
            resolve_train_config(model, cfg.train, entry.train).model_dump(),
            {
                "epochs": epochs,
                "threads": args.threads,
                "device": args.device,
                "amp": args.amp,
                "seed": cfg.seed,
                # the peer's loss, whatever the config trains with
                "loss": {"name": "sampled_softmax"},
                "sampler": {"name": "uniform", "n_negatives": PEER_NEGATIVES},
                "early_stopping": {"enabled": False, "monitor": f"ndcg@{K}"},
                "validation": {"every": 1, "ks": [K], "filter_seen": True},
                "checkpoint": {"enabled": False},
                "tracking": {"mlflow": False},
            },
        )
    )
    trainer = EpochTimedTrainer(train_cfg, min_epochs=args.epochs, stop_at=args.target if args.ours_epochs else None)
    trainer.started = time.perf_counter()
    result = trainer.fit(model, parts.train_full(), parts.test)
    # every training history once per epoch, or the first max_batches batches of them
    sequences = min(n_sequences, (args.max_batches or n_sequences) * train_cfg.batch_size)
    rows = []
    for h, eval_s, wall in zip(result.history, trainer.eval_seconds, trainer.wall_after_eval, strict=True):
        rows.append(
            {
                "epoch": h["epoch"],
                "train_seconds": h["seconds"],
                "sequences": sequences,
                "sequences_per_second": round(sequences / h["seconds"], 1),
                "loss": h["loss"],
                "eval_seconds": round(eval_s, 3),
                "wall_seconds": round(wall, 3),
                f"ndcg@{K}": h[f"valid/ndcg@{K}"],
                f"recall@{K}": h[f"valid/recall@{K}"],
            }
        )
    return {
        "name": "recsmith SASRec",
        "params": model.config.model_dump(mode="json", exclude={"train"}),
        "train": train_cfg.model_dump(
            mode="json", include={"batch_size", "optimizer", "loss", "sampler", "amp", "device", "threads", "seed"}
        ),
        "epochs": rows,
    }


# ---------------------------------------------------------------------------------------------- the peer
def lists_model(train, users, lists):
    """A fitted recsmith :class:`~recsmith.models.base.Recommender` whose ranking of ``users`` is ``lists``.

    It lets :func:`recsmith.evaluation.evaluate` score another library's lists exactly as it scores
    a recsmith model, seen-item filtering included. ``lists``: ``(len(users), k)`` item ids, best
    first, ``-1`` padding; every other item (and every other user) scores ``-inf``.
    """
    import numpy as np

    from recsmith.models.base import Recommender

    class FixedLists(Recommender):
        name = "fixed-lists-benchmark"

        def _fit(self, interactions) -> None:
            self.row_of = np.full(self.n_users, -1, dtype=np.int64)
            self.row_of[users] = np.arange(len(users))
            self.lists = np.asarray(lists, dtype=np.int64)

        def _score(self, batch):
            scores = np.full((len(batch), self.n_items), -np.inf, dtype=np.float32)
            rows = self.row_of[batch]
            at, cols = np.nonzero((rows >= 0)[:, None] & (self.lists[np.maximum(rows, 0)] >= 0))
            scores[at, self.lists[rows[at], cols]] = self.lists.shape[1] - cols  # best first
            return scores

        def _state(self):  # pragma: no cover - never saved
            return {}

        def _load_state(self, state) -> None:  # pragma: no cover
            pass

    return FixedLists().fit(train)


def run_peer(parts, args: argparse.Namespace, n_sequences: int) -> dict[str, Any]:
    """RecTools' SASRec in ``.venv-peer`` on the same train + validation histories; its lists scored here."""
    import numpy as np

    from recsmith.data.histories import Histories
    from recsmith.evaluation import evaluate

    train = parts.train_full()
    hist = Histories.from_interactions(train)  # recsmith's own order: (user, timestamp, row)
    lengths = hist.lengths
    users = np.repeat(np.arange(hist.n_users, dtype=np.int64), lengths)
    positions = np.arange(len(users), dtype=np.int64) - np.repeat(hist.offsets[:-1], lengths)
    test_users = parts.test.users().astype(np.int64)
    with tempfile.TemporaryDirectory(prefix="sequential-speed-") as tmp:
        data = Path(tmp) / "train.npz"
        np.savez(data, users=users, items=hist.items, positions=positions, test_users=test_users)
        env = {**os.environ, **_thread_env(args.threads)}
        command = [
            args.peer_python,
            str(Path(__file__).resolve()),
            "--peer-worker",
            "--peer-data",
            str(data),
            "--epochs",
            str(args.peer_epochs or args.epochs),
            "--threads",
            str(args.threads),
            "--device",
            args.device,
            "--amp",
            args.amp,
            "--seed",
            str(args.seed),
        ]
        if args.max_batches:
            command += ["--max-batches", str(args.max_batches)]
        print(f"peer: {' '.join(command)}", file=sys.stderr)
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)  # stderr: shown live
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
        if done.returncode != 0 or not lines:
            raise SystemExit(
                f"the peer worker failed (exit {done.returncode}); its stderr is above. stdout:\n{done.stdout[-2000:]}"
            )
        peer = json.loads(lines[-1][len(RESULT_PREFIX) :])
        seen = train.binary
        scoring_total = 0.0  # metric time spent here, on top of the worker's wall clock
        for row in peer["epochs"]:
            lists = np.load(Path(tmp) / row.pop("lists_file"))
            start = time.perf_counter()
            valid = lists >= 0
            if (lists[valid] >= train.n_items).any():
                raise SystemExit("the peer recommended item ids outside recsmith's catalogue: id mapping broke")
            rows = np.broadcast_to(test_users[:, None], lists.shape)[valid]
            row["seen_items_in_lists"] = int(np.asarray(seen[rows, lists[valid]]).sum())
            metrics = evaluate(lists_model(train, test_users, lists), parts.test, [K], filter_seen=True)
            scoring = time.perf_counter() - start
            scoring_total += scoring
            row.update(
                {
                    "sequences_per_second": round(row["sequences"] / row["train_seconds"], 1),
                    "eval_seconds": round(row["recommend_seconds"] + scoring, 3),
                    # the worker's wall clock stops after its recommendations; add the scoring done here
                    "wall_seconds": round(row.pop("wall_seconds_worker") + scoring_total, 3),
                    f"ndcg@{K}": metrics[f"ndcg@{K}"],
                    f"recall@{K}": metrics[f"recall@{K}"],
                }
            )
    peer["n_sequences_expected"] = n_sequences
    return peer


def peer_worker(args: argparse.Namespace) -> None:
    """Runs under ``.venv-peer``: RecTools' SASRec, one ``fit_partial`` epoch at a time; one JSON line out.

    Imports nothing from recsmith (it is not installed there). Writes each epoch's top-10 lists of
    the test users next to the input file and prints :data:`RESULT_PREFIX` + JSON on stdout.
    """
    import logging
    import warnings

    import numpy as np
    import pandas as pd
    import pytorch_lightning as pl
    import rectools
    import torch
    from rectools import Columns
    from rectools.dataset import Dataset
    from rectools.models import SASRecModel
    from rectools.models.nn.item_net import IdEmbeddingsItemNet

    # the peer's deprecation and serialisation warnings and Lightning's banner say nothing about speed
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*(serializer warnings|val_dataloader|LeafSpec).*")
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "--device cuda: the peer's torch has no CUDA; install a CUDA build into .venv-peer "
            "(PEER_TORCH=... bash scripts/peer-venv.sh) or run with --no-peer"
        )
    pl.seed_everything(args.seed, verbose=False)
    out_dir = Path(args.peer_data).parent
    arrays = np.load(args.peer_data)
    test_users = arrays["test_users"]

    started = time.perf_counter()
    frame = pd.DataFrame(
        {
            Columns.User: arrays["users"],
            Columns.Item: arrays["items"],
            Columns.Weight: 1.0,
            # RecTools orders a history by datetime: the position in recsmith's history keeps its order
            Columns.Datetime: pd.Timestamp("2000-01-01") + pd.to_timedelta(arrays["positions"], unit="s"),
        }
    )
    dataset = Dataset.construct(frame)
    dataset_seconds = time.perf_counter() - started

    class EpochTimer(pl.Callback):
        """Wall time and histories of each training pass (Lightning's set-up and data preparation excluded)."""

        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.sequences: list[int] = []
            self.batches: list[int] = []

        def on_train_epoch_start(self, trainer, module) -> None:
            self.threads = torch.get_num_threads()  # what the pass really ran with, whatever Lightning did
            self._start = time.perf_counter()
            self.sequences.append(0)
            self.batches.append(0)

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            self.sequences[-1] += int(batch["x"].shape[0])
            self.batches[-1] += 1

        def on_train_epoch_end(self, trainer, module) -> None:
            if args.device == "cuda":
                torch.cuda.synchronize()
            self.seconds.append(time.perf_counter() - self._start)

    hyper = {
        "n_factors": 64,
        "n_blocks": 1,
        "n_heads": 1,
        "dropout_rate": 0.2,
        "session_max_len": 50,
        "lr": 1e-3,
        "batch_size": 128,
        "loss": "sampled_softmax",
        "n_negatives": PEER_NEGATIVES,
    }
    model = SASRecModel(
        **hyper, epochs=1, item_net_block_types=(IdEmbeddingsItemNet,), recommend_torch_device=args.device
    )
    # RecTools' documented way to use a custom Lightning trainer: assign model._trainer after init
    model._trainer = pl.Trainer(
        max_epochs=1,
        min_epochs=1,
        limit_train_batches=args.max_batches or 1.0,
        callbacks=[EpochTimer()],
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        precision="bf16-mixed" if args.amp == "bf16" else "32-true",
        deterministic=False,
        enable_checkpointing=False,
        logger=False,
        enable_model_summary=False,
        enable_progress_bar=sys.stderr.isatty(),
    )
    epochs = []
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.fit_partial(dataset, min_epochs=1, max_epochs=1)
        fit_seconds = time.perf_counter() - t0
        timer = next(cb for cb in model.fit_trainer.callbacks if isinstance(cb, EpochTimer))
        t0 = time.perf_counter()
        reco = model.recommend(users=test_users, dataset=dataset, k=K, filter_viewed=True)
        recommend_seconds = time.perf_counter() - t0
        lists = np.full((len(test_users), K), -1, dtype=np.int64)
        lists[np.searchsorted(test_users, reco[Columns.User].to_numpy()), reco[Columns.Rank].to_numpy() - 1] = reco[
            Columns.Item
        ].to_numpy()
        name = f"peer-lists-{epoch}.npy"
        np.save(out_dir / name, lists)
        epochs.append(
            {
                "epoch": epoch,
                "train_seconds": round(timer.seconds[-1], 3),
                "fit_partial_seconds": round(fit_seconds, 3),
                "sequences": timer.sequences[-1],
                "batches": timer.batches[-1],
                "torch_threads": timer.threads,
                "recommend_seconds": round(recommend_seconds, 3),
                "wall_seconds_worker": round(time.perf_counter() - started, 3),
                "lists_file": name,
            }
        )
        print(
            f"peer epoch {epoch}: {timer.seconds[-1]:.1f}s training ({fit_seconds:.1f}s fit_partial), "
            f"{recommend_seconds:.1f}s recommending",
            file=sys.stderr,
            flush=True,
        )
    result = {
        "name": f"RecTools {rectools.__version__} SASRecModel",
        "params": hyper,
        "dataset_seconds": round(dataset_seconds, 3),
        "epochs": epochs,
        "versions": {
            "rectools": rectools.__version__,
            "torch": torch.__version__,
            "pytorch_lightning": pl.__version__,
            "python": platform.python_version(),
        },
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------- report
def summarise(run: dict[str, Any], epochs: int, n_sequences: int, target: float) -> dict[str, Any]:
    """Per-model figures of the table: speed over the first ``epochs`` epochs, quality after them."""
    rows = run["epochs"][:epochs]
    train_s = sum(r["train_seconds"] for r in rows)
    seqs = sum(r["sequences"] for r in rows)
    per_s = seqs / train_s
    reached = next((r for r in run["epochs"] if r[f"ndcg@{K}"] >= target), None)
    to_target = None
    if reached is not None:
        upto = run["epochs"][: reached["epoch"]]
        to_target = {
            "epoch": reached["epoch"],
            "train_seconds": round(sum(r["train_seconds"] for r in upto), 1),
            "wall_seconds": reached["wall_seconds"],
        }
    last = rows[-1]
    return {
        "epochs": len(rows),
        "seconds_per_epoch": round(train_s / len(rows), 2),
        "full_epoch_seconds": round(n_sequences / per_s, 1),
        "sequences_per_second": round(per_s, 1),
        "eval_seconds_per_epoch": round(sum(r["eval_seconds"] for r in rows) / len(rows), 2),
        f"ndcg@{K}": last[f"ndcg@{K}"],
        f"recall@{K}": last[f"recall@{K}"],
        "time_to_target": to_target,
        "epochs_run": len(run["epochs"]),
        "total_train_seconds": round(sum(r["train_seconds"] for r in run["epochs"]), 1),
    }


def markdown(summaries: dict[str, dict[str, Any]], capped: bool, target: float) -> str:
    ours = summaries["ours"]["sequences_per_second"]
    head = (
        f"| model | epochs | s/epoch{' (run / full, extrapolated)' if capped else ''} | sequences/s | "
        f"speed vs ours | NDCG@{K} | Recall@{K} | time to NDCG@{K} {target} (training / with evaluation) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for _key, s in summaries.items():
        epoch_s = f"{s['seconds_per_epoch']:.1f}" + (f" / {s['full_epoch_seconds']:.1f}" if capped else "")
        t = s["time_to_target"]
        reach = (
            f"epoch {t['epoch']}: {t['train_seconds'] / 60:.1f} / {t['wall_seconds'] / 60:.1f} min"
            if t
            else f"not reached after {s['epochs_run']} epoch(s) ({s['total_train_seconds'] / 60:.1f} min)"
        )
        lines.append(
            f"| {s['name']} | {s['epochs']} | {epoch_s} | {s['sequences_per_second']:,.0f} | "
            f"{s['sequences_per_second'] / ours:.2f}x | {s[f'ndcg@{K}']:.4f} | {s[f'recall@{K}']:.4f} | "
            f"{reach} |"
        )
    return "\n".join(lines)


def _thread_env(threads: int) -> dict[str, str]:
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("recsmith", "torch", "numpy", "polars")} | {
        "python": platform.python_version()
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT / "data" / "beauty"), help="prepared Beauty dataset")
    p.add_argument("--config", default=str(ROOT / "configs" / "beauty.yaml"), help="sasrec params and train section")
    p.add_argument("--epochs", type=int, default=3, help="epochs of both models (compared at this epoch)")
    p.add_argument(
        "--ours-epochs",
        type=int,
        default=None,
        help="recsmith keeps training up to this many epochs until test NDCG@10 >= --target",
    )
    p.add_argument("--peer-epochs", type=int, default=None, help="epochs of the peer (default --epochs)")
    p.add_argument("--target", type=float, default=TARGET_NDCG, help="NDCG@10 whose time-to-reach is reported")
    p.add_argument("--max-batches", type=int, default=None, help="stop every epoch after this many batches (smoke)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads of both")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--amp", choices=["off", "bf16"], default="off", help="bf16 autocast (fast on GPUs)")
    p.add_argument("--seed", type=int, default=0, help="the peer's seed (recsmith's comes from --config)")
    p.add_argument("--no-peer", action="store_true", help="time recsmith only")
    p.add_argument("--peer-python", default=str(ROOT / ".venv-peer" / "bin" / "python"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sequential_speed.json"))
    p.add_argument("--peer-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--peer-data", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("epochs", "ours_epochs", "peer_epochs", "max_batches", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    for name in ("ours_epochs", "peer_epochs"):
        if (getattr(args, name) or args.epochs) < args.epochs:
            p.error(f"--{name.replace('_', '-')} ({getattr(args, name)}) must be at least --epochs ({args.epochs})")
    if not (args.no_peer or args.peer_worker or Path(args.peer_python).exists()):
        p.error(
            f"peer interpreter {args.peer_python} not found: run `bash scripts/peer-venv.sh` first, "
            "pass --peer-python, or --no-peer to time recsmith alone"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.update(_thread_env(args.threads))  # before numpy loads: BLAS sizes its pool once
    if args.peer_worker:
        peer_worker(args)
        return 0
    from recsmith.errors import RecsmithError

    try:
        return run(args, argv)
    except RecsmithError as err:
        print(f"sequential_speed: {err}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, argv: list[str] | None) -> int:
    import numpy as np

    from recsmith.config import SplitConfig
    from recsmith.data.dataset import Dataset
    from recsmith.data.splits import split
    from recsmith.utils.atomic import atomic_write_text

    load_before = os.getloadavg()
    dataset = Dataset.load(args.data)
    parts = split(dataset.interactions, SplitConfig(method="loo"))
    train = parts.train_full()
    n_sequences = int((np.bincount(train.frame["user"].to_numpy(), minlength=train.n_users) >= 2).sum())
    ours = run_ours(parts, args, n_sequences)
    peer = None if args.no_peer else run_peer(parts, args, n_sequences)
    load_after = os.getloadavg()

    summaries = {"ours": {"name": ours["name"], **summarise(ours, args.epochs, n_sequences, args.target)}}
    if peer is not None:
        summaries["peer"] = {"name": peer["name"], **summarise(peer, args.epochs, n_sequences, args.target)}
    table = markdown(summaries, args.max_batches is not None, args.target)
    print(table)
    ratio = summaries["ours"]["sequences_per_second"] / summaries["peer"]["sequences_per_second"] if peer else None
    if ratio is not None:
        print(f"\nrecsmith trains {ratio:.1f}x as many sequences per second as {peer['name']}")
    print(
        f"\nload average (1/5/15 min) before {load_before}, after {load_after}; {args.threads} threads, "
        f"{args.device}{', bf16' if args.amp == 'bf16' else ''}; {n_sequences:,} training sequences"
    )

    record = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python benchmarks/sequential_speed.py", *(sys.argv[1:] if argv is None else argv)]),
        "args": vars(args) | {"peer_worker": None, "peer_data": None},
        "smoke": args.max_batches is not None,
        "dataset": os.path.relpath(args.data, ROOT),
        "split": "loo, trained on train + valid, scored on test",
        "n_training_sequences": n_sequences,
        "test_users": int(parts.test.users().size),
        "load_average_1_5_15min": {"before": list(load_before), "after": list(load_after)},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "versions": _versions(),
        "summary": summaries,
        "speed_ratio_ours_to_peer": round(ratio, 2) if ratio else None,
        "table": table,
        "ours": ours,
        "peer": peer,
    }
    out = Path(args.out)
    runs = json.loads(out.read_text())["runs"] if out.is_file() else []
    atomic_write_text(out, json.dumps({"runs": [*runs, record]}, indent=2) + "\n")
    print(f"appended to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
