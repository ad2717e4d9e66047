"""Negative samplers: distributions, hard-negative mining and refresh, statistics; objectives end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsmith.nn.config import LossConfig, SamplerConfig
from recsmith.nn.factorization import MatrixFactorization
from recsmith.nn.objectives import Batch, Objective
from recsmith.nn.samplers import Negatives, NegativeStats, PositiveLookup, build_sampler

# 3 users x 6 items; item counts: [3, 2, 1, 1, 0, 0]
SEEN = sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0], [1, 1, 0, 1, 0, 0]], dtype=np.float32))
COUNTS = np.array([3, 2, 1, 1, 0, 0], dtype=float)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def users(*u: int) -> torch.Tensor:
    return torch.tensor(u, dtype=torch.long)


def test_uniform_covers_the_catalogue_with_constant_log_q():
    s = build_sampler(SamplerConfig(name="uniform"), SEEN)
    negs = s.sample(users(0, 1), users(0, 0), 5000, shared=False, generator=gen())
    assert negs.items.shape == (2, 5000) and not negs.shared
    counts = np.bincount(negs.items.ravel().numpy(), minlength=6) / 10000
    np.testing.assert_allclose(counts, 1 / 6, atol=0.02)
    torch.testing.assert_close(negs.log_q, torch.full((2, 5000), -math.log(6)))
    shared = s.sample(users(0, 1), users(0, 0), 7, shared=True, generator=gen())
    assert shared.items.shape == (7,) and shared.shared


@pytest.mark.parametrize("exponent", [0.0, 0.75, 1.0])
def test_popularity_frequencies_follow_count_to_the_exponent(exponent):
    s = build_sampler(SamplerConfig(name="popularity", exponent=exponent), SEEN)
    negs = s.sample(users(0), users(0), 40000, shared=True, generator=gen(1))
    freq = np.bincount(negs.items.numpy(), minlength=6) / 40000
    weights = np.where(COUNTS > 0, COUNTS**exponent, 0)
    expected = weights / weights.sum()
    np.testing.assert_allclose(freq, expected, atol=0.01)
    assert freq[4] == freq[5] == 0  # never-seen items are never drawn
    np.testing.assert_allclose(s.log_prob(torch.arange(4)).numpy(), np.log(expected[:4]), rtol=1e-5)


def test_in_batch_returns_the_positives_with_their_frequency():
    s = build_sampler(SamplerConfig(name="in_batch"), SEEN)
    pos = users(0, 3, 1)
    negs = s.sample(users(0, 1, 2), pos, 99, shared=False, generator=gen())
    assert negs.shared and torch.equal(negs.items, pos)
    np.testing.assert_allclose(negs.log_q.numpy(), np.log(COUNTS[[0, 3, 1]] / COUNTS.sum()), rtol=1e-5)


class CountingScorer:
    """Score = item id (+ a per-call offset); counts calls to check the refresh schedule."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.arange(6, dtype=torch.float32).repeat(len(u), 1)


def test_hard_negatives_are_top_scored_non_positives_mixed_at_the_ratio():
    cfg = SamplerConfig(name="hard", hard_ratio=0.5, hard_pool=2, refresh_every=3)
    s = build_sampler(cfg, SEEN)
    scorer = CountingScorer()
    s.maybe_refresh(0, scorer)
    # highest ids the user has not seen: user 0 saw {0,1} -> pool [5, 4]; user 2 saw {0,1,3} -> [5, 4]
    assert s.pool[0].tolist() == [5, 4] and s.pool_size.tolist() == [2, 2, 2]
    negs = s.sample(users(0, 1, 2), users(0, 0, 0), 10, shared=True, generator=gen())
    assert negs.items.shape == (3, 10) and not negs.shared and negs.log_q is None
    assert set(negs.items[:, :5].ravel().tolist()) <= {4, 5}  # the hard half comes from the pools
    for step in range(1, 7):
        s.maybe_refresh(step, scorer)
    assert scorer.calls == 3  # steps 0, 3, 6


def test_hard_sampler_state_round_trips_and_handles_users_without_candidates():
    everything = sp.csr_matrix(np.ones((2, 6), dtype=np.float32))  # user saw every item
    s = build_sampler(SamplerConfig(name="hard", hard_ratio=1.0, hard_pool=3), everything)
    s.maybe_refresh(0, CountingScorer())
    assert s.pool_size.tolist() == [0, 0]
    negs = s.sample(users(0, 1), users(0, 0), 4, shared=False, generator=gen())
    assert negs.items.shape == (2, 4)  # random fallbacks, not garbage indices
    other = build_sampler(SamplerConfig(name="hard", hard_ratio=1.0, hard_pool=3), everything)
    other.load_state_dict(s.state_dict())
    assert torch.equal(other.pool, s.pool) and other.refreshed_at == 0


def test_positive_lookup_and_negative_statistics():
    lookup = PositiveLookup(SEEN)
    got = lookup.contains(users(0, 0, 1, 2)[:, None], torch.tensor([[0, 5], [1, 2], [2, 3], [3, 4]]))
    assert got.tolist() == [[True, False], [True, False], [True, False], [True, False]]
    stats = NegativeStats(torch.tensor(COUNTS, dtype=torch.float32), lookup)
    # user 0 draws [0, 2, 3, 1]: items 0 and 1 are its positives -> accidental rate 0.5
    negs = Negatives(torch.tensor([[0, 2, 3, 1]]), None, shared=False)
    stats.update(users(0), users(1), torch.tensor([2.0]), negs, torch.tensor([[1.0, 2.0, 3.0, 4.0]]), None)
    out = stats.compute()
    assert out["accidental_positive_rate"] == pytest.approx(0.5)
    assert out["neg_popularity"] == pytest.approx((3 + 1 + 1 + 2) / 4)
    assert out["neg_score"] == pytest.approx(2.5)
    assert out["pos_popularity"] == pytest.approx(2.0) and out["pos_score"] == pytest.approx(2.0)


@pytest.mark.parametrize("loss", ["softmax", "sampled_softmax", "bce", "gbce", "bpr", "infonce", "mse"])
@pytest.mark.parametrize("sampler", ["uniform", "in_batch"])
def test_every_objective_gives_a_finite_loss_and_gradients(loss, sampler):
    net = MatrixFactorization(3, 6, 4)
    objective = Objective(LossConfig(name=loss), SamplerConfig(name=sampler, n_negatives=3), SEEN, target_mean=3.0)
    batch = Batch(
        inputs=users(0, 1, 2), users=users(0, 1, 2), positives=users(1, 2, 3), targets=torch.tensor([4.0, 2.0, 5.0])
    )
    value = objective(net, batch, gen())
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()
    assert net.user.weight.grad is not None and torch.isfinite(net.user.weight.grad).all()
    if loss not in ("softmax", "mse"):
        assert set(objective.epoch_stats()) >= {"sampler/neg_popularity", "sampler/accidental_positive_rate"}


def test_in_batch_negatives_mask_the_rows_own_positive():
    net = MatrixFactorization(3, 6, 4)
    objective = Objective(LossConfig(name="bce"), SamplerConfig(name="in_batch"), SEEN, target_mean=1.0)
    batch = Batch(users(0, 1, 2), users(0, 1, 2), users(1, 1, 3), torch.ones(3))
    negs = objective.sampler.sample(batch.users, batch.positives, 1, shared=True, generator=gen())
    _, neg_scores, mask = objective.score_candidates(net, batch, negs)
    assert neg_scores.shape == (3, 3)
    # row 0 and row 1 share item 1: neither is the other's negative; row 2 keeps both copies of 1
    assert mask.tolist() == [[False, False, True], [False, False, True], [True, True, False]]
