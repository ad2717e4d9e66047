"""MF trains through the Trainer with every optimizer and every schedule; weight-decay groups; clipping."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from train_fixtures import train_params

from fitting import torch_model
from recsmith.errors import ConfigError, RecsmithError
from recsmith.models import create_model
from recsmith.training.config import OptimizerConfig, TrainConfig, resolve_train_config
from recsmith.training.optim import clip_grad_norm, cosine_restarts, parameter_groups, warmup_cosine, warmup_linear
from recsmith.training.trainer import Trainer

OPTIMIZERS = {
    "adam": {"lr": 0.02},
    "adamw": {"lr": 0.02, "weight_decay": 0.01, "decay_embeddings": True},
    "sgd": {"lr": 5.0, "momentum": 0.9, "nesterov": True},  # small initial embeddings: small gradients
    "adagrad": {"lr": 0.2},
    "rmsprop": {"lr": 0.005, "momentum": 0.5},
    "sparse_adam": {"lr": 0.02},
}


def fit(parts, **train):
    model, cfg = torch_model("mf", {"dim": 8, "train": train_params(**train)})
    result = Trainer(cfg).fit(model, parts.train, parts.valid)
    return model, result


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_trains_mf(parts, name):
    model, result = fit(
        parts, epochs=4, optimizer={"name": name, **OPTIMIZERS[name]}, early_stopping={"enabled": False}
    )
    losses = [h["loss"] for h in result.history]
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0], f"{name}: loss did not decrease: {losses}"
    assert result.history[-1]["valid/ndcg@10"] > 0.3  # popularity gives 0.08 here, EASE 0.47
    if name == "sparse_adam":
        assert model.network.user.sparse  # the network was built with sparse gradients


SCHEDULES = {
    "none": {},
    "onecycle": {"pct_start": 0.25},
    "cosine": {"warmup_fraction": 0.2, "min_lr_ratio": 0.1},
    "cosine_warm_restarts": {"restart_epochs": 2},
    "linear_warmup": {"warmup_fraction": 0.25},
    "reduce_on_plateau": {"plateau_patience": 0, "plateau_factor": 0.5},
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_trains_and_logs_the_lr_each_epoch(parts, name):
    _, result = fit(parts, epochs=4, scheduler={"name": name, **SCHEDULES[name]}, early_stopping={"enabled": False})
    lrs = [h["lr"] for h in result.history]
    assert len(lrs) == 4 and all(lr >= 0 for lr in lrs)
    assert all(math.isfinite(h["loss"]) for h in result.history)
    base = 0.02
    if name == "none":
        assert lrs == [base] * 4
    if name == "cosine":
        assert lrs[-1] == pytest.approx(0.1 * base)  # the floor, reached at the last step
    if name == "onecycle":
        assert lrs[0] == pytest.approx(base, rel=0.05) and lrs[-1] < base / 100  # peak after 1/4, then down
    if name == "linear_warmup":
        assert lrs == sorted(lrs, reverse=True) and lrs[-1] == pytest.approx(0.0, abs=1e-12)
    if name == "cosine_warm_restarts":
        # a cycle of two epochs: halfway down after epoch 1, back to the top after epoch 2
        assert lrs[0] == pytest.approx(base / 2) and lrs[1] == pytest.approx(base) and lrs[2] == pytest.approx(base / 2)
    if name == "reduce_on_plateau":
        assert min(lrs) <= base  # halves whenever validation does not improve


def test_schedule_functions_by_hand():
    assert warmup_cosine(0, total=10, warmup=2, min_ratio=0.0) == pytest.approx(0.5)
    assert warmup_cosine(2, total=10, warmup=2, min_ratio=0.0) == pytest.approx(1.0)
    assert warmup_cosine(6, total=10, warmup=2, min_ratio=0.0) == pytest.approx(0.5)  # halfway down
    assert warmup_cosine(10, total=10, warmup=2, min_ratio=0.2) == pytest.approx(0.2)
    assert warmup_linear(6, total=10, warmup=2, min_ratio=0.0) == pytest.approx(0.5)
    # cycles of 4 then 8 steps
    assert cosine_restarts(4, cycle=4, mult=2, warmup=0, min_ratio=0.0) == pytest.approx(1.0)
    assert cosine_restarts(8, cycle=4, mult=2, warmup=0, min_ratio=0.0) == pytest.approx(0.5)


class Tower(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(10, 4)
        self.encoder = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 1)


def test_weight_decay_skips_biases_norms_and_embeddings_by_default():
    net = Tower()
    groups = parameter_groups(net, OptimizerConfig(name="adamw", weight_decay=0.1))
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decayed == {id(net.encoder.weight), id(net.head.weight)}
    groups = parameter_groups(net, OptimizerConfig(name="adamw", weight_decay=0.1, decay_embeddings=True))
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    assert id(net.embedding.weight) in decayed and id(net.norm.weight) not in decayed


def test_param_groups_get_their_own_learning_rate():
    net = Tower()
    cfg = OptimizerConfig(lr=0.01, param_groups=[{"params": "encoder.*", "lr": 1e-4}])
    by_param = {id(p): g["lr"] for g in parameter_groups(net, cfg) for p in g["params"]}
    assert by_param[id(net.encoder.weight)] == by_param[id(net.encoder.bias)] == 1e-4
    assert by_param[id(net.head.weight)] == 0.01
    with pytest.raises(ConfigError, match=r"param_groups\.0\.params.*matches no parameter"):
        parameter_groups(net, OptimizerConfig(param_groups=[{"params": "decoder.*"}]))


def test_param_group_lrs_are_logged_separately(parts):
    _, result = fit(parts, epochs=1, optimizer={"lr": 0.02, "param_groups": [{"params": "item*", "lr": 0.002}]})
    assert result.history[0]["lr"] in (0.02, 0.002)
    assert {v for k, v in result.history[0].items() if k.startswith("lr/")} == {0.02, 0.002}


def test_sparse_adam_refuses_dense_parameters():
    from recsmith.training.optim import build_optimizer

    with pytest.raises(ConfigError, match="sparse_adam.*dense"):
        build_optimizer(Tower(), OptimizerConfig(name="sparse_adam"))


def test_clip_grad_norm_matches_torch_and_handles_sparse_gradients():
    torch.manual_seed(0)
    dense = [nn.Parameter(torch.randn(5, 3)), nn.Parameter(torch.randn(4))]
    twins = [nn.Parameter(p.detach().clone()) for p in dense]
    for p, q in zip(dense, twins):
        p.grad = torch.randn_like(p)
        q.grad = p.grad.clone()
    ours = clip_grad_norm(dense, 0.5)
    theirs = torch.nn.utils.clip_grad_norm_(twins, 0.5)
    torch.testing.assert_close(ours, theirs)
    for p, q in zip(dense, twins):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6)
    emb = nn.Embedding(6, 2, sparse=True)
    emb(torch.tensor([1, 1, 3])).sum().backward()  # row 1 twice: an uncoalesced gradient
    norm = clip_grad_norm(emb.parameters(), 1.0)
    assert norm.item() == pytest.approx(math.sqrt(2**2 * 2 + 1**2 * 2))
    assert emb.weight.grad.to_dense().norm().item() == pytest.approx(1.0, rel=1e-4)


def test_grad_clip_bounds_each_update(parts):
    model, cfg = torch_model(
        "mf",
        {
            "dim": 8,
            "train": train_params(epochs=1, batch_size=10_000, optimizer={"name": "sgd", "lr": 1.0}, grad_clip=1e-3),
        },
    )
    start = None

    class Capture(Trainer):
        def _optimizer_step(self, network, optimizer, scaler):
            nonlocal start
            start = [p.detach().clone() for p in network.parameters()]
            super()._optimizer_step(network, optimizer, scaler)

    Capture(cfg).fit(model, parts.train)
    change = torch.sqrt(sum(((p.detach() - s) ** 2).sum() for p, s in zip(model.network.parameters(), start)))
    assert change.item() <= 1e-3 * (1 + 1e-4)  # one step of SGD(lr=1) on a gradient clipped to 1e-3


def test_train_config_type_is_what_the_trainer_takes():
    assert isinstance(resolve_train_config(create_model("mf")), TrainConfig)


def test_a_torch_model_alone_says_the_trainer_fits_it(parts):
    with pytest.raises(RecsmithError, match=r"trained by the Trainer: recsmith\.training\.fit_model"):
        create_model("mf", {"dim": 8}).fit(parts.train)
