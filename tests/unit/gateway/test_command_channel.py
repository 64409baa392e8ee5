"""The command channel: results wait for the broker (none lost), go out at the next start if the
gateway stopped first, and a restart happens only once its result is published. A fake
publisher implements the port."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from coldtrail import commands, schema
from coldtrail.errors import ServiceUnavailable
from coldtrail.settings import GatewaySettings
from gateway.command_channel import CommandChannel
from gateway.command_log import SqliteCommandLog
from gateway.commands import CommandHandler

GW = "van-7"
TOPIC = "t/v1/van-7/cmdresult"


class FlakyPublisher:
    """A broker session that can be away, and that refuses the first ``failures`` publishes."""

    def __init__(self, failures: int = 0) -> None:
        self.connected = asyncio.Event()
        self.failures = failures
        self.published: list[tuple[str, bytes]] = []

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise ServiceUnavailable("broker went away")
        self.published.append((topic, payload))


class StillTarget:
    settings = GatewaySettings(gateway_id=GW)

    async def reconfigure(self, settings: GatewaySettings) -> None:
        raise AssertionError("no configuration command is sent here")

    def status(self, state: str = "online") -> schema.GatewayStatus:
        return schema.GatewayStatus(gateway_id=GW, state="online")


def command(kind: str) -> tuple[uuid.UUID, bytes]:
    command_id = uuid.uuid4()
    payload = {"id": str(command_id), "gateway_id": GW, "kind": kind}
    return command_id, msgspec.json.encode(payload)


async def wait(predicate: Callable[[], object], what: str) -> None:
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SqliteCommandLog]:
    opened = SqliteCommandLog(tmp_path / "commands.sqlite")
    yield opened
    opened.close()


async def test_a_result_waits_for_the_broker_and_is_not_lost(log: SqliteCommandLog) -> None:
    publisher = FlakyPublisher(failures=2)
    restarts: list[bool] = []
    channel = CommandChannel(
        CommandHandler(StillTarget(), log, None),
        log,
        publisher,
        TOPIC,
        lambda: restarts.append(True),
        retry_s=0.01,
    )
    task = asyncio.create_task(channel.run())
    try:
        command_id, payload = command("status")
        channel.received(payload)
        await wait(lambda: log.get(command_id) is not None, "the result recorded")
        await asyncio.sleep(0.05)
        assert publisher.published == []  # the broker is away
        assert [r.command_id for _, r in log.unpublished()] == [command_id]
        publisher.connected.set()  # back, but it refuses twice before taking it
        await wait(lambda: publisher.published, "the result published")
        topic, sent = publisher.published[0]
        assert topic == TOPIC
        assert commands.decode_result(sent).command_id == command_id
        assert log.unpublished() == []
        assert restarts == []
    finally:
        task.cancel()


async def test_results_unpublished_at_a_stop_go_out_at_the_next_start(
    log: SqliteCommandLog,
) -> None:
    left = commands.result(uuid.uuid4(), GW, "applied", "restarting now", datetime.now(UTC))
    log.record(left)  # handled, then the gateway stopped before the broker acknowledged it
    publisher = FlakyPublisher()
    publisher.connected.set()
    channel = CommandChannel(
        CommandHandler(StillTarget(), log, None), log, publisher, TOPIC, lambda: None
    )
    task = asyncio.create_task(channel.run())
    try:
        await wait(lambda: publisher.published, "the left-over result")
        assert commands.decode_result(publisher.published[0][1]) == left
        assert log.unpublished() == []
    finally:
        task.cancel()


async def test_a_restart_comes_after_its_result_is_published(log: SqliteCommandLog) -> None:
    publisher = FlakyPublisher()
    restarted_after: list[int] = []
    channel = CommandChannel(
        CommandHandler(StillTarget(), log, None),
        log,
        publisher,
        TOPIC,
        lambda: restarted_after.append(len(publisher.published)),
    )
    task = asyncio.create_task(channel.run())
    try:
        _, payload = command("restart")
        channel.received(payload)
        await asyncio.sleep(0.05)
        assert restarted_after == []  # not while its result waits for the broker
        publisher.connected.set()
        await wait(lambda: restarted_after, "the restart")
        assert restarted_after == [1]
        assert commands.decode_result(publisher.published[0][1]).outcome == "applied"
    finally:
        task.cancel()


class BrokenTarget(StillTarget):
    def status(self, state: str = "online") -> schema.GatewayStatus:
        raise RuntimeError("status file system gone")


async def test_a_command_that_breaks_unexpectedly_fails_and_the_next_one_runs(
    log: SqliteCommandLog,
) -> None:
    publisher = FlakyPublisher()
    publisher.connected.set()
    channel = CommandChannel(
        CommandHandler(BrokenTarget(), log, None), log, publisher, TOPIC, lambda: None
    )
    task = asyncio.create_task(channel.run())
    try:
        broken_id, broken = command("status")
        _, restart = command("restart")
        channel.received(broken)
        channel.received(restart)
        await wait(lambda: len(publisher.published) == 2, "two results")
        first, second = (commands.decode_result(p) for _, p in publisher.published)
        assert (first.command_id, first.outcome) == (broken_id, "failed")
        assert "RuntimeError: status file system gone" in first.message
        assert second.outcome == "applied"
        assert not task.done()
    finally:
        task.cancel()


class BrokenLog(SqliteCommandLog):
    """A command log whose SQLite file went bad (disk full, corrupt) for a while."""

    broken = True

    def get(self, command_id: uuid.UUID) -> commands.CommandResult | None:
        if self.broken:
            raise sqlite3.OperationalError("database or disk is full")
        return super().get(command_id)

    def record(self, result: commands.CommandResult) -> str:
        if self.broken:
            raise sqlite3.OperationalError("database or disk is full")
        return super().record(result)


async def test_a_command_log_error_is_answered_failed_and_the_channel_keeps_running(
    tmp_path: Path,
) -> None:
    log = BrokenLog(tmp_path / "commands.sqlite")
    publisher = FlakyPublisher()
    publisher.connected.set()
    channel = CommandChannel(
        CommandHandler(StillTarget(), log, None), log, publisher, TOPIC, lambda: None
    )
    task = asyncio.create_task(channel.run())
    try:
        first_id, first = command("status")
        channel.received(first)
        await wait(lambda: publisher.published, "the first result")
        result = commands.decode_result(publisher.published[0][1])
        assert (result.command_id, result.outcome) == (first_id, "failed")
        assert "disk is full" in result.message
        log.broken = False  # the disk has room again: the channel still runs
        second_id, second = command("status")
        channel.received(second)
        await wait(lambda: len(publisher.published) == 2, "the second result")
        result = commands.decode_result(publisher.published[1][1])
        assert (result.command_id, result.outcome) == (second_id, "applied")
        assert not task.done()
    finally:
        task.cancel()
        log.close()
