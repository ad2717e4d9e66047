"""The engines' settings and helpers: DuckDB connections with a memory limit and a spill directory,
content hashes of input files."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Generator, Iterable
from pathlib import Path
from queue import Full, Queue
from typing import Any, TypeVar

import duckdb

from recsmith.features.config import EngineSpec

_HASH_CHUNK = 8 << 20
T = TypeVar("T")


def duckdb_connection(spec: EngineSpec, spill_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that keeps under ``spec.memory_limit`` and spills to ``spill_dir``."""
    spill_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": spec.memory_limit, "temp_directory": str(spill_dir)})
    if spec.threads is not None:
        con.execute(f"SET threads = {int(spec.threads)}")
    con.execute("SET preserve_insertion_order = true")
    return con


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (read in chunks; hashlib releases the GIL on large buffers)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class InputHash:
    """Content hash of input files, computed in a background thread while the engines work.

    :meth:`result` waits for it: ``{"files": [{"path", "bytes", "sha256"}], "sha256": combined}``,
    where the combined hash covers the file names, sizes and digests in order.
    """

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self._out: dict[str, Any] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="recsmith-input-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            entries: list[dict[str, Any]] = [
                {"path": str(f), "bytes": f.stat().st_size, "sha256": file_digest(f)} for f in self.files
            ]
            combined = hashlib.sha256()
            for e in entries:
                combined.update(f"{Path(e['path']).name}\0{e['bytes']}\0{e['sha256']}\n".encode())
            self._out = {"files": entries, "sha256": combined.hexdigest()}
        except BaseException as err:  # reported by result()
            self._error = err

    def result(self) -> dict[str, Any]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._out


def prefetch(batches: Iterable[T], depth: int = 2) -> Generator[T, None, None]:
    """Iterate ``batches`` in a background thread, ``depth`` items ahead, so that producing the next
    batch (an engine that releases the GIL, e.g. DuckDB's sort) overlaps with consuming this one.
    A generator: ``close()`` it to stop the thread early."""
    done = object()
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        queue.put(item, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(done)
        except BaseException as err:  # handed to the consumer
            queue.put(_Failure(err))

    thread = threading.Thread(target=produce, name="recsmith-prefetch", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
