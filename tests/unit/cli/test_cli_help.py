"""--help of every command reads as text: no ``<bool>`` after flags that take no value, no raw
reStructuredText double backticks."""

from __future__ import annotations

import pytest
import typer

from recsmith.cli.main import app, main


def _commands(group: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    if isinstance(group, typer.core.TyperGroup):  # typer ships its own click: duck-typing by its group class
        for name, command in group.commands.items():
            found += _commands(command, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_every_command_is_walked() -> None:
    assert {("benchmark",), ("data", "prepare"), ("data", "sources"), ("serve",), ("models",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "recsmith")
def test_help_has_no_bool_metavar_and_no_backticks(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--help" in out
    assert "<bool>" not in out, "a flag shows a type as if it took a value"
    assert "``" not in out, "raw reStructuredText in the help"


def test_benchmark_help_states_the_defaults_without_config(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from recsmith.config import RunConfig

    monkeypatch.setenv("COLUMNS", "400")  # one line per paragraph
    assert main(["benchmark", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    cfg = RunConfig()
    assert f"Without --config: split {cfg.split.method} (" in out
    assert f"K = {', '.join(map(str, cfg.evaluation.ks))};" in out
    assert f"chosen by {cfg.evaluation.select_metric} on validation" in out and "no tuning" in out
