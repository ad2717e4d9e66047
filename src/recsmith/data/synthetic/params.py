"""Validation of the synthetic generator's parameters (shared by the in-memory and chunked writers)."""

from __future__ import annotations

import datetime as _dt
import math
import numbers
from typing import Any

from recsmith.errors import ConfigError

# the generator's defaults: a demo-sized data set (the chunked writer has full-scale defaults)
DEFAULTS: dict[str, Any] = {
    "n_customers": 4000,
    "n_articles": 1500,
    "n_transactions": 80_000,
    "start": "2020-01-01",
    "days": 182,
    "seed": 0,
    "taste_concentration": 1.0,
    "zipf_exponent": 1.0,
    "impulse_rate": 0.1,
    "repeat_rate": 0.08,
    "new_article_share": 0.3,
    "trend_strength": 0.8,
}


class SyntheticParamError(ConfigError, ValueError):
    """An invalid parameter of the synthetic generator (both a ConfigError and a ValueError)."""


def check_params(**params: Any) -> dict[str, Any]:
    """The parameters, validated and normalised (``start`` as an ISO date string).

    Raises:
        SyntheticParamError: for an unknown or invalid parameter.
    """
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise SyntheticParamError(f"synthetic data: unknown parameter(s) {', '.join(unknown)}")
    p = {**DEFAULTS, **params}
    return {
        "n_customers": _check_int("n_customers", p["n_customers"], 1, 50_000_000),
        "n_articles": _check_int("n_articles", p["n_articles"], 1, 900_000),  # product codes have 6 digits
        "n_transactions": _check_int("n_transactions", p["n_transactions"], 1, 2_000_000_000),
        "start": _check_start(p["start"]).isoformat(),
        "days": _check_int("days", p["days"], 1, 3650),
        "seed": _check_int("seed", p["seed"], 0),
        "taste_concentration": _check_float("taste_concentration", p["taste_concentration"], 0.0, 1e6, low_open=True),
        "zipf_exponent": _check_float("zipf_exponent", p["zipf_exponent"], 0.0, 5.0),
        "impulse_rate": _check_float("impulse_rate", p["impulse_rate"], 0.0, 1.0),
        "repeat_rate": _check_float("repeat_rate", p["repeat_rate"], 0.0, 0.9),
        "new_article_share": _check_float("new_article_share", p["new_article_share"], 0.0, 1.0),
        "trend_strength": _check_float("trend_strength", p["trend_strength"], 0.0, 5.0),
    }


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise SyntheticParamError(f"synthetic data: {name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise SyntheticParamError(f"synthetic data: {name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SyntheticParamError(f"synthetic data: {name} must be <= {maximum}, got {value}")
    return value


def _check_float(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SyntheticParamError(f"synthetic data: {name} must be a number, got {value!r}")
    value = float(value)
    bad_low = value <= low if low_open else value < low
    if not math.isfinite(value) or bad_low or value > high:
        bracket = "(" if low_open else "["
        raise SyntheticParamError(f"synthetic data: {name} must lie in {bracket}{low}, {high}], got {value}")
    return value


def _check_start(start: Any) -> _dt.date:
    if isinstance(start, _dt.datetime):
        return start.date()
    if isinstance(start, _dt.date):
        return start
    if isinstance(start, str):
        try:
            return _dt.date.fromisoformat(start)
        except ValueError:
            pass
    raise SyntheticParamError(f"synthetic data: start must be a date 'YYYY-MM-DD', got {start!r}")
