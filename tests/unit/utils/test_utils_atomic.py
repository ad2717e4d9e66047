"""Atomic writes leave files with the modes the umask gives, like any Unix tool: a dataset, run or
bundle written by one user is readable by a service account when the umask (022, 027) says so."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from recsmith.config import RunConfig
from recsmith.data.config import DataConfig
from recsmith.data.dataset import Dataset
from recsmith.pipelines.benchmark import run_benchmark
from recsmith.pipelines.export import export_bundle
from recsmith.pipelines.prepare import prepare_dataset
from recsmith.utils import atomic
from recsmith.utils.atomic import OutputExistsError, atomic_dir, atomic_write_bytes, check_output, current_umask


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under ``request.param`` as the process umask, then put the old one back."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    """Permission bits of ``root`` and everything under it, by relative path ('.' for the root)."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _assert_umask_modes(root: Path, mask: int) -> None:
    for name, mode in _modes(root).items():
        path = root / name
        expected = (0o777 if path.is_dir() else 0o666) & ~mask
        if not path.is_dir() and mode & 0o111:  # an executable a library wrote (none expected): its own bits
            expected |= 0o111 & ~mask
        assert mode == expected, f"{path}: mode {mode:o}, expected {expected:o} under umask {mask:03o}"


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077], indirect=True)
def test_current_umask_reads_without_changing_it(umask: int) -> None:
    assert current_umask() == umask
    assert current_umask() == umask, "reading it twice: nothing was changed by the first read"


@pytest.mark.parametrize("umask", [0o022, 0o027], indirect=True)
def test_the_fallback_without_proc_gives_the_same_umask(umask: int, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = open

    def no_proc(file, *args, **kwargs):  # a system without /proc/self/status
        if str(file) == "/proc/self/status":
            raise FileNotFoundError(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_proc)
    assert current_umask() == umask
    assert os.umask(umask) == umask, "the fallback put the umask back"


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077], indirect=True)
def test_atomic_files_and_directories_follow_the_umask(umask: int, tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "file.bin", b"x")
    with atomic_dir(tmp_path / "dir") as tmp:
        (tmp / "inner.txt").write_text("y")
        (tmp / "sub").mkdir()
    assert stat.S_IMODE((tmp_path / "file.bin").stat().st_mode) == 0o666 & ~umask
    _assert_umask_modes(tmp_path / "dir", umask)


@pytest.mark.parametrize("umask", [0o022], indirect=True)
def test_reading_the_umask_races_no_other_thread(umask: int, tmp_path: Path) -> None:
    """While one thread reads the umask in a loop, files another creates keep the umask's mode (the
    /proc read never sets a temporary umask)."""
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            current_umask()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(300):
            (tmp_path / f"f{i}").write_bytes(b"")
    finally:
        stop.set()
        reader.join()
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o644}


@pytest.mark.parametrize("umask", [0o022, 0o027], indirect=True)
def test_dataset_run_and_bundle_are_readable_as_the_umask_allows(umask: int, tmp_path: Path) -> None:
    """prepare -> benchmark -> export: every directory and file the three wrote has the umask's mode
    (0755 / 0644 under 022: another user, e.g. the service account, can read the bundle)."""
    rng = np.random.default_rng(0)
    rows = ["user,item,ts"] + [f"u{u},i{rng.integers(0, 15)},{u * 100 + t}" for u in range(30) for t in range(6)]
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    data = DataConfig(source="csv", path=str(tmp_path / "log.csv"),
                      options={"user_col": "user", "item_col": "item", "timestamp_col": "ts"})  # fmt: skip
    prepare_dataset(data, tmp_path / "dataset")
    cfg = RunConfig.model_validate({"evaluation": {"ks": [5], "select_metric": "ndcg@5"}})
    run_benchmark(
        Dataset.load(tmp_path / "dataset"), cfg, ["popular"], tmp_path / "run", dataset_path=tmp_path / "dataset"
    )
    export_bundle(tmp_path / "run", "popular", tmp_path / "bundle", index_factory="Flat")
    for written in ("dataset", "run", "bundle"):
        _assert_umask_modes(tmp_path / written, umask)


def test_an_existing_output_is_refused_before_the_work(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(OutputExistsError) as caught:
        check_output(tmp_path / "out")
    assert "pass overwrite=True" in str(caught.value), "Python callers read the argument"
    assert caught.value.cli_message() == f"{tmp_path / 'out'} already exists (pass --overwrite to replace it)"
    assert isinstance(caught.value, FileExistsError)
    check_output(tmp_path / "out", overwrite=True)
    check_output(tmp_path / "new")
    assert atomic.file_mode() == 0o666 & ~current_umask()
