"""Optimizers and learning-rate schedules by name (:data:`OPTIMIZERS`, :data:`SCHEDULES`).

Parameter groups: each parameter goes to the first ``optimizer.param_groups`` entry whose glob
matches its name (own learning rate / weight decay), else to the default group; each of those is
split in two, with and without weight decay. No decay on biases and normalisation weights (decaying
them only pulls outputs toward zero) nor, unless ``decay_embeddings``, on embedding tables (a rare
id's row gets few gradient updates but is decayed at every step, so it shrinks to nothing).

Schedules that step with the optimizer are pure functions of the step (``lr = base * factor(step)``,
nanoGPT's ``get_lr``) run by ``LambdaLR``; ``onecycle`` is torch's ``OneCycleLR`` (it also cycles
momentum) and ``reduce_on_plateau`` steps once per validation. All of them checkpoint through
``state_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from fnmatch import fnmatch
from functools import partial
from typing import Any, Literal

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, OneCycleLR, ReduceLROnPlateau

from recsmith.errors import ConfigError
from recsmith.training.config import OptimizerConfig, SchedulerConfig

#: direction of the monitored value (``early_stopping.mode``)
Mode = Literal["max", "min"]

_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.modules.batchnorm._NormBase, nn.RMSNorm)


# ---------------------------------------------------------------------- parameter groups
def parameter_groups(network: nn.Module, cfg: OptimizerConfig) -> list[dict[str, Any]]:
    """Torch parameter-group dicts (``params``, ``lr``, ``weight_decay``, ``name``); see the module doc."""
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    matched = [0] * len(cfg.param_groups)
    for module_name, module in network.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            name = f"{module_name}.{param_name}" if module_name else param_name
            index = next((i for i, g in enumerate(cfg.param_groups) if fnmatch(name, g.params)), -1)
            spec = cfg.param_groups[index] if index >= 0 else None
            if index >= 0:
                matched[index] += 1
            decay = _decays(name, param, module, cfg)
            key = (index, decay)
            if key not in groups:
                lr = spec.lr if spec is not None and spec.lr is not None else cfg.lr
                wd = spec.weight_decay if spec is not None and spec.weight_decay is not None else cfg.weight_decay
                label = spec.params if spec is not None else "default"
                groups[key] = {
                    "params": [],
                    "lr": lr,
                    "weight_decay": wd if decay else 0.0,
                    "name": f"{label}{'' if decay else ' (no decay)'}",
                }
            groups[key]["params"].append(param)
    for i, count in enumerate(matched):
        if count == 0:
            raise ConfigError(
                f"train.optimizer.param_groups.{i}.params: {cfg.param_groups[i].params!r} matches no parameter; "
                f"parameters are: {', '.join(n for n, _ in network.named_parameters())}"
            )
    return [groups[k] for k in sorted(groups)]


def _decays(name: str, param: nn.Parameter, module: nn.Module, cfg: OptimizerConfig) -> bool:
    if param.ndim < 2 or any("bias" in part for part in name.split(".")) or isinstance(module, _NORMS):
        return False
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return cfg.decay_embeddings
    return True


# ---------------------------------------------------------------------- optimizers
def _adam(groups: list[dict], c: OptimizerConfig) -> Optimizer:
    return torch.optim.Adam(groups, lr=c.lr, betas=c.betas, eps=c.eps)


def _adamw(groups: list[dict], c: OptimizerConfig) -> Optimizer:
    return torch.optim.AdamW(groups, lr=c.lr, betas=c.betas, eps=c.eps)


def _sgd(groups: list[dict], c: OptimizerConfig) -> Optimizer:
    return torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov)


def _adagrad(groups: list[dict], c: OptimizerConfig) -> Optimizer:
    return torch.optim.Adagrad(groups, lr=c.lr, eps=c.eps)


def _rmsprop(groups: list[dict], c: OptimizerConfig) -> Optimizer:
    return torch.optim.RMSprop(groups, lr=c.lr, momentum=c.momentum, eps=c.eps)


def _sparse_adam(groups: list[dict], c: OptimizerConfig) -> Optimizer:
    for group in groups:
        group.pop("weight_decay")  # SparseAdam has none (the config refuses a non-zero value)
    return torch.optim.SparseAdam(groups, lr=c.lr, betas=c.betas, eps=c.eps)


OPTIMIZERS: dict[str, Callable[[list[dict], OptimizerConfig], Optimizer]] = {
    "adam": _adam,
    "adamw": _adamw,
    "sgd": _sgd,
    "adagrad": _adagrad,
    "rmsprop": _rmsprop,
    "sparse_adam": _sparse_adam,
}


def build_optimizer(network: nn.Module, cfg: OptimizerConfig) -> Optimizer:
    if cfg.name == "sparse_adam":
        dense = [n for n, m in network.named_modules() if _has_dense_params(m)]
        if dense:
            raise ConfigError(
                "train.optimizer.name=sparse_adam updates sparse embedding gradients only, but "
                f"{', '.join(dense)} {'has' if len(dense) == 1 else 'have'} dense parameters; use adam or adamw"
            )
    return OPTIMIZERS[cfg.name](parameter_groups(network, cfg), cfg)


def _has_dense_params(module: nn.Module) -> bool:
    own = list(module.parameters(recurse=False))
    return bool(own) and not (isinstance(module, nn.Embedding) and module.sparse)


def clip_grad_norm(parameters: Iterable[nn.Parameter], max_norm: float) -> torch.Tensor:
    """Scale all gradients so their global L2 norm is at most ``max_norm``; returns the norm before.

    Like ``torch.nn.utils.clip_grad_norm_`` but also for sparse gradients (sparse embeddings),
    which torch's version cannot take the norm of.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = [(g.coalesce().values() if g.is_sparse else g).float().norm() for g in grads]
    total = torch.stack([n.to(norms[0].device) for n in norms]).norm()
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.to(g.device, g.dtype))
    return total


# ---------------------------------------------------------------------- schedules
def warmup_cosine(step: int, *, total: int, warmup: int, min_ratio: float) -> float:
    """Linear warmup to 1 over ``warmup`` steps, then cosine decay to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_linear(step: int, *, total: int, warmup: int, min_ratio: float) -> float:
    """Linear warmup to 1, then linear decay to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return 1 - (1 - min_ratio) * progress


def cosine_restarts(step: int, *, cycle: int, mult: int, warmup: int, min_ratio: float) -> float:
    """Linear warmup, then cosine cycles of ``cycle``, ``cycle * mult``, ... steps, each restarting at 1."""
    if step < warmup:
        return (step + 1) / warmup
    t, length = step - warmup, cycle
    while t >= length:
        t, length = t - length, length * mult
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t / length))


class Schedule:
    """A torch scheduler plus when to step it: after every optimizer step, or after each validation."""

    def __init__(self, scheduler: Any, *, per_step: bool) -> None:
        self.scheduler = scheduler
        self.per_step = per_step

    def after_step(self) -> None:
        if self.per_step:
            self.scheduler.step()

    def after_epoch(self, value: float) -> None:
        """``value``: the monitored validation metric (or the training loss without validation)."""
        if not self.per_step and math.isfinite(value):
            self.scheduler.step(value)

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)


def _per_step(factor: Callable[[SchedulerConfig, int, int], Callable[[int], float]]) -> Callable[..., Schedule]:
    """A schedule stepped with the optimizer from ``factor(cfg, total_steps, steps_per_epoch)``,
    which returns the pure function ``step -> lr / base lr``."""

    def build(opt: Optimizer, c: SchedulerConfig, total: int, per_epoch: int, mode: Mode) -> Schedule:
        return Schedule(LambdaLR(opt, factor(c, total, per_epoch)), per_step=True)

    return build


def _warmup(c: SchedulerConfig, total: int) -> int:
    return round(c.warmup_fraction * total)


def _onecycle(opt: Optimizer, c: SchedulerConfig, total: int, per_epoch: int, mode: Mode) -> Schedule:
    # momentum cycling only where there is a momentum to cycle (it would switch it on for plain SGD)
    has_momentum = any("betas" in g or g.get("momentum", 0) > 0 for g in opt.param_groups)
    scheduler = OneCycleLR(
        opt,
        max_lr=[g["lr"] for g in opt.param_groups],
        total_steps=total,
        pct_start=c.pct_start,
        div_factor=c.div_factor,
        final_div_factor=c.final_div_factor,
        cycle_momentum=has_momentum,
    )
    return Schedule(scheduler, per_step=True)


def _plateau(opt: Optimizer, c: SchedulerConfig, total: int, per_epoch: int, mode: Mode) -> Schedule:
    scheduler = ReduceLROnPlateau(opt, mode=mode, factor=c.plateau_factor, patience=c.plateau_patience)
    return Schedule(scheduler, per_step=False)


SCHEDULES: dict[str, Callable[[Optimizer, SchedulerConfig, int, int, Mode], Schedule]] = {
    "none": _per_step(lambda c, total, per_epoch: _constant),
    "cosine": _per_step(
        lambda c, total, per_epoch: partial(
            warmup_cosine, total=total, warmup=_warmup(c, total), min_ratio=c.min_lr_ratio
        )
    ),
    "linear_warmup": _per_step(
        lambda c, total, per_epoch: partial(
            warmup_linear, total=total, warmup=_warmup(c, total), min_ratio=c.min_lr_ratio
        )
    ),
    "cosine_warm_restarts": _per_step(
        lambda c, total, per_epoch: partial(
            cosine_restarts,
            cycle=c.restart_epochs * per_epoch,
            mult=c.restart_mult,
            warmup=_warmup(c, total),
            min_ratio=c.min_lr_ratio,
        )
    ),
    "onecycle": _onecycle,
    "reduce_on_plateau": _plateau,
}


def _constant(step: int) -> float:
    return 1.0


def build_schedule(
    optimizer: Optimizer, cfg: SchedulerConfig, *, total_steps: int, steps_per_epoch: int, mode: Mode = "max"
) -> Schedule:
    """The schedule named by ``cfg.name`` over ``total_steps`` optimizer steps; ``mode`` is the
    direction of the monitored value (reduce_on_plateau)."""
    return SCHEDULES[cfg.name](optimizer, cfg, max(total_steps, 1), max(steps_per_epoch, 1), mode)
