"""Run configs that ship inside the package, so ``--config demo`` works from any directory.

The YAML files live in ``src/recsmith/configs/`` (package data, in every wheel and sdist); the
repository's ``configs/`` is a symbolic link to that folder, so there is one copy to edit and
``--config configs/ml100k.yaml`` keeps working from a clone.

A ``--config`` value is read as a path first. Only when no such file exists does a bare name
(``ml100k`` or ``ml100k.yaml``, no folder) mean the packaged config of that name: a file of the
user's always wins, and a path with a folder is never silently replaced by a packaged file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from recsmith.errors import ConfigError

SUFFIXES = (".yaml", ".yml")


def packaged_config_dir() -> Path:
    # a plain folder: pip installs wheels unzipped, and a source checkout is a folder too
    return Path(str(resources.files("recsmith") / "configs"))


def packaged_configs() -> dict[str, Path]:
    """Name (the file name without ``.yaml``) -> path of every packaged run config, sorted by name."""
    folder = packaged_config_dir()
    files = sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES) if folder.is_dir() else []
    return {p.stem: p for p in files}


def resolve_config_path(path: str | Path) -> Path:
    """The file to read for ``--config path``: ``path`` itself, or the packaged config it names.

    Raises :class:`~recsmith.errors.ConfigError` naming the packaged configs when neither exists.
    """
    path = Path(path)
    if path.is_file():
        return path
    if path.exists():
        raise ConfigError(f"config {path} is a directory, not a YAML file")
    packaged = packaged_configs()
    name = path.stem if path.suffix in SUFFIXES else path.name
    if path.parent == Path(".") and name in packaged:
        return packaged[name]
    hint = (
        f"; a packaged config has that name: --config {name}"
        if name in packaged
        else f"; packaged configs (usable by name from any directory): {', '.join(packaged) or 'none'}"
    )
    raise ConfigError(f"config file {path} not found{hint}")
