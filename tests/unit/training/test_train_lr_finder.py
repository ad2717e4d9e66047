"""The LR range test: on least squares, where the good range is known, and on MF through the Trainer."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from train_fixtures import train_params

from recsmith.errors import RecsmithError
from recsmith.models import create_model
from recsmith.training.config import resolve_train_config
from recsmith.training.lr_finder import find_lr, range_test, suggest


def least_squares_step(seed: int = 0):
    """SGD on y = X w* + noise with unit-variance features: the Hessian is ~ the identity, so steps
    converge for lr < 2 (divergence beyond), and below ~1e-2 a hundred steps barely move the loss."""
    g = torch.Generator().manual_seed(seed)
    w_true = torch.randn(10, generator=g)
    w = torch.zeros(10, requires_grad=True)

    def step(lr: float) -> float:
        x = torch.randn(256, 10, generator=g)
        y = x @ w_true + 0.1 * torch.randn(256, generator=g)
        loss = 0.5 * ((x @ w - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w.sub_(lr * w.grad)
            w.grad = None
        return loss.item()

    return step


def test_suggestion_lies_in_the_known_good_range_and_divergence_stops_the_ramp():
    result = range_test(least_squares_step(), start_lr=1e-5, end_lr=100.0, num_steps=100)
    assert result.diverged and 2.0 <= result.lrs[-1] < 100.0  # stopped soon after lr = 2 / curvature
    assert 1e-2 <= result.suggestion <= 1.0
    assert len(result.lrs) == len(result.losses) == len(result.smoothed)
    ramp = result.lrs
    ratios = [b / a for a, b in itertools.pairwise(ramp)]
    assert max(ratios) == pytest.approx(min(ratios))  # exponential


def test_smoothing_is_bias_corrected():
    result = range_test(lambda lr: 3.0, num_steps=10, end_lr=1.0)
    assert result.smoothed == pytest.approx([3.0] * 10)  # a constant loss stays constant from step one
    assert not result.diverged


def test_suggest_falls_back_before_a_descent():
    assert suggest([1e-3, 1e-2, 1e-1], [1.0, 2.0, 3.0]) == pytest.approx(1e-4)  # minimum first: a tenth of it
    lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]
    assert suggest(lrs, [4.0, 4.0, 3.9, 2.0, 1.9, 1.85]) in (1e-2, 1e-1)  # where the loss drops


def test_bad_ranges_are_errors():
    with pytest.raises(RecsmithError, match="start_lr < end_lr"):
        range_test(lambda lr: 1.0, start_lr=1.0, end_lr=0.1)


def test_find_lr_on_mf(parts, tmp_path):
    model = create_model("mf", {"dim": 8})
    cfg = resolve_train_config(model, overrides=train_params(batch_size=64))
    result = find_lr(model, parts.train, cfg, start_lr=1e-5, end_lr=100.0, num_steps=60)
    assert all(math.isfinite(x) for x in result.losses[:-1])
    assert 1e-4 <= result.suggestion <= 10.0
    assert min(result.smoothed) < result.smoothed[0]  # the ramp reached rates that learn
    path = result.plot(tmp_path / "lr.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
