"""Team-draft interleaving (Radlinski, Kurup & Joachims 2008) of two rankers, offline on a test split.

For each user the two top-K lists are merged: in each round a coin decides which team picks first,
and each team adds its highest-ranked item not yet in the merged list, until it holds ``k`` items. A
"click" is a merged item that is among the user's test items; it is credited to the team that put it
there. The user prefers A when A's team got more clicks, B symmetrically, else a tie. Over users:
the share of wins of A among the non-tied users, and a two-sided sign (binomial) test of it against
1/2. Interleaving needs far fewer users than comparing two lists' metrics side by side, because each
user compares both rankers on the same merged list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def team_draft(a: Sequence[int], b: Sequence[int], k: int, rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """``(merged items, team of each: 0 = A, 1 = B)`` of length up to ``k``; negative ids skipped."""
    lists = ([int(x) for x in a if x >= 0], [int(x) for x in b if x >= 0])
    merged: list[int] = []
    teams: list[int] = []
    taken: set[int] = set()
    pos = [0, 0]
    picks = [0, 0]
    while len(merged) < k:
        # the team with fewer picks goes next; a coin breaks ties (the "draft")
        order = (
            [0, 1] if picks[0] < picks[1] else [1, 0] if picks[1] < picks[0] else [int(t) for t in rng.permutation(2)]
        )
        progressed = False
        for team in order:
            while pos[team] < len(lists[team]) and lists[team][pos[team]] in taken:
                pos[team] += 1
            if pos[team] < len(lists[team]):
                item = lists[team][pos[team]]
                merged.append(item)
                teams.append(team)
                taken.add(item)
                picks[team] += 1
                progressed = True
                break
        if not progressed:
            break
    return merged, teams


def interleave(
    lists_a: np.ndarray, lists_b: np.ndarray, relevant: Sequence[np.ndarray], k: int = 10, seed: int = 0
) -> dict[str, Any]:
    """Team-draft interleaving of row-aligned top lists ``(n, >= k)`` against each user's relevant items."""
    from scipy.stats import binomtest

    rng = np.random.default_rng(seed)
    wins = np.zeros(3, dtype=np.int64)  # A, B, tie
    for a, b, rel in zip(lists_a, lists_b, relevant):
        merged, teams = team_draft(a, b, k, rng)
        relevant_set = set(np.asarray(rel).tolist())
        clicks = [t for item, t in zip(merged, teams) if item in relevant_set]
        a_clicks, b_clicks = clicks.count(0), clicks.count(1)
        wins[0 if a_clicks > b_clicks else 1 if b_clicks > a_clicks else 2] += 1
    decided = int(wins[0] + wins[1])
    p_value = float(binomtest(int(wins[0]), decided, 0.5).pvalue) if decided else 1.0
    return {
        "users": int(wins.sum()),
        "wins_a": int(wins[0]),
        "wins_b": int(wins[1]),
        "ties": int(wins[2]),
        "preference_a": (float(wins[0]) / decided) if decided else 0.5,
        "p_value": p_value,
        "test": "two-sided sign test of A's share of wins among non-tied users",
    }
