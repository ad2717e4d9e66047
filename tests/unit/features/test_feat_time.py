"""Time features: cyclic encodings, and history features that never look past a row's timestamp."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from recsmith.features.time import DAY, cyclic_frame, history_features, whole_user_batches

HISTORY = ["days_since_first", "days_since_prev", "velocity"]


def random_log(seed: int, n: int = 3000, users: int = 60, days: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (user, ts) with many ties (several purchases on one day)."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, n)
    ts = rng.integers(0, days, n) * DAY + rng.choice([0, 0, 0, 3600], n)
    order = np.lexsort((ts, user))
    return user[order], ts[order]


def naive(user: np.ndarray, ts: np.ndarray) -> dict[str, list[float]]:
    """The definitions, row by row (test only)."""
    out: dict[str, list[float]] = {n: [] for n in HISTORY}
    for u, t in zip(user.tolist(), ts.tolist()):
        mine = ts[user == u]
        earlier = mine[mine < t]
        since = (t - mine.min()) / DAY
        out["days_since_first"].append(since)
        out["days_since_prev"].append((t - earlier.max()) / DAY if earlier.size else math.nan)
        out["velocity"].append(earlier.size / max(since, 1.0))
    return out


def test_history_matches_the_definitions() -> None:
    user, ts = random_log(0, n=600, users=20)
    got = history_features(user, ts, HISTORY)
    want = naive(user, ts)
    for name in HISTORY:
        np.testing.assert_allclose(got[name], np.array(want[name], dtype=np.float32), rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_future_leakage(seed: int) -> None:
    """Dropping everything after a time T changes no feature of the rows at or before T."""
    user, ts = random_log(seed)
    full = history_features(user, ts, HISTORY)
    for cut in np.quantile(ts, [0.1, 0.5, 0.9]):
        keep = ts <= cut
        part = history_features(user[keep], ts[keep], HISTORY)
        for name in HISTORY:
            np.testing.assert_array_equal(part[name], full[name][keep], err_msg=f"{name} at T={cut}")


def test_equal_timestamps_get_equal_features_whatever_their_order() -> None:
    user = np.array([0, 0, 0, 0, 1])
    ts = np.array([0, DAY, DAY, 2 * DAY, 5])
    got = history_features(user, ts, HISTORY)
    # both rows at DAY see only the row at 0: one earlier interaction, previous one a day before
    assert got["days_since_prev"][1] == got["days_since_prev"][2] == 1.0
    assert got["velocity"][1] == got["velocity"][2] == 1.0
    assert got["velocity"][3] == pytest.approx(3 / 2)
    assert math.isnan(got["days_since_prev"][0]) and math.isnan(got["days_since_prev"][4])


def test_whole_user_batches_never_split_a_user() -> None:
    user, ts = random_log(4)
    frame = pl.DataFrame({"user": user, "ts": ts})
    sizes = [7, 500, 1, 900, 1592]
    starts = np.cumsum([0, *sizes[:-1]])
    pieces = [frame.slice(int(s), n) for s, n in zip(starts, sizes)]
    batches = list(whole_user_batches(pieces, "user"))
    assert sum(b.height for b in batches) == frame.height
    seen: set[int] = set()
    for b in batches:
        users = set(b["user"].unique().to_list())
        assert not users & seen
        seen |= users
    whole = history_features(user, ts, HISTORY)
    pieced = [history_features(b["user"].to_numpy(), b["ts"].to_numpy(), HISTORY) for b in batches]
    for name in HISTORY:
        np.testing.assert_array_equal(np.concatenate([p[name] for p in pieced]), whole[name])


def test_cyclic_features() -> None:
    # 1970-01-01 00:00 (Thursday, January, winter); 2020-09-13 12:26:40 (Sunday, September, autumn)
    out = cyclic_frame(pl.Series([0, 1_600_000_000]), ["hour", "dow", "month", "season"])
    assert out.columns == [f"{n}_{f}" for n in ("hour", "dow", "month", "season") for f in ("sin", "cos")]
    angle = {
        "hour": [0.0, (12 * 3600 + 26 * 60 + 40) / DAY],
        "dow": [3 / 7, 6 / 7],
        "month": [0.0, 8 / 12],
        "season": [0.0, 3 / 4],
    }
    for name, phases in angle.items():
        np.testing.assert_allclose(out[f"{name}_sin"].to_numpy(), np.sin(2 * np.pi * np.array(phases)), atol=1e-6)
        np.testing.assert_allclose(out[f"{name}_cos"].to_numpy(), np.cos(2 * np.pi * np.array(phases)), atol=1e-6)


def test_cyclic_features_same_with_and_without_the_day_table() -> None:
    rng = np.random.default_rng(0)
    dense = pl.Series(rng.integers(0, 30, 1000) * DAY)  # 30 days: the per-day table
    sparse = pl.Series(rng.integers(0, 10**9, 50))  # spread out: computed row by row
    for ts in (dense, sparse):
        got = cyclic_frame(ts, ["dow", "month", "season"])
        when = ts.cast(pl.Int64) // DAY
        dow = ((when + 3) % 7).to_numpy() / 7
        np.testing.assert_allclose(got["dow_sin"].to_numpy(), np.sin(2 * np.pi * dow), atol=1e-6)
