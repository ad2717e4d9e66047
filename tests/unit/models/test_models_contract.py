"""Every registered model passes the shared contract (see ``model_contract.py``)."""

from __future__ import annotations

from model_contract import RecommenderContract

from recsmith.models import available_models


class TestRandom(RecommenderContract):
    name = "random"
    params = {"seed": 3}
    ranks_held_out_first = False  # see test_models_random.py
    supports_similar_items = False


class TestPopular(RecommenderContract):
    name = "popular"
    ranks_held_out_first = False  # see test_models_popular.py
    supports_similar_items = False


class TestItemKNN(RecommenderContract):
    name = "itemknn"


class TestItemKNNBM25(RecommenderContract):
    name = "itemknn"
    params = {"weighting": "bm25", "binary": False}


class TestItemKNNTFIDF(RecommenderContract):
    name = "itemknn"
    params = {"weighting": "tfidf", "shrink": 0.0}


class TestEASE(RecommenderContract):
    name = "ease"
    params = {"l2": 10.0}


class TestEASEFloat32(RecommenderContract):
    name = "ease"
    params = {"l2": 10.0, "dtype": "float32", "binary": False}


class TestALS(RecommenderContract):
    name = "als"
    params = {"factors": 8, "iterations": 10, "seed": 1}


class TestBPR(RecommenderContract):
    name = "bpr"
    params = {"factors": 8, "seed": 1}


def test_every_registered_model_has_a_contract_test() -> None:
    import importlib
    from pathlib import Path

    for module in sorted(Path(__file__).parent.glob("test_models_*.py")):  # also when run alone
        importlib.import_module(module.stem)

    def all_subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *all_subclasses(sub))]

    tested = {c.name for c in all_subclasses(RecommenderContract) if getattr(c, "name", None)}
    assert tested == set(available_models())
