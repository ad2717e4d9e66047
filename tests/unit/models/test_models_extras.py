"""Models declare the pip extras they need: `recsmith models` shows them, and a model whose extra is
not installed stops with one line when it is created, loaded or fitted."""

from __future__ import annotations

import re

import pytest
from model_contract import checkerboard

from fitting import fitted
from recsmith.errors import MissingExtraError
from recsmith.models import Recommender, create_model, get_model_class
from recsmith.models.registry import available_models, describe_models
from recsmith.models.torch_base import TorchRecommender
from recsmith.training import fit_model
from recsmith.utils.extras import EXTRAS, TORCHREC_STEP

_QUICK = {"epochs": 1, "batch_size": 64, "tracking": {"mlflow": False}, "threads": 1}


def test_every_model_declares_known_extras():
    infos = {info.name: info for info in describe_models()}
    assert set(infos) == set(available_models())
    for name, info in infos.items():
        assert set(info.extras) <= set(EXTRAS), name
        if issubclass(get_model_class(name), TorchRecommender):
            assert "torch" in info.extras, f"{name} is a torch model and must declare the torch extra"
    assert infos["ease"].extras == () and infos["als"].extras == () and infos["tfidf"].extras == ()
    assert infos["mf"].extras == ("torch",)
    assert infos["two_tower"].extras == ("torch", "torchrec")
    assert infos["tiger"].extras == ("torch", "text")  # its default config encodes item texts


def test_models_without_their_extra_are_marked_unavailable(block_modules):
    block_modules("torch")
    infos = {info.name: info for info in describe_models()}
    assert infos["mf"].missing == ("torch",) and not infos["mf"].available
    assert infos["two_tower"].missing == ("torch", "torchrec")
    assert infos["popular"].available and infos["hybrid"].available and infos["bpr"].available


def test_extras_that_depend_on_the_config():
    tiger, tower = get_model_class("tiger"), get_model_class("two_tower")
    assert tiger.required_extras(tiger.Config(), fitting=False) == ("torch",)  # a fitted TIGER keeps its ids
    assert tiger.required_extras(tiger.Config(embedding_column="vector"), fitting=True) == ("torch",)
    assert tower.required_extras(tower.Config(text_columns=["name"]), fitting=True) == ("torch", "torchrec", "text")
    assert tower.required_extras(tower.Config(text_columns=["name"]), fitting=False) == ("torch", "torchrec")
    fine_tuned = tower.Config(text_columns=["name"], text_freeze=False)  # its encoder is rebuilt on load
    assert tower.required_extras(fine_tuned, fitting=False) == ("torch", "torchrec", "text")


def test_creating_or_loading_a_model_without_its_extra_stops(tmp_path, block_modules):
    data = checkerboard()
    fitted("mf", {"dim": 8, "train": _QUICK}, data.train).save(tmp_path / "mf")
    block_modules("torch")
    with pytest.raises(MissingExtraError, match=re.escape('pip install "recsmith[torch]"')):
        create_model("mf", {"dim": 8})
    with pytest.raises(MissingExtraError, match=r"^model 'mf' needs recsmith's torch extra \(not installed: torch\)"):
        Recommender.load(tmp_path / "mf")
    # a hybrid needs what its parts need
    with pytest.raises(MissingExtraError, match="^model 'hybrid' needs recsmith's torch extra"):
        create_model("hybrid", {"collaborative": "mf"})
    create_model("hybrid", {"collaborative": "ease"})  # core parts: no extra needed


def test_torchrec_model_names_the_extra_step(block_modules):
    block_modules("torchrec", "fbgemm_gpu")
    with pytest.raises(MissingExtraError) as info:
        create_model("two_tower")
    assert str(info.value).endswith(f'pip install "recsmith[torchrec]" && {TORCHREC_STEP}')


def test_fitting_stops_before_any_work_without_a_fit_time_extra(block_modules):
    data = checkerboard()
    model = create_model("tiger", {"text_columns": ["name"]})  # creating it needs torch only
    block_modules("transformers")
    with pytest.raises(MissingExtraError, match=r"^model 'tiger' needs recsmith's text extra .*recsmith\[text\]"):
        fit_model(model, data.train, train_config=_QUICK)
    assert not model.is_fitted
