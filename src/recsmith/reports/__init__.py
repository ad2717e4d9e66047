"""``recsmith report``: Markdown + self-contained HTML about one or more leaderboard runs.

:func:`write_report` reads each run directory (:mod:`.run`), computes the numbers
(:mod:`.analysis`: accuracy with bootstrap intervals, paired comparisons with a baseline,
beyond-accuracy metrics, slices, metric vs K, optionally sampled vs full ranking), draws the
figures (:mod:`.plots`) and writes, atomically::

    OUT/
      report.md     tables + figures (img/*.png)
      report.html   the same page, self-contained (figures inlined; no scripts, no network)
      report.json   every number shown
      img/          the figures as PNG
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsmith.reports import plots
from recsmith.reports.analysis import ReportOptions, analyse_run, popularity_shares
from recsmith.reports.render import Document, Heading, Image, Para, Table, to_html, to_markdown
from recsmith.reports.run import RunData, load_run
from recsmith.utils.atomic import atomic_dir, check_output
from recsmith.utils.logging import log

__all__ = ["ReportOptions", "build_report", "write_report"]

ACCURACY = ("ndcg", "recall", "hit", "mrr", "map", "precision")


def write_report(
    runs: Sequence[str | Path], out: str | Path, options: ReportOptions | None = None, *, overwrite: bool = False
) -> Path:
    """Build the report of ``runs`` into directory ``out`` (see the module docstring)."""
    out = Path(out)
    check_output(out, overwrite=overwrite)  # before the analysis, which can take minutes
    doc, numbers = build_report(runs, options or ReportOptions())
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "img").mkdir()
        for block in doc.blocks:
            if isinstance(block, Image):
                (tmp / "img" / block.filename).write_bytes(block.png)
        (tmp / "report.md").write_text(to_markdown(doc))
        (tmp / "report.html").write_text(to_html(doc))
        (tmp / "report.json").write_text(json.dumps(_finite(numbers), indent=2, default=_json_default))
    return out


def build_report(runs: Sequence[str | Path], options: ReportOptions) -> tuple[Document, dict[str, Any]]:
    """The document and the numbers behind it."""
    doc = Document("recsmith evaluation report")
    created = datetime.now(UTC).isoformat(timespec="seconds")
    doc.add(
        Para(
            f"Generated {created} from {', '.join(f'`{r}`' for r in runs)}. Full-ranking metrics on each run's "
            f"test users; intervals are {options.confidence:.0%} percentile bootstrap intervals over users "
            f"({options.bootstrap} resamples, seed {options.seed}); comparisons are paired over the same users "
            f"(t-test and Wilcoxon signed-rank, Holm-adjusted, alpha = {options.alpha}). Definitions and protocol: "
            "`docs/evaluation.md`."
        )
    )
    numbers: dict[str, Any] = {"created": created, "options": options.__dict__, "runs": []}
    used: set[str] = set()
    for path in runs:
        run = load_run(path)
        log(f"report: analysing {run.name} ({len(run.evals)} models, {run.test.users().size} test users)")
        result, _ = analyse_run(run, options)
        slug = _slug(run.name, used)
        _run_section(doc, run, result, slug)
        numbers["runs"].append(result)
    return doc, numbers


# ---------------------------------------------------------------------- one run
def _run_section(doc: Document, run: RunData, r: dict[str, Any], slug: str) -> None:
    k, baseline, proto = r["k"], r["baseline"], r["protocol"]
    models = r["models"]
    order = sorted(models, key=lambda m: -(models[m]["test"].get(f"ndcg@{k}") or 0.0))
    doc.add(Heading(1, f"{run.name} (`{run.path}`)"))
    doc.add(
        Para(
            f"Dataset `{run.dataset_name or 'unknown'}`; split `{proto['split']}`; {proto['test_users']:,} test users, {proto['n_items']:,} items ranked in full; "
            f"seen items {'filtered' if proto['filter_seen'] else 'kept'}; test-time models fitted on "
            f"{proto['train_interactions']:,} interactions. Categories for diversity and calibration: "
            + (f"`{proto['category_column']}` ({proto['n_categories']} values)." if proto["n_categories"] else "none.")
            + (
                " (Evaluations re-computed from the saved models: this run predates stored evaluations.)"
                if proto["recomputed"]
                else ""
            )
        )
    )

    # accuracy
    doc.add(Heading(2, f"Accuracy on test (K = {k})"))
    header = ["model", "users", *[f"{m}@{k}" for m in ACCURACY]]
    if baseline:
        header.append(f"vs {baseline} (ndcg@{k})")
    rows = []
    for m in order:
        info = models[m]
        ci = info.get("ci", {}).get("test", {})
        row = [m, f"{info['test']['n_users']:,}"]
        row += [_with_ci(info["test"].get(f"{a}@{k}"), ci.get(f"{a}@{k}")) for a in ACCURACY]
        if baseline:
            row.append(_verdict(info.get("vs_baseline", {}), f"ndcg@{k}"))
        rows.append(row)
    doc.add(Table(header, rows))

    if baseline and len(models) > 1:
        doc.add(Heading(2, f"Paired comparison with `{baseline}`"))
        doc.add(
            Para(
                "Difference of means with its bootstrap interval; raw p-values of the paired t-test and the Wilcoxon "
                "signed-rank test; effect sizes Cohen's d_z and rank-biserial r; the verdict uses Holm-adjusted p-values "
                "of both tests."
            )
        )
        rows = []
        for m in order:
            if m == baseline:
                continue
            comps = models[m].get("vs_baseline", {}).get("metrics", {})
            for metric in (f"ndcg@{k}", f"recall@{k}", f"mrr@{k}", f"map@{k}"):
                c = comps.get(metric)
                if not c:
                    continue
                rows.append(
                    [
                        m,
                        metric,
                        f"{c['diff']:+.4f} {_interval(c['diff_ci'])}",
                        _p(c["p_t"]),
                        _p(c["p_wilcoxon"]),
                        _num(c["cohens_d"], signed=True),
                        _num(c["rank_biserial"], signed=True),
                        c["verdict"],
                    ]
                )
        doc.add(
            Table(
                ["model", "metric", "difference", "p (t-test)", "p (Wilcoxon)", "d_z", "r", "verdict"],
                rows,
                numeric_from=2,
            )
        )

    # beyond accuracy: metrics as rows, models as columns
    doc.add(Heading(2, f"Beyond accuracy (top-{k}; coverage at every cutoff)"))
    names = [n for n in models[order[0]].get("beyond", {}) if n != "k"] if order else []
    rows = []
    for name in names:
        rows.append(
            [
                name,
                *[
                    _with_ci(models[m]["beyond"].get(name), models[m].get("ci", {}).get("beyond", {}).get(name))
                    for m in order
                ],
            ]
        )
    doc.add(Table(["metric", *order], rows))
    doc.add(
        Para(
            "coverage: share of the catalogue recommended to anyone; gini: inequality of item exposure (0 = even); "
            "personalisation: 1 - mean cosine overlap of two users' lists; novelty: mean self-information (bits) of "
            "recommended items; arp: their mean training popularity (users); long_tail_share: share outside the 20% most "
            "popular items; ild: 1 - mean cosine similarity of item categories within a list; serendipity: relevant items "
            "the popularity baseline would not have recommended, per slot; calibration: KL divergence (nats) of the "
            "list's category mix from the user's history (0 = calibrated)."
        )
    )

    # slices
    slices = r["slices"]
    if slices:
        metric = f"ndcg@{k}"
        doc.add(Heading(2, f"Slices ({metric})"))
        rows = []
        for s in slices:
            n = max((e["n_users"] for e in s["models"].values()), default=0)
            rows.append(
                [
                    s["name"],
                    s["description"],
                    f"{n:,}",
                    *[
                        _with_ci(s["models"][m]["metrics"].get(metric), s["models"][m].get("ci", {}).get(metric))
                        for m in order
                    ],
                ]
            )
        doc.add(Table(["slice", "members", "users", *order], rows, numeric_from=2))

    if "sampled" in r:
        s = r["sampled"]
        doc.add(Heading(2, f"Sampled negatives vs full ranking ({s['n_negatives']} negatives, K = {s['k']})"))
        doc.add(
            Para(
                "The same saved models, scored under the sampled protocol (the target ranked among "
                f"{s['n_negatives']} random unseen items) next to the full ranking the rest of this report uses."
            )
        )
        cols = list(next(iter(s["models"].values()))) if s["models"] else []
        full_rank = {m: i + 1 for i, m in enumerate(sorted(s["models"], key=lambda m: -(s["models"][m][cols[2]] or 0)))}
        samp_rank = {m: i + 1 for i, m in enumerate(sorted(s["models"], key=lambda m: -s["models"][m][cols[3]]))}
        rows = [
            [m, *[_num(v) for v in s["models"][m].values()], str(full_rank[m]), str(samp_rank[m])]
            for m in order
            if m in s["models"]
        ]
        doc.add(Table(["model", *cols, "rank (full)", "rank (sampled)"], rows))

    # figures
    colours_order = order
    by_k = {m: r["by_k"][m] for m in colours_order}
    doc.add(Heading(2, "Figures"))
    doc.add(
        Image(
            f"{slug}-metric-vs-k.png",
            plots.metric_vs_k(by_k, f"{run.name}: metric vs K"),
            "Accuracy at every cutoff K (full ranking, test users).",
        )
    )
    ranks, series = popularity_shares(run, k)
    ordered = {m: series[m] for m in colours_order} | {n: v for n, v in series.items() if n not in models}
    doc.add(
        Image(
            f"{slug}-popularity.png",
            plots.popularity_cdf(
                ranks, ordered, colours_order, k, f"{run.name}: popularity of recommended vs interacted items"
            ),
            "Cumulative share of recommendations (solid) and of test / training interactions (black) that go to "
            "the r most popular training items. Curves above the dashed test line over-recommend popular items.",
        )
    )
    doc.add(
        Image(
            f"{slug}-coverage.png",
            plots.coverage_bars(
                {m: models[m] for m in colours_order}, proto["ks"], f"{run.name}: coverage and exposure"
            ),
            "Catalogue coverage at each cutoff, and the Gini index of item exposure in the top-K lists.",
        )
    )
    if slices:
        doc.add(
            Image(
                f"{slug}-slices.png",
                plots.slice_bars(_ordered_slices(slices, colours_order), f"ndcg@{k}", f"{run.name}: ndcg@{k} by slice"),
                "Per-slice accuracy with bootstrap intervals; n = users in the slice.",
            )
        )
    curves = plots.training_curves(run.curves, f"{run.name}: training curves")
    if curves is not None:
        doc.add(Image(f"{slug}-training.png", curves, "Training curves from the run's metrics.jsonl."))
    else:
        doc.add(
            Para("Training curves: this run has no `metrics.jsonl` (none of its models was trained by the Trainer).")
        )


def _ordered_slices(slices: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    return [{**s, "models": {m: s["models"][m] for m in order if m in s["models"]}} for s in slices]


# ---------------------------------------------------------------------- formatting
def _num(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "-"
    if abs(v) == float("inf"):
        return "inf" if v > 0 else "-inf"
    if abs(v) >= 10:
        return f"{v:+.1f}" if signed else f"{v:.1f}"
    return f"{v:+.3f}" if signed else f"{v:.4f}"


def _interval(ci: list[float | None] | None) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"[{_num(ci[0])}, {_num(ci[1])}]"


def _with_ci(v: float | None, ci: list[float | None] | None) -> str:
    text = _num(v)
    interval = _interval(ci)
    return f"{text} {interval}" if interval and v is not None else text


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def _verdict(block: dict[str, Any], metric: str) -> str:
    if block.get("is_baseline"):
        return "baseline"
    c = block.get("metrics", {}).get(metric)
    return c["verdict"] if c else "-"


def _slug(name: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "run"
    slug, i = base, 2
    while slug in used:
        slug, i = f"{base}-{i}", i + 1
    used.add(slug)
    return slug


def _finite(value: Any) -> Any:
    """NaN / inf -> None, recursively, so that report.json is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
