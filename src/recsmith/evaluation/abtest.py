"""Statistics of an A/B test on conversion: per-variant rates with intervals, a significance test,
and whether the sample is large enough to conclude anything.

Unit: a user (assignment is sticky per user). A variant's conversion is the share of its exposed
users who converted (sent at least one positive feedback event after being served). For each
variant: the Wilson score interval of that share. Across variants: Pearson's chi-square test of
independence on the ``variants x {converted, not}`` table (for two variants the two-sided
two-proportion z-test, the same p-value). The result is ``"too small to conclude"`` when an expected
cell count is below 5 (the chi-square approximation does not hold) or when the test is not
significant and each variant has fewer users than needed to detect a relative lift of ``mde`` over
the control's rate with power ``power`` at level ``alpha`` (the two-proportion sample-size formula);
otherwise ``"significant"`` or ``"no significant difference"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VariantCounts:
    users: int  # exposed users
    converted: int  # of them, users with a positive event after exposure


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (sensible near 0 and 1, unlike the normal one)."""
    if n == 0:
        return (0.0, 1.0)
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def required_users(p: float, mde: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Users per variant to detect rate ``p`` -> ``p * (1 + mde)`` (two-sided, two proportions)."""
    from scipy.stats import norm

    q = min(max(p * (1 + mde), 1e-9), 1 - 1e-9)
    p = min(max(p, 1e-9), 1 - 1e-9)
    z_a, z_b = float(norm.ppf(1 - alpha / 2)), float(norm.ppf(power))
    return math.ceil((z_a + z_b) ** 2 * (p * (1 - p) + q * (1 - q)) / (p - q) ** 2)


def conversion_report(
    counts: Mapping[str, VariantCounts],
    *,
    control: str | None = None,
    alpha: float = 0.05,
    mde: float = 0.1,
    power: float = 0.8,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Per-variant rates and intervals, the test and the verdict (module docstring)."""
    from scipy.stats import chi2_contingency

    names = list(counts)
    if len(names) < 2:
        raise ValueError("an A/B report needs at least two variants")
    control = control or names[0]
    variants: dict[str, dict[str, Any]] = {}
    for name in names:
        c = counts[name]
        rate = c.converted / c.users if c.users else 0.0
        lo, hi = wilson_interval(c.converted, c.users, confidence)
        variants[name] = {"users": c.users, "converted": c.converted, "conversion": rate, "ci": [lo, hi]}
    table = [[counts[n].converted, counts[n].users - counts[n].converted] for n in names]
    total_conv = sum(r[0] for r in table)
    total = sum(counts[n].users for n in names)
    p_value: float | None = None
    min_expected = 0.0
    if total and 0 < total_conv < total:
        _, p, _, expected = chi2_contingency(table, correction=False)
        p_value, min_expected = float(p), float(expected.min())
    base = float(variants[control]["conversion"]) or (total_conv / total if total else 0.0)
    needed = required_users(base, mde, alpha, power) if 0 < base < 1 else None
    smallest = min(counts[n].users for n in names)
    if p_value is None or min_expected < 5:
        verdict = "too small to conclude"
    elif p_value < alpha:
        verdict = "significant"
    elif needed is not None and smallest < needed:
        verdict = "too small to conclude"
    else:
        verdict = "no significant difference"
    return {
        "variants": variants,
        "control": control,
        "test": "chi-square test of independence (two variants: two-proportion z-test)",
        "p_value": p_value,
        "alpha": alpha,
        "verdict": verdict,
        "users_needed_per_variant": needed,
        "mde": mde,
        "power": power,
    }
