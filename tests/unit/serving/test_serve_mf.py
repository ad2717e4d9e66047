"""A torch embedding model (mf) is served like the factor models: ANN index, fold-in, ONNX encoder."""

from __future__ import annotations

import pytest

from fitting import fitted

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def mf_bundle(tmp_path_factory, tiny):
    from recsmith.serving.bundle import write_bundle

    inter, user_map, item_map, attrs = tiny
    model = fitted("mf", {"dim": 8, "train": {"epochs": 1}}, inter)
    path = write_bundle(tmp_path_factory.mktemp("mf") / "b", model, user_map, item_map, items=attrs, version="mf-v1")
    return path, model, item_map


def test_mf_bundle_has_index_and_matches_model(mf_bundle, make_client, auth):
    path, model, item_map = mf_bundle
    c = make_client(path)
    assert c.get("/v1/model").json()["index"]["factory"] == "Flat"
    got = [it["item_id"] for it in c.get("/v1/users/u3/recommendations", params={"k": 5}).json()["items"]]
    expected, _ = model.recommend([3], 5)
    assert got == item_map.to_external(expected[0])
    r = c.post("/v1/feedback", json={"events": [{"user_id": "u3", "item_id": got[0], "type": "click"}]}, headers=auth)
    assert r.status_code == 201
    after = [it["item_id"] for it in c.get("/v1/users/u3/recommendations", params={"k": 5}).json()["items"]]
    assert got[0] not in after
