"""Scaling law in (dim, data size): the fit recovers a known law; the suggestion follows its formula."""

from __future__ import annotations

import numpy as np
import pytest
from train_fixtures import planted

from recsmith.errors import RecsmithError
from recsmith.training.scaling import PowerLaw, fit_power_law, subsample, suggest_dim

TRUE = PowerLaw(E=0.55, A=1.5, alpha=0.7, B=40.0, beta=0.5, rmse=0.0)


def grid():
    d, n = np.meshgrid([16, 32, 64, 128, 256], [2_500, 5_000, 10_000])
    return d.ravel().astype(float), n.ravel().astype(float)


def test_fit_recovers_a_noiseless_law():
    d, n = grid()
    law = fit_power_law(d, n, TRUE.loss(d, n))
    assert law.rmse < 1e-4
    np.testing.assert_allclose(law.loss(d, n), TRUE.loss(d, n), atol=1e-4)
    assert law.alpha == pytest.approx(TRUE.alpha, rel=0.05) and law.beta == pytest.approx(TRUE.beta, rel=0.1)


def test_fit_tolerates_noise():
    d, n = grid()
    noisy = TRUE.loss(d, n) + np.random.default_rng(0).normal(0, 0.002, d.size)
    law = fit_power_law(d, n, noisy)
    assert law.rmse < 0.004
    assert law.alpha == pytest.approx(TRUE.alpha, rel=0.3)


def test_suggested_dim_is_the_formula_rounded_up_to_a_multiple_of_8():
    n_full = 10_000
    attainable = 1 - TRUE.E - TRUE.B * n_full**-TRUE.beta  # 0.05
    exact = (TRUE.A / (0.02 * attainable)) ** (1 / TRUE.alpha)
    dim = suggest_dim(TRUE, n_full, tolerance=0.02)
    assert dim % 8 == 0 and exact <= dim < exact + 8
    # the prediction at the suggested dim is within 2% of an unlimited width
    assert 1 - TRUE.loss(dim, n_full) >= 0.98 * attainable
    hopeless = PowerLaw(E=0.99, A=1.0, alpha=0.5, B=10.0, beta=0.2, rmse=0.0)
    assert suggest_dim(hopeless, n_full) is None


def test_too_few_points_is_an_error():
    with pytest.raises(RecsmithError, match="at least 5 points"):
        fit_power_law(np.array([8, 16.0]), np.array([10, 10.0]), np.array([0.5, 0.4]))


def test_subsamples_are_nested_and_keep_the_dataset_order():
    data = planted()
    half, quarter = subsample(data, 0.5, seed=3), subsample(data, 0.25, seed=3)
    assert len(half) == len(data) // 2 and len(quarter) == len(data) // 4
    rows = lambda x: set(map(tuple, x.frame.select("user", "item", "timestamp").rows()))  # noqa: E731
    assert rows(quarter) <= rows(half)
    ts = half.frame["timestamp"].to_numpy()
    assert np.all(np.diff(ts) > 0)
