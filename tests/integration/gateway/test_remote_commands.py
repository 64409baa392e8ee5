"""Remote commands end to end, on a real broker and a real PostgreSQL: an ops admin's command sent
through the API (stored, audited, published by the API's relay) reaches a running gateway (the
gateway's service object with its TOML file, its disk outbox and command log), changes its
sensors, and its result comes back through ingest, is stored and listed by the API, and is
audited. An invalid configuration is refused with a clear error while the old one keeps running,
and a command delivered again (same id) is not applied twice, also after a gateway restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import tomli_w

from coldtrail import commands, topics
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import (
    GatewaySettings,
    IngestSettings,
    MqttSettings,
    load_gateway,
    parse_mqtt_url,
)
from firmware_bridge.ble import bthome
from firmware_bridge.frames import BleAdvert, Frame
from gateway import service
from gateway.config_file import TomlConfigFile
from gateway.ports import FrameSource
from ingest import migrate
from ingest import service as ingest_service
from tests.integration.api.conftest import OPS, api_settings
from tests.integration.api.conftest import running as running_api
from tests.integration.gateway.support import running, wait_for

pytestmark = pytest.mark.integration

OLD = "A4:C1:38:00:00:01"
NEW = "A4:C1:38:00:00:02"
# bthome.io's example: 25.06 °C, 50.55 %, battery 100 %
EXAMPLE = bytes.fromhex("016402ca0903bf13")


class TagSource:
    """One BTHome tag advertising every 50 ms, each advert with its own packet id: what the BLE
    scanner gives the gateway for one configured sensor."""

    def __init__(self, mac: str) -> None:
        self.mac = mac

    @property
    def name(self) -> str:
        return f"tag-{self.mac}"

    async def frames(self) -> AsyncIterator[Frame]:
        packet = 0
        while True:
            packet = (packet + 1) % 256
            yield BleAdvert(
                self.mac,
                datetime.now(UTC),
                service_data={bthome.SERVICE_UUID: bytes([0x40, 0x00, packet]) + EXAMPLE},
            )
            await asyncio.sleep(0.05)


def tag_sources(settings: GatewaySettings) -> list[FrameSource]:
    """As the BLE source listens to the configured sensors' MACs only: one tag each."""
    return [TagSource(sensor.mac) for sensor in settings.sensors]


def start_gateway(config: Path) -> service.Gateway:
    settings = load_gateway(str(config))
    return service.Gateway(
        settings,
        tag_sources(settings),
        config=TomlConfigFile(config),
        build_sources=tag_sources,
    )


async def test_a_command_through_the_api_reconfigures_a_running_gateway_once(
    database_url: str, mqtt_url: str, topic_prefix: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(migrate.migrate, database_url)
    gateway_id = f"gw-cmd-{uuid.uuid4().hex[:6]}"
    broker = parse_mqtt_url(mqtt_url)
    mqtt = MqttSettings(**broker, topic_prefix=topic_prefix)
    config = tmp_path / "gateway.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "gateway_id": gateway_id,
                "mqtt": {**broker, "topic_prefix": topic_prefix},
                "sensors": [{"mac": OLD, "label": "fridge"}],
                "ble": {"enabled": False},
                "outbox": {"path": str(tmp_path / "outbox.sqlite")},
                "batch_max_wait_s": 0.1,
                "status_interval_s": 1,
            }
        )
    )
    ingest_settings = IngestSettings(
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        mqtt=mqtt,
        database={"url": database_url},  # type: ignore[arg-type]
        batch_max_wait_s=0.1,
    )
    settings = api_settings(database_url, mqtt=mqtt, command_resend_s=120)

    def readings(device: str) -> int:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM readings WHERE gateway_id = %s AND device_id = %s",
                (gateway_id, device),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def heard() -> bool:
        with psycopg.connect(database_url) as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM gateways WHERE gateway_id = %s", (gateway_id,)
                ).fetchone()
                is not None
            )

    async def command(client: httpx.AsyncClient, command_id: str) -> dict[str, Any]:
        answer = await client.get(f"/v1/gateways/{gateway_id}/commands/{command_id}", headers=OPS)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def settled(client: httpx.AsyncClient, command_id: str) -> dict[str, Any]:
        async def done() -> bool:
            return (await command(client, command_id))["status"] in ("applied", "refused", "failed")

        await wait_for(done, 30, f"the result of command {command_id}")
        return await command(client, command_id)

    operator = MqttConnection(mqtt, f"operator-{uuid.uuid4().hex[:6]}", clean_session=True)
    await operator.start(wait_s=10)

    async def redeliver(stored: dict[str, Any]) -> None:
        """The same command (same id) once more, as a broker redelivery would bring it."""
        again = commands.Command(
            id=uuid.UUID(stored["command_id"]),
            gateway_id=gateway_id,
            kind=stored["kind"],
            body=stored["body"],
        )
        await operator.publish(topics.cmd(gateway_id, topic_prefix), commands.encode(again))

    try:
        async with (
            running(lambda stop: ingest_service.run(ingest_settings, stop)),
            running_api(settings) as client,
        ):
            gateway = start_gateway(config)
            async with running(gateway.run):
                await wait_for(heard, 30, "ingest to hear from the gateway")
                await wait_for(lambda: readings(OLD) >= 3, 30, "readings of the old sensor")
                assert readings(NEW) == 0

                # 1. add a sensor through the API
                sent = await client.post(
                    f"/v1/gateways/{gateway_id}/commands",
                    json={"kind": "add_sensor", "body": {"sensor": {"mac": NEW, "kind": "bthome"}}},
                    headers=OPS,
                )
                assert sent.status_code == 201, sent.text
                assert sent.json()["status"] == "pending"
                added = await settled(client, sent.json()["command_id"])
                assert added["status"] == "applied", added
                assert "2 sensors configured" in added["message"]
                assert added["sends"] >= 1 and added["created_by"] == "ops"
                assert added["config_revision"] == TomlConfigFile(config).revision()
                assert [s.mac for s in gateway.settings.sensors] == [OLD, NEW]
                assert [s.mac for s in load_gateway(str(config)).sensors] == [OLD, NEW]
                await wait_for(lambda: readings(NEW) >= 3, 30, "readings of the new sensor")

                # 2. an invalid configuration: refused, the old one keeps running
                revision = TomlConfigFile(config).revision()
                bad = await client.post(
                    f"/v1/gateways/{gateway_id}/commands",
                    json={"kind": "patch_config", "body": {"config": {"batch_max_items": 0}}},
                    headers=OPS,
                )
                assert bad.status_code == 201, bad.text
                refused = await settled(client, bad.json()["command_id"])
                assert refused["status"] == "refused"
                assert "batch_max_items" in refused["message"]
                assert "Expected `int` >= 1" in refused["message"]
                assert "previous configuration keeps running" in refused["message"]
                assert TomlConfigFile(config).revision() == revision
                assert gateway.settings.batch_max_items == 500
                before = readings(OLD), readings(NEW)
                await wait_for(
                    lambda: readings(OLD) > before[0] + 2 and readings(NEW) > before[1] + 2,
                    30,
                    "readings of both sensors after the refusal",
                )

                # 3. the add delivered again: not applied twice, its stored result comes back
                await redeliver(added)

                async def duplicates(n: int) -> bool:
                    return (await command(client, added["command_id"]))["duplicates"] >= n

                await wait_for(lambda: duplicates(1), 30, "the duplicate's result")
                assert (await command(client, added["command_id"]))["status"] == "applied"
                assert [s.mac for s in load_gateway(str(config)).sensors] == [OLD, NEW]

            # 4. ... also after a restart: a new gateway process, same files
            restarted = start_gateway(config)
            assert [s.mac for s in restarted.settings.sensors] == [OLD, NEW]
            async with running(restarted.run) as (_stop, task):
                await redeliver(added)
                await wait_for(lambda: duplicates(2), 30, "the duplicate's result after restart")
                assert [s.mac for s in restarted.settings.sensors] == [OLD, NEW]
                assert TomlConfigFile(config).revision() == revision

                # 5. restart: the result is stored, then the gateway stops by itself (systemd
                # would start it again)
                restart = await client.post(
                    f"/v1/gateways/{gateway_id}/commands", json={"kind": "restart"}, headers=OPS
                )
                assert restart.status_code == 201, restart.text
                restarting = await settled(client, restart.json()["command_id"])
                assert (restarting["status"], restarting["message"]) == (
                    "applied",
                    "restarting now",
                )
                await wait_for(task.done, 30, "the gateway to stop for its restart")
                assert restarted.restart_requested

            # listed with their results, newest first, and audited in the gateway's trail
            listed = (await client.get(f"/v1/gateways/{gateway_id}/commands", headers=OPS)).json()
            assert [(c["kind"], c["status"]) for c in listed["commands"]] == [
                ("restart", "applied"),
                ("patch_config", "refused"),
                ("add_sensor", "applied"),
            ]
            trail = (await client.get(f"/v1/gateways/{gateway_id}/audit", headers=OPS)).json()
            assert trail["chain_intact"] is True
            assert [
                (e["actor"], e["action"], e["detail"]["command_id"]) for e in trail["entries"]
            ] == [
                ("ops", "command.issued", added["command_id"]),
                (f"gateway:{gateway_id}", "command.applied", added["command_id"]),
                ("ops", "command.issued", refused["command_id"]),
                (f"gateway:{gateway_id}", "command.refused", refused["command_id"]),
                ("ops", "command.issued", restarting["command_id"]),
                (f"gateway:{gateway_id}", "command.applied", restarting["command_id"]),
            ]
    finally:
        await operator.close()


async def test_a_result_for_an_unknown_command_or_from_another_gateway_is_a_dead_letter(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    await asyncio.to_thread(migrate.migrate, database_url)
    mqtt = MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=topic_prefix)
    command_id = uuid.uuid4()
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO gateways (gateway_id) VALUES ('gw-a'), ('gw-b')")
        conn.execute(
            "INSERT INTO gateway_commands (command_id, gateway_id, kind, created_by)"
            " VALUES (%s, 'gw-a', 'status', 'ops')",
            (command_id,),
        )
    ingest_settings = IngestSettings(
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        mqtt=mqtt,
        database={"url": database_url},  # type: ignore[arg-type]
        batch_max_wait_s=0.1,
    )

    def result(gateway: str, cid: uuid.UUID) -> bytes:
        return commands.encode(
            commands.result(cid, gateway, "applied", "status attached", datetime.now(UTC))
        )

    def dead_letters() -> list[tuple[str, str]]:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT gateway_id, reason FROM dead_letters ORDER BY dead_letter_id"
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def status() -> str:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT status FROM gateway_commands WHERE command_id = %s", (command_id,)
            ).fetchone()
        assert row is not None
        return str(row[0])

    publisher = MqttConnection(mqtt, f"pub-{uuid.uuid4().hex[:6]}", clean_session=True)
    await publisher.start(wait_s=10)
    try:
        async with running(lambda stop: ingest_service.run(ingest_settings, stop)):
            await asyncio.sleep(1)  # ingest subscribed
            stranger = uuid.uuid4()
            await publisher.publish(
                topics.cmdresult("gw-a", topic_prefix), result("gw-a", stranger)
            )
            await publisher.publish(
                topics.cmdresult("gw-b", topic_prefix), result("gw-b", command_id)
            )
            await publisher.publish(topics.cmdresult("gw-a", topic_prefix), b"{not json")
            await wait_for(lambda: len(dead_letters()) >= 3, 30, "three dead letters")
            assert status() == "pending"
            await publisher.publish(
                topics.cmdresult("gw-a", topic_prefix), result("gw-a", command_id)
            )
            await wait_for(lambda: status() == "applied", 30, "the command's own result")
    finally:
        await publisher.close()
    letters = dead_letters()
    assert len(letters) == 3
    assert ("gw-a", f"a result for command {stranger}, which is not a known command") in letters
    assert (
        "gw-b",
        f"a result for command {command_id}, sent to gateway 'gw-a', came from 'gw-b'",
    ) in letters
    assert any(g == "gw-a" and "command result is not JSON" in r for g, r in letters)
