"""Packaged run configs: found by name from any directory, one copy shared with the repository's configs/."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsmith.config import load_config
from recsmith.errors import ConfigError
from recsmith.utils.packaged import packaged_config_dir, packaged_configs, resolve_config_path

ROOT = Path(__file__).resolve().parents[3]


def test_repository_configs_is_the_packaged_folder():
    link = ROOT / "configs"
    assert link.is_symlink(), "configs/ must link to src/recsmith/configs (one copy of every config)"
    assert link.resolve() == (ROOT / "src" / "recsmith" / "configs").resolve()
    assert sorted(p.name for p in link.glob("*.yaml")) == sorted(p.name for p in packaged_configs().values())


def test_every_packaged_config_is_valid():
    names = packaged_configs()
    assert {"demo", "ml100k", "beauty", "ml100k_every_model"} <= set(names)
    for name in names:
        cfg = load_config(name)  # by name, as `--config NAME` reads it
        assert cfg.models or cfg.data.source, name


def test_every_model_config_lists_every_registered_model():
    from recsmith.models.registry import available_models

    assert set(load_config("ml100k_every_model").models) == set(available_models())


def test_bare_name_means_the_packaged_config_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = packaged_config_dir() / "ml100k.yaml"
    assert resolve_config_path("ml100k") == expected
    assert resolve_config_path("ml100k.yaml") == expected
    assert resolve_config_path(Path("demo")) == packaged_config_dir() / "demo.yaml"


def test_a_file_of_the_user_wins_over_the_packaged_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo.yaml").write_text("seed: 7\n")
    assert resolve_config_path("demo.yaml") == Path("demo.yaml")
    assert load_config("demo.yaml").seed == 7


def test_a_missing_path_with_a_folder_is_not_replaced_silently(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ConfigError, match=r"configs/ml100k.yaml not found; a packaged config has that name: --config ml100k"
    ):
        resolve_config_path("configs/ml100k.yaml")
    with pytest.raises(ConfigError, match=r"nope not found; packaged configs .*: .*beauty, .*demo, .*ml100k"):
        resolve_config_path("nope")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        resolve_config_path("folder")
