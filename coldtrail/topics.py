"""MQTT topic names. The only place a topic string is built or parsed.

Layout (``<prefix>`` defaults to ``coldtrail``; tests use their own to stay apart)::

    <prefix>/v1/<gateway_id>/telemetry   gateway -> ingest, QoS 1, TelemetryBatch
    <prefix>/v1/<gateway_id>/status      gateway -> all, retained, last will = offline
    <prefix>/v1/<gateway_id>/deadletter  gateway -> ingest, frames the gateway could not decode
    <prefix>/v1/<gateway_id>/cmd         API -> gateway, QoS 1, Command (configuration, commands)
    <prefix>/v1/<gateway_id>/cmdresult   gateway -> ingest, QoS 1, CommandResult
    <prefix>/v1/<gateway_id>/stored      ingest -> gateway, QoS 1, StoredAck (what ingest committed)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

CONTRACT_VERSION = 1
DEFAULT_PREFIX = "coldtrail"

Channel = Literal["telemetry", "status", "deadletter", "cmd", "cmdresult", "stored"]
CHANNELS: tuple[Channel, ...] = ("telemetry", "status", "deadletter", "cmd", "cmdresult", "stored")

# A gateway id is one topic level: no wildcards, no separators, printable, short.
_GATEWAY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def check_gateway_id(gateway_id: str) -> str:
    """Return ``gateway_id`` if it can be a topic level, else raise ``ValueError`` saying why."""
    if not _GATEWAY_ID.match(gateway_id):
        raise ValueError(
            f"gateway id {gateway_id!r} must be 1-64 characters of letters, digits, '_', '.', ':'"
            " or '-', starting with a letter or digit"
        )
    return gateway_id


def check_prefix(prefix: str) -> str:
    if not _PREFIX.match(prefix):
        raise ValueError(f"topic prefix {prefix!r} must be '/'-separated words with no wildcards")
    return prefix


def topic(gateway_id: str, channel: Channel, prefix: str = DEFAULT_PREFIX) -> str:
    """The topic of one gateway's channel."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")
    return f"{check_prefix(prefix)}/v{CONTRACT_VERSION}/{check_gateway_id(gateway_id)}/{channel}"


def telemetry(gateway_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    return topic(gateway_id, "telemetry", prefix)


def status(gateway_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    return topic(gateway_id, "status", prefix)


def deadletter(gateway_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    return topic(gateway_id, "deadletter", prefix)


def cmd(gateway_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    return topic(gateway_id, "cmd", prefix)


def cmdresult(gateway_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Where a gateway publishes the result of each command it received on ``cmd``."""
    return topic(gateway_id, "cmdresult", prefix)


def stored(gateway_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Where ingest tells the gateway which of its telemetry messages it committed."""
    return topic(gateway_id, "stored", prefix)


def subscription(channel: Channel, prefix: str = DEFAULT_PREFIX, share: str | None = None) -> str:
    """Filter matching one channel of every gateway; ``share`` makes it a shared subscription."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")
    pattern = f"{check_prefix(prefix)}/v{CONTRACT_VERSION}/+/{channel}"
    return f"$share/{share}/{pattern}" if share else pattern


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    prefix: str
    version: int
    gateway_id: str
    channel: Channel


def parse(topic_name: str) -> ParsedTopic:
    """Split a topic into its parts; ``ValueError`` if it is not a coldtrail topic."""
    parts = topic_name.split("/")
    if len(parts) < 4:
        raise ValueError(f"topic {topic_name!r} is not <prefix>/v<N>/<gateway>/<channel>")
    *prefix_parts, version, gateway_id, channel = parts
    if not version.startswith("v") or not version[1:].isdigit():
        raise ValueError(
            f"topic {topic_name!r} has no version level (expected 'v{CONTRACT_VERSION}')"
        )
    for known in CHANNELS:
        if channel == known:
            check_gateway_id(gateway_id)
            return ParsedTopic("/".join(prefix_parts), int(version[1:]), gateway_id, known)
    raise ValueError(f"topic {topic_name!r} has unknown channel {channel!r}")
