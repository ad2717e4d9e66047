"""``recsmith serve`` with the published default API key: a loud warning at start-up (development
only; the other environments refuse it)."""

from __future__ import annotations

from pathlib import Path

import pytest

uvicorn = pytest.importorskip("uvicorn", reason="the [serve] extra is not installed")


@pytest.fixture
def fake_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory `serve` accepts (it checks only manifest.json before uvicorn, which does nothing here)."""
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "manifest.json").write_text("{}")
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: None)
    for name in ("RECSMITH_BUNDLE", "RECSMITH_STATE_DIR", "RECSMITH_API_KEYS", "RECSMITH_ENVIRONMENT"):
        monkeypatch.setenv(name, "")  # `serve` sets some for its workers: monkeypatch restores them after
        monkeypatch.delenv(name)
    return tmp_path / "bundle"


def _serve(bundle: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from recsmith.cli.main import main

    code = main(["serve", "--bundle", str(bundle), "--state-dir", str(bundle.parent / "var")])
    return code, capsys.readouterr().err


def test_the_default_key_is_warned_about(fake_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _serve(fake_bundle, capsys)
    assert code == 0
    assert "WARNING: the API key is the public default 'changethis'" in err
    assert "RECSMITH_API_KEYS" in err


def test_a_real_key_starts_quietly(
    fake_bundle: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECSMITH_API_KEYS", "a-long-secret-key")
    code, err = _serve(fake_bundle, capsys)
    assert code == 0 and "serving " in err and "WARNING" not in err


def test_production_refuses_the_default_key(
    fake_bundle: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECSMITH_ENVIRONMENT", "production")
    code, err = _serve(fake_bundle, capsys)
    assert code != 0 and "'changethis' is not allowed in the 'production' environment" in err
