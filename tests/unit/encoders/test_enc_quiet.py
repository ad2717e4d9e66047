"""Hugging Face's own progress bars ("Loading weights: 100%|...") stay off stderr unless
``recsmith --verbose`` (RECSMITH_VERBOSE=1) asks for them."""

from __future__ import annotations

import os

import pytest

from recsmith.cli.main import main
from recsmith.encoders import TextEncoder


def test_loading_a_model_is_quiet_by_default(capfd: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("RECSMITH_VERBOSE", raising=False)
    TextEncoder()
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "%|" not in err, err


def test_verbose_shows_them(capfd: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("RECSMITH_VERBOSE", "")  # restored after the test: --verbose sets it
    assert main(["--verbose", "models"]) == 0
    assert os.environ["RECSMITH_VERBOSE"] == "1"
    TextEncoder()
    assert "Loading weights" in capfd.readouterr().err
