"""Statistics of the closed loop: PSI drift, A/B conversion tests, team-draft interleaving."""

from __future__ import annotations

import numpy as np
import pytest

from recsmith.evaluation.abtest import VariantCounts, conversion_report, required_users, wilson_interval
from recsmith.evaluation.drift import PSI_ALERT, PopularityBins, psi
from recsmith.evaluation.interleaving import interleave, team_draft


def test_psi_is_zero_for_the_same_distribution_and_grows_with_a_shift():
    expected = np.array([10.0, 20.0, 30.0, 40.0])
    assert psi(expected, expected * 3) == pytest.approx(0.0, abs=1e-12)
    small, large = psi(expected, [12, 20, 30, 38]), psi(expected, [40, 30, 20, 10])
    assert 0 < small < 0.1 < PSI_ALERT < large
    # the textbook value: sum (a - e) ln(a / e) on shares
    a, e = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.1, 0.2, 0.3, 0.4])
    assert large == pytest.approx(float(np.sum((a - e) * np.log(a / e))), rel=1e-9)
    assert psi(expected, np.zeros(4)) == 0.0  # nothing observed yet


def test_popularity_bins_hold_equal_training_mass_and_an_unknown_bin():
    counts = np.round(1000 / np.arange(1, 5001) ** 0.8)[np.random.default_rng(0).permutation(5000)]
    bins = PopularityBins.from_counts(counts, n_bins=10)
    assert bins.n_bins == 11 and bins.expected[-1] == 0
    shares = bins.expected[:-1] / bins.expected.sum()
    # ids are not split across bins, so the shares are only about equal; the most popular id is in bin 0
    assert bins.bin_of[np.argmax(counts)] == 0 and np.all(np.abs(shares - 0.1) < 0.02)
    assert bins.counts(np.array([-1, 5000, 10_000])).tolist()[-1] == 3  # unknown ids: the last bin
    # a sample drawn like training has a small PSI; one of rare items only a large one
    rng = np.random.default_rng(1)
    like_training = rng.choice(counts.size, 20_000, p=counts / counts.sum())
    rare = np.argsort(counts)[:50]
    assert bins.psi(bins.counts(like_training)) < 0.05
    assert bins.psi(bins.counts(rng.choice(rare, 2000))) > PSI_ALERT


def test_wilson_interval_and_sample_size_match_reference_values():
    lo, hi = wilson_interval(10, 100)
    assert (lo, hi) == pytest.approx((0.0552, 0.1744), abs=5e-4)  # Newcombe (1998), 10/100
    assert wilson_interval(0, 0) == (0.0, 1.0)
    # 10% -> 11%, alpha 0.05, power 0.8: about 14,750 users per arm
    assert 14_500 < required_users(0.10, 0.10) < 15_000


@pytest.mark.parametrize(
    ("a", "b", "verdict"),
    [
        ((5000, 500), (5000, 650), "significant"),
        ((5000, 500), (5000, 505), "too small to conclude"),
        ((40, 2), (40, 3), "too small to conclude"),
        ((200_000, 20_000), (200_000, 20_100), "no significant difference"),
    ],
)
def test_conversion_report_verdicts(a, b, verdict):
    report = conversion_report({"control": VariantCounts(*a), "treatment": VariantCounts(*b)})
    assert report["verdict"] == verdict
    assert report["variants"]["control"]["conversion"] == pytest.approx(a[1] / a[0])
    lo, hi = report["variants"]["treatment"]["ci"]
    assert lo <= b[1] / b[0] <= hi


def test_team_draft_merges_without_duplicates_and_alternates_fairly():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = rng.permutation(30)[:10], rng.permutation(30)[:10]
        merged, teams = team_draft(a, b, 10, rng)
        assert len(merged) == len(set(merged)) == 10
        assert abs(teams.count(0) - teams.count(1)) <= 1
        assert [m for m, t in zip(merged, teams) if t == 0] == [
            x for x in a if x in merged and teams[merged.index(x)] == 0
        ]


def test_interleaving_prefers_the_ranker_that_finds_the_test_items():
    rng = np.random.default_rng(0)
    n, items = 400, 100
    relevant = [rng.choice(items, 3, replace=False) for _ in range(n)]
    good = np.array([np.concatenate([r, rng.permutation(np.setdiff1d(np.arange(items), r))])[:10] for r in relevant])
    bad = np.array([rng.permutation(items)[:10] for _ in range(n)])
    result = interleave(good, bad, relevant, k=10)
    assert result["wins_a"] > result["wins_b"] and result["p_value"] < 1e-6
    # identical rankers: the coin alone decides who gets a click, so neither is preferred
    same = interleave(bad, bad, relevant, k=10)
    assert same["p_value"] > 0.01 and abs(same["preference_a"] - 0.5) < 0.2
