"""The CLI of a core-only install, simulated: a fresh Python process in which every module of every
extra is blocked before recsmith is imported (``tests/blocking.py``: `import torch` fails and
`find_spec` finds nothing, as when it is not installed). The core still runs a benchmark; `recsmith
models` marks what is missing; a model, command or search whose extra is missing stops with one line
naming the extra, exit status 5, no traceback, nothing written. A real clean virtualenv does the
same in scripts/release-check.sh (CI)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recsmith.cli.main import main
from recsmith.utils.extras import EXTRAS, TORCHREC_STEP

TESTS = Path(__file__).resolve().parents[1]
SMALL = ["--set", "data.options.n_customers=300", "--set", "data.options.n_articles=120"]
SMALL += ["--set", "data.options.n_transactions=4000", "--set", "data.dedupe=last"]

# runs the commands of argv[2] (JSON) in one process where the modules of argv[1] cannot be imported
_DRIVER = r"""
import contextlib, io, json, sys
sys.path.insert(0, sys.argv[3])
from blocking import block_in_fresh_process
block_in_fresh_process(sys.argv[1].split(","))
from recsmith.cli.main import main
results = []
for argv in json.loads(sys.argv[2]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    results.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def core_install(tmp_path_factory):
    """What each command printed, in a process without any extra; and the folder it worked in."""
    root = tmp_path_factory.mktemp("core")
    data, run = root / "data", root / "run"
    assert main(["data", "prepare", "synthetic", "--out", str(data), *SMALL]) == 0
    assert main(["benchmark", "--data", str(data), "--models", "popular", "--out", str(run)]) == 0
    commands = {
        "models": ["models"],
        "core benchmark": [
            "benchmark",
            "--data",
            str(data),
            "--models",
            "popular,itemknn,ease",
            "--out",
            str(root / "b"),
        ],
        "mf": ["benchmark", "--data", str(data), "--models", "popular,mf", "--out", str(root / "mf")],
        "two_tower": ["benchmark", "--data", str(data), "--models", "two_tower", "--out", str(root / "tt")],
        "train": ["train", "--data", str(data), "--config", "mf_ml100k", "--out", str(root / "train")],
        "text search": ["recommend", "--run", str(run), "--query", "warm socks"],
        "export": ["export", "--run", str(run), "--model", "popular", "--out", str(root / "bundle")],
        "serve": ["serve", "--bundle", str(root / "bundle")],
    }
    blocked = sorted({m for extra in EXTRAS.values() for m in extra.modules})
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, ",".join(blocked), json.dumps(list(commands.values())), str(TESTS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]  # a traceback here is the bug this test is for
    return dict(zip(commands, json.loads(proc.stdout))), root


def test_core_runs_without_any_extra(core_install):
    results, root = core_install
    assert results["core benchmark"]["code"] == 0, results["core benchmark"]["stderr"]
    board = json.loads((root / "b" / "leaderboard.json").read_text())
    assert set(board) == {"popular", "itemknn", "ease"}


def test_models_shows_what_this_install_lacks(core_install):
    results, _ = core_install
    assert results["models"]["code"] == 0
    lines = {line.split()[0]: line for line in results["models"]["stdout"].splitlines()[1:-2]}
    assert re.search(r"^ease +.+ +- +yes$", lines["ease"])
    assert re.search(r'^mf +.+ +torch +no: pip install "recsmith\[torch\]"$', lines["mf"])
    assert lines["two_tower"].endswith(f'no: pip install "recsmith[torchrec]" && {TORCHREC_STEP}')
    assert re.search(r'^tiger +.+ +torch, text +no: pip install "recsmith\[text\]"$', lines["tiger"])


@pytest.mark.parametrize(
    ("command", "extra", "what"),
    [
        ("mf", "torch", "model 'mf'"),
        ("two_tower", "torchrec", "model 'two_tower'"),
        ("train", "torch", "recsmith train"),
        ("text search", "text", "text search"),
        ("export", "serve", "recsmith export"),
        ("serve", "serve", "recsmith serve"),
    ],
)
def test_missing_extra_stops_with_one_line(core_install, command, extra, what):
    results, root = core_install
    result = results[command]
    assert result["code"] == 5
    lines = result["stderr"].splitlines()
    assert len(lines) == 1, result["stderr"]
    assert lines[0].startswith(f"error: {what} needs recsmith's ")
    assert f'pip install "recsmith[{extra}]"' in lines[0]
    assert not (root / {"mf": "mf", "two_tower": "tt", "export": "bundle"}.get(command, "none")).exists()
