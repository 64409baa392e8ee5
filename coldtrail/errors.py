"""The one error hierarchy of coldtrail. Every message says what is needed to act on it."""

from __future__ import annotations


class ColdtrailError(Exception):
    """Base of every error coldtrail raises on purpose."""


class ConfigError(ColdtrailError):
    """Configuration that cannot work; the message names the setting and the fix."""


class DecodeError(ColdtrailError):
    """Device bytes that no decoder can turn into readings. Carries the raw bytes as hex."""

    def __init__(self, reason: str, raw: bytes, *, device: str | None = None) -> None:
        self.reason = reason
        self.raw = bytes(raw)
        self.device = device
        where = f" from {device}" if device else ""
        super().__init__(f"cannot decode {len(raw)} bytes{where}: {reason} (raw: {raw.hex()})")


class InvalidMessage(ColdtrailError):
    """An MQTT payload that breaks the telemetry contract (bad JSON, unknown version, bad field)."""

    def __init__(self, reason: str, payload: bytes) -> None:
        self.reason = reason
        self.payload = bytes(payload)
        super().__init__(f"invalid telemetry message ({len(payload)} bytes): {reason}")


class ServiceUnavailable(ColdtrailError):
    """A service coldtrail needs (broker, database) cannot be reached or started."""
