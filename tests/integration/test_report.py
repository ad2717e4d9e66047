"""Leaderboard -> run directory -> `recsmith report`, end to end on small synthetic data."""

from __future__ import annotations

import json
import shutil

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
MODELS = "random,popular,itemknn"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    data, run = root / "synth", root / "run"
    assert main(["data", "prepare", "synthetic", "--out", str(data), *SMALL]) == 0
    code = main(
        [
            "benchmark",
            "--data",
            str(data),
            "--split",
            "loo",
            "--models",
            MODELS,
            "--out",
            str(run),
            "--set",
            "tune.itemknn.k=[20,50]",
            "--set",
            "evaluation.bootstrap=200",
        ]
    )
    assert code == 0
    return run


def strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_leaderboard_keeps_its_shape_and_adds_statistics(run_dir):
    board = strict_json((run_dir / "leaderboard.json").read_text())
    assert set(board) == {"random", "popular", "itemknn"}
    for _name, r in board.items():
        assert {"valid", "test", "fit_seconds", "eval_seconds", "params", "tuning"} <= set(r)
        assert {"beyond", "ci", "vs_baseline"} <= set(r)
        lo, hi = r["ci"]["test"]["ndcg@10"]
        assert lo <= r["test"]["ndcg@10"] <= hi
        assert r["beyond"]["k"] == 10 and 0 <= r["beyond"]["coverage@10"] <= 1
        assert r["vs_baseline"]["baseline"] == "popular"
    assert board["popular"]["vs_baseline"]["is_baseline"] is True
    cmp = board["random"]["vs_baseline"]["metrics"]["ndcg@10"]
    assert cmp["verdict"] == "worse" and cmp["diff"] < 0
    md = (run_dir / "leaderboard.md").read_text()
    assert "vs popular (ndcg@10)" in md and "## Beyond accuracy" in md and "| random |" in md


def test_run_keeps_per_user_metrics_lists_and_split(run_dir):
    from recsmith.evaluation.store import load_evaluation, load_manifest, load_split

    manifest = load_manifest(run_dir)
    assert manifest["models"] == ["random", "popular", "itemknn"] and manifest["k_max"] == 20
    _train, test = load_split(run_dir, manifest)
    board = json.loads((run_dir / "leaderboard.json").read_text())
    for name in manifest["models"]:
        ev = load_evaluation(run_dir, name)
        assert ev.lists.shape == (ev.users.size, 20)
        assert ev.users.size == test.users().size
        assert ev.per_user["ndcg@10"].mean() == pytest.approx(board[name]["test"]["ndcg@10"])


def test_report_command_writes_markdown_html_json_and_plots(run_dir, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(run_dir), "--out", str(out), "--bootstrap", "100", "--sampled", "20"]) == 0
    assert "report.html" in capsys.readouterr().out
    md = (out / "report.md").read_text()
    for section in (
        "Accuracy on test",
        "Paired comparison with `popular`",
        "Beyond accuracy",
        "Slices (ndcg@10)",
        "Sampled negatives vs full ranking",
        "cold-start users",
        "new items",
        "activity Q4",
    ):
        assert section in md, section
    pngs = sorted(p.name for p in (out / "img").iterdir())
    assert pngs == ["run-coverage.png", "run-metric-vs-k.png", "run-popularity.png", "run-slices.png"]
    assert all((out / "img" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    numbers = strict_json((out / "report.json").read_text())
    run = numbers["runs"][0]
    board = json.loads((run_dir / "leaderboard.json").read_text())
    for name in board:
        assert run["models"][name]["test"]["ndcg@10"] == pytest.approx(board[name]["test"]["ndcg@10"])
    assert len(run["by_k"]["itemknn"]["ndcg"]) == 20
    assert run["sampled"]["models"]["itemknn"]["sampled hit@10"] >= run["sampled"]["models"]["itemknn"]["full hit@10"]
    # refuses to overwrite without --overwrite
    assert main(["report", str(run_dir), "--out", str(out)]) != 0


def test_training_curves_are_read_from_metrics_jsonl(run_dir, tmp_path):
    run = tmp_path / "with-curves"
    shutil.copytree(run_dir, run)
    lines = [{"epoch": e, "step": 10 * e, "loss": 1 / e, "lr": 0.001, "valid/ndcg@10": 0.01 * e} for e in (1, 2, 3)]
    text = "\n".join(json.dumps(x) for x in lines) + "\nnot json\n" + json.dumps({"final": {"ndcg@10": 0.1}}) + "\n"
    (run / "models" / "itemknn" / "metrics.jsonl").write_text(text)
    out = tmp_path / "rep"
    assert main(["report", str(run), "--out", str(out), "--bootstrap", "0"]) == 0
    assert (out / "img" / "with-curves-training.png").is_file()
    assert "training curves" in (out / "report.md").read_text().lower()
    from recsmith.reports.run import load_run

    curves = load_run(run).curves
    assert list(curves) == ["models/itemknn"] and curves["models/itemknn"].height == 3
    assert "valid/ndcg@10" in curves["models/itemknn"].columns


def test_runs_without_stored_evaluations_are_reevaluated_identically(run_dir, tmp_path):
    old = tmp_path / "old-run"
    shutil.copytree(run_dir, old)
    shutil.rmtree(old / "eval")
    shutil.rmtree(old / "split")
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["report", str(run_dir), "--out", str(a), "--bootstrap", "50"]) == 0
    assert main(["report", str(old), "--out", str(b), "--bootstrap", "50"]) == 0
    ra = strict_json((a / "report.json").read_text())["runs"][0]
    rb = strict_json((b / "report.json").read_text())["runs"][0]
    assert rb["protocol"]["recomputed"] is True
    for name in ra["models"]:
        assert rb["models"][name]["test"] == pytest.approx(ra["models"][name]["test"])
        assert rb["models"][name]["beyond"] == pytest.approx(ra["models"][name]["beyond"])


def test_report_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "x")]) != 0
    assert "not a recsmith run directory" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "x"), "--alpha", "2"]) != 0
