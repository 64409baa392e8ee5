"""docker-compose.yml's structure: N ingest workers in one share group with unique, fixed client
ids, and the "emqx" profile's two-node cluster with the shipped ACL. No Docker engine runs the
file here (docs/scaling.md says so): this parses it and checks what the scaling docs promise."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from coldtrail.settings import IngestSettings, load

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.yml"
EMQX = ROOT / "deploy" / "emqx"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _workers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("command") == ["ingest"]
    }


def test_several_ingest_workers_share_one_group_with_unique_fixed_ids(
    compose: dict[str, Any],
) -> None:
    workers = _workers(compose)
    assert len(workers) >= 2
    envs = [w["environment"] for w in workers.values()]
    assert {e["COLDTRAIL_INGEST_SHARE_GROUP"] for e in envs} == {"ingest"}
    ids = [e["COLDTRAIL_INGEST_CLIENT_ID"] for e in envs]
    assert len(set(ids)) == len(ids)
    # Fixed per service: an id from the container's hostname would change on every re-creation
    # and leave the old session in the share group.
    assert not any("$" in i or "{" in i for i in ids)
    assert all("deploy" not in w or "replicas" not in w["deploy"] for w in workers.values())
    for env in envs:
        assert env["COLDTRAIL_INGEST_MQTT__PROTOCOL"] == "5"
        assert env["COLDTRAIL_INGEST_MIGRATE"] == "false"
        assert env["COLDTRAIL_INGEST_MQTT__USERNAME"] == "ingest"
    host_ports = [p.rsplit(":", 2)[-2] for w in workers.values() for p in w.get("ports", [])]
    assert len(set(host_ports)) == len(host_ports), "each worker's metrics on its own host port"


def test_the_emqx_profile_is_a_two_node_static_cluster(compose: dict[str, Any]) -> None:
    nodes = {
        name: service
        for name, service in compose["services"].items()
        if "emqx" in service.get("profiles", [])
    }
    assert len(nodes) == 2
    names = set()
    for service in nodes.values():
        assert service["image"].startswith("emqx/emqx:5.")
        env = service["environment"]
        assert env["EMQX_CLUSTER__DISCOVERY_STRATEGY"] == "static"
        host = service["hostname"]
        assert "." in host, "EMQX node names need a fully qualified host"
        assert env["EMQX_NODE__NAME"] == f"emqx@{host}"
        assert env["EMQX_NODE__COOKIE"].startswith("${EMQX_COOKIE:?")
        names.add(env["EMQX_NODE__NAME"])
        mounts = {v.split(":")[1] for v in service["volumes"] if v.startswith("./")}
        assert mounts == {
            "/opt/emqx/etc/emqx.conf",
            "/opt/emqx/etc/acl.conf",
            "/opt/emqx/etc/auth-users.csv",
        }
    for service in nodes.values():
        seeds = service["environment"]["EMQX_CLUSTER__STATIC__SEEDS"]
        assert set(seeds.strip("[]").split(",")) == names
    # Without the profile nothing of EMQX starts: every other service runs on Mosquitto.
    others = [s for s in compose["services"].values() if "emqx" not in s.get("profiles", [])]
    assert all("emqx" not in str(s.get("depends_on", "")) for s in others)


def test_every_variable_compose_needs_is_in_the_env_example(compose: dict[str, Any]) -> None:
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE.read_text()))
    example = (ROOT / "deploy" / "env.example").read_text()
    defined = set(re.findall(r"^([A-Z0-9_]+)=", example, re.MULTILINE))
    assert required and required <= defined


def test_emqx_keeps_every_queued_message_and_authenticates_everyone() -> None:
    conf = (EMQX / "emqx.conf").read_text()
    assert re.search(r"^\s*max_mqueue_len = infinity$", conf, re.MULTILINE)
    assert re.search(r"^\s*max_inflight = 10000$", conf, re.MULTILINE)
    assert re.search(r"^\s*no_match = deny$", conf, re.MULTILINE)
    assert 'bootstrap_file = "${EMQX_ETC_DIR}/auth-users.csv"' in conf


def test_the_emqx_acl_grants_what_the_mosquitto_acl_grants() -> None:
    text = re.sub(r"%%.*", "", (EMQX / "acl.conf").read_text())
    for topic in ("telemetry", "status", "deadletter", "cmdresult"):
        assert f'"coldtrail/v1/${{username}}/{topic}"' in text
    assert '{allow, {user, "api"}, publish, ["coldtrail/v1/+/cmd"]}' in text
    assert '{allow, {user, "ingest"}, publish, ["coldtrail/v1/+/stored"]}' in text
    assert '"$share/ingest/coldtrail/v1/#"' in text
    assert text.rstrip().endswith("{deny, all}.")
    mosquitto = (ROOT / "deploy" / "mosquitto" / "acl").read_text()
    for topic in ("telemetry", "status", "deadletter", "cmdresult"):
        assert f"pattern write coldtrail/v1/%u/{topic}" in mosquitto
    assert "user api\ntopic write coldtrail/v1/+/cmd\n" in mosquitto


def test_each_workers_environment_loads_into_its_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def resolve(value: str) -> str:  # ${VAR:?...} -> a test value, ${VAR:-default} -> default
        value = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)
        return re.sub(r"\$\{[A-Z0-9_]+:\?[^}]*\}", "test-secret", value)

    settings = []
    for service in _workers(compose).values():
        with monkeypatch.context() as env:
            for key in [k for k in os.environ if k.startswith("COLDTRAIL_")]:
                env.delenv(key)
            for key, value in service["environment"].items():
                env.setenv(key, resolve(str(value)))
            settings.append(load(IngestSettings))
    assert {s.share_group for s in settings} == {"ingest"}
    assert len({s.client_id for s in settings}) == len(settings)
    assert {s.mqtt.host for s in settings} == {"mosquitto"}
    assert all(s.mqtt.protocol == "5" and not s.migrate for s in settings)
