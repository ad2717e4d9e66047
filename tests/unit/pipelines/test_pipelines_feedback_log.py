"""The service's feedback log read as interactions: every row accounted for; old logs gain the variant column."""

from __future__ import annotations

import sqlite3

import pytest

from recsmith.errors import DataError
from recsmith.pipelines.feedback_log import read_feedback
from recsmith.serving.feedback import Event, FeedbackLog


def insert(path, *rows):
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO events (user_id, item_id, type, timestamp, value, received) VALUES (?, ?, ?, ?, ?, 0)", rows
        )


def test_malformed_and_negative_rows_are_counted_never_learnt(tmp_path):
    path = tmp_path / "feedback.sqlite3"
    log = FeedbackLog(path)
    log.append(
        [Event("u1", "i1", "click", 100), Event("u2", "i2", "dislike", 101), Event("u3", "i3", "rating", 102, 2.0)]
    )
    log.close()
    insert(
        path,
        ("", "i1", "click", 5, None),
        ("u9", "i1", "teleport", 5, None),
        ("u9", "i1", "click", "yesterday", None),
        ("u9", "i1", "click", -1, None),
        ("u9", "i1", "click", 5, "lots"),
        ("u9", "x" * 300, "click", 5, None),
    )
    rows = read_feedback(path, rating_threshold=4.0)
    assert rows.read == 9 and rows.interactions["user_id"].to_list() == ["u1"]
    assert rows.negative == 2  # the dislike and the rating below the threshold
    assert rows.malformed == {
        "empty user_id": 1,
        "unknown event type": 1,
        "timestamp not a whole number of seconds in 0..9999-12-31": 2,
        "value not a finite number": 1,
        "item_id longer than 256": 1,
    }
    assert rows.malformed_examples["unknown event type"] == [5]
    assert read_feedback(path, after_id=rows.last_id).read == 0


def test_a_missing_or_foreign_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no feedback log here"):
        read_feedback(tmp_path / "nope.sqlite3")
    (tmp_path / "junk.sqlite3").write_bytes(b"not a database at all" * 100)
    with pytest.raises(DataError, match="not a readable feedback log"):
        read_feedback(tmp_path / "junk.sqlite3")


def test_a_log_from_before_ab_tests_gains_the_variant_column_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the schema of earlier releases
        db.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, item_id TEXT NOT NULL, "
            "type TEXT NOT NULL, timestamp INTEGER NOT NULL, value REAL, received REAL NOT NULL)"
        )
        db.execute("INSERT INTO events (user_id, item_id, type, timestamp, received) VALUES ('u', 'i', 'click', 1, 0)")
    log = FeedbackLog(path)
    log.append([Event("u", "j", "click", 2, variant="treatment")])
    events = log.read_since(0)
    log.close()
    assert [(e.item_id, e.variant) for e in events] == [("i", None), ("j", "treatment")]
