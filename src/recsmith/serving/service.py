"""The service's state across requests: current engine, feedback log, online state, cache, metrics.

One :class:`Service` per worker process. Routes resolve the current :class:`Engine` once per
request, so a reload (:meth:`Service.reload`) that swaps the engine never disturbs a request in
flight, and no request waits for the new bundle to load: the old engine serves until the new one
is ready, then a single reference assignment switches.

Several workers (``recsmith serve --workers N``) each hold a Service. They share the feedback log
(SQLite WAL) and, optionally, a Redis cache. A reload sent to one worker is written to
``STATE_DIR/active_bundle.json``; every worker checks that file (at most once a second, on
requests) and loads the bundle it names, so all workers converge on the new version.
"""

from __future__ import annotations

import gc
import hashlib
import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsmith.errors import RecsmithError
from recsmith.serving.batching import set_inference_threads
from recsmith.serving.bundle import Bundle
from recsmith.serving.cache import NoCache, RecCache, RedisCache, TTLCache
from recsmith.serving.engine import BatchConfig, Engine, RuleSpec
from recsmith.serving.errors import InvalidRequest, NotReady
from recsmith.serving.feedback import Event, FeedbackLog
from recsmith.serving.metrics import Metrics
from recsmith.serving.monitoring import DEFAULT_VARIANT, ServingMonitor
from recsmith.serving.online import OnlineState
from recsmith.serving.settings import ServeSettings
from recsmith.utils.atomic import atomic_write_text
from recsmith.utils.logging import log

if TYPE_CHECKING:
    from recsmith.serving.ab import AbRouter

ACTIVE_BUNDLE = "active_bundle.json"
_POINTER_CHECK_S = 1.0


class Service:
    def __init__(
        self, settings: ServeSettings, *, engine: Engine | None = None, metrics: Metrics | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.online = OnlineState()
        self.feedback: FeedbackLog | None = None
        self._engine: Engine | None = None
        self.cache: RecCache = NoCache()
        self._sync_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._pointer_mtime = 0.0
        self._pointer_checked = 0.0
        self._stop = threading.Event()
        self.load_error: str | None = None
        self.monitor = ServingMonitor(self.metrics)  # per-variant metrics and drift (serving/monitoring.py)
        self.ab: AbRouter | None = None  # a running A/B test (serving/ab.py)
        if engine is not None:
            self._install(engine)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Open the feedback log and replay it; load the bundle (settings or the active pointer)."""
        self.feedback = FeedbackLog(self.settings.feedback_path)
        self.sync_feedback()
        threading.Thread(target=self._sweep_cache, name="recsmith-cache-sweep", daemon=True).start()
        if self._engine is not None:
            return
        candidates = [p for p in (self._pointer_bundle(), self.settings.bundle) if p is not None]
        if not candidates:  # keep the reason a registry gave (registry mode has no bundle setting)
            self.load_error = self.load_error or "no bundle configured (RECSMITH_BUNDLE or --bundle)"
            return
        for path in dict.fromkeys(Path(p) for p in candidates):  # the reloaded bundle, else the configured one
            try:
                self._install(self._build_engine(path))
                return
            except Exception as err:
                self.load_error = f"{err.__class__.__name__}: {err}"
                log(f"loading bundle {path} failed: {self.load_error}")

    def start_experiment(self, router: "AbRouter") -> None:
        """Serve an A/B test: each user's lists from their variant's engine; the first variant's
        engine answers everything else (similar items, search, sessions)."""
        self.ab = router
        for name, engine in router.engines.items():
            self.monitor.attach(name, engine)
        self._install(router.default)

    def close(self) -> None:
        self._stop.set()
        if self.ab is not None:
            self.ab.close()
        if self.feedback is not None:
            self.feedback.close()

    def _sweep_cache(self) -> None:
        """Drop expired lists on time, not only when read: memory falls back when traffic does."""
        interval = min(max(self.settings.cache_ttl_s / 4, 0.5), 15.0)
        while not self._stop.wait(interval):
            self.cache.sweep()

    @property
    def ready(self) -> bool:
        return self._engine is not None and self.feedback is not None

    @property
    def loaded_engine(self) -> Engine | None:
        """The engine serving now, or None while none is loaded (no reload check, never raises)."""
        return self._engine

    @property
    def engine(self) -> Engine:
        self._follow_pointer()
        engine = self._engine
        if engine is None:
            raise NotReady(self.load_error or "the model bundle is still loading", headers={"Retry-After": "1"})
        return engine

    def _build_engine(self, path: Path) -> Engine:
        s = self.settings
        bundle = Bundle.load(path)
        set_inference_threads(s.inference_threads)  # torch is loaded now if the model uses it: before the warm-up
        batching = BatchConfig(
            max_batch=s.batch_max, max_wait_s=s.batch_wait_ms / 1000, max_queue=s.queue_max, fresh_states=s.fresh_states
        )
        engine = Engine(
            bundle,
            exact_below=s.exact_below,
            ann_threads=s.ann_threads,
            batching=batching,
            onnx=s.onnx_runtime,
            threads=s.inference_threads,
        )
        return engine.warm()

    def _install(self, engine: Engine) -> None:
        s = self.settings
        if s.cache_ttl_s <= 0:
            cache: RecCache = NoCache()
        elif s.redis_url:
            cache = RedisCache(s.redis_url, s.cache_ttl_s, namespace=engine.version)
        else:
            cache = TTLCache(s.cache_ttl_s, s.cache_max_bytes)
        previous = self._engine
        if engine.batcher is not None:
            engine.batcher.on_batch = self.metrics.observe_batch
        self.cache = cache
        self._engine = engine  # the switch: one reference assignment
        self.load_error = None
        self.metrics.set_model(
            engine.version,
            engine.model.name,
            previous.version if previous else None,
            previous.model.name if previous else None,
        )
        # the bundle's id maps are a few hundred thousand long-lived Python objects: keep them out of
        # the cyclic garbage collector, whose full passes over them would add tens of ms to requests
        gc.collect()
        gc.freeze()

    # ------------------------------------------------------------------ reload
    def reload(self, path: str | Path | None = None) -> dict[str, Any]:
        """Load ``path`` (default: the configured bundle) and switch to it; the old one serves meanwhile."""
        target = Path(path) if path is not None else self.settings.bundle
        if target is None:
            raise InvalidRequest("no bundle given and none configured")
        shown = _shorten(str(target))
        try:
            is_bundle = (target / "manifest.json").is_file()
        except (OSError, ValueError):  # a name too long for the file system, a NUL byte
            is_bundle = False
        if not is_bundle:
            raise InvalidRequest(
                f"{shown} is not a model bundle the server can read (no manifest.json)", details={"bundle": shown}
            )
        start = time.perf_counter()
        with self._reload_lock:
            previous = self._engine.version if self._engine else None
            try:
                engine = self._build_engine(target)
            except Exception as err:
                self.metrics.reloads.labels(result="error").inc()
                log(f"reloading {target} failed: {err.__class__.__name__}: {err}")
                # our own errors are written for the caller; others (OSError, ...) name server files: log only
                reason = str(err) if isinstance(err, RecsmithError) else f"{err.__class__.__name__}, see the server log"
                raise InvalidRequest(
                    f"cannot load bundle {shown}: {reason}; the current bundle keeps serving", details={"bundle": shown}
                ) from None
            self._install(engine)
            self._write_pointer(target, engine.version)
        self.metrics.reloads.labels(result="ok").inc()
        return {
            "previous_version": previous,
            "version": engine.version,
            "seconds": round(time.perf_counter() - start, 3),
        }

    def _pointer_file(self) -> Path:
        return self.settings.state_dir / ACTIVE_BUNDLE

    def _write_pointer(self, bundle: Path, version: str) -> None:
        record = {"bundle": str(Path(bundle).resolve()), "version": version, "base": self._base(), "at": time.time()}
        atomic_write_text(self._pointer_file(), json.dumps(record))
        self._pointer_mtime = self._pointer_file().stat().st_mtime

    def _base(self) -> str | None:
        return str(self.settings.bundle.resolve()) if self.settings.bundle else None

    def _pointer_bundle(self) -> Path | None:
        """The bundle an admin reload chose, if it was chosen over the bundle this worker was started with."""
        f = self._pointer_file()
        if not f.exists():
            return None
        try:
            record = json.loads(f.read_text())
            self._pointer_mtime = f.stat().st_mtime
        except (OSError, ValueError):
            return None
        if record.get("base") != self._base():
            return None  # started with another bundle since: the operator's choice wins
        return Path(record["bundle"])

    def _follow_pointer(self) -> None:
        """Other workers: pick up a reload sent to a sibling (checked at most once a second)."""
        now = time.monotonic()
        if now - self._pointer_checked < _POINTER_CHECK_S:
            return
        self._pointer_checked = now
        try:
            mtime = self._pointer_file().stat().st_mtime
        except OSError:
            return
        if mtime <= self._pointer_mtime or self._reload_lock.locked():
            return
        target = self._pointer_bundle()
        if target is None or (self._engine is not None and self._same_bundle(target)):
            return
        threading.Thread(target=self._reload_quietly, args=(target,), daemon=True).start()

    def _same_bundle(self, target: Path) -> bool:
        try:
            version = json.loads((target / "manifest.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            return True
        engine = self._engine
        return engine is not None and version == engine.version

    def _reload_quietly(self, target: Path) -> None:
        try:
            self.reload(target)
            log(f"followed reload to {target}")
        except Exception as err:
            log(f"following reload to {target} failed: {err}")

    # ------------------------------------------------------------------ feedback
    def sync_feedback(self) -> None:
        """Apply events other requests (or other workers) logged since the last sync."""
        if self.feedback is None:
            return
        with self._sync_lock:
            while True:
                events = self.feedback.read_since(self.online.last_event_id)
                if not events:
                    return
                for e in events:
                    self.online.add(e.user_id, e.item_id, e.type)
                    self.cache.invalidate_user(e.user_id)
                self.online.last_event_id = events[-1].id

    def submit_feedback(self, events: list[Event]) -> tuple[list[int], list[str]]:
        """Persist ``events`` durably, then apply them; returns their ids and the unknown item ids.

        Events about items the served model does not know are stored all the same (the log outlives
        the bundle: a later one may know them) and reported back; the engine ignores them.
        """
        if self.feedback is None:
            raise NotReady("the feedback log is not open yet", headers={"Retry-After": "1"})
        engine = self.engine
        unknown = engine.unknown_items([e.item_id for e in events])
        if self.ab is not None:  # every event carries its user's variant
            events = [replace(e, variant=self.ab.spec.assign(e.user_id)) for e in events]
        ids = self.feedback.append(events)
        self.metrics.feedback_events.inc(len(events))
        for e in events:
            variant = e.variant or DEFAULT_VARIANT
            served = self.ab.engines[variant] if self.ab is not None else engine
            self.monitor.feedback(variant, served, e.user_id, e.item_id, e.type)
        self.sync_feedback()
        for user_id in dict.fromkeys(e.user_id for e in events):  # the users' new state, computed now
            self._variant(user_id, engine)[1].refresh(user_id, self.online)
        return ids, unknown

    # ------------------------------------------------------------------ recommendations
    def recommend_user(
        self, engine: Engine, user_id: str, k: int, *, exclude_seen: bool, rules: RuleSpec, explain: bool = False
    ) -> dict[str, Any]:
        """A list for ``user_id`` (from the user's variant during an A/B test), through the cache,
        monitored per variant; waits for network work in this thread (:meth:`recommend_user_async`
        on the event loop)."""
        variant, engine = self._variant(user_id, engine)
        start = time.perf_counter()
        try:
            key, result = self._lookup(engine, user_id, k, exclude_seen, rules, explain)
            if result is None:
                generation = self.online.generation(user_id)
                answer = engine.recommend(
                    user_id, k, exclude_seen=exclude_seen, rules=rules, online=self.online, explain=explain
                )
                result = self._store(user_id, key, generation, answer)
        except Exception:
            self.monitor.failed(variant)
            raise
        return self._served(variant, engine, user_id, result, start)

    async def recommend_user_async(
        self, engine: Engine, user_id: str, k: int, *, exclude_seen: bool, rules: RuleSpec, explain: bool = False
    ) -> dict[str, Any]:
        """:meth:`recommend_user` for the event loop: network work is awaited, never run on the loop."""
        variant, engine = self._variant(user_id, engine)
        start = time.perf_counter()
        try:
            key, result = self._lookup(engine, user_id, k, exclude_seen, rules, explain)
            if result is None:
                generation = self.online.generation(user_id)
                answer = await engine.recommend_async(
                    user_id, k, exclude_seen=exclude_seen, rules=rules, online=self.online, explain=explain
                )
                result = self._store(user_id, key, generation, answer)
        except Exception:
            self.monitor.failed(variant)
            raise
        return self._served(variant, engine, user_id, result, start)

    def _variant(self, user_id: str, engine: Engine) -> tuple[str, Engine]:
        """The user's variant and its engine during an A/B test, else the default and ``engine``."""
        return self.ab.choose(user_id) if self.ab is not None else (DEFAULT_VARIANT, engine)

    def _served(
        self, variant: str, engine: Engine, user_id: str, result: dict[str, Any], start: float
    ) -> dict[str, Any]:
        self.monitor.served(variant, engine, result, time.perf_counter() - start, bool(result["cached"]))
        if self.ab is not None:
            self.ab.exposures.add(self.ab.spec.name, variant, user_id, [i["item_id"] for i in result["items"]])
            self.metrics.ab_exposures.labels(experiment=self.ab.spec.name, variant=variant).inc()
            result = {**result, "variant": variant}
        return result

    def _lookup(
        self, engine: Engine, user_id: str, k: int, exclude_seen: bool, rules: RuleSpec, explain: bool
    ) -> tuple[str, dict[str, Any] | None]:
        self.sync_feedback()
        key = _cache_key(engine.version, k, exclude_seen, rules) + ("|explain" if explain else "")
        cache = self.cache
        hit = cache.get(user_id, key)
        if hit is not None:
            self.metrics.cache_hits.labels(backend=cache.backend).inc()
            return key, {**hit, "cached": True}
        self.metrics.cache_misses.labels(backend=cache.backend).inc()
        return key, None

    def _store(self, user_id: str, key: str, generation: int, result: dict[str, Any]) -> dict[str, Any]:
        self.sync_feedback()  # feedback another worker logged meanwhile must not be cached over
        # only lists of users the model knows: any string is a valid user id, so caching cold-start
        # answers would let anyone fill the cache (they are cheap to compute anyway)
        if result["strategy"] == "personal" and self.online.generation(user_id) == generation:
            self.cache.set(user_id, key, result)
        self.metrics.strategies.labels(strategy=result["strategy"]).inc()
        return {**result, "cached": False}


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit // 2] + "..." + text[-limit // 2 :]


def _cache_key(version: str, k: int, exclude_seen: bool, rules: RuleSpec) -> str:
    if not rules.filters and not rules.exclude and rules.include is None:
        return f"{version}|{k}|{int(exclude_seen)}"
    spec = json.dumps([rules.filters, rules.exclude, rules.include], sort_keys=True, default=str)
    return f"{version}|{k}|{int(exclude_seen)}|{hashlib.sha1(spec.encode()).hexdigest()}"
