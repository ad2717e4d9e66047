"""What the README's own commands write in a clone stays out of git."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (ROOT / ".git").exists() or shutil.which("git") is None, reason="not a git checkout")
@pytest.mark.parametrize(
    "path", ["bundles/als/manifest.json", "var/feedback.sqlite3", "runs/ml100k/leaderboard.json", "data/ml100k/x"]
)
def test_outputs_of_the_readme_commands_are_ignored(path: str) -> None:
    found = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--no-index", "-q", path], check=False)
    assert found.returncode == 0, f"{path} is not in .gitignore"
