"""`recsmith train / lr-find / scaling` end to end on small synthetic data, including a killed run resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from recsmith.cli.main import main
from recsmith.models import Recommender

SMALL = [
    "--set",
    "data.options.n_customers=300",
    "--set",
    "data.options.n_articles=120",
    "--set",
    "data.options.n_transactions=5000",
    "--set",
    "data.dedupe=last",
]
TRAIN = [
    "--set",
    "models.mf={dim: 16}",
    "--set",
    "train.tracking.mlflow=false",
    "--set",
    "train.threads=1",
    "--set",
    "train.batch_size=256",
    "--set",
    "train.optimizer.lr=0.01",
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("train-cli") / "synth"
    assert main(["data", "prepare", "synthetic", "--out", str(out), *SMALL]) == 0
    return out


def test_train_writes_a_complete_run(prepared, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--data",
            str(prepared),
            "--out",
            str(out),
            *TRAIN,
            "--set",
            "train.epochs=3",
            "--set",
            "train.tracking.mlflow=true",
        ]
    )
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == "mf" and results["epochs_run"] == 3
    assert 0 <= results["test"]["ndcg@10"] <= 1 and "ndcg@10" in results["valid"]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4 and "final" in json.loads(lines[-1])  # three epochs, then the test metrics
    model = Recommender.load(out / "models" / "mf")
    assert model.name == "mf" and model.recommend([0], k=5)[0].shape == (1, 5)
    assert (
        (out / "checkpoints" / "last.pt").exists() and (out / "mlflow.db").is_file() and (out / "config.yaml").exists()
    )
    assert "ndcg@10" in capsys.readouterr().out


def test_existing_run_needs_resume_or_overwrite(prepared, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    assert main(["train", "--data", str(prepared), "--out", str(out), *TRAIN]) == 1
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["--model", "itemknn"], 2, "not a torch model"),
        (["--set", "train.amp=fp16"], 2, "fp16 needs a CUDA device"),
        (["--set", "train.optimizer.momentum=2"], 2, "train.optimizer.momentum"),
    ],
)
def test_user_errors_are_messages(prepared, tmp_path, capsys, args, code, words):
    assert main(["train", "--data", str(prepared), "--out", str(tmp_path / "r"), *TRAIN, *args]) == code
    assert words in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_final_metrics(prepared, tmp_path):
    """SIGKILL a training process after its second checkpoint, resume it, compare with a straight run."""
    epochs = [
        "--set",
        "train.epochs=8",
        "--set",
        "train.scheduler.name=cosine",
        "--set",
        "train.early_stopping.patience=20",
    ]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert main(["train", "--data", str(prepared), "--out", str(straight), *TRAIN, *epochs]) == 0

    env = {**os.environ, "RECSMITH_PROGRESS": "0", "RECSMITH_QUIET": "1"}
    cmd = [
        sys.executable,
        "-m",
        "recsmith.cli.main",
        "train",
        "--data",
        str(prepared),
        "--out",
        str(killed),
        *TRAIN,
        *epochs,
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    metrics = killed / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "results.json").exists()

    assert main(["train", "--data", str(prepared), "--out", str(killed), "--resume", *TRAIN, *epochs]) == 0
    a = json.loads((straight / "results.json").read_text())
    b = json.loads((killed / "results.json").read_text())
    assert b["test"] == a["test"] and b["valid"] == a["valid"] and b["best_epoch"] == a["best_epoch"]
    assert [json.loads(x)["epoch"] for x in (killed / "metrics.jsonl").read_text().splitlines()[:-1]] == list(
        range(1, 9)
    )


def test_lr_find_writes_a_plot_and_prints_a_rate(prepared, tmp_path, capsys):
    out = tmp_path / "lr"
    assert (
        main(
            [
                "lr-find",
                "--data",
                str(prepared),
                "--out",
                str(out),
                *TRAIN,
                "--steps",
                "40",
                "--start-lr",
                "1e-5",
                "--end-lr",
                "100",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "suggested learning rate:" in printed
    rate = float(printed.split("suggested learning rate:")[1].split()[0])
    assert 1e-5 <= rate <= 100
    assert (out / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "lr_find.json").read_text())["suggestion"] == pytest.approx(rate, rel=1e-2)


def test_scaling_writes_table_plot_and_suggestion(prepared, tmp_path, capsys):
    out = tmp_path / "scaling"
    code = main(
        [
            "scaling",
            "--data",
            str(prepared),
            "--out",
            str(out),
            *TRAIN,
            "--set",
            "train.epochs=2",
            "--dims",
            "4,8,16",
            "--fractions",
            "0.5,1.0",
        ]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "scaling.json").read_text())
    assert len(report["points"]) == 6 and {p["dim"] for p in report["points"]} == {4, 8, 16}
    assert set(report["law"]) >= {"E", "A", "alpha", "B", "beta", "rmse"}
    assert (out / "scaling.png").exists() and "| dim |" in (out / "scaling.md").read_text()
    assert "fit: 1 - ndcg@10" in capsys.readouterr().out
    assert (
        main(
            [
                "scaling",
                "--data",
                str(prepared),
                "--out",
                str(tmp_path / "s2"),
                *TRAIN,
                "--dims",
                "8",
                "--fractions",
                "1.0",
            ]
        )
        == 2
    )  # 1 point cannot fit 5 parameters
