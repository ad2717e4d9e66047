"""Uncertainty of evaluation numbers: bootstrap intervals and paired model comparisons.

Bootstrap (percentile method). The evaluated users are the sample: a resample draws ``n`` users
with replacement, and a metric's value on it is recomputed. Resamples are represented as a
``(B, n)`` matrix of *multiplicities* (how often each user was drawn), so a mean metric over a
resample is one row of ``W @ values / n`` (a matrix product, no Python loop per resample) and a
set-level metric (coverage, gini, ...) takes ``W`` directly (see :mod:`.beyond`). The same
``seed`` gives the same resamples, so models evaluated on the same users get *paired* resamples.

Paired comparison of model A against a baseline B on the same users, for one metric with per-user
values ``a_u`` and ``b_u`` and differences ``d_u = a_u - b_u``:

* paired t-test (``scipy.stats.ttest_rel``) on ``d``; effect size Cohen's ``d_z = mean(d) / sd(d)``;
* Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, zero differences dropped, normal
  approximation for large ``n``); effect size the matched-pairs rank-biserial correlation
  ``r = (T+ - T-) / (T+ + T-)`` over the non-zero differences (``+1``: every change favours A);
* a bootstrap interval of ``mean(d)``.

Verdict, when several models are compared with one baseline: the p-values of each test are
Holm-adjusted across the models (per metric), and A is ``"better"`` only when both adjusted
p-values are below ``alpha`` and both the mean difference and ``r`` are positive (``"worse"``
symmetrically); otherwise ``"not distinguishable"``. Requiring both tests is deliberately
conservative: per-user ranking metrics are heavily zero-inflated, where the two can disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

#: resample cells materialised at once (B_chunk * n); bounds the bootstrap's memory to ~32 MB
_CELLS = 4_000_000
#: largest n * n_resamples whose draws are cached (one byte a cell)
_CACHE_CELLS = 50_000_000

BETTER, WORSE, SAME = "better", "worse", "not distinguishable"


# ---------------------------------------------------------------------- bootstrap
def resample_counts(n: int, n_resamples: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Yield float64 ``(b, n)`` blocks of user multiplicities, ``n_resamples`` rows in all.

    Row ``r`` counts how often each of the ``n`` users is drawn in resample ``r`` (rows sum to
    ``n``). Blocks keep ``b * n`` under a few million cells; the sequence depends only on
    ``(n, n_resamples, seed)``. Every metric of every model asks for the same draws, so up to
    :data:`_CACHE_CELLS` of them are kept (as bytes) for the last few ``(n, n_resamples, seed)``.
    """
    if n < 1 or n_resamples < 1:
        return
    blocks = (
        _cached_counts(n, n_resamples, seed) if n * n_resamples <= _CACHE_CELLS else _draw_counts(n, n_resamples, seed)
    )
    for block in blocks:
        yield block.astype(np.float64)


def _draw_counts(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    per_block = max(1, _CELLS // n)
    for start in range(0, n_resamples, per_block):
        b = min(per_block, n_resamples - start)
        draws = rng.integers(0, n, size=(b, n)) + (np.arange(b, dtype=np.int64) * n)[:, None]
        counts = np.bincount(draws.ravel(), minlength=b * n).reshape(b, n)
        yield counts.astype(np.uint8) if counts.max() < 256 else counts


@lru_cache(maxsize=4)
def _cached_counts(n: int, n_resamples: int, seed: int) -> tuple[np.ndarray, ...]:
    return tuple(_draw_counts(n, n_resamples, seed))


def bootstrap_means(values: np.ndarray, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """Resampled means of each column of ``values`` ``(n, m)`` (``nan`` entries skipped): ``(B, m)``."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    valid = ~np.isnan(v)
    filled = np.where(valid, v, 0.0)
    out = []
    for w in resample_counts(v.shape[0], n_resamples, seed):
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((w @ filled) / (w @ valid))
    return np.concatenate(out) if out else np.empty((0, v.shape[1]))


def bootstrap_statistic(
    statistic: Callable[[np.ndarray], Mapping[str, np.ndarray]], n: int, n_resamples: int = 1000, seed: int = 0
) -> dict[str, np.ndarray]:
    """Resampled values of a set-level statistic: ``statistic(W)`` maps a ``(b, n)`` multiplicity
    block to ``{name: (b,)}``; returns ``{name: (B,)}``."""
    parts: dict[str, list[np.ndarray]] = {}
    for w in resample_counts(n, n_resamples, seed):
        for name, v in statistic(w).items():
            parts.setdefault(name, []).append(np.asarray(v, dtype=np.float64).ravel())
    return {name: np.concatenate(v) for name, v in parts.items()}


def percentile_interval(
    samples: np.ndarray,
    confidence: float = 0.95,
    recentre: float | None = None,
    bounds: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """The ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles, ``nan`` samples skipped.

    ``recentre``: shift the samples so that their mean is this value first (used for set-level
    metrics such as coverage, whose resampled values are biased: a resample holds only about 63%
    distinct users, so it covers fewer items; the shift keeps the spread and removes that bias).
    ``bounds``: clip the interval to the metric's range (a shifted interval can leave it).
    """
    s = np.asarray(samples, dtype=np.float64)
    s = s[~np.isnan(s)]
    if s.size == 0:
        return (float("nan"), float("nan"))
    if recentre is not None and np.isfinite(recentre):
        s = s + (recentre - s.mean())
    lo, hi = np.quantile(s, [(1 - confidence) / 2, (1 + confidence) / 2])
    if bounds is not None:
        lo, hi = np.clip([lo, hi], *bounds)
    return (float(lo), float(hi))


def bootstrap_ci(
    per_user: Mapping[str, np.ndarray], n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval of the mean of every per-user array (all of length ``n``)."""
    keys = list(per_user)
    if not keys:
        return {}
    matrix = np.column_stack([np.asarray(per_user[k], dtype=np.float64) for k in keys])
    samples = bootstrap_means(matrix, n_resamples, seed)
    return {k: percentile_interval(samples[:, j], confidence) for j, k in enumerate(keys)}


# ---------------------------------------------------------------------- paired comparison
@dataclass(frozen=True)
class PairedComparison:
    """Model A against baseline B on one metric over the same ``n`` users (see the module docstring)."""

    metric: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    diff_ci: tuple[float, float]
    t: float
    p_t: float
    wilcoxon: float
    p_wilcoxon: float
    cohens_d: float
    rank_biserial: float
    verdict: str = SAME

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["diff_ci"] = list(self.diff_ci)
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out.items()}


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    metric: str = "",
    alpha: float = 0.05,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    diff_ci: tuple[float, float] | None = None,
) -> PairedComparison:
    """Paired t-test, Wilcoxon signed-rank test and effect sizes of ``a - b`` (aligned per user).

    ``diff_ci`` skips the bootstrap of ``mean(a - b)`` when the caller computed it already.

    The verdict here uses the unadjusted p-values; :func:`compare_to_baseline` adjusts them.
    Degenerate cases are defined, not errors: all differences zero gives ``p = 1`` for both tests
    and effect sizes 0; a constant non-zero difference gives ``p_t = 0`` and ``d_z = +-inf``.
    """
    from scipy import stats as sps  # seconds to import: only when a comparison is made

    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values must align: {a.shape} vs {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    d = a - b
    n = int(d.size)
    nan = float("nan")
    if n == 0:
        return PairedComparison(metric, 0, nan, nan, nan, (nan, nan), nan, nan, nan, nan, nan, nan)
    mean_d = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    if sd > 0:
        t, p_t = sps.ttest_rel(a, b)
        t, p_t = float(t), float(p_t)
        cohens_d = mean_d / sd
    elif mean_d == 0:
        t, p_t, cohens_d = 0.0, 1.0, 0.0
    else:
        t, p_t, cohens_d = float(np.sign(mean_d) * np.inf), 0.0, float(np.sign(mean_d) * np.inf)
    nonzero = d[d != 0]
    if nonzero.size == 0:
        w, p_w, r = 0.0, 1.0, 0.0
    else:
        res = sps.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided")
        w, p_w = float(res.statistic), float(res.pvalue)
        ranks = sps.rankdata(np.abs(nonzero))
        r = float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())
    if diff_ci is not None:
        ci = diff_ci
    elif n_resamples:
        ci = percentile_interval(bootstrap_means(d, n_resamples, seed)[:, 0], confidence)
    else:
        ci = (nan, nan)
    result = PairedComparison(metric, n, float(a.mean()), float(b.mean()), mean_d, ci, t, p_t, w, p_w, cohens_d, r)
    return _with_verdict(result, p_t, p_w, alpha)


def _with_verdict(c: PairedComparison, p_t: float, p_w: float, alpha: float) -> PairedComparison:
    verdict = SAME
    if p_t < alpha and p_w < alpha:
        if c.diff > 0 and c.rank_biserial > 0:
            verdict = BETTER
        elif c.diff < 0 and c.rank_biserial < 0:
            verdict = WORSE
    return PairedComparison(**{**asdict(c), "verdict": verdict})


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (same order as given; ``nan`` stays ``nan``)."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def compare_to_baseline(
    per_user: Mapping[str, Mapping[str, np.ndarray]],
    users: Mapping[str, np.ndarray],
    baseline: str,
    metrics: Sequence[str],
    *,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, PairedComparison]]:
    """Every model of ``per_user`` but ``baseline`` against it, per metric, Holm-adjusted per metric.

    Args:
        per_user: ``{model: {metric: (n_model,) values}}``.
        users: ``{model: (n_model,) user ids}`` aligned with those values; each comparison uses the
            users both models were evaluated on.
        baseline: the model every other is compared with.
        metrics: metric keys to compare.

    Returns:
        ``{model: {metric: PairedComparison}}`` (the baseline itself is absent); the verdicts use
        Holm-adjusted p-values, the reported ``p_t`` / ``p_wilcoxon`` are the raw ones.
    """
    if baseline not in per_user:
        raise ValueError(f"baseline {baseline!r} is not among the models {sorted(per_user)}")
    others = [m for m in per_user if m != baseline]
    raw: dict[str, dict[str, PairedComparison]] = {m: {} for m in others}
    for model in others:
        _, ia, ib = np.intersect1d(users[model], users[baseline], return_indices=True)
        a = np.column_stack([np.asarray(per_user[model][m], dtype=np.float64)[ia] for m in metrics])
        b = np.column_stack([np.asarray(per_user[baseline][m], dtype=np.float64)[ib] for m in metrics])
        # one bootstrap for every metric's mean difference (same resamples: a joint, paired bootstrap)
        boot = bootstrap_means(a - b, n_resamples, seed) if n_resamples and ia.size else None
        for j, metric in enumerate(metrics):
            ci = percentile_interval(boot[:, j], confidence) if boot is not None else None
            raw[model][metric] = paired_test(a[:, j], b[:, j], metric=metric, alpha=alpha, n_resamples=0, diff_ci=ci)
    for metric in metrics:
        p_t = holm([raw[m][metric].p_t for m in others])
        p_w = holm([raw[m][metric].p_wilcoxon for m in others])
        for j, model in enumerate(others):
            raw[model][metric] = _with_verdict(raw[model][metric], p_t[j], p_w[j], alpha)
    return raw
