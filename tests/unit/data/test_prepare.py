import json

import polars as pl
import pytest

from recsmith.config import DataConfig
from recsmith.data.dataset import Dataset
from recsmith.data.prepare import k_core, prepare
from recsmith.data.schema import Columns
from recsmith.data.sources.base import RawData
from recsmith.errors import RecsmithError


def raw(rows, items=None, explicit=False):
    users, items_, ts, w = zip(*rows)
    frame = pl.DataFrame(
        {"user_id": list(users), "item_id": list(items_), "timestamp": list(ts), "weight": [float(x) for x in w]}
    )
    return RawData(frame, items=items, source={"name": "test"}, explicit=explicit)


ROWS = [  # user, item, ts, weight
    ("u1", "a", 10, 5),
    ("u1", "b", 11, 3),
    ("u1", "a", 12, 4),
    ("u2", "b", 5, 1),
    ("u2", "c", 6, 5),
    ("u3", "a", 1, 2),
]


def test_ids_encoded_in_time_order_and_sorted_by_user_then_time():
    ds = prepare(raw(ROWS), DataConfig())
    # first appearance in time order: u3 (t=1), u2 (t=5), u1 (t=10); items a (t=1), b (5), c (6)
    assert ds.user_map.external_ids.to_list() == ["u3", "u2", "u1"]
    assert ds.item_map.external_ids.to_list() == ["a", "b", "c"]
    f = ds.interactions.frame
    assert f[Columns.User].to_list() == [0, 1, 1, 2, 2, 2]
    assert f[Columns.Timestamp].to_list() == [1, 5, 6, 10, 11, 12]
    assert f.schema[Columns.User] == pl.Int32


def test_equal_timestamps_keep_source_order():
    rows = [("u", "x", 1, 1), ("u", "y", 1, 1), ("u", "z", 1, 1)]
    ds = prepare(raw(rows), DataConfig())
    assert ds.item_map.to_external(ds.interactions.frame[Columns.Item].to_numpy()) == ["x", "y", "z"]


@pytest.mark.parametrize(
    "policy,expected",
    [("none", 6), ("first", 5), ("last", 5), ("sum", 5)],
)
def test_dedupe_policies_counts(policy, expected):
    assert len(prepare(raw(ROWS), DataConfig(dedupe=policy)).interactions) == expected


def test_dedupe_keeps_right_row():
    def u1a(policy):
        ds = prepare(raw(ROWS), DataConfig(dedupe=policy))
        f = ds.interactions.frame
        u1, a = ds.user_map.to_internal(["u1"])[0], ds.item_map.to_internal(["a"])[0]
        row = f.filter((pl.col(Columns.User) == u1) & (pl.col(Columns.Item) == a))
        return row[Columns.Timestamp].to_list(), row[Columns.Weight].to_list()

    assert u1a("first") == ([10], [5.0])
    assert u1a("last") == ([12], [4.0])
    assert u1a("sum") == ([12], [9.0])


def test_rating_threshold_makes_implicit():
    ds = prepare(raw(ROWS, explicit=True), DataConfig(rating_threshold=4))
    assert len(ds.interactions) == 3
    assert set(ds.interactions.frame[Columns.Weight].to_list()) == {1.0}
    assert ds.manifest["explicit"] is False


def test_k_core_is_iterative():
    # item z has 2 users; u3 only interacts with z and y. With min 2/2, dropping y (1 user) drops u3
    # below 2, which drops z below 2 in the next round.
    rows = [
        ("u1", "x", 1, 1),
        ("u1", "w", 2, 1),
        ("u2", "x", 1, 1),
        ("u2", "w", 2, 1),
        ("u3", "z", 1, 1),
        ("u3", "y", 2, 1),
        ("u1", "z", 3, 1),
    ]
    frame = raw(rows).interactions
    out, rounds = k_core(frame, 2, 2)
    assert sorted(set(out["item_id"].to_list())) == ["w", "x"]
    assert rounds >= 2
    # and the final table satisfies the k-core everywhere
    assert out.group_by("user_id").len()["len"].min() >= 2
    assert out.group_by("item_id").len()["len"].min() >= 2


def test_everything_filtered_is_a_clear_error():
    with pytest.raises(RecsmithError, match="no interactions left"):
        prepare(raw(ROWS), DataConfig(min_user_interactions=100))


def test_side_table_follows_encoding():
    items = pl.DataFrame({"item_id": ["c", "a", "b", "gone"], "name": ["C", "A", "B", "G"]})
    ds = prepare(raw(ROWS, items=items), DataConfig())
    assert ds.items[Columns.Item].to_list() == [0, 1, 2]
    assert ds.item_names([2, 0]) == ["C", "A"]


def test_save_load_round_trip(tmp_path):
    items = pl.DataFrame({"item_id": ["a", "b", "c"], "name": ["A", "B", "C"]})
    ds = prepare(raw(ROWS, items=items), DataConfig(dedupe="last"))
    ds.save(tmp_path / "ds")
    again = Dataset.load(tmp_path / "ds")
    assert again.interactions.frame.equals(ds.interactions.frame)
    assert again.user_map == ds.user_map and again.item_map == ds.item_map
    assert again.items.equals(ds.items)
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["counts"] == {"interactions": 5, "users": 3, "items": 3}
    assert manifest["preparation"]["dedupe"] == "last"


def test_save_is_atomic_and_refuses_to_clobber(tmp_path, monkeypatch):
    ds = prepare(raw(ROWS), DataConfig())
    ds.save(tmp_path / "ds")
    with pytest.raises(FileExistsError):
        ds.save(tmp_path / "ds")

    # a failure half-way leaves neither a partial directory nor temp files
    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", boom)
    with pytest.raises(OSError):
        ds.save(tmp_path / "other")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_load_of_a_non_dataset_dir_is_clear(tmp_path):
    with pytest.raises(RecsmithError, match="not a prepared dataset"):
        Dataset.load(tmp_path)
