"""Prometheus metrics of one service process, in a registry of its own (no global state).

Exposed at ``GET /metrics``:

=====================================  =================================================================
``recsmith_requests_total``            counter by ``method``, ``route`` (the path template), ``status``
``recsmith_request_seconds``           latency histogram by ``method``, ``route``
``recsmith_cache_hits_total``          recommendation-cache hits by ``backend`` (memory / redis)
``recsmith_cache_misses_total``        misses by ``backend``
``recsmith_recommendations_total``     computed lists by ``strategy`` (personal / session / popular)
``recsmith_feedback_events_total``     feedback events stored
``recsmith_reloads_total``             bundle reloads by ``result`` (ok / error)
``recsmith_model_info``                1, labelled with the serving ``version`` and ``model``
``recsmith_shed_total``                requests answered 503 by load shedding, by ``reason``
                                       (in_flight / loop_lag / inference_queue)
``recsmith_inference_batch_size``      network requests per micro-batch (histogram)
``recsmith_inference_wait_seconds``    how long a batch's oldest request waited for it (histogram)
``recsmith_registry_version``          the registered version served, by ``model`` (registry mode)
``recsmith_variant_*``, ``_drift_psi``  per variant: see :mod:`recsmith.serving.monitoring`
``recsmith_ab_exposures_total``        A/B exposures by ``experiment`` and ``variant``
=====================================  =================================================================

With several workers each process has its own numbers (scrape each, or aggregate by instance).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
#: scores of served items: models score on different scales (dot products, similarities, logits)
SCORE_BUCKETS = (-10.0, -5.0, -2.0, -1.0, -0.5, 0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 100.0)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("recsmith_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram(
            "recsmith_request_seconds", "request latency", ["method", "route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.cache_hits = Counter("recsmith_cache_hits", "recommendation cache hits", ["backend"], registry=r)
        self.cache_misses = Counter("recsmith_cache_misses", "recommendation cache misses", ["backend"], registry=r)
        self.strategies = Counter("recsmith_recommendations", "computed lists", ["strategy"], registry=r)
        self.feedback_events = Counter("recsmith_feedback_events", "feedback events stored", registry=r)
        self.reloads = Counter("recsmith_reloads", "bundle reloads", ["result"], registry=r)
        self.model_info = Gauge("recsmith_model_info", "model being served", ["version", "model"], registry=r)
        # per variant (recsmith.serving.monitoring): `default` without an A/B test
        self.variant_requests = Counter(
            "recsmith_variant_requests", "recommendation lists by variant", ["variant", "outcome"], registry=r
        )
        self.variant_latency = Histogram(
            "recsmith_variant_latency_seconds", "time to a list", ["variant"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.variant_cache = Counter("recsmith_variant_cache", "cache hits / misses", ["variant", "result"], registry=r)
        self.variant_coverage = Gauge(
            "recsmith_variant_coverage", "share of the catalogue served", ["variant"], registry=r
        )
        self.variant_score = Histogram(
            "recsmith_variant_score", "scores of served items", ["variant"], buckets=SCORE_BUCKETS, registry=r
        )
        self.drift_psi = Gauge("recsmith_drift_psi", "PSI against the training data", ["variant", "signal"], registry=r)
        self.feedback_by_variant = Counter(
            "recsmith_feedback_by_variant", "feedback events by variant", ["variant", "type"], registry=r
        )
        self.ab_exposures = Counter("recsmith_ab_exposures", "A/B exposures", ["experiment", "variant"], registry=r)
        self.registry_version = Gauge(
            "recsmith_registry_version", "registered version being served (registry mode)", ["model"], registry=r
        )
        self.shed = Counter("recsmith_shed", "requests shed with 503 (load shedding)", ["reason"], registry=r)
        self.batch_size = Histogram(
            "recsmith_inference_batch_size", "network requests per micro-batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_wait = Histogram(
            "recsmith_inference_wait_seconds",
            "wait of a micro-batch's oldest request",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def observe_batch(self, size: int, waited_s: float) -> None:
        self.batch_size.observe(size)
        self.batch_wait.observe(waited_s)

    def set_model(self, version: str, model: str, old_version: str | None, old_model: str | None) -> None:
        if old_version is not None and (old_version, old_model) != (version, model):
            with contextlib.suppress(KeyError):
                self.model_info.remove(old_version, old_model)
        self.model_info.labels(version=version, model=model).set(1)

    def set_registry_version(self, model: str, version: int) -> None:
        self.registry_version.labels(model=model).set(version)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request by its route template."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method=method, route=template, status=str(status["code"])).inc()
            self.metrics.latency.labels(method=method, route=template).observe(time.perf_counter() - start)
