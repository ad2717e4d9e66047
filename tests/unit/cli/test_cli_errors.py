"""How the CLI prints errors: one line, brackets kept, and a missing extra's module named as the extra
even where no explicit check stands (the safety net in ``main``)."""

from __future__ import annotations

import pytest

from recsmith.cli.main import main
from recsmith.errors import ConfigError

ARGS = ["evaluate", "--predictions", "p.csv", "--truth", "t.csv"]


def _raise(error: BaseException):
    def command(*args, **kwargs):
        raise error

    return command


def test_brackets_in_a_message_are_printed_not_read_as_markup(monkeypatch, capsys):
    monkeypatch.setattr(
        "recsmith.cli.evaluate.evaluate_files", _raise(ConfigError('try pip install "recsmith[torch]"'))
    )
    assert main(ARGS) == 2
    assert capsys.readouterr().err == 'error: try pip install "recsmith[torch]"\n'


def test_a_missing_module_of_an_extra_becomes_its_one_line_error(monkeypatch, capsys, block_modules):
    block_modules("faiss")
    missing = ModuleNotFoundError("No module named 'faiss'", name="faiss")
    monkeypatch.setattr("recsmith.cli.evaluate.evaluate_files", _raise(missing))
    assert main(ARGS) == 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: this command needs recsmith's serve extra (not installed: faiss")
    assert err.endswith('pip install "recsmith[serve]"\n')


def test_any_other_missing_module_is_a_bug_and_keeps_its_traceback(monkeypatch):
    monkeypatch.setattr("recsmith.cli.evaluate.evaluate_files", _raise(ModuleNotFoundError("x", name="leftpad")))
    with pytest.raises(ModuleNotFoundError, match="x"):
        main(ARGS)
