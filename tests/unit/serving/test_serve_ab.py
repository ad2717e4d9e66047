"""A/B tests in the service: sticky hashed variants, variant on responses and feedback, per-variant
metrics and drift, the conversion report; a bad experiment file is refused naming the key."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from recsmith.errors import ConfigError
from recsmith.evaluation.drift import PSI_ALERT
from recsmith.pipelines.ab_report import ab_report
from recsmith.serving.ab import ExperimentSpec, load_experiment


def experiment(tmp_path, bundles, shares=(0.5, 0.5), **extra):
    spec = {
        "name": "exp1",
        "variants": [
            {"name": "control", "bundle": str(bundles["als"]), "share": shares[0]},
            {"name": "treatment", "bundle": str(bundles["itemknn"]), "share": shares[1]},
        ],
        **extra,
    }
    path = tmp_path / "ab.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"shares": (0.5, 0.4)}, "shares sum to 0.9 \\(0.5 \\+ 0.4\\), not 1"),
        ({"shares": (0.5, 0.0)}, "variants.1.share"),
        ({"name": "bad name!"}, "name"),
    ],
)
def test_a_bad_experiment_file_names_what_is_wrong(tmp_path, bundles, change, words):
    shares = change.pop("shares", (0.5, 0.5))
    with pytest.raises(ConfigError, match=words):
        load_experiment(experiment(tmp_path, bundles, shares, **change))


def test_duplicate_names_and_versions_without_a_model_are_refused():
    with pytest.raises(ValueError, match="unique"):
        ExperimentSpec(
            name="e", variants=[{"name": "a", "share": 0.5, "bundle": "x"}, {"name": "a", "share": 0.5, "bundle": "y"}]
        )
    with pytest.raises(ValueError, match="need registry_model"):
        ExperimentSpec(
            name="e", variants=[{"name": "a", "share": 0.5, "version": 1}, {"name": "b", "share": 0.5, "version": 2}]
        )


def test_assignment_is_sticky_and_follows_the_shares():
    spec = ExperimentSpec(
        name="e", variants=[{"name": "a", "share": 0.2, "bundle": "x"}, {"name": "b", "share": 0.8, "bundle": "y"}]
    )
    users = [f"user-{i}" for i in range(20_000)]
    first = [spec.assign(u) for u in users]
    assert first == [spec.assign(u) for u in users]  # sticky
    share_a = first.count("a") / len(first)
    assert abs(share_a - 0.2) < 0.015  # binomial sd is 0.003 at n = 20,000
    other = ExperimentSpec(name="e2", variants=spec.variants)
    assert [other.assign(u) for u in users[:200]] != first[:200]  # a new experiment reshuffles


def test_the_service_serves_each_user_from_their_variant_and_logs_it(tmp_path, bundles, make_client, api_key):
    client = make_client(None, ab_config=experiment(tmp_path, bundles))
    seen = {}
    for i in range(40):
        body = client.get(f"/v1/users/u{i}/recommendations", params={"k": 5}).json()
        seen[f"u{i}"] = body["variant"]
        assert body["model_version"] == ("als-v1" if body["variant"] == "control" else "itemknn-v1")
    assert set(seen.values()) == {"control", "treatment"}
    again = client.get("/v1/users/u3/recommendations").json()
    assert again["variant"] == seen["u3"]
    sent = client.post(
        "/v1/feedback",
        json={"events": [{"user_id": u, "item_id": "i1", "type": "click"} for u in list(seen)[:10]]},
        headers={"X-API-Key": api_key},
    ).json()
    assert sent["variants"] == {u: seen[u] for u in list(seen)[:10]}
    metrics = client.get("/metrics").text
    for variant in ("control", "treatment"):
        assert f'recsmith_variant_requests_total{{outcome="ok",variant="{variant}"}}' in metrics
        assert f'recsmith_ab_exposures_total{{experiment="exp1",variant="{variant}"}}' in metrics
        assert f'recsmith_variant_coverage{{variant="{variant}"}}' in metrics
        assert f'recsmith_drift_psi{{signal="served_items",variant="{variant}"}}' in metrics
    service = client.app.state.service
    service.ab.exposures.flush()
    report = ab_report(tmp_path / "state")
    assert report["experiment"] == "exp1" and set(report["variants"]) == {"control", "treatment"}
    assert sum(v["users"] for v in report["variants"].values()) == 40
    assert sum(v["converted"] for v in report["variants"].values()) == 10
    assert report["verdict"] == "too small to conclude"


def test_feedback_on_items_rare_in_training_raises_the_drift_statistic(bundles, make_client, api_key):
    client = make_client(bundles["als"])
    service = client.app.state.service
    engine = service.engine
    popularity = np.asarray(engine.model.seen.sum(axis=0)).ravel()
    common = engine.bundle.item_map.to_external(np.argsort(-popularity)[:5])
    rare = engine.bundle.item_map.to_external(np.argsort(popularity)[:5])
    # users behaving like the training data: feedback spread as training interactions are
    seen = engine.model.seen
    users, items = seen.nonzero()
    sample = np.random.default_rng(0).choice(users.size, 800)  # with replacement, as training is spread
    like_training = [
        {"user_id": f"u{users[j]}", "item_id": engine.bundle.item_map.to_external([items[j]])[0], "type": "click"}
        for j in sample
    ]
    client.post("/v1/feedback", json={"events": like_training}, headers={"X-API-Key": api_key})
    calm = service.monitor.drift()["default"]["feedback_items"]
    drifted = [{"user_id": f"new{j}", "item_id": rare[j % 5], "type": "click"} for j in range(400)]
    client.post("/v1/feedback", json={"events": drifted}, headers={"X-API-Key": api_key})
    shifted = service.monitor.drift()["default"]
    assert calm < 0.1 < PSI_ALERT < shifted["feedback_items"] and shifted["feedback_users"] > PSI_ALERT
    assert common  # the popular items exist (a sanity check of the fixture)
