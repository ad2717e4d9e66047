"""An existing output is refused before any work, and the command line names only its flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsmith.cli.main import main


@pytest.mark.parametrize(
    "command",
    [
        ["report", "{missing}", "--out", "{out}"],
        ["data", "prepare", "csv", "--path", "{missing}", "--out", "{out}"],
        ["export", "--run", "{missing}", "--out", "{out}"],
    ],
    ids=["report", "prepare", "export"],
)
def test_an_existing_output_is_refused_first_naming_the_flag(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The input does not exist: the refusal of the output proves it came before reading anything."""
    (tmp_path / "out").mkdir()
    args = [a.format(missing=tmp_path / "nothing-here", out=tmp_path / "out") for a in command]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'out'} already exists (pass --overwrite to replace it)" in " ".join(err.split())
    assert "overwrite=True" not in err


def test_train_names_its_two_flags(tmp_path: Path) -> None:
    from recsmith.pipelines.train import _prepare_run_dir
    from recsmith.utils.atomic import OutputExistsError

    with pytest.raises(OutputExistsError) as caught:
        _prepare_run_dir(tmp_path, resume=False, overwrite=False)
    assert caught.value.cli_message().endswith("(pass --resume to continue its training or --overwrite to start over)")
    assert "resume=True" in str(caught.value), "Python callers read the arguments"
