"""Bootstrap intervals and paired comparisons."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from recsmith.evaluation.stats import (
    BETTER,
    SAME,
    WORSE,
    bootstrap_ci,
    bootstrap_means,
    bootstrap_statistic,
    compare_to_baseline,
    holm,
    paired_test,
    percentile_interval,
    resample_counts,
)


def test_resample_counts_are_multinomial_draws_and_seeded():
    blocks = list(resample_counts(50, 300, seed=1))
    w = np.concatenate(blocks)
    assert w.shape == (300, 50) and (w.sum(axis=1) == 50).all()
    again = np.concatenate(list(resample_counts(50, 300, seed=1)))
    np.testing.assert_array_equal(w, again)
    other = np.concatenate(list(resample_counts(50, 300, seed=2)))
    assert not np.array_equal(w, other)
    assert w.mean() == pytest.approx(1.0)  # each user drawn once on average


def test_bootstrap_means_match_an_index_resampling_loop():
    rng = np.random.default_rng(0)
    values = rng.random((30, 2))
    values[3, 1] = np.nan  # skipped, not propagated
    got = bootstrap_means(values, 40, seed=5)
    w = np.concatenate(list(resample_counts(30, 40, seed=5)))
    for b in range(40):
        idx = np.repeat(np.arange(30), w[b].astype(int))
        assert got[b, 0] == pytest.approx(values[idx, 0].mean())
        assert got[b, 1] == pytest.approx(np.nanmean(values[idx, 1]))


def test_interval_covers_the_true_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(1)
    covered = 0
    for trial in range(200):
        sample = rng.exponential(1.0, 200)  # true mean 1
        lo, hi = bootstrap_ci({"m": sample}, 400, seed=trial)["m"]
        covered += lo <= 1.0 <= hi
    assert 0.88 <= covered / 200 <= 0.99


def test_bootstrap_over_22k_users_and_many_metrics():
    # correctness only: timings belong in benchmarks, not in unit tests on a shared machine
    rng = np.random.default_rng(2)
    per_user = {f"m{j}": (rng.random(22_363) < 0.05).astype(float) for j in range(18)}
    ci = bootstrap_ci(per_user, n_resamples=2000, seed=0)
    assert set(ci) == set(per_user)
    lo, hi = ci["m0"]
    assert lo < per_user["m0"].mean() < hi


def test_recentred_interval_keeps_spread_and_can_be_clipped():
    samples = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    lo, hi = percentile_interval(samples, 0.5, recentre=0.9)
    assert hi - lo == pytest.approx(np.subtract(*np.quantile(samples, [0.75, 0.25])))
    assert (lo + hi) / 2 == pytest.approx(0.9)
    assert percentile_interval(samples, 0.5, recentre=0.9, bounds=(0, 1))[1] == pytest.approx(1.0)
    assert all(np.isnan(percentile_interval(np.array([np.nan]))))


def test_bootstrap_statistic_collects_blocks():
    got = bootstrap_statistic(lambda w: {"n": w.sum(axis=1), "max": w.max(axis=1)}, 10, 25, seed=0)
    assert got["n"].shape == (25,) and (got["n"] == 10).all()


def test_paired_test_matches_scipy_and_effect_sizes():
    rng = np.random.default_rng(3)
    b = rng.random(300)
    a = b + rng.normal(0.05, 0.2, 300)
    c = paired_test(a, b, metric="m", n_resamples=200)
    t = sps.ttest_rel(a, b)
    w = sps.wilcoxon(a - b)
    assert c.t == pytest.approx(t.statistic) and c.p_t == pytest.approx(t.pvalue)
    assert c.p_wilcoxon == pytest.approx(w.pvalue)
    d = a - b
    assert c.cohens_d == pytest.approx(d.mean() / d.std(ddof=1))
    ranks = sps.rankdata(np.abs(d))
    assert c.rank_biserial == pytest.approx((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())
    assert c.diff_ci[0] < c.diff < c.diff_ci[1]
    assert c.verdict == BETTER
    assert paired_test(b, a).verdict == WORSE


def test_paired_test_degenerate_cases():
    same = paired_test(np.ones(10), np.ones(10))
    assert (same.p_t, same.p_wilcoxon, same.cohens_d, same.rank_biserial, same.verdict) == (1.0, 1.0, 0.0, 0.0, SAME)
    shift = paired_test(np.ones(10) * 2, np.ones(10))
    assert shift.p_t == 0.0 and shift.cohens_d == np.inf and shift.rank_biserial == 1.0
    empty = paired_test(np.array([np.nan]), np.array([1.0]))
    assert empty.n == 0 and empty.verdict == SAME
    assert shift.to_json()["cohens_d"] is None  # JSON has no infinity
    with pytest.raises(ValueError, match="align"):
        paired_test(np.ones(3), np.ones(4))


def test_zero_inflated_metric_with_no_real_difference_is_not_distinguishable():
    rng = np.random.default_rng(4)
    a = (rng.random(2000) < 0.05).astype(float)
    b = (rng.random(2000) < 0.05).astype(float)
    assert paired_test(a, b).verdict == SAME


def test_holm():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, np.nan, 0.01]), [0.5, np.nan, 0.02])
    assert holm([]).size == 0


def test_compare_to_baseline_aligns_users_and_adjusts():
    rng = np.random.default_rng(5)
    base = rng.random(500)
    good = base + 0.1 + rng.normal(0, 0.05, 500)
    noise = base + rng.normal(0, 0.05, 500)
    users = np.arange(500)
    per_user = {"base": {"m": base}, "good": {"m": good}, "noise": {"m": noise}, "subset": {"m": good[::2]}}
    who = {"base": users, "good": users, "noise": users, "subset": users[::2]}
    out = compare_to_baseline(per_user, who, "base", ["m"], n_resamples=100)
    assert set(out) == {"good", "noise", "subset"}
    assert out["good"]["m"].verdict == BETTER
    assert out["noise"]["m"].verdict == SAME
    assert out["subset"]["m"].n == 250  # only the users both were evaluated on
    with pytest.raises(ValueError, match="baseline"):
        compare_to_baseline(per_user, who, "nope", ["m"])
