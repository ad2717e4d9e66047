"""Chronological CSR histories and the windows sequential models cut from them."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from recsmith.data.histories import Histories, frame_of, window_gather
from recsmith.data.interactions import Interactions


def _interactions(users, items, ts, n_users=4, n_items=10) -> Interactions:
    return Interactions(
        pl.DataFrame({"user": users, "item": items, "timestamp": ts, "weight": np.ones(len(users))}), n_users, n_items
    )


def test_sequences_follow_time_and_keep_row_order_on_ties():
    h = Histories.from_interactions(_interactions([1, 0, 1, 1, 0, 1], [5, 2, 3, 4, 1, 9], [3, 2, 1, 1, 1, 7]))
    np.testing.assert_array_equal(h.offsets, [0, 2, 6, 6, 6])
    np.testing.assert_array_equal(h.of(0), [1, 2])
    np.testing.assert_array_equal(h.of(1), [3, 4, 5, 9])  # 3 and 4 tie at t=1: file order kept
    assert h.of(2).size == 0 and h.lengths.tolist() == [2, 4, 0, 0]
    back = frame_of(h)
    assert back.height == 6 and back["item"].to_list() == h.items.tolist()


@pytest.fixture
def hist() -> Histories:
    return Histories.from_interactions(_interactions([0, 0, 1, 1, 1, 1], [1, 2, 3, 4, 5, 6], [0, 1, 0, 1, 2, 3]))


def test_left_padded_windows(hist):
    np.testing.assert_array_equal(hist.last([0, 1, 2], 3, pad=-1), [[-1, 1, 2], [4, 5, 6], [-1, -1, -1]])
    np.testing.assert_array_equal(hist.last([1], 3, pad=-1, shift=1), [[3, 4, 5]])


def test_right_padded_windows(hist):
    np.testing.assert_array_equal(
        hist.last([0, 1, 2], 3, pad=-1, right_pad=True), [[1, 2, -1], [4, 5, 6], [-1, -1, -1]]
    )
    np.testing.assert_array_equal(hist.last([1], 6, pad=9, right_pad=True, shift=2), [[3, 4, 9, 9, 9, 9]])
    np.testing.assert_array_equal(hist.last_timestamps([1], 2, right_pad=True), [[2, 3]])


def test_torch_and_numpy_agree(hist):
    rows = np.array([1, 0, 2, 1])
    for right in (False, True):
        for shift in (0, 1):
            a = window_gather(hist.offsets, hist.items, rows, 4, pad=-1, shift=shift, right_pad=right)
            b = window_gather(
                torch.from_numpy(hist.offsets),
                torch.from_numpy(hist.items),
                torch.from_numpy(rows),
                4,
                pad=-1,
                shift=shift,
                right_pad=right,
            )
            np.testing.assert_array_equal(a, b.numpy())


def test_random_windows_match_python_slices():
    rng = np.random.default_rng(0)
    n = 300
    users = rng.integers(0, 40, n)
    h = Histories.from_interactions(_interactions(users, rng.integers(0, 50, n), rng.integers(0, 1000, n), 40, 50))
    for length in (1, 3, 17):
        got = h.last(np.arange(40), length, pad=-1, right_pad=True)
        for u in range(40):
            seq = h.of(u)[-length:].tolist()
            assert got[u].tolist() == seq + [-1] * (length - len(seq))
