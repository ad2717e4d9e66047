"""The service follows a registry: it serves the production version of a model and switches when it changes.

With ``RECSMITH_REGISTRY_MODEL=X`` (``recsmith serve --registry-model X``), the service loads the
bundle of X's production version at start, then a daemon thread asks the registry every
``registry_poll_s`` seconds which version is in production; when it changed, it loads the new
version's bundle through the service's own reload path (:meth:`Service.reload`: the old engine
serves until the new one is ready, then one reference switches), so a promotion or a rollback
reaches every worker within a poll interval and no request fails. A registry that cannot be read
or a bundle that does not load leaves the current version serving; the next poll tries again.
"""

from __future__ import annotations

import threading
from pathlib import Path

from recsmith.serving.registry import ModelRegistry, ModelVersion
from recsmith.serving.service import Service
from recsmith.utils.logging import log


class RegistryWatch:
    """Keeps ``service`` on the production version of ``model`` in the registry at ``uri``."""

    def __init__(self, service: Service, model: str, uri: str | None, poll_s: float) -> None:
        self.service = service
        self.model = model
        self.registry = ModelRegistry(uri)
        self.poll_s = poll_s
        self.serving: int | None = None  # the registered version the service was switched to
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def install(self) -> None:
        """Load the production version now (before the service takes traffic)."""
        try:
            self.check()
        except Exception as err:  # the service reports it on /ready; the watch keeps trying
            self.service.load_error = f"registry: {err}"
            log(f"loading the production version of {self.model!r} failed: {err}")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="recsmith-registry-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> ModelVersion | None:
        """One poll: switch the service when the production version is not the one it serves;
        returns the version switched to (None when nothing changed)."""
        number = self.registry.production_number(self.model)  # one cheap read per poll
        if number is None:
            if self.serving is None:
                self.service.load_error = f"model {self.model!r} has no production version in the registry yet"
            return None
        if number == self.serving:
            return None
        production = self.registry.get(self.model, number)
        path: Path = self.registry.bundle_path(production)
        result = self.service.reload(path)
        log(f"registry: {self.model} v{production.version} in production, serving {result['version']}")
        self.serving = production.version
        self.service.metrics.set_registry_version(self.model, production.version)
        return production

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.check()
            except Exception as err:  # keep serving what we have; try again next poll
                log(f"registry watch: {err.__class__.__name__}: {err}")
