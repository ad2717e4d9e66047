"""Per-variant monitoring of the service: what Prometheus scrapes at ``/metrics`` beside the HTTP metrics.

A *variant* is one engine answering recommendations: ``default`` without an A/B test, else each
variant of the experiment (:mod:`recsmith.serving.ab`). For each one:

=========================================  ===========================================================
``recsmith_variant_requests_total``        recommendation lists by ``variant`` and ``outcome`` (ok / error)
``recsmith_variant_latency_seconds``       time to produce a list (cache included), by ``variant``
``recsmith_variant_cache_total``           cache ``result`` (hit / miss) by ``variant``
``recsmith_variant_coverage``              share of the catalogue served at least once since the engine loaded
``recsmith_variant_score``                 histogram of the scores of served items
``recsmith_drift_psi``                     PSI by ``variant`` and ``signal`` (feedback_items, feedback_users,
                                           served_items) against the training data
``recsmith_feedback_by_variant_total``     feedback events by ``variant`` and ``type``
=========================================  ===========================================================

Drift is the Population Stability Index over training-popularity bins
(:mod:`recsmith.evaluation.drift`); ``deploy/prometheus/alerts.yml`` alerts above
:data:`~recsmith.evaluation.drift.PSI_ALERT`. The reference distributions come from the engine's
own model (its training interactions), so a reload starts them afresh.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from recsmith.evaluation.drift import PopularityBins
from recsmith.serving.engine import Engine
from recsmith.serving.metrics import Metrics

DEFAULT_VARIANT = "default"
SIGNALS = ("feedback_items", "feedback_users", "served_items")


class VariantMonitor:
    """Counts of one engine's traffic against its training data (thread-safe)."""

    def __init__(self, engine: Engine) -> None:
        seen = engine.model.seen
        self.engine = engine
        self.item_bins = PopularityBins.from_counts(np.asarray(seen.sum(axis=0)).ravel())
        self.user_bins = PopularityBins.from_counts(np.diff(seen.indptr))
        self.observed = {
            signal: np.zeros(self.item_bins.n_bins if signal != "feedback_users" else self.user_bins.n_bins)
            for signal in SIGNALS
        }
        self.served = np.zeros(engine.n_items, dtype=bool)
        self._lock = threading.Lock()

    def observe_served(self, item_ids: list[str]) -> float:
        """Record a served list (external ids); returns the catalogue coverage so far."""
        items = self.engine.bundle.item_map.to_internal(item_ids, strict=False)
        with self._lock:
            self.observed["served_items"] += self.item_bins.counts(items)
            self.served[items[items >= 0]] = True
            return float(self.served.mean()) if self.served.size else 0.0

    def observe_feedback(self, user_id: str, item_id: str) -> None:
        user = self.engine.bundle.user_map.to_internal([user_id], strict=False)
        item = self.engine.bundle.item_map.to_internal([item_id], strict=False)
        with self._lock:
            self.observed["feedback_items"] += self.item_bins.counts(item)
            self.observed["feedback_users"] += self.user_bins.counts(user)

    def psi(self) -> dict[str, float]:
        with self._lock:
            return {
                signal: (self.user_bins if signal == "feedback_users" else self.item_bins).psi(counts)
                for signal, counts in self.observed.items()
            }


class ServingMonitor:
    """The per-variant monitors of a service and the Prometheus series they feed."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.variants: dict[str, VariantMonitor] = {}

    def attach(self, variant: str, engine: Engine) -> None:
        """Monitor ``engine`` as ``variant`` (again after a reload: fresh references and counts)."""
        self.variants[variant] = VariantMonitor(engine)

    def _monitor(self, variant: str, engine: Engine) -> VariantMonitor:
        monitor = self.variants.get(variant)
        if monitor is None or monitor.engine is not engine:
            self.attach(variant, engine)
            monitor = self.variants[variant]
        return monitor

    def served(self, variant: str, engine: Engine, result: dict[str, Any], seconds: float, cached: bool) -> None:
        m = self.metrics
        m.variant_requests.labels(variant=variant, outcome="ok").inc()
        m.variant_latency.labels(variant=variant).observe(seconds)
        m.variant_cache.labels(variant=variant, result="hit" if cached else "miss").inc()
        items = result.get("items", [])
        scores = m.variant_score.labels(variant=variant)
        for item in items:
            scores.observe(item["score"])
        monitor = self._monitor(variant, engine)
        m.variant_coverage.labels(variant=variant).set(monitor.observe_served([i["item_id"] for i in items]))
        self._publish(variant, monitor)

    def failed(self, variant: str) -> None:
        self.metrics.variant_requests.labels(variant=variant, outcome="error").inc()

    def feedback(self, variant: str, engine: Engine, user_id: str, item_id: str, event_type: str) -> None:
        self.metrics.feedback_by_variant.labels(variant=variant, type=event_type).inc()
        monitor = self._monitor(variant, engine)
        monitor.observe_feedback(user_id, item_id)
        self._publish(variant, monitor)

    def drift(self) -> dict[str, dict[str, float]]:
        return {variant: monitor.psi() for variant, monitor in self.variants.items()}

    def _publish(self, variant: str, monitor: VariantMonitor) -> None:
        for signal, value in monitor.psi().items():
            self.metrics.drift_psi.labels(variant=variant, signal=signal).set(value)
