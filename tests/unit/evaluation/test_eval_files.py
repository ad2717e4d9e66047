"""File-based evaluation: CSV / Parquet, id handling, rank semantics, and error messages."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsmith.errors import DataError, RecsmithError
from recsmith.evaluation import METRIC_NAMES, evaluate_files


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def truth(tmp_path):
    # users u1 (relevant {a, c}) and u2 (relevant {x}); the duplicate row collapses.
    return write(tmp_path / "truth.csv", "user_id,item_id\nu1,a\nu1,c\nu2,x\nu1,a\n")


def test_worked_example_csv(tmp_path, truth):
    # u1: [a, b, c] -> same numbers as the metrics worked example; u2: no predictions -> all 0.
    # u9 is not in the truth: ignored. Averages are over 2 truth users.
    pred = write(tmp_path / "p.csv", "user_id,item_id,rank\nu1,c,3\nu1,a,1\nu1,b,2\nu9,x,1\n")
    out = evaluate_files(pred, truth, [3])
    assert out["n_users"] == 2
    assert out["recall@3"] == pytest.approx(1 / 2)
    assert out["precision@3"] == pytest.approx(2 / 3 / 2)
    assert out["ndcg@3"] == pytest.approx((1 + 1 / 2) / (1 + 1 / math.log2(3)) / 2)
    assert out["mrr@3"] == pytest.approx(1 / 2)
    assert out["hit@3"] == pytest.approx(1 / 2)
    assert out["map@3"] == pytest.approx((1 + 2 / 3) / 2 / 2)
    assert set(out) == {f"{n}@3" for n in METRIC_NAMES} | {"n_users"}


def test_parquet_matches_csv(tmp_path, truth):
    rows = {"user_id": ["u1", "u1", "u1", "u2"], "item_id": ["c", "a", "b", "y"], "rank": [3, 1, 2, 1]}
    pl.DataFrame(rows).write_csv(tmp_path / "p.csv")
    pl.DataFrame(rows).write_parquet(tmp_path / "p.parquet")
    pl.read_csv(truth).write_parquet(tmp_path / "t.pq")
    a = evaluate_files(tmp_path / "p.csv", truth, [1, 3])
    b = evaluate_files(tmp_path / "p.parquet", tmp_path / "t.pq", [1, 3])
    assert a == pytest.approx(b)


def test_leading_zeros_are_kept(tmp_path):
    t = write(tmp_path / "t.csv", "user_id,item_id\n007,0108775015\n")
    hit = write(tmp_path / "p1.csv", "user_id,item_id,rank\n007,0108775015,1\n")
    miss_item = write(tmp_path / "p2.csv", "user_id,item_id,rank\n007,108775015,1\n")
    miss_user = write(tmp_path / "p3.csv", "user_id,item_id,rank\n7,0108775015,1\n")
    assert evaluate_files(hit, t, [1])["hit@1"] == 1.0
    assert evaluate_files(miss_item, t, [1])["hit@1"] == 0.0
    assert evaluate_files(miss_user, t, [1])["hit@1"] == 0.0


def test_gapped_ranks_use_ordinal_positions(tmp_path):
    t = write(tmp_path / "t.csv", "user_id,item_id\nu,z\n")
    # ranks 1, 2, 50 -> positions 1, 2, 3: z is third, so it is inside the top 3.
    p = write(tmp_path / "p.csv", "user_id,item_id,rank\nu,z,50\nu,a,1\nu,b,2\n")
    out = evaluate_files(p, t, [2, 3])
    assert out["hit@2"] == 0.0 and out["hit@3"] == 1.0
    assert out["mrr@3"] == pytest.approx(1 / 3)


def test_duplicate_prediction_keeps_best_rank_and_no_slot(tmp_path):
    t = write(tmp_path / "t.csv", "user_id,item_id\nu,b\n")
    # a at ranks 1 and 2 -> kept once at rank 1; b then takes position 2.
    p = write(tmp_path / "p.csv", "user_id,item_id,rank\nu,a,2\nu,a,1\nu,b,3\n")
    assert evaluate_files(p, t, [2])["mrr@2"] == pytest.approx(1 / 2)
    # the duplicate's best rank counts: z at ranks 9 and 1 -> position 1
    p2 = write(tmp_path / "p2.csv", "user_id,item_id,rank\nu,q,2\nu,b,9\nu,b,1\n")
    assert evaluate_files(p2, t, [1])["hit@1"] == 1.0


def test_equal_ranks_keep_file_order(tmp_path):
    t = write(tmp_path / "t.csv", "user_id,item_id\nu,b\n")
    p = write(tmp_path / "p.csv", "user_id,item_id,rank\nu,a,1\nu,b,1\n")
    assert evaluate_files(p, t, [1])["hit@1"] == 0.0
    assert evaluate_files(p, t, [2])["mrr@2"] == pytest.approx(1 / 2)


def test_integral_float_ranks_and_extra_columns_are_fine(tmp_path):
    t = write(tmp_path / "t.csv", "user_id,item_id\nu,b\n")
    p = write(tmp_path / "p.csv", "score,user_id,item_id,rank\n0.9,u,a,1.0\n0.8,u,b, 2\n")
    assert evaluate_files(p, t, [2])["mrr@2"] == pytest.approx(1 / 2)


def test_blank_lines_are_skipped(tmp_path):
    t = write(tmp_path / "t.csv", "user_id,item_id\n\nu,b\n\n")
    p = write(tmp_path / "p.csv", "user_id,item_id,rank\nu,b,1\n\n")
    assert evaluate_files(p, t, [1])["hit@1"] == 1.0


@pytest.mark.parametrize("seed", range(6))
def test_random_files_against_loop_reference(tmp_path, seed):
    rng = np.random.default_rng(seed)
    ks = [1, 4, 10]
    users = [f"{u:05d}" for u in range(60)]
    truth = {u: {f"{i:03d}" for i in rng.choice(40, rng.integers(1, 6))} for u in users if rng.random() < 0.8}
    rows = []
    for u in [*users, "99999"]:
        if rng.random() < 0.2:
            continue  # a user without predictions
        n = int(rng.integers(1, 15))
        items = [f"{i:03d}" for i in rng.integers(0, 40, n)]  # repeated items happen
        ranks = rng.integers(1, 25, n)  # gaps and ties happen
        rows += [(u, i, int(r)) for i, r in zip(items, ranks, strict=True)]
    rows = [rows[j] for j in rng.permutation(len(rows))]
    pl.DataFrame(rows, schema=["user_id", "item_id", "rank"], orient="row").write_csv(tmp_path / "p.csv")
    truth_rows = [(u, i) for u, items in truth.items() for i in items] * 2  # duplicated truth rows
    pl.DataFrame(truth_rows, schema=["user_id", "item_id"], orient="row").write_parquet(tmp_path / "t.parquet")

    got = evaluate_files(tmp_path / "p.csv", tmp_path / "t.parquet", ks)

    # loop reference: walk rows by (rank, file line), keep each user's first copy of an item
    lists: dict[str, list[str]] = {}
    for _, (u, i, _r) in sorted(enumerate(rows), key=lambda x: (x[1][2], x[0])):
        if i not in lists.setdefault(u, []):
            lists[u].append(i)
    for k in ks:
        sums = dict.fromkeys(METRIC_NAMES, 0.0)
        for u, rel in truth.items():
            ranked = lists.get(u, [])[:k]
            flags = [1 if i in rel else 0 for i in ranked] + [0] * (k - len(ranked))
            h = sum(flags)
            sums["recall"] += h / len(rel)
            sums["precision"] += h / k
            dcg = sum(f / math.log2(p + 2) for p, f in enumerate(flags))
            sums["ndcg"] += dcg / sum(1 / math.log2(p + 2) for p in range(min(len(rel), k)))
            sums["mrr"] += next((1 / (p + 1) for p, f in enumerate(flags) if f), 0.0)
            sums["hit"] += float(h > 0)
            ap = sum(sum(flags[: p + 1]) / (p + 1) for p, f in enumerate(flags) if f)
            sums["map"] += ap / min(len(rel), k)
        for name in METRIC_NAMES:
            assert got[f"{name}@{k}"] == pytest.approx(sums[name] / len(truth)), (name, k)
    assert got["n_users"] == len(truth)


# ---------------------------------------------------------------------- errors
def expect(err_path: Path, call, *, column=None, line=None, match=None) -> DataError:
    with pytest.raises(DataError, match=match) as info:
        call()
    err = info.value
    assert err.path == str(err_path)
    assert err.column == column
    assert err.line == line
    assert str(err_path) in str(err)
    return err


def test_bad_rank_values_name_file_column_line(tmp_path, truth):
    cases = [("x", "integer"), ("2.5", "integer"), ("0", "at least 1"), ("-3", "at least 1"), ("", "integer")]
    for bad, why in cases:
        p = write(tmp_path / "p.csv", f"user_id,item_id,rank\nu1,a,1\nu1,b,2\nu1,c,{bad}\nu1,d,4\n")
        err = expect(p, lambda p=p: evaluate_files(p, truth, [3]), column="rank", line=4, match=why)
        assert "line 4" in str(err) and "'rank'" in str(err)


def test_line_numbers_count_blank_lines_and_multiline_fields(tmp_path, truth):
    p = write(tmp_path / "p.csv", 'user_id,item_id,rank\nu1,"multi\nline",1\n\nu1,b,oops\n')
    expect(p, lambda: evaluate_files(p, truth, [3]), column="rank", line=5)


def test_empty_id_is_an_error(tmp_path, truth):
    p = write(tmp_path / "p.csv", "user_id,item_id,rank\nu1,a,1\n,b,2\n")
    expect(p, lambda: evaluate_files(p, truth, [3]), column="user_id", line=3, match="empty id")
    good = write(tmp_path / "good.csv", "user_id,item_id,rank\nu1,a,1\n")
    t = write(tmp_path / "t2.csv", "user_id,item_id\nu1,a\nu2,\n")
    expect(t, lambda: evaluate_files(good, t, [3]), column="item_id", line=3, match="empty id")


def test_missing_column(tmp_path, truth):
    p = write(tmp_path / "p.csv", "user_id,item_id,score\nu1,a,1\n")
    expect(p, lambda: evaluate_files(p, truth, [3]), column="rank", match="lacks column")
    t = write(tmp_path / "t2.csv", "user,item_id\nu1,a\n")
    p2 = write(tmp_path / "p2.csv", "user_id,item_id,rank\nu1,a,1\n")
    expect(t, lambda: evaluate_files(p2, t, [3]), column="user_id", match="lacks column")
    pl.DataFrame({"user_id": ["u"], "item_id": ["a"]}).write_parquet(tmp_path / "p.parquet")
    expect(tmp_path / "p.parquet", lambda: evaluate_files(tmp_path / "p.parquet", truth, [3]), column="rank")


def test_empty_files(tmp_path, truth):
    empty = write(tmp_path / "p.csv", "")
    expect(empty, lambda: evaluate_files(empty, truth, [3]), match="empty")
    header_only = write(tmp_path / "p2.csv", "user_id,item_id,rank\n")
    expect(header_only, lambda: evaluate_files(header_only, truth, [3]), match="no data rows")
    good = write(tmp_path / "good.csv", "user_id,item_id,rank\nu1,a,1\n")
    t = write(tmp_path / "t.csv", "user_id,item_id\n")
    expect(t, lambda: evaluate_files(good, t, [3]), match="no data rows")


def test_extension_and_missing_file(tmp_path, truth):
    txt = write(tmp_path / "p.txt", "user_id,item_id,rank\nu1,a,1\n")
    expect(txt, lambda: evaluate_files(txt, truth, [3]), match="unsupported")
    gone = tmp_path / "nope.csv"
    expect(gone, lambda: evaluate_files(gone, truth, [3]), match="not found")


def test_parquet_bad_rank_names_row(tmp_path, truth):
    pl.DataFrame({"user_id": ["u1", "u1"], "item_id": ["a", "b"], "rank": [1.0, 1.5]}).write_parquet(
        tmp_path / "p.parquet"
    )
    path = tmp_path / "p.parquet"
    err = expect(path, lambda: evaluate_files(path, truth, [3]), column="rank")
    assert "row 2" in str(err)


def test_parquet_integer_ids_are_compared_as_text(tmp_path):
    pl.DataFrame({"user_id": [1], "item_id": [42], "rank": [1]}).write_parquet(tmp_path / "p.parquet")
    t = write(tmp_path / "t.csv", "user_id,item_id\n1,42\n")
    assert evaluate_files(tmp_path / "p.parquet", t, [1])["hit@1"] == 1.0


def test_unreadable_csv_is_a_data_error(tmp_path, truth):
    p = write(tmp_path / "p.csv", 'user_id,item_id,rank\nu1,"unterminated,1\nu1,b,2,extra,fields\n')
    expect(p, lambda: evaluate_files(p, truth, [3]))


def test_bad_ks(tmp_path, truth):
    p = write(tmp_path / "p.csv", "user_id,item_id,rank\nu1,a,1\n")
    with pytest.raises(RecsmithError, match="positive"):
        evaluate_files(p, truth, [0])


def test_huge_ranks_take_the_unpacked_sort_path(tmp_path):
    # ranks near 2**62 do not fit the packed sort key: the lexsort fallback must agree.
    t = write(tmp_path / "t.csv", "user_id,item_id\nu,b\nv,c\n")
    big = 2**62
    rows = f"u,a,{big}\nu,b,{big + 5}\nv,c,{big - 1}\nv,d,{big + 1}\n"
    p = write(tmp_path / "p.csv", "user_id,item_id,rank\n" + rows)
    out = evaluate_files(p, t, [1, 2])
    assert out["mrr@2"] == pytest.approx((1 / 2 + 1) / 2)
    assert out["hit@1"] == pytest.approx(1 / 2)


def test_no_prediction_for_any_truth_user_scores_zero(tmp_path, truth):
    p = write(tmp_path / "p.csv", "user_id,item_id,rank\nother,a,1\n")
    out = evaluate_files(p, truth, [5])
    assert out["n_users"] == 2
    assert all(v == 0.0 for k, v in out.items() if k != "n_users")
