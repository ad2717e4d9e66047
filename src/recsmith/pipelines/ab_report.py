"""``recsmith ab report``: an experiment's conversion per variant, from the service's own logs.

Exposures come from ``STATE_DIR/ab.sqlite3`` (every list served during the experiment), feedback
from ``STATE_DIR/feedback.sqlite3`` (every event carries its user's variant). A variant's users are
those it served; a user *converted* when the service received a positive event (any type but
``dislike``) from them, in that variant, at or after their first exposure. The statistics are
:func:`recsmith.evaluation.abtest.conversion_report`'s (Wilson intervals, chi-square test, "too
small to conclude"); per event type, the events per exposure are listed too.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from recsmith.errors import RecsmithError
from recsmith.evaluation.abtest import VariantCounts, conversion_report
from recsmith.serving.ab import EXPOSURES

NEGATIVE = ("dislike",)


def ab_report(
    state_dir: str | Path,
    experiment: str | None = None,
    *,
    alpha: float = 0.05,
    mde: float = 0.1,
    control: str | None = None,
) -> dict[str, Any]:
    """The report of ``experiment`` (default: the last one started) from the logs in ``state_dir``."""
    state_dir = Path(state_dir)
    exposures, feedback = state_dir / EXPOSURES, state_dir / "feedback.sqlite3"
    for path in (exposures, feedback):
        if not path.is_file():
            raise RecsmithError(
                f"{path} not found: is {state_dir} the state directory of a service that ran an A/B test?"
            )
    with sqlite3.connect(f"file:{exposures}?mode=ro", uri=True) as db:
        known = db.execute("SELECT name, spec FROM experiments ORDER BY started").fetchall()
        if not known:
            raise RecsmithError(f"{exposures} records no experiment")
        specs = {name: json.loads(spec) for name, spec in known}
        name = experiment or known[-1][0]
        if name not in specs:
            raise RecsmithError(f"no experiment {name!r} in {exposures}; experiments: {', '.join(specs)}")
        first = db.execute(
            "SELECT variant, user_id, MIN(at), COUNT(*) FROM exposures WHERE experiment = ? GROUP BY variant, user_id",
            (name,),
        ).fetchall()
    variants = [v["name"] for v in specs[name]["variants"]]
    with sqlite3.connect(f"file:{feedback}?mode=ro", uri=True) as db:
        events = db.execute(
            "SELECT variant, user_id, type, received FROM events WHERE variant IS NOT NULL AND received >= ?",
            (min((row[2] for row in first), default=0.0),),
        ).fetchall()
    first_seen = {(v, u): at for v, u, at, _ in first}
    exposed = dict.fromkeys(variants, 0)
    lists = dict.fromkeys(variants, 0)
    for v, _, _, n in first:
        exposed[v] = exposed.get(v, 0) + 1
        lists[v] = lists.get(v, 0) + n
    converted: dict[str, set[str]] = {v: set() for v in variants}
    by_type: dict[str, dict[str, int]] = {v: {} for v in variants}
    for v, u, kind, received in events:
        at = first_seen.get((v, u))
        if at is None or received < at:
            continue  # feedback before the user saw the variant says nothing about it
        by_type.setdefault(v, {})[kind] = by_type.setdefault(v, {}).get(kind, 0) + 1
        if kind not in NEGATIVE:
            converted.setdefault(v, set()).add(u)
    counts = {v: VariantCounts(users=exposed.get(v, 0), converted=len(converted.get(v, ()))) for v in variants}
    report = conversion_report(counts, control=control or variants[0], alpha=alpha, mde=mde)
    for v in variants:
        report["variants"][v]["exposures"] = lists.get(v, 0)
        report["variants"][v]["share"] = next(s["share"] for s in specs[name]["variants"] if s["name"] == v)
        report["variants"][v]["events_per_exposure"] = {
            kind: n / lists[v] for kind, n in sorted(by_type.get(v, {}).items()) if lists.get(v)
        }
    return {"experiment": name, **report}
