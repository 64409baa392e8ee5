"""Gateway broker credentials issued and revoked through the API, enforced by a REAL Mosquitto
that this test starts with the password file and ACL `coldtrail api broker-auth` writes."""

from __future__ import annotations

import asyncio
import base64
import os
import queue
import shutil
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from api.broker_auth import mosquitto_hash, mosquitto_verify
from coldtrail import cli
from coldtrail.localservices import (
    LOOPBACK,
    RunAs,
    end_process,
    free_tcp_port,
    make_temp_dir,
    port_accepts,
    tail_file,
    wait_until,
)
from coldtrail.localservices.mosquitto import mosquitto_executable
from tests.integration.api.conftest import OPS

pytestmark = pytest.mark.integration

INGEST_PASSWORD = "ingest-password-for-tests"
OPS_PASSWORD = "operator-password-for-tests"


def test_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    """Our $7$ hash is the one mosquitto_passwd writes (same salt), and verifies both ways."""
    tool = shutil.which("mosquitto_passwd")
    assert tool, "mosquitto_passwd is not installed"
    path = tmp_path / "passwd"
    subprocess.run([tool, "-b", "-c", str(path), "alice", "s3cret pass"], check=True)
    theirs = path.read_text().strip().split(":", 1)[1]
    _, seven, iterations, salt, _key = theirs.split("$")
    assert seven == "7"
    ours = mosquitto_hash("s3cret pass", salt=base64.b64decode(salt), iterations=int(iterations))
    assert ours == theirs
    assert mosquitto_verify("s3cret pass", theirs)
    assert not mosquitto_verify("wrong", mosquitto_hash("s3cret pass"))


@dataclass
class Broker:
    port: int
    pid: int
    passwd: Path
    acl: Path
    include: Path


@pytest.fixture
def broker() -> Iterator[Broker]:
    executable = mosquitto_executable()
    assert executable, "mosquitto is not installed"
    who = (RunAs.lookup("mosquitto") or RunAs.lookup("nobody")) if os.geteuid() == 0 else None
    folder = make_temp_dir("coldtrail-broker-auth-", who)
    passwd, acl, include = folder / "passwd", folder / "acl", folder / "ingest.passwd"
    include.write_text(
        f"ingest:{mosquitto_hash(INGEST_PASSWORD)}\nops:{mosquitto_hash(OPS_PASSWORD)}\n"
    )
    # The files exist before the first `broker-auth`, owned by the broker's user: the
    # rewrites keep their owner (docs/deployment.md).
    for path in (passwd, acl):
        path.write_text("")
        if who:
            os.chown(path, who.uid, who.gid)
    port = free_tcp_port()
    config = folder / "mosquitto.conf"
    config.write_text(
        "\n".join(
            [
                f"listener {port} {LOOPBACK}",
                "persistence false",
                "max_queued_messages 0",
                "allow_anonymous false",
                f"password_file {passwd}",
                f"acl_file {acl}",
                *([f"user {who.name}"] if who else []),
                "log_dest stderr",
                "log_type all",
            ]
        )
        + "\n"
    )
    log = folder / "mosquitto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [executable, "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        assert wait_until(lambda: proc.poll() is not None or port_accepts(port), 10)
        assert proc.poll() is None, tail_file(log)
        yield Broker(port, proc.pid, passwd, acl, include)
    finally:
        end_process(proc, "mosquitto")
        print(tail_file(log, 60))  # shown when the test fails
        shutil.rmtree(folder, ignore_errors=True)


class Client:
    """A paho client in its own network thread, recording what it receives."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.connack = threading.Event()
        self.reason: mqtt.ReasonCode | None = None
        self.lost = threading.Event()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{username}-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *_args: self.lost.set()
        self._client.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))
        self._client.connect(LOOPBACK, port, keepalive=30)
        self._client.loop_start()
        assert self.connack.wait(10), "no CONNACK within 10 s"

    def _on_connect(
        self, _c: object, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object
    ) -> None:
        self.reason = reason
        self.connack.set()

    @property
    def accepted(self) -> bool:
        return self.reason is not None and not self.reason.is_failure

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self._client.on_subscribe = lambda *_args: done.set()
        self._client.subscribe(topic, qos=1)
        assert done.wait(10)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self._client.publish(topic, payload, qos=qos).wait_for_publish(10)

    def publish_denied(self, topic: str, payload: bytes, qos: int) -> bool:
        """Publish what the ACL denies; True when the broker then closed the connection."""
        self._client.publish(topic, payload, qos=qos)
        return self.lost.wait(5)

    def next_message(self, timeout: float = 10) -> tuple[str, bytes]:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


async def broker_auth(url: str, broker: Broker) -> None:
    args = ["api", "broker-auth", "--database-url", url, "--passwd", str(broker.passwd)]
    args += ["--acl", str(broker.acl), "--include-passwd", str(broker.include)]
    args += ["--reader", "ingest", "--operator", "ops"]
    args += ["--reload-pid", str(broker.pid)]
    assert await asyncio.to_thread(cli.main, args) == 0
    await asyncio.sleep(0.5)  # SIGHUP: Mosquitto reads the files again in its next loop


async def connect(broker: Broker, username: str, password: str) -> Client:
    return await asyncio.to_thread(Client, broker.port, username, password)


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        await asyncio.to_thread(client.close)


async def test_issued_credentials_publish_own_topics_only_and_revocation_locks_out(
    client: httpx.AsyncClient, migrated_url: str, broker: Broker, clients: list[Client]
) -> None:
    issued = await client.post("/v1/gateways/gw-a/credentials", headers=OPS)
    assert issued.status_code == 201, issued.text
    gw_a = issued.json()
    assert gw_a["username"].startswith("gw-a.") and len(gw_a["password"]) >= 40
    gw_b = (await client.post("/v1/gateways/gw-b/credentials", headers=OPS)).json()
    listed = (await client.get("/v1/gateways/gw-a/credentials", headers=OPS)).json()
    assert [c["username"] for c in listed["credentials"]] == [gw_a["username"]]
    assert "password" not in listed["credentials"][0]
    await broker_auth(migrated_url, broker)
    assert gw_a["password"] not in broker.passwd.read_text()  # only the hash is kept

    ingest = await connect(broker, "ingest", INGEST_PASSWORD)
    clients.append(ingest)
    assert ingest.accepted, ingest.reason
    await asyncio.to_thread(ingest.subscribe, "coldtrail/v1/#")
    a = await connect(broker, gw_a["username"], gw_a["password"])
    clients.append(a)
    assert a.accepted, a.reason

    await asyncio.to_thread(a.publish, "coldtrail/v1/gw-a/telemetry", b"mine")
    assert await asyncio.to_thread(ingest.next_message) == ("coldtrail/v1/gw-a/telemetry", b"mine")

    # another gateway's topic, at QoS 0 and 1: Mosquitto (2.0.11) drops the message and closes
    # the connection. A marker published after that closing arrives, and nothing before it.
    for qos in (0, 1):
        rogue = await connect(broker, gw_a["username"], gw_a["password"])
        clients.append(rogue)
        assert rogue.accepted
        forged = await asyncio.to_thread(
            rogue.publish_denied, "coldtrail/v1/gw-b/telemetry", b"forged", qos
        )
        assert forged, "the broker kept a connection whose publish it denied"
        await asyncio.to_thread(a.publish, "coldtrail/v1/gw-a/status", b"marker %d" % qos)
        expected = ("coldtrail/v1/gw-a/status", b"marker %d" % qos)
        assert await asyncio.to_thread(ingest.next_message) == expected
    with pytest.raises(queue.Empty):
        await asyncio.to_thread(ingest.next_message, 1.0)

    # its own cmd topic it reads; another gateway's cmd it does not
    await asyncio.to_thread(a.subscribe, "coldtrail/v1/gw-b/cmd")
    await asyncio.to_thread(a.subscribe, "coldtrail/v1/gw-a/cmd")
    operator = await connect(broker, "ops", OPS_PASSWORD)
    clients.append(operator)
    await asyncio.to_thread(operator.publish, "coldtrail/v1/gw-b/cmd", b"for b")
    await asyncio.to_thread(operator.publish, "coldtrail/v1/gw-a/cmd", b"for a")
    assert await asyncio.to_thread(a.next_message) == ("coldtrail/v1/gw-a/cmd", b"for a")
    with pytest.raises(queue.Empty):
        await asyncio.to_thread(a.next_message, 1.0)

    # ingest's storage acknowledgements: a gateway reads its own stored topic, not another's,
    # and cannot write one (it would make another gateway forget unstored readings)
    await asyncio.to_thread(a.subscribe, "coldtrail/v1/gw-b/stored")
    await asyncio.to_thread(a.subscribe, "coldtrail/v1/gw-a/stored")
    await asyncio.to_thread(ingest.publish, "coldtrail/v1/gw-b/stored", b"for b")
    await asyncio.to_thread(ingest.publish, "coldtrail/v1/gw-a/stored", b"stored a")
    assert await asyncio.to_thread(a.next_message) == ("coldtrail/v1/gw-a/stored", b"stored a")
    with pytest.raises(queue.Empty):
        await asyncio.to_thread(a.next_message, 1.0)
    forger = await connect(broker, gw_b["username"], gw_b["password"])
    clients.append(forger)
    assert await asyncio.to_thread(
        forger.publish_denied, "coldtrail/v1/gw-a/stored", b"forged ack", 1
    ), "a gateway wrote another gateway's stored topic"
    with pytest.raises(queue.Empty):
        await asyncio.to_thread(a.next_message, 1.0)
    assert not a.lost.is_set()

    # revoke, regenerate, SIGHUP: the credential no longer connects
    revoked = await client.delete("/v1/gateways/gw-a/credentials", headers=OPS)
    assert [c["username"] for c in revoked.json()["credentials"]] == [gw_a["username"]]
    assert revoked.json()["credentials"][0]["revoked_by"] == "ops"
    await broker_auth(migrated_url, broker)
    assert gw_a["username"] not in broker.passwd.read_text()
    again = await connect(broker, gw_a["username"], gw_a["password"])
    clients.append(again)
    assert not again.accepted
    # and the connection it already had is closed by the reload
    assert await asyncio.to_thread(a.lost.wait, 5)
    # the other gateway's credential still works
    b2 = await connect(broker, gw_b["username"], gw_b["password"])
    clients.append(b2)
    assert b2.accepted


async def test_credential_routes_need_admin_and_validate(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/gateways/gw-a/credentials")).status_code == 401
    bad = await client.post("/v1/gateways/gw%20a/credentials", headers=OPS)
    assert bad.status_code == 422
    colon = await client.post("/v1/gateways/gw:a/credentials", headers=OPS)
    assert colon.status_code == 422
    one = (await client.post("/v1/gateways/gw-a/credentials", headers=OPS)).json()
    two = (await client.post("/v1/gateways/gw-a/credentials", headers=OPS)).json()
    gone = await client.delete(f"/v1/gateways/gw-a/credentials/{one['username']}", headers=OPS)
    assert gone.status_code == 200 and gone.json()["revoked_at"]
    again = await client.delete(f"/v1/gateways/gw-a/credentials/{one['username']}", headers=OPS)
    assert again.status_code == 404
    active = (await client.get("/v1/gateways/gw-a/credentials", headers=OPS)).json()
    assert [c["username"] for c in active["credentials"]] == [two["username"]]
    everything = await client.get(
        "/v1/gateways/gw-a/credentials", params={"include_revoked": "true"}, headers=OPS
    )
    assert {c["username"] for c in everything.json()["credentials"]} == {
        one["username"],
        two["username"],
    }


async def test_only_the_api_writes_commands_and_a_gateway_answers_on_its_own_result_topic(
    client: httpx.AsyncClient, migrated_url: str, broker: Broker, clients: list[Client]
) -> None:
    gw_a = (await client.post("/v1/gateways/gw-a/credentials", headers=OPS)).json()
    gw_b = (await client.post("/v1/gateways/gw-b/credentials", headers=OPS)).json()
    await broker_auth(migrated_url, broker)
    ingest = await connect(broker, "ingest", INGEST_PASSWORD)
    clients.append(ingest)
    await asyncio.to_thread(ingest.subscribe, "coldtrail/v1/#")
    a = await connect(broker, gw_a["username"], gw_a["password"])
    clients.append(a)
    await asyncio.to_thread(a.subscribe, "coldtrail/v1/gw-a/cmd")

    # its own result topic: ingest reads it
    await asyncio.to_thread(a.publish, "coldtrail/v1/gw-a/cmdresult", b"result a")
    assert await asyncio.to_thread(ingest.next_message) == (
        "coldtrail/v1/gw-a/cmdresult",
        b"result a",
    )
    # another gateway's result topic, and any cmd topic (its own too): denied, connection closed
    for topic in ("coldtrail/v1/gw-a/cmdresult", "coldtrail/v1/gw-a/cmd"):
        rogue = await connect(broker, gw_b["username"], gw_b["password"])
        clients.append(rogue)
        assert await asyncio.to_thread(rogue.publish_denied, topic, b"forged", 1), topic
    own_cmd = await connect(broker, gw_a["username"], gw_a["password"])
    clients.append(own_cmd)
    assert await asyncio.to_thread(own_cmd.publish_denied, "coldtrail/v1/gw-a/cmd", b"self", 1)
    # ingest (a reader) may not send commands either
    assert await asyncio.to_thread(ingest.publish_denied, "coldtrail/v1/gw-a/cmd", b"no", 1)
    # the operator (the API's identity) may: the gateway receives only that one
    operator = await connect(broker, "ops", OPS_PASSWORD)
    clients.append(operator)
    await asyncio.to_thread(operator.publish, "coldtrail/v1/gw-a/cmd", b"from the api")
    assert await asyncio.to_thread(a.next_message) == ("coldtrail/v1/gw-a/cmd", b"from the api")
    with pytest.raises(queue.Empty):
        await asyncio.to_thread(a.next_message, 1.0)
