"""Fixtures shared by all tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the real data sets live beside the project: ../shared/data (see its README.md)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (the real data sets); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (tests marked realdata need ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite database with its tables made (Alembic runs ~50 migrations, seconds of
    CPU); tests copy it into place (:func:`seed_mlflow_db`) instead of creating one each."""
    from recsmith.training.tracking import mlflow_client, sqlite_uri

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow_client(sqlite_uri(path)).search_experiments()  # creates the tables
    return path


@pytest.fixture
def seed_mlflow_db(mlflow_template: Path):
    """``seed(path)`` puts a copy of the empty MLflow database at ``path`` (parents created)."""
    import shutil

    def seed(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(mlflow_template, path)
        return path

    return seed


@pytest.fixture
def block_modules(monkeypatch):
    """``block_modules("torch", ...)``: those modules count as not installed for the rest of the test.

    A finder refuses them (``tests/blocking.py``) and their top-level entries leave ``sys.modules``
    until the test ends, so ``import torch`` fails and recsmith's extras check finds nothing. Code
    that imported them earlier keeps its references; the test only sees what a fresh lookup sees.
    """
    from blocking import ModuleBlocker

    def block(*names: str) -> None:
        monkeypatch.setattr(sys, "meta_path", [ModuleBlocker(names), *sys.meta_path])
        for name in names:
            if name in sys.modules:
                monkeypatch.delitem(sys.modules, name)

    return block
