"""``?explain=true`` on the recommendation endpoints: each item carries the model's explanation, with
external ids; without it the answers are unchanged; models without the ability and popularity answers
say what they are."""

from __future__ import annotations

import numpy as np
import pytest

from recsmith.serving.bundle import Bundle

USER = "u3"


def _history(bundle_path, user: str) -> set[str]:
    b = Bundle.load(bundle_path)
    return set(b.item_map.to_external(b.model.seen_items(int(b.user_map.to_internal([user])[0]))))


@pytest.mark.parametrize(("name", "method"), [("itemknn", "item_item"), ("als", "fold_in"), ("bpr", "fold_in")])
def test_user_recommendations_carry_their_explanations(bundles, make_client, auth, name, method):
    c = make_client(bundles[name], cache_ttl_s=0)
    plain = c.get(f"/v1/users/{USER}/recommendations?k=5", headers=auth).json()
    explained = c.get(f"/v1/users/{USER}/recommendations?k=5&explain=true", headers=auth).json()
    # asking adds the explanations and changes nothing else
    assert [(i["item_id"], i["score"]) for i in explained["items"]] == [
        (i["item_id"], i["score"]) for i in plain["items"]
    ]
    assert all(i["explanation"] is None for i in plain["items"]) and plain["explanation_note"] is None
    history = _history(bundles[name], USER)
    for item in explained["items"]:
        e = item["explanation"]
        assert e["method"] == method and e["reasons"], item
        contributions = [r["contribution"] for r in e["reasons"]]
        assert contributions == sorted(contributions, reverse=True) and min(contributions) > 0
        assert {r["item_id"] for r in e["reasons"]} <= history
        # additive: the parts add up to the score explained, within float32 rounding
        assert e["base"] + sum(contributions) + e["other"] == pytest.approx(e["score"], rel=1e-4, abs=1e-5)
        if method == "item_item":  # the scores the service ranked by are the ones explained
            assert e["score"] == pytest.approx(item["score"], rel=1e-4, abs=1e-5)


def test_explained_answers_are_cached_apart(bundles, make_client, auth):
    c = make_client(bundles["itemknn"])
    first = c.get(f"/v1/users/{USER}/recommendations?k=3", headers=auth).json()
    explained = c.get(f"/v1/users/{USER}/recommendations?k=3&explain=true", headers=auth).json()
    assert first["cached"] is False and explained["cached"] is False
    assert all(i["explanation"] is not None for i in explained["items"])
    again = c.get(f"/v1/users/{USER}/recommendations?k=3&explain=true", headers=auth).json()
    assert again["cached"] is True and again["items"] == explained["items"]


def test_session_and_feedback_explanations_read_the_new_items(bundles, make_client, auth):
    c = make_client(bundles["itemknn"], cache_ttl_s=0)
    session = ["i1", "i2", "i5"]
    body = {"session_items": session, "k": 4, "explain": True}
    (result,) = c.post("/v1/recommendations", json=body, headers=auth).json()["results"]
    assert result["strategy"] == "session"
    for item in result["items"]:
        assert {r["item_id"] for r in item["explanation"]["reasons"]} <= set(session)
    # a known user's online events join the history the explanation reads
    new = "i45"  # an item of the other taste group: the user's training history has few of its neighbours
    assert c.post("/v1/feedback", json={"events": [{"user_id": USER, "item_id": new}]}, headers=auth).status_code == 201
    after = c.get(f"/v1/users/{USER}/recommendations?k=10&explain=true", headers=auth).json()
    reasons = {r["item_id"] for i in after["items"] for r in i["explanation"]["reasons"]}
    assert new in reasons
    batch = c.post("/v1/recommendations", json={"user_ids": [USER, "nobody"], "k": 3, "explain": True}, headers=auth)
    known, cold = batch.json()["results"]
    assert all(i["explanation"]["method"] == "item_item" for i in known["items"])
    # the cold-start answer is popularity, and says so
    assert cold["strategy"] == "popular"
    for item in cold["items"]:
        e = item["explanation"]
        assert e["method"] == "popularity" and e["reasons"] == [
            {"item_id": None, "name": None, "feature": "popularity", "contribution": item["score"]}
        ]


def test_a_model_without_the_ability_says_so(bundles, make_client, auth):
    c = make_client(bundles["popular"], cache_ttl_s=0)
    r = c.get(f"/v1/users/{USER}/recommendations?k=3&explain=true", headers=auth)
    assert r.status_code == 200
    body = r.json()
    assert all(i["explanation"] is None for i in body["items"])
    assert "does not have the 'explanations' ability" in body["explanation_note"]
    assert np.isfinite([i["score"] for i in body["items"]]).all()
