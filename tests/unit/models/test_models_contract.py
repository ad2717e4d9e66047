"""Every registered model passes the shared contract (see ``model_contract.py``)."""

from __future__ import annotations

from model_contract import RecommenderContract

from recsmith.models import available_models

FACTORS = frozenset({"embeddings", "explanations", "fold_in", "item_similarity"})
ITEM_ITEM = frozenset({"explanations", "item_item", "item_similarity"})


class TestRandom(RecommenderContract):
    name = "random"
    params = {"seed": 3}
    abilities = frozenset()
    ranks_held_out_first = False  # see test_models_random.py


class TestPopular(RecommenderContract):
    name = "popular"
    abilities = frozenset()
    ranks_held_out_first = False  # see test_models_popular.py


class TestItemKNN(RecommenderContract):
    name = "itemknn"
    abilities = ITEM_ITEM


class TestItemKNNBM25(RecommenderContract):
    name = "itemknn"
    params = {"weighting": "bm25", "binary": False}
    abilities = ITEM_ITEM


class TestItemKNNTFIDF(RecommenderContract):
    name = "itemknn"
    params = {"weighting": "tfidf", "shrink": 0.0}
    abilities = ITEM_ITEM


class TestEASE(RecommenderContract):
    name = "ease"
    params = {"l2": 10.0}
    abilities = ITEM_ITEM


class TestEASEFloat32(RecommenderContract):
    name = "ease"
    params = {"l2": 10.0, "dtype": "float32", "binary": False}
    abilities = ITEM_ITEM


class TestALS(RecommenderContract):
    name = "als"
    params = {"factors": 8, "iterations": 10, "seed": 1}
    abilities = FACTORS | {"warm_start"}


class TestBPR(RecommenderContract):
    name = "bpr"
    params = {"factors": 8, "seed": 1}
    abilities = FACTORS


def test_every_registered_model_has_a_contract_test() -> None:
    import importlib
    from pathlib import Path

    for module in sorted(Path(__file__).parent.glob("test_models_*.py")):  # also when run alone
        importlib.import_module(module.stem)

    def all_subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *all_subclasses(sub))]

    tested = {c.name for c in all_subclasses(RecommenderContract) if getattr(c, "name", None)}
    assert tested == set(available_models())


def test_every_ability_has_a_contract_test_run_on_a_model() -> None:
    """Adding an ability means adding its ``test_ability_<name>``, and some model must declare it."""
    import importlib
    from pathlib import Path

    from recsmith.models.abilities import all_abilities

    for module in sorted(Path(__file__).parent.glob("test_models_*.py")):
        importlib.import_module(module.stem)

    def all_subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *all_subclasses(sub))]

    classes = [c for c in all_subclasses(RecommenderContract) if getattr(c, "name", None)]
    missing = [c.__name__ for c in classes if not hasattr(c, "abilities")]
    assert not missing, f"contract classes that do not state their model's abilities: {missing}"
    declared = set().union(*(c.abilities for c in classes))
    for name in all_abilities():
        assert hasattr(RecommenderContract, f"test_ability_{name}"), f"no contract test for ability {name!r}"
        assert name in declared, f"no contract-tested model declares ability {name!r}"
