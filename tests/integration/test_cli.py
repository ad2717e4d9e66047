"""The CLI end to end on small synthetic data: prepare -> benchmark -> recommend -> evaluate, and its errors."""

import json

import polars as pl
import pytest

from recsmith.cli.main import main

SMALL = [
    "--set",
    "data.options.n_customers=400",
    "--set",
    "data.options.n_articles=150",
    "--set",
    "data.options.n_transactions=6000",
    "--set",
    "data.dedupe=last",
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "synth"
    assert main(["data", "prepare", "synthetic", "--out", str(out), *SMALL]) == 0
    return out


@pytest.fixture(scope="module")
def run_dir(prepared):
    run = prepared.parent / "run"
    code = main(
        [
            "benchmark",
            "--data",
            str(prepared),
            "--split",
            "loo",
            "--models",
            "popular,itemknn",
            "--out",
            str(run),
            "--set",
            "tune.itemknn.k=[20,50]",
        ]
    )
    assert code == 0
    return run


def test_prepare_writes_manifest(prepared):
    manifest = json.loads((prepared / "manifest.json").read_text())
    assert manifest["counts"]["users"] > 0 and manifest["counts"]["items"] > 0
    assert manifest["preparation"]["dedupe"] == "last"


def test_prepare_refuses_to_overwrite(prepared, capsys):
    assert main(["data", "prepare", "synthetic", "--out", str(prepared), *SMALL]) != 0
    assert "already exists" in capsys.readouterr().err


def test_leaderboard_json_shape(run_dir):
    board = json.loads((run_dir / "leaderboard.json").read_text())
    assert set(board) == {"popular", "itemknn"}
    for _name, r in board.items():
        assert {"valid", "test", "fit_seconds"} <= set(r)
        for k in (5, 10, 20):
            for m in ("ndcg", "recall", "mrr", "hit", "precision", "map"):
                assert 0.0 <= r["test"][f"{m}@{k}"] <= 1.0
        assert "ndcg@10" in r["valid"]
    # the grid was searched on validation and the winner recorded
    assert len(board["itemknn"]["tuning"]) == 2
    assert board["itemknn"]["params"]["k"] in (20, 50)
    md = (run_dir / "leaderboard.md").read_text()
    assert "| itemknn |" in md and "| popular |" in md


def test_recommend_known_user_json(run_dir, prepared, capsys):
    users = pl.read_parquet(prepared / "user_ids.parquet")["external_id"].to_list()
    capsys.readouterr()
    assert (
        main(
            [
                "recommend",
                "--run",
                str(run_dir),
                "--model",
                "itemknn",
                "--user-id",
                users[0],
                "--top-n",
                "5",
                "--format",
                "json",
            ]
        )
        == 0
    )
    (out,) = json.loads(capsys.readouterr().out)["results"]
    assert out["user_id"] == users[0] and out["cold_start"] is False
    assert [it["rank"] for it in out["items"]] == [1, 2, 3, 4, 5]
    assert all(it["name"] for it in out["items"])  # synthetic articles have names
    scores = [it["score"] for it in out["items"]]
    assert scores == sorted(scores, reverse=True)


def test_recommend_unknown_user_is_cold_start(run_dir, capsys):
    assert (
        main(["recommend", "--run", str(run_dir), "--model", "popular", "--user-id", "nobody", "--format", "json"]) == 0
    )
    (out,) = json.loads(capsys.readouterr().out)["results"]
    assert out["cold_start"] is True and len(out["items"]) == 10


def test_recommend_table_and_unknown_model(run_dir, prepared, capsys):
    user = pl.read_parquet(prepared / "user_ids.parquet")["external_id"][0]
    assert main(["recommend", "--run", str(run_dir), "--model", "itemknn", "--user-id", user]) == 0
    assert "rank" in capsys.readouterr().out
    assert main(["recommend", "--run", str(run_dir), "--model", "ease", "--user-id", user]) != 0
    assert "has no model 'ease'" in capsys.readouterr().err


def test_benchmark_unknown_model_fails_before_training(prepared, tmp_path, capsys):
    assert main(["benchmark", "--data", str(prepared), "--models", "popular,nope", "--out", str(tmp_path / "r")]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_bad_override_is_a_clear_error(prepared, tmp_path, capsys):
    code = main(
        [
            "benchmark",
            "--data",
            str(prepared),
            "--models",
            "itemknn",
            "--out",
            str(tmp_path / "r"),
            "--set",
            "models.itemknn.neighbours=5",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "models.itemknn.neighbours" in err and "valid keys" in err and "Traceback" not in err


def test_evaluate_files_json(tmp_path, capsys):
    (tmp_path / "p.csv").write_text("user_id,item_id,rank\nu1,a,1\nu1,b,2\nu2,c,1\n")
    (tmp_path / "t.csv").write_text("user_id,item_id\nu1,b\nu2,x\nu3,a\n")
    assert (
        main(
            [
                "evaluate",
                "--predictions",
                str(tmp_path / "p.csv"),
                "--truth",
                str(tmp_path / "t.csv"),
                "--k",
                "1,2",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    # u1 hits b at rank 2; u2 misses; u3 has no predictions -> 0
    assert out["hit@1"] == pytest.approx(0.0)
    assert out["hit@2"] == pytest.approx(1 / 3)
    assert out["mrr@2"] == pytest.approx(0.5 / 3)
    assert out["recall@2"] == pytest.approx(1 / 3)
    assert out["precision@2"] == pytest.approx(0.5 / 3)


def test_missing_dataset_dir(tmp_path, capsys):
    assert main(["benchmark", "--data", str(tmp_path), "--models", "popular", "--out", str(tmp_path / "r")]) != 0
    assert "not a prepared dataset" in capsys.readouterr().err


def test_version_and_listing(capsys):
    assert main(["--version"]) == 0
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "itemknn" in out and "ease" in out and "bpr" in out
