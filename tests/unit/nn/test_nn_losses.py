"""Each loss against a value computed by hand (math module, not torch)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from recsmith.nn import losses


def t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_softmax_cross_entropy_by_hand():
    # -log(e^3 / (e^1 + e^2 + e^3))
    expected = -3 + math.log(math.e + math.e**2 + math.e**3)
    got = losses.softmax_cross_entropy(t([1.0, 2.0, 3.0]), torch.tensor([2]))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_softmax_label_smoothing_by_hand_and_equal_to_torch():
    logits, eps = t([1.0, 2.0, 3.0]), 0.1
    log_z = math.log(math.e + math.e**2 + math.e**3)
    log_p = [1 - log_z, 2 - log_z, 3 - log_z]
    expected = (1 - eps) * -log_p[0] + eps * -sum(log_p) / 3
    got = losses.softmax_cross_entropy(logits, torch.tensor([0]), label_smoothing=eps)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    rand = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 3, 6, 2, 2])
    ours = losses.softmax_cross_entropy(rand, target, label_smoothing=0.2)
    torch.testing.assert_close(ours, F.cross_entropy(rand, target, label_smoothing=0.2))


def test_softmax_mask_removes_candidates_even_with_smoothing():
    mask = torch.tensor([[True, False, True]])
    # candidate 2 is gone: -log(e^3 / (e^1 + e^3))
    got = losses.softmax_cross_entropy(t([1.0, 2.0, 3.0]), torch.tensor([2]), mask=mask)
    assert got.item() == pytest.approx(math.log1p(math.exp(-2)), rel=1e-6)
    smoothed = losses.softmax_cross_entropy(t([1.0, 2.0, 3.0]), torch.tensor([2]), mask=mask, label_smoothing=0.5)
    log_z = math.log(math.e + math.e**3)
    expected = 0.5 * -(3 - log_z) + 0.5 * -((1 - log_z) + (3 - log_z)) / 2
    assert smoothed.item() == pytest.approx(expected, rel=1e-6)


def test_sampled_softmax_with_logq_by_hand():
    # logits: s / T - log q = [2 - log .5, 1 - log .25, 0 - log .25]
    z = [2 - math.log(0.5), 1 - math.log(0.25), 0 - math.log(0.25)]
    expected = -z[0] + math.log(sum(math.exp(v) for v in z))
    got = losses.sampled_softmax_loss(
        t(2.0), t([1.0, 0.0]), log_q_pos=t(math.log(0.5)), log_q_neg=t(math.log(0.25), math.log(0.25))
    )
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_sampled_softmax_temperature_and_accidental_hit_mask():
    # T = 0.5 doubles the logits; the masked negative (score 5, the positive itself) takes no part
    expected = -4 + math.log(math.exp(4) + math.exp(2))
    got = losses.sampled_softmax_loss(t(2.0), t([1.0, 5.0]), temperature=0.5, mask=torch.tensor([[True, False]]))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_bce_by_hand():
    # -log sigmoid(0) - log(1 - sigmoid(0)) - log(1 - sigmoid(2)) = 2 log 2 + softplus(2)
    got = losses.bce_loss(t(0.0), t([0.0, 2.0]))
    assert got.item() == pytest.approx(2 * math.log(2) + softplus(2.0), rel=1e-6)


def test_gbce_beta_and_loss_by_hand():
    # alpha = 1 / 100, beta = alpha (0.75 (1 - 100) + 100) = 0.2575
    beta = losses.gbce_beta(1, 101, 0.75)
    assert beta == pytest.approx(0.2575)
    assert losses.gbce_beta(4, 101, 0.0) == pytest.approx(1.0)  # t = 0 is plain BCE
    got = losses.gbce_loss(t(1.0), t([-1.0]), beta=beta)
    expected = 0.2575 * softplus(-1.0) + softplus(-1.0)  # -beta log s(1) - log(1 - s(-1))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_bpr_by_hand_and_mask():
    got = losses.bpr_loss(t(2.0), t([1.0, 3.0]))
    assert got.item() == pytest.approx((softplus(-1.0) + softplus(1.0)) / 2, rel=1e-6)
    masked = losses.bpr_loss(t(2.0), t([1.0, 3.0]), mask=torch.tensor([[True, False]]))
    assert masked.item() == pytest.approx(softplus(-1.0), rel=1e-6)


def test_info_nce_by_hand():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    # logits = q k^T / 0.5 = [[2, 2], [0, 2]]; row 0 target 0, row 1 target 1
    row0 = -2 + math.log(math.exp(2) + math.exp(2))
    row1 = -2 + math.log(math.exp(0) + math.exp(2))
    got = losses.info_nce_loss(q, k, temperature=0.5)
    assert got.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_in_batch_logq_correction_by_hand():
    logits = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    log_q = t(math.log(0.75), math.log(0.25))
    # corrected row = [1 - log .75, 1 - log .25]
    a, b = 1 - math.log(0.75), 1 - math.log(0.25)
    expected = ((-a + math.log(math.exp(a) + math.exp(b))) + (-b + math.log(math.exp(a) + math.exp(b)))) / 2
    assert losses.in_batch_softmax_loss(logits, log_q=log_q).item() == pytest.approx(expected, rel=1e-6)


def test_mse_label_smoothing_by_hand():
    assert losses.mse_loss(t(3.0), t(5.0)).item() == pytest.approx(4.0)
    # target 5 shrunk 20% toward 3: 4.6; (3 - 4.6)^2 = 2.56
    assert losses.mse_loss(t(3.0), t(5.0), label_smoothing=0.2, center=3.0).item() == pytest.approx(2.56, rel=1e-6)
    # default center: the batch mean (4): targets [4.8, 3.2]
    got = losses.mse_loss(t(4.0, 4.0), t(5.0, 3.0), label_smoothing=0.2)
    assert got.item() == pytest.approx(0.64, rel=1e-6)


def test_half_precision_scores_are_computed_in_float32():
    scores = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.bfloat16)
    out = losses.softmax_cross_entropy(scores, torch.tensor([2]))
    assert out.dtype == torch.float32
    assert losses.bpr_loss(scores[:, 0], scores[:, 1:]).dtype == torch.float32


def test_logq_needs_both_sides():
    with pytest.raises(ValueError, match="both"):
        losses.sampled_softmax_loss(t(1.0), t([0.0]), log_q_pos=t(0.0))
