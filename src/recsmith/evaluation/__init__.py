"""Evaluation: ranking metrics, full-ranking evaluation of models, beyond-accuracy metrics, slices,
statistics, and file-based evaluation. The protocol and every formula: docs/evaluation.md.

* :func:`evaluate` -- a fitted model against held-out interactions (all items ranked, users
  streamed in chunks); :func:`per_user_metrics` / :func:`hit_matrix` -- the formulas (:mod:`.metrics`).
* :func:`evaluate_files` -- a predictions file against a truth file (CSV or Parquet).
* :mod:`.beyond` -- coverage, Gini, personalisation, novelty, popularity, long tail, intra-list
  diversity, serendipity, calibration.
* :mod:`.slices` -- cold-start users, activity quantiles, new items.
* :mod:`.stats` -- bootstrap intervals, paired t / Wilcoxon tests with effect sizes, Holm.
* :func:`analyse` / :func:`analyse_slices` -- all of the above for a set of models on one split
  (:mod:`.analysis`); :mod:`.store` -- what a run directory keeps of it.
* :func:`evaluate_sampled` -- the sampled-negatives protocol, only to show how it misleads.
"""

from recsmith.evaluation.analysis import EvalContext, ModelEval, analyse, analyse_slices
from recsmith.evaluation.evaluator import evaluate
from recsmith.evaluation.files import evaluate_files
from recsmith.evaluation.metrics import ALL_METRIC_NAMES, METRIC_NAMES, hit_matrix, mean_metrics, per_user_metrics
from recsmith.evaluation.sampled import evaluate_sampled
from recsmith.evaluation.stats import bootstrap_ci, compare_to_baseline, paired_test

__all__ = [
    "ALL_METRIC_NAMES",
    "METRIC_NAMES",
    "EvalContext",
    "ModelEval",
    "analyse",
    "analyse_slices",
    "bootstrap_ci",
    "compare_to_baseline",
    "evaluate",
    "evaluate_files",
    "evaluate_sampled",
    "hit_matrix",
    "mean_metrics",
    "paired_test",
    "per_user_metrics",
]
