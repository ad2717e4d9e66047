"""``recsmith lr-find`` and ``recsmith scaling`` build their model as ``train`` and ``benchmark`` do
(one builder): an alias of ``configs/beauty_content.yaml`` (``two_tower_text: {model: two_tower,
text_columns: [attributes], train: {...}}``) gets its registered model, its text column from the side
data and its own train overrides, on a tiny data set in the Beauty files' format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recsmith.config import load_config
from recsmith.data.prepare import prepare, read_source
from recsmith.pipelines.builder import build_model
from recsmith.pipelines.lr_find import run_lr_find
from recsmith.pipelines.scaling import run_scaling

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "beauty_content.yaml"
N_USERS, N_ITEMS = 60, 24
ATTRIBUTES = {1: "Brand A", 2: "Brand B", 3: "Skin Care", 4: "Hair Care"}


def _tiny_beauty(root: Path) -> Path:
    """Users of two tastes, each a sequence of 6-9 items of their taste; items carry attributes."""
    rng = np.random.default_rng(0)
    lines = []
    for u in range(1, N_USERS + 1):
        taste = np.arange(1, N_ITEMS // 2 + 1) + (u % 2) * (N_ITEMS // 2)
        lines.append(" ".join(map(str, [u, *rng.choice(taste, rng.integers(6, 10), replace=False)])))
    (root / "Beauty.txt").write_text("\n".join(lines) + "\n")
    attrs = {str(i): [1 + (i > N_ITEMS // 2), 3 + (i > N_ITEMS // 2)] for i in range(1, N_ITEMS + 1)}
    (root / "Beauty_item2attributes.json").write_text(json.dumps(attrs))
    maps = {
        "id2item": {str(i): f"B{i:09d}" for i in range(1, N_ITEMS + 1)},
        "id2attribute": {str(k): v for k, v in ATTRIBUTES.items()},
    }
    (root / "datamaps.json").write_text(json.dumps(maps))
    return root / "Beauty.txt"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    path = _tiny_beauty(tmp_path_factory.mktemp("beauty"))
    cfg = load_config(
        CONFIG,
        [
            f"data.path={json.dumps(str(path))}",
            "split.cold_items=0",
            "models.two_tower_text.dim=8",
            "models.two_tower_text.train={epochs: 2, batch_size: 64, validation: {every: 1}}",
        ],
    )
    dataset = prepare(read_source(cfg.data), cfg.data)
    return cfg, dataset


@pytest.mark.slow
def test_builder_resolves_the_alias_its_side_data_and_its_overrides(setup):
    cfg, dataset = setup
    from recsmith.pipelines.builder import side_data

    built = build_model(cfg, "two_tower_text", side=side_data(dataset, None))
    assert built.model.name == "two_tower" and built.model.config.text_columns == ["attributes"]
    assert built.model.config.dim == 8
    assert built.train_config.epochs == 2 and built.train_config.loss.name == "infonce"  # the model's default
    assert built.train_config.threads == 1  # the run's train section
    assert "train" not in built.model.config.model_dump()


@pytest.mark.slow
def test_lr_find_on_an_aliased_model(setup, tmp_path):
    cfg, dataset = setup
    result = run_lr_find(dataset, cfg, tmp_path, model_name="two_tower_text", steps=12, end_lr=1.0)
    assert len(result.lrs) >= 5 and np.isfinite(result.losses[0])
    saved = json.loads((tmp_path / "lr_find.json").read_text())
    assert saved["model"] == "two_tower_text"
    assert (tmp_path / "lr_find.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_scaling_on_an_aliased_model(setup, tmp_path):
    cfg, dataset = setup
    report = run_scaling(
        dataset, cfg, tmp_path / "scaling", dims=[4, 8, 16], fractions=[0.5, 1.0], model_name="two_tower_text"
    )
    assert report.model == "two_tower_text" and len(report.points) == 6
    assert {p.dim for p in report.points} == {4, 8, 16}
    assert all(np.isfinite(p.value) for p in report.points)
    assert (tmp_path / "scaling" / "scaling.json").exists()
