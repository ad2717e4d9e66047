"""``ncf`` (GMF, MLP, NeuMF) passes the shared contract; its network scores all items in blocks
exactly like per-pair scoring, and it trains with BCE on 4 uniform negatives unless told otherwise."""

from __future__ import annotations

import pytest
import torch
from model_contract import RecommenderContract

from fitting import torch_model
from recsmith.errors import ConfigError
from recsmith.models import create_model
from recsmith.nn import ncf as ncf_module
from recsmith.nn.ncf import NCF

# tiny and fast: the checkerboard has 40 users x 20 items (a few ms per epoch)
_TRAIN = {"epochs": 40, "batch_size": 64, "optimizer": {"lr": 0.05}, "tracking": {"mlflow": False}, "threads": 1}


class TestNeuMF(RecommenderContract):
    name = "ncf"
    params = {"variant": "neumf", "dim": 8, "mlp_dim": 8, "layers": [16, 8], "train": _TRAIN}
    abilities = frozenset({"item_similarity"})


class TestGMF(RecommenderContract):
    name = "ncf"
    params = {"variant": "gmf", "dim": 8, "train": _TRAIN}
    abilities = frozenset({"item_similarity"})


class TestMLP(RecommenderContract):
    name = "ncf"
    params = {"variant": "mlp", "mlp_dim": 8, "layers": [16, 8], "train": _TRAIN}
    abilities = frozenset({"item_similarity"})


@pytest.mark.parametrize("variant", ["gmf", "mlp", "neumf"])
def test_all_item_scores_in_blocks_equal_per_pair_scores(variant: str, monkeypatch) -> None:
    torch.manual_seed(0)
    net = NCF(5, 23, variant=variant, dim=4, mlp_dim=3, layers=[6, 4])
    for p in net.parameters():  # away from the near-zero initialisation, so differences would show
        torch.nn.init.normal_(p, std=0.5)
    users = torch.tensor([0, 3, 4])
    per_pair = net(users, torch.arange(23).expand(3, -1))
    monkeypatch.setattr(ncf_module, "PAIR_BLOCK", 7)  # 3 users -> blocks of 2 items
    torch.testing.assert_close(net(users), per_pair)
    shared = torch.tensor([5, 1, 1, 22])
    torch.testing.assert_close(net(users, shared), per_pair[:, shared])


def test_first_mlp_layer_split_equals_the_concatenated_layer() -> None:
    torch.manual_seed(1)
    net = NCF(4, 6, variant="mlp", dim=4, mlp_dim=3, layers=[5, 2])
    users, items = torch.tensor([0, 2]), torch.tensor([[1, 4, 5], [0, 0, 3]])
    weight = torch.cat([net.first_user.weight, net.first_item.weight], dim=1)  # W over [p; q]
    x = torch.cat([net.mlp_user(users)[:, None, :].expand(-1, 3, -1), net.mlp_item(items)], dim=-1)
    phi = net.tower(x @ weight.T + net.first_user.bias)
    expected = net.predict(phi).squeeze(-1)
    torch.testing.assert_close(net(users, items), expected)


def test_defaults_are_bce_with_four_uniform_negatives_under_own_overrides() -> None:
    cfg = torch_model("ncf", {"train": {"epochs": 2}})[1]
    assert (cfg.loss.name, cfg.sampler.name, cfg.sampler.n_negatives, cfg.epochs) == ("bce", "uniform", 4, 2)
    cfg = torch_model("ncf", {"train": {"sampler": {"n_negatives": 8}}})[1]
    assert (cfg.loss.name, cfg.sampler.n_negatives) == ("bce", 8)


def test_bad_configs_name_the_key() -> None:
    with pytest.raises(ConfigError, match="layers"):
        create_model("ncf", {"variant": "mlp", "layers": []})
    with pytest.raises(ConfigError, match=r"ncf\.layers\.0"):
        create_model("ncf", {"layers": [0, 4]})
    create_model("ncf", {"variant": "gmf", "layers": []})  # GMF has no MLP
