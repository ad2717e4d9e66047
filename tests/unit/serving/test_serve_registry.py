"""The model registry on MLflow: versions with lineage, promote / rollback, a service that follows production."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from recsmith.cli.main import main
from recsmith.serving.bundle import MANIFEST
from recsmith.serving.registry import HISTORY_TAG, ModelRegistry, RegistryError


@pytest.fixture
def registry(tmp_path, seed_mlflow_db) -> ModelRegistry:
    db = seed_mlflow_db(tmp_path / "registry" / "mlflow.db")
    return ModelRegistry(f"sqlite:///{db}")


@pytest.fixture(scope="module")
def two_bundles(tmp_path_factory, bundle_factory):
    root = tmp_path_factory.mktemp("reg-bundles")
    return bundle_factory(root / "a", "als", version="als-a"), bundle_factory(root / "b", "itemknn", version="knn-b")


def test_a_registered_version_keeps_a_copy_of_the_bundle_and_its_lineage(registry, two_bundles, tmp_path):
    original = tmp_path / "to-delete"
    shutil.copytree(two_bundles[0], original)
    v1 = registry.register(original, "recs")
    shutil.rmtree(original)  # the registry's copy does not depend on the export directory
    assert v1.version == 1 and not v1.production and v1.bundle_version == "als-a"
    assert v1.tags["recsmith.model"] == "als" and v1.tags["recsmith.code_version"]
    assert v1.metrics["test/ndcg_at_10"] == pytest.approx(0.5)
    copy = registry.bundle_path(v1)
    assert json.loads((copy / MANIFEST).read_text())["version"] == "als-a"
    assert registry.versions("recs") == [v1] and registry.models() == ["recs"]


def test_promote_and_rollback_walk_the_production_history(registry, two_bundles):
    v1 = registry.register(two_bundles[0], "recs")
    v2 = registry.register(two_bundles[1], "recs")
    assert registry.production("recs") is None
    with pytest.raises(RegistryError, match="no production version to roll back from"):
        registry.rollback("recs")
    registry.promote("recs", v1.version)
    assert registry.promote("recs", v2.version).production
    assert [v.version for v in registry.versions("recs") if v.production] == [2]
    assert registry.rollback("recs").version == 1
    assert registry.production("recs").version == 1
    with pytest.raises(RegistryError, match="no version was in production before version 1"):
        registry.rollback("recs")
    assert registry.rollback("recs", to=2).version == 2  # an explicit target is always allowed
    assert [h["version"] for h in registry.history("recs")] == [1, 2]
    assert HISTORY_TAG in registry.client.get_registered_model("recs").tags


def test_unknown_models_and_versions_are_clear_errors(registry, two_bundles, tmp_path):
    registry.register(two_bundles[0], "recs")
    with pytest.raises(RegistryError, match="model 'recs' has no version 7; its versions: 1"):
        registry.promote("recs", 7)
    with pytest.raises(RegistryError, match="has no model 'nope'; models: recs"):
        registry.versions("nope")
    with pytest.raises(RegistryError, match="not a model bundle"):
        registry.register(tmp_path, "recs")
    assert registry.production("recs") is None  # nothing was promoted by the failed calls


def test_registry_commands(registry, two_bundles, capsys):
    uri = ["--registry", registry.uri]
    assert main(["registry", "register", "--bundle", str(two_bundles[0]), "--name", "recs", "--promote", *uri]) == 0
    assert main(["registry", "register", "--bundle", str(two_bundles[1]), "--name", "recs", *uri]) == 0
    assert "version 2" in capsys.readouterr().out
    assert main(["registry", "promote", "recs", "2", *uri]) == 0
    assert "production 1 -> 2" in capsys.readouterr().out
    assert main(["registry", "list", "recs", "--json", *uri]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["production"]) for v in listed] == [(2, True), (1, False)]
    assert main(["registry", "rollback", "recs", *uri]) == 0
    assert "production 2 -> 1 (rollback)" in capsys.readouterr().out
    assert main(["registry", "promote", "recs", "9", *uri]) == 1
    assert "has no version 9" in capsys.readouterr().err


def test_the_service_serves_production_and_follows_a_promotion_without_failing(
    registry, two_bundles, make_client, api_key
):
    v1 = registry.register(two_bundles[0], "recs")
    v2 = registry.register(two_bundles[1], "recs")
    registry.promote("recs", v1.version)
    client = make_client(None, registry_model="recs", registry_uri=registry.uri, registry_poll_s=0.1)
    assert client.get("/v1/users/u1/recommendations").json()["model_version"] == "als-a"
    registry.promote("recs", v2.version)
    seen, statuses = set(), []
    deadline = time.time() + 120  # generous: the poll and the reload share 2 cores with the rest of the suite
    while time.time() < deadline and "knn-b" not in seen:
        r = client.get("/v1/users/u1/recommendations", params={"k": 5})
        statuses.append(r.status_code)
        seen.add(r.json().get("model_version"))
        time.sleep(0.02)  # leave the reload thread the CPU
    assert "knn-b" in seen and set(statuses) == {200}
    assert 'recsmith_registry_version{model="recs"} 2.0' in client.get("/metrics").text


def test_a_registry_without_production_leaves_the_service_not_ready(registry, two_bundles, make_client):
    registry.register(two_bundles[0], "recs")
    client = make_client(None, registry_model="recs", registry_uri=registry.uri, registry_poll_s=30)
    ready = client.get("/ready")
    assert ready.status_code == 503 and "'recs' has no production version" in ready.json()["detail"]
