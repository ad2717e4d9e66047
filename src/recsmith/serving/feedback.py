"""The feedback log: interaction events persisted in SQLite before the service acknowledges them.

The database runs in WAL mode with ``synchronous=FULL``: a commit returns only after the WAL has
been fsync'd, so an event acknowledged with 2xx survives a crash of the process (SIGKILL) or of the
machine. One transaction per request: a batch is stored whole or not at all.

Several service workers may share one log: SQLite serialises writers and WAL lets readers run
beside them. Each worker applies new events to its own online state by reading the rows after the
last id it has seen (:meth:`FeedbackLog.read_since`), so feedback sent to one worker shows in the
next answer of every worker.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id   TEXT    NOT NULL,
    item_id   TEXT    NOT NULL,
    type      TEXT    NOT NULL,
    timestamp INTEGER NOT NULL,   -- event time, seconds since the epoch (client's clock)
    value     REAL,
    received  REAL    NOT NULL,   -- server time of the write, seconds since the epoch
    variant   TEXT                -- the user's A/B variant when an experiment runs (serving/ab.py)
)
"""


@dataclass(frozen=True)
class Event:
    user_id: str
    item_id: str
    type: str
    timestamp: int
    value: float | None = None
    id: int = 0
    variant: str | None = None


class FeedbackLog:
    """Append-only event table in a SQLite file. Thread-safe; one writer connection, one reader."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._writer = self._connect()
        self._writer.execute("PRAGMA journal_mode=WAL")
        self._writer.execute(_SCHEMA)
        columns = {row[1] for row in self._writer.execute("PRAGMA table_info(events)")}
        if "variant" not in columns:  # a log written before A/B tests: the column is added, rows kept
            self._writer.execute("ALTER TABLE events ADD COLUMN variant TEXT")
        self._reader = self._connect()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions, we BEGIN / COMMIT ourselves
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=FULL")  # WAL + FULL: every commit fsyncs the WAL
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def append(self, events: list[Event]) -> list[int]:
        """Store ``events`` in one durable transaction; returns their ids (in order)."""
        if not events:
            return []
        now = time.time()
        rows = [(e.user_id, e.item_id, e.type, int(e.timestamp), e.value, now, e.variant) for e in events]
        with self._write_lock:
            cur = self._writer.cursor()
            cur.execute("BEGIN IMMEDIATE")  # take the write lock now: ids below are contiguous
            try:
                cur.executemany(
                    "INSERT INTO events (user_id, item_id, type, timestamp, value, received, variant) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                last = cur.execute("SELECT last_insert_rowid()").fetchone()[0]
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return list(range(last - len(rows) + 1, last + 1))

    def read_since(self, last_id: int, limit: int = 10_000) -> list[Event]:
        """Events with id greater than ``last_id``, oldest first."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT id, user_id, item_id, type, timestamp, value, variant FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (last_id, limit),
            ).fetchall()
        return [
            Event(user_id=u, item_id=i, type=t, timestamp=ts, value=v, id=eid, variant=var)
            for eid, u, i, t, ts, v, var in rows
        ]

    def count(self) -> int:
        with self._read_lock:
            return int(self._reader.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._writer.close()
            self._reader.close()
