"""The one training loop of every torch model::

    result = Trainer(cfg.train, run_dir="runs/mf").fit(model, split.train, split.valid)

Each epoch: a permutation of the training examples that depends only on (seed, epoch) — so a
resumed run replays exactly what the uninterrupted one would have done — cut into micro-batches;
for each, the forward pass and loss under autocast, a backward pass of the (fp16-scaled) loss
divided by the accumulation count, and every ``accumulation_steps`` micro-batches one optimizer
step: unscale, clip, step, update the scaler, zero the gradients, advance the schedule. After the
epoch: validate with the evaluation core (rank 0, shared with the other processes), early
stopping, one line of metrics to ``metrics.jsonl`` / MLflow, and a checkpoint.

The Trainer drives; the model supplies the network and its examples through its public hooks
(:class:`~recsmith.models.torch_base.TorchRecommender`: ``fitting``, ``prepare_fit``,
``build_network``, ``training_examples``, ``batch_order``, ``make_batch``, ``end_fit``) and never
calls back;
the loss and sampler come from the config (:class:`~recsmith.nn.objectives.Objective`); DDP lives
behind :class:`~recsmith.training.distributed.Distributed`, whose methods are no-ops in one process.

Callers that want to watch the loop pass ``on_epoch_end`` callbacks: each is called after every
epoch, once its metrics are complete (training loss, validation metrics when it validated) and
logged, as ``callback(epoch, metrics)``. A callback that raises stops training there: the exception
leaves :meth:`Trainer.fit` unchanged (the model's ``end_fit`` runs, the tracker records a failed
run). ``recsmith tune`` prunes unpromising trials this way (:mod:`recsmith.pipelines.tune`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.sparse as sp
import torch

from recsmith.data.interactions import Interactions
from recsmith.errors import ConfigError
from recsmith.evaluation import evaluate
from recsmith.evaluation.metrics import ALL_METRIC_NAMES
from recsmith.nn.objectives import Objective
from recsmith.training import checkpoint, distributed
from recsmith.training.config import TrainConfig
from recsmith.training.distributed import Distributed
from recsmith.training.early_stopping import EarlyStopping
from recsmith.training.optim import Schedule, build_optimizer, build_schedule, clip_grad_norm
from recsmith.training.progress import EpochProgress
from recsmith.training.tracking import Tracker, flatten
from recsmith.utils.logging import log

if TYPE_CHECKING:
    from recsmith.models.torch_base import TorchRecommender

#: train config keys that may change between a run and its resumption
_RESUMABLE_CHANGES = ("tracking", "threads", "device", "compile", "compile_backend")
#: micro-batches between progress-bar updates (each reads the loss, a device sync)
_BAR_EVERY = 10

#: ``callback(epoch, metrics)`` after each epoch (1-based epoch; metrics as in ``metrics.jsonl``)
EpochCallback = Callable[[int, dict[str, Any]], None]


@dataclass
class TrainResult:
    history: list[dict[str, Any]]  # one dict per epoch, as in metrics.jsonl
    epochs_run: int
    best_epoch: int | None  # 1-based; None without early stopping
    best_value: float | None
    monitor: str | None  # e.g. "valid/ndcg@10"
    stopped_early: bool
    seconds: float

    @property
    def best(self) -> dict[str, Any]:
        """The epoch whose weights the model ends with (the best, or the last)."""
        epoch = self.best_epoch or self.epochs_run
        return next((h for h in self.history if h["epoch"] == epoch), {})


@dataclass
class _LoopState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False
    best_weights: dict[str, torch.Tensor] | None = None


@dataclass
class _Run:
    """What one training run is made of, built once by :meth:`Trainer._build`."""

    model: "TorchRecommender"
    network: torch.nn.Module  # holds the weights
    forward: torch.nn.Module  # what the loop calls: the network, or DDP / torch.compile around it
    device: torch.device
    seed: int
    examples: dict[str, torch.Tensor]
    n_examples: int
    objective: Objective
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    scaler: torch.amp.GradScaler
    autocast: AbstractContextManager
    stopper: EarlyStopping | None
    monitor: str | None  # e.g. "valid/ndcg@10"; None without validation


class Trainer:
    """Trains a :class:`TorchRecommender` under a :class:`TrainConfig`.

    Args:
        config: every option of the loop.
        run_dir: where checkpoints, ``metrics.jsonl`` and ``mlflow.db`` go; None trains in memory only.
        resume: continue from ``run_dir``'s last checkpoint (a fresh start when there is none).
        params: extra run parameters to record with the tracker (dataset, split, ...).
        on_epoch_end: callbacks called after each epoch with ``(epoch, metrics)`` (module docstring);
            one that raises stops training with that exception.
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path | None = None,
        *,
        resume: bool = False,
        params: dict[str, Any] | None = None,
        on_epoch_end: Sequence[EpochCallback] = (),
    ) -> None:
        self.config = config
        self.on_epoch_end = list(on_epoch_end)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.resume = resume
        self.params = params or {}
        self.result: TrainResult | None = None
        self.dist = Distributed()
        self.tracker = Tracker(None, config.tracking)
        self.valid_exclude: sp.csr_matrix | None = None

    @property
    def checkpoint_dir(self) -> Path | None:
        if self.run_dir is None or not self.config.checkpoint.enabled:
            return None
        return self.run_dir / self.config.checkpoint.dir

    def fit(
        self,
        model: "TorchRecommender",
        train: Interactions,
        valid: Interactions | None = None,
        *,
        exclude: sp.csr_matrix | None = None,
    ) -> TrainResult:
        """Fit ``model`` on ``train``, validating on ``valid``; the model ends with the best weights
        (or the last ones without early stopping).

        ``exclude``: further ``(n_users, n_items)`` items to remove from the validation rankings,
        beyond the training items (e.g. a user's full history when ``train`` is a subsample of it).
        """
        _check_monitor(self.config)
        self.valid_exclude = exclude
        try:
            with fitting_session(model, train, self.config):
                return self._train(model, train, valid)
        finally:
            self.valid_exclude = None

    # ------------------------------------------------------------------ the loop
    def _train(self, model: "TorchRecommender", train: Interactions, valid: Interactions | None) -> TrainResult:
        """The loop, inside the model's fitting session (bookkeeping done, model prepared)."""
        cfg = self.config
        started = time.perf_counter()
        validating = valid is not None and len(valid) > 0
        run = self._build(model, train, validating)
        loop = self._restore(run) if self.resume else _LoopState()
        self.tracker = Tracker(self.run_dir, cfg.tracking, enabled=self.dist.is_main)
        self.tracker.start(self._tracked_params(model), resume_epoch=loop.epoch or None)
        try:
            for epoch in range(loop.epoch + 1, cfg.epochs + 1):
                if loop.stopped:
                    break
                metrics = self._train_epoch(run, loop, epoch)
                # run.monitor is set exactly when validating (valid has rows)
                due = epoch % cfg.validation.every == 0 or epoch == cfg.epochs
                if valid is not None and run.monitor is not None and due:
                    metrics.update(self._validate(model, valid))
                    run.schedule.after_epoch(metrics[run.monitor])
                    self._early_stopping(run, loop, epoch, metrics[run.monitor])
                elif not validating:
                    run.schedule.after_epoch(metrics["loss"])  # reduce_on_plateau on the training loss
                loop.epoch = epoch
                loop.history.append(metrics)
                self.tracker.log(metrics, step=epoch)
                if self.dist.is_main:
                    log(_summary(metrics, run.monitor))
                if epoch % cfg.checkpoint.every == 0 or loop.stopped or epoch == cfg.epochs:
                    self._save_last(run, loop)
                for callback in self.on_epoch_end:
                    callback(epoch, metrics)
        except BaseException:
            self.tracker.finish(status="FAILED")
            raise

        if run.stopper is not None and cfg.early_stopping.restore_best and loop.best_weights is not None:
            run.network.load_state_dict(loop.best_weights)
        model.history = loop.history
        self.result = TrainResult(
            history=loop.history,
            epochs_run=loop.epoch,
            best_epoch=run.stopper.best_epoch if run.stopper else None,
            best_value=run.stopper.best if run.stopper else None,
            monitor=run.monitor,
            stopped_early=loop.stopped,
            seconds=time.perf_counter() - started,
        )
        self.tracker.finish()
        return self.result

    def _train_epoch(self, run: "_Run", loop: _LoopState, epoch: int) -> dict[str, Any]:
        """One pass over this process's share of the examples; returns the epoch's training metrics."""
        cfg, dist, network = self.config, self.dist, run.network
        network.train()
        # one permutation for every process (sharded), negatives and dropout per process; all a
        # function of (seed, epoch, rank), so a resumed run draws what the uninterrupted one drew
        order = dist.shard(torch.randperm(run.n_examples, generator=generator(run.seed, epoch)))
        order = run.model.batch_order(order, cfg.batch_size, generator(run.seed, epoch, dist.rank, 3))
        sample_gen = generator(run.seed, epoch, dist.rank, 1)
        torch.manual_seed(seed_of(run.seed, epoch, dist.rank, 2))
        n_micro = _ceil_div(len(order), cfg.batch_size)
        loss_sum = torch.zeros((), device=run.device)
        start = time.perf_counter()
        with EpochProgress(f"epoch {epoch}/{cfg.epochs}", n_micro, enabled=dist.is_main) as bar:
            for i in range(n_micro):
                index = order[i * cfg.batch_size : (i + 1) * cfg.batch_size].to(run.device)
                batch = run.model.make_batch({k: v[index] for k, v in run.examples.items()})
                if run.objective.sampler is not None:  # hard negatives re-score their pools here
                    run.objective.sampler.maybe_refresh(loop.step, run.model.score_tensor)
                with run.autocast:
                    loss = run.objective(run.forward, batch, sample_gen)
                run.scaler.scale(loss / cfg.accumulation_steps).backward()
                loss_sum += loss.detach()
                if (i + 1) % cfg.accumulation_steps == 0 or i + 1 == n_micro:
                    self._optimizer_step(network, run.optimizer, run.scaler)
                    run.schedule.after_step()
                    loop.step += 1
                if (i + 1) % _BAR_EVERY == 0 or i + 1 == n_micro:  # reading the loss syncs the device
                    done = i % _BAR_EVERY + 1
                    bar.update(done, len(index) * done, float(loss_sum) / (i + 1))
        seconds = time.perf_counter() - start
        return {
            "epoch": epoch,
            "step": loop.step,
            "loss": dist.mean(loss_sum / n_micro),
            **_learning_rates(run.optimizer),
            "seconds": round(seconds, 4),
            "examples_per_second": round(len(order) * dist.world_size / seconds, 1),
            **run.objective.epoch_stats(),
        }

    def _early_stopping(self, run: "_Run", loop: _LoopState, epoch: int, value: float) -> None:
        if run.stopper is None:
            return
        if run.stopper.update(value, epoch):
            loop.best_weights = {k: v.detach().clone() for k, v in run.network.state_dict().items()}
            self._save_best(epoch, loop.best_weights)
        loop.stopped = run.stopper.should_stop

    # ------------------------------------------------------------------ pieces of the loop
    def _build(self, model: "TorchRecommender", train: Interactions, validating: bool) -> "_Run":
        cfg = self.config
        device = resolve_device(cfg.device)
        self.dist = distributed.from_environment(device.type)
        device = self.dist.device(device)
        seed = cfg.seed if cfg.seed is not None else 0
        network, examples, objective, optimizer = setup(model, train, cfg, device, seed)
        n_examples = len(next(iter(examples.values())))
        steps_per_epoch = _ceil_div(
            _ceil_div(_ceil_div(n_examples, self.dist.world_size), cfg.batch_size), cfg.accumulation_steps
        )
        schedule = build_schedule(
            optimizer,
            cfg.scheduler,
            total_steps=cfg.epochs * steps_per_epoch,
            steps_per_epoch=steps_per_epoch,
            mode=cfg.early_stopping.mode if validating else "min",
        )
        forward = self.dist.wrap(network, device)  # DDP syncs gradients through forward / backward
        if cfg.compile:
            # a Module in, an OptimizedModule (a Module) out: torch's stub only says Callable
            forward = cast(torch.nn.Module, torch.compile(forward, backend=cfg.compile_backend))
        return _Run(
            model=model,
            network=network,
            forward=forward,
            device=device,
            seed=seed,
            examples=examples,
            n_examples=n_examples,
            objective=objective,
            optimizer=optimizer,
            schedule=schedule,
            scaler=torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16"),
            autocast=autocast_context(device, cfg.amp),
            stopper=EarlyStopping(cfg.early_stopping) if validating and cfg.early_stopping.enabled else None,
            monitor=f"valid/{cfg.early_stopping.monitor}" if validating else None,
        )

    def _optimizer_step(
        self, network: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler
    ) -> None:
        if self.config.grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the fp16-scaled ones
            clip_grad_norm(network.parameters(), self.config.grad_clip)
        scaler.step(optimizer)  # skipped when fp16 gradients overflowed; the scale then shrinks
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    def _validate(self, model: "TorchRecommender", valid: Interactions) -> dict[str, float]:
        """Validation metrics computed by rank 0 and shared, so every process decides alike."""
        metrics = None
        if self.dist.is_main:
            v = self.config.validation
            ks = sorted(set(v.ks) | {self.config.early_stopping.k})
            result = evaluate(
                model, valid, ks, filter_seen=v.filter_seen, exclude=self.valid_exclude, batch_size=v.batch_size
            )
            metrics = {f"valid/{k}": float(x) for k, x in result.items() if k != "n_users"}
        return self.dist.broadcast(metrics)

    # ------------------------------------------------------------------ checkpoints
    def _save_last(self, run: "_Run", loop: _LoopState) -> None:
        if self.dist.is_main and self.checkpoint_dir is not None:
            sampler = run.objective.sampler
            checkpoint.save(
                {
                    "epoch": loop.epoch,
                    "step": loop.step,
                    "stopped": loop.stopped,
                    "history": loop.history,
                    "model": run.network.state_dict(),
                    "optimizer": run.optimizer.state_dict(),
                    "schedule": run.schedule.state_dict(),
                    "scaler": run.scaler.state_dict(),
                    "sampler": sampler.state_dict() if sampler is not None else {},
                    "early_stopping": run.stopper.state_dict() if run.stopper is not None else None,
                    "rng": checkpoint.rng_state(),
                    "config": self.config.model_dump(mode="json"),
                },
                self.checkpoint_dir / checkpoint.LAST,
            )
            checkpoint.remove_stale_best(self.checkpoint_dir, run.stopper.best_epoch if run.stopper else None)
        self.dist.barrier()  # nobody runs ahead of a checkpoint that is being written

    def _save_best(self, epoch: int, weights: dict[str, torch.Tensor]) -> None:
        if self.dist.is_main and self.checkpoint_dir is not None:
            checkpoint.save({"epoch": epoch, "model": weights}, checkpoint.best_path(self.checkpoint_dir, epoch))

    def _restore(self, run: "_Run") -> _LoopState:
        path = self.checkpoint_dir / checkpoint.LAST if self.checkpoint_dir is not None else None
        if path is None or not path.exists():
            if self.dist.is_main:
                log(f"no checkpoint at {path}: training from the start")
            return _LoopState()
        state = checkpoint.load(path)
        _check_same_config(state["config"], self.config)
        run.network.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.schedule.load_state_dict(state["schedule"])
        run.scaler.load_state_dict(state["scaler"])
        if run.objective.sampler is not None:
            run.objective.sampler.load_state_dict(state["sampler"])
        best_weights = None
        if run.stopper is not None and state["early_stopping"] is not None:
            run.stopper.load_state_dict(state["early_stopping"])
            if run.stopper.best_epoch is not None:
                best = checkpoint.best_path(path.parent, run.stopper.best_epoch)  # the checkpoint directory
                best_weights = checkpoint.load(best)["model"]
        checkpoint.set_rng_state(state["rng"])
        if self.dist.is_main:
            log(f"resuming from {path} after epoch {state['epoch']} (step {state['step']})")
        return _LoopState(state["epoch"], state["step"], list(state["history"]), state["stopped"], best_weights)

    def _tracked_params(self, model: "TorchRecommender") -> dict[str, Any]:
        return {
            "model": {"name": model.name, **model.config.model_dump(mode="json", exclude={"train"})},
            "train": self.config.model_dump(mode="json"),
            **self.params,
        }


# ---------------------------------------------------------------------- helpers
def setup(
    model: "TorchRecommender", train: Interactions, cfg: TrainConfig, device: torch.device, seed: int
) -> tuple[torch.nn.Module, dict[str, torch.Tensor], Objective, torch.optim.Optimizer]:
    """A fresh network (set as ``model.network``), the training examples on ``device``, the
    objective and the optimizer: what the loop, the LR finder and the scaling study share."""
    torch.manual_seed(seed)  # the same initial weights in every process
    network = model.network = model.build_network(sparse=cfg.optimizer.name == "sparse_adam").to(device)
    examples = {k: torch.from_numpy(v).to(device) for k, v in model.training_examples(train).items()}
    objective = Objective(cfg.loss, cfg.sampler, train.binary, target_mean=_weight_mean(train))
    return network, examples, objective, build_optimizer(network, cfg.optimizer)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda, but no CUDA device is available (use auto or cpu)")
    return torch.device(name)


def autocast_context(device: torch.device, amp: str) -> AbstractContextManager:
    """The mixed-precision context of the forward pass (and loss); a no-op for ``amp: off``."""
    if amp == "off":
        return contextlib.nullcontext()
    if amp == "fp16" and device.type != "cuda":
        raise ConfigError(
            "train.amp=fp16 needs a CUDA device (fp16 on CPU has no fast kernels and the loss scaling "
            "exists for GPUs); use train.amp=bf16 on CPU"
        )
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


@contextlib.contextmanager
def fitting_session(model: "TorchRecommender", train: Interactions, cfg: TrainConfig) -> Iterator[None]:
    """What every loop over a torch model runs inside (the Trainer, the LR finder): the run's torch
    settings, the model contract's fitting bookkeeping, then the model's own preparation; the
    model's ``end_fit`` afterwards, also after a failure (which leaves the model unfitted)."""
    if model.required_loss is not None and cfg.loss.name != model.required_loss:
        raise ConfigError(
            f"{model.name} trains with loss {model.required_loss}, not {cfg.loss.name!r}: "
            f"set models.{model.name}.train.loss.name={model.required_loss}"
        )
    with torch_settings(cfg), model.fitting(train):
        try:
            model.prepare_fit(train)
            yield
        finally:
            model.end_fit()


@contextlib.contextmanager
def torch_settings(cfg: TrainConfig) -> Iterator[None]:
    """Thread count and deterministic mode for the duration of training (process-wide in torch)."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it to be deterministic
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def seed_of(*parts: int) -> int:
    """A well-mixed 63-bit seed from several ints (nearby seeds give unrelated streams)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)


def generator(*parts: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed_of(*parts))


def _weight_mean(train: Interactions) -> float:
    return cast(float, train.frame["weight"].mean()) if len(train) else 0.0  # a float32 column: a float


def _learning_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """``lr`` of the first group, plus ``lr/<group>`` for each group when they differ."""
    groups = optimizer.param_groups
    out = {"lr": float(groups[0]["lr"])}
    if len({g["lr"] for g in groups}) > 1:
        out.update({f"lr/{g.get('name', i)}": float(g["lr"]) for i, g in enumerate(groups)})
    return out


def _check_monitor(cfg: TrainConfig) -> None:
    name = cfg.early_stopping.monitor.split("@")[0]
    if name not in ALL_METRIC_NAMES:
        raise ConfigError(
            f"train.early_stopping.monitor: unknown metric {name!r}; metrics: {', '.join(ALL_METRIC_NAMES)}"
        )


def _check_same_config(saved: dict[str, Any], current: TrainConfig) -> None:
    now = flatten(current.model_dump(mode="json"))
    then = flatten(saved)
    changed = sorted(
        k for k in set(now) | set(then) if now.get(k) != then.get(k) and not k.startswith(_RESUMABLE_CHANGES)
    )
    if changed:
        detail = ", ".join(f"train.{k} ({then.get(k)!r} -> {now.get(k)!r})" for k in changed)
        raise ConfigError(f"--resume needs the train config of the interrupted run; changed: {detail}")


def _summary(metrics: dict[str, Any], monitor: str | None) -> str:
    text = f"epoch {metrics['epoch']}: loss {metrics['loss']:.4f} lr {metrics['lr']:.2e}"
    if monitor and monitor in metrics:
        text += f" {monitor.removeprefix('valid/')} {metrics[monitor]:.4f}"
    return text + f" ({metrics['seconds']:.1f}s, {metrics['examples_per_second'] / 1000:.1f}k ex/s)"
