"""``recsmith train``: one torch model trained by the Trainer on a split, scored once on test.

Protocol: the model trains on the *train* part with early stopping on *validation* (it ends with
the weights of the best validation epoch), then ranks all items for the *test* users once, with
both train and validation items filtered as seen (validation interactions are history at test
time; the model did not learn from them). Test numbers choose nothing.

The run directory (the layout of :mod:`recsmith.runs.layout`, so that ``recsmith export``,
``recsmith recommend`` and ``recsmith report`` read it like a benchmark run) is written in place
while training, so that a killed run can resume::

    RUN/
      config.yaml       the resolved run config (written first: --resume checks it)
      checkpoints/      last.pt (every epoch), best-<epoch>.pt (best validation): `--resume` continues
      metrics.jsonl     one line per epoch, then {"final": test metrics}
      mlflow.db, mlartifacts/  MLflow tracking database (SQLite) and artifacts (train.tracking.mlflow)
      tracking.json     the MLflow run id (a resumed run logs into the same run)
      models/<name>/    the fitted model: config.json + state.npz, no pickle
      results.json      best validation epoch, test metrics, the train config, timings, protocol
      run.json, dataset/  the run record and its external ids, written at the end

Under torchrun every process trains; rank 0 evaluates and writes.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from recsmith.config import RunConfig, dump_config
from recsmith.data.dataset import Dataset
from recsmith.data.splits import Split, split
from recsmith.evaluation import evaluate
from recsmith.models.base import Recommender
from recsmith.pipelines.builder import build_model, side_data, torch_entry
from recsmith.runs.layout import CONFIG, RESULTS, model_dir, write_json, write_run_record
from recsmith.utils.atomic import OutputExistsError, atomic_write_text
from recsmith.utils.logging import log


def run_training(
    dataset: Dataset,
    cfg: RunConfig,
    out: str | Path,
    *,
    model_name: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    dataset_path: str | Path | None = None,
) -> dict[str, Any]:
    """Train, evaluate and save one torch model into ``out``; returns ``results.json`` (empty off rank 0)."""
    from recsmith.training import distributed
    from recsmith.training.trainer import Trainer

    name = torch_entry(cfg, model_name)
    out = Path(out)
    main = distributed.is_main_process()
    if main:
        _prepare_run_dir(out, resume=resume, overwrite=overwrite)
        atomic_write_text(out / CONFIG, dump_config(cfg))
    parts = split(dataset.interactions, cfg.split)
    if main:
        log(f"split {cfg.split.method}: {parts.summary()}")
    model, train_cfg = build_model(cfg, name, side=side_data(dataset, dataset_path)).for_trainer()
    data_info = {"name": dataset.manifest.get("name"), "path": str(dataset_path) if dataset_path else None}
    trainer = Trainer(
        train_cfg, out, resume=resume, params={"data": data_info, "split": cfg.split.model_dump(mode="json")}
    )
    try:
        result = trainer.fit(model, parts.train, parts.valid)
        if not main:
            return {}
        start = time.perf_counter()
        test = _test_metrics(model, parts, cfg)
        eval_seconds = time.perf_counter() - start
        trainer.tracker.log_final(test)
        model.save(model_dir(out, name))
        results = {
            "model": name,
            "params": model.config.model_dump(mode="json"),
            "train": train_cfg.model_dump(mode="json"),
            "valid": {k.removeprefix("valid/"): v for k, v in result.best.items() if k.startswith("valid/")},
            "test": test,
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early,
            "train_seconds": round(result.seconds, 3),
            "eval_seconds": round(eval_seconds, 3),
            "split": parts.summary(),
            "dataset": data_info,
            "protocol": "trained on train with early stopping on validation; test scored once with "
            "train + validation items filtered as seen",
        }
        write_json(out, RESULTS, results)
        write_run_record(
            out, kind="train", dataset=dataset, dataset_path=dataset_path, cfg=cfg, parts=parts, models=[name]
        )
        for artifact in (RESULTS, CONFIG):
            trainer.tracker.log_artifact(out / artifact)
        return results
    finally:
        distributed.shutdown()


def _prepare_run_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    if out.exists() and not resume:
        if not overwrite:
            raise OutputExistsError(
                out,
                argument="pass resume=True to continue its training or overwrite=True to start over",
                flag="pass --resume to continue its training or --overwrite to start over",
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _test_metrics(model: Recommender, parts: Split, cfg: RunConfig) -> dict[str, float]:
    ev = cfg.evaluation
    exclude = parts.valid.binary if ev.filter_seen and parts.valid is not None else None
    metrics = evaluate(
        model, parts.test, ks=ev.ks, filter_seen=ev.filter_seen, exclude=exclude, batch_size=ev.batch_size
    )
    return {k: float(v) for k, v in metrics.items()}
