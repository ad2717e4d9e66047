"""Evaluation: ranking metrics, full-ranking evaluation of models, and file-based evaluation.

* :func:`evaluate` — a fitted model against held-out interactions (all items ranked).
* :func:`evaluate_files` — a predictions file against a truth file (CSV or Parquet).
* :func:`per_user_metrics` — the metric formulas, vectorised; see :mod:`.metrics`.
"""

from recsmith.evaluation.evaluator import evaluate
from recsmith.evaluation.files import evaluate_files
from recsmith.evaluation.metrics import METRIC_NAMES, hit_matrix, mean_metrics, per_user_metrics

__all__ = ["METRIC_NAMES", "evaluate", "evaluate_files", "hit_matrix", "mean_metrics", "per_user_metrics"]
