"""The command contract, version 1: what the API sends a gateway on ``<prefix>/v1/<gw>/cmd`` and
what the gateway answers on ``<prefix>/v1/<gw>/cmdresult``. See docs/mqtt-contract.md.

A :class:`Command` has an ``id`` (a UUID: the gateway applies each id at most once), a ``kind``
(:data:`KINDS`) and a ``body`` whose shape depends on the kind (:data:`BODIES`). A
:class:`CommandResult` names the command's id, its ``outcome`` (``applied``, ``refused``,
``failed``, or ``duplicate`` when the id was seen before: the stored result is sent again and
nothing is applied), a message for people, and the gateway's configuration revision after it.

:func:`check` validates a command's body with the gateway's own settings models (sensors,
calibrations, whole configurations), so the API refuses bad commands before storing them and
the gateway refuses them with the same words. Bindkeys, passwords and URLs' passwords are
secrets: :func:`redacted` hides them wherever a command is shown, logged or kept once closed.
"""

from __future__ import annotations

import copy
import re
import typing
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from coldtrail import schema, settings
from coldtrail.errors import InvalidMessage

VERSION = 1

CommandKind = Literal[
    "replace_config",
    "patch_config",
    "add_sensor",
    "remove_sensor",
    "set_bindkey",
    "set_calibration",
    "set_intervals",
    "status",
    "restart",
]
KINDS: tuple[CommandKind, ...] = typing.get_args(CommandKind)
CONFIG_KINDS: frozenset[CommandKind] = frozenset(KINDS) - {"status", "restart"}
"""The kinds that change the gateway's configuration file."""

Outcome = Literal["applied", "refused", "failed", "duplicate"]
OUTCOMES: tuple[Outcome, ...] = typing.get_args(Outcome)

Mac = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]
Table = dict[str, Any]
"""A TOML table as JSON: what the gateway's configuration file holds."""

MAX_PAYLOAD = 256 * 1024
SECRET_KEYS = frozenset({"bindkey", "password"})


class _Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class ReplaceConfig(_Body, kw_only=True):
    """The whole configuration file, as a table (gateway id, broker and outbox unchanged)."""

    config: Table


class PatchConfig(_Body, kw_only=True):
    """A JSON merge patch (RFC 7386) of the configuration file: tables merge, ``null`` removes
    a key, anything else (lists included) replaces."""

    config: Table


class AddSensor(_Body, kw_only=True):
    """One ``[[sensors]]`` entry (mac, kind, label, compartment, bindkey, calibration)."""

    sensor: Table


class RemoveSensor(_Body, kw_only=True):
    mac: Mac


class SetBindkey(_Body, kw_only=True):
    mac: Mac
    bindkey: str | None
    """32 hex digits, or null to remove it."""


class SetCalibration(_Body, kw_only=True):
    mac: Mac
    quantity: schema.CalibratedQuantity
    calibration: Table | None
    """``{"offset": ...}`` or ``{"points": [[raw, ref], [raw, ref]]}`` with an optional
    ``certificate``, as ``[sensors.calibration.<quantity>]``; null removes it."""


class SetIntervals(_Body, kw_only=True):
    status_interval_s: Seconds | None = None
    batch_max_wait_s: Seconds | None = None
    stored_resend_s: Seconds | None = None
    ble_stall_s: Seconds | None = None

    def __post_init__(self) -> None:
        if not any(getattr(self, f) is not None for f in self.__struct_fields__):
            fields = ", ".join(self.__struct_fields__)
            raise ValueError(f"set_intervals needs at least one of {fields}")


class NoBody(_Body):
    pass


Body = (
    ReplaceConfig
    | PatchConfig
    | AddSensor
    | RemoveSensor
    | SetBindkey
    | SetCalibration
    | SetIntervals
    | NoBody
)
BODIES: dict[CommandKind, type[Body]] = {
    "replace_config": ReplaceConfig,
    "patch_config": PatchConfig,
    "add_sensor": AddSensor,
    "remove_sensor": RemoveSensor,
    "set_bindkey": SetBindkey,
    "set_calibration": SetCalibration,
    "set_intervals": SetIntervals,
    "status": NoBody,
    "restart": NoBody,
}


class Command(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Published by the API on ``<prefix>/v1/<gateway_id>/cmd`` (QoS 1), again until a result
    comes back."""

    v: Literal[1] = 1
    id: uuid.UUID
    gateway_id: schema.GatewayId
    kind: CommandKind
    body: Table = {}
    issued_at: schema.UtcDatetime | None = None
    issued_by: str | None = None


class CommandResult(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Published by the gateway on ``<prefix>/v1/<gateway_id>/cmdresult`` (QoS 1)."""

    v: Literal[1] = 1
    command_id: uuid.UUID | None
    """None only for a payload so malformed that it named no id."""
    gateway_id: schema.GatewayId
    outcome: Outcome
    message: str
    config_revision: str | None = None
    """The configuration file's revision after the command (the first 16 hex digits of its
    SHA-256); None for a gateway that runs without a configuration file."""
    at: schema.UtcDatetime
    status: schema.GatewayStatus | None = None
    """The gateway's status, for a ``status`` command."""
    first_outcome: Outcome | None = None
    """For a ``duplicate``: the outcome of the first time the gateway handled this id."""


class _Id(msgspec.Struct):
    id: uuid.UUID | None = None


_command_decoder = msgspec.json.Decoder(Command)
_result_decoder = msgspec.json.Decoder(CommandResult)
_id_decoder = msgspec.json.Decoder(_Id)
_encoder = msgspec.json.Encoder()


def encode(message: Command | CommandResult) -> bytes:
    return _encoder.encode(message)


def _decode(decoder: msgspec.json.Decoder[Any], payload: bytes, what: str) -> Any:
    if len(payload) > MAX_PAYLOAD:
        raise InvalidMessage(f"{what} of {len(payload)} bytes (at most {MAX_PAYLOAD})", payload)
    try:
        return decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise InvalidMessage(f"invalid {what}: {exc}", payload) from None
    except msgspec.DecodeError as exc:
        raise InvalidMessage(f"{what} is not JSON: {exc}", payload) from None


def decode_command(payload: bytes) -> Command:
    """The command, its body checked (:func:`check`); :class:`InvalidMessage` saying why not."""
    command: Command = _decode(_command_decoder, payload, "command")
    try:
        check(command.kind, command.body)
    except ValueError as exc:
        raise InvalidMessage(str(exc), payload) from None
    return command


def decode_result(payload: bytes) -> CommandResult:
    result: CommandResult = _decode(_result_decoder, payload, "command result")
    return result


def command_id(payload: bytes) -> uuid.UUID | None:
    """The id of a command that did not decode, if it still names one."""
    try:
        return _id_decoder.decode(payload).id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def body(kind: CommandKind, table: Table) -> Body:
    """The typed body of a ``kind`` command; ``ValueError`` saying what is wrong."""
    try:
        return msgspec.convert(table, BODIES[kind])
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid body of a {kind} command: {exc}") from None


def check(kind: CommandKind, table: Table) -> Body:
    """:func:`body`, and what goes into the configuration validated with the gateway's own
    settings models (a patch can only be checked against the gateway's configuration, there)."""
    typed = body(kind, copy.deepcopy(table))  # the models may change what they validate
    where = "config"
    try:
        if isinstance(typed, AddSensor):
            where = "sensor"
            settings.SensorSettings.from_table(typed.sensor)
        elif isinstance(typed, SetBindkey) and typed.bindkey is not None:
            where = ""
            settings.SensorSettings.from_table({"mac": typed.mac, "bindkey": typed.bindkey})
        elif isinstance(typed, SetCalibration) and typed.calibration is not None:
            where = "calibration"
            settings.CalibrationSettings.from_table(typed.calibration)
        elif isinstance(typed, ReplaceConfig):
            # A table alone: GatewaySettings reads no environment (load_gateway does).
            settings.GatewaySettings.from_table(typed.config)
    except settings.FieldError as exc:
        raise ValueError(f"invalid {kind} command: {describe(exc, where)}") from None
    return typed


def describe(exc: settings.FieldError, where: str = "") -> str:
    """A settings validation error in one line: ``where: what`` for each problem (never the
    input value, which may be a bindkey)."""
    problems = []
    for problem in exc.problems():
        path = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in problem.loc)
        problems.append(f"{path.lstrip('.') or 'configuration'}: {problem.msg}")
    return "; ".join(problems)


_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*):[^\s/?#@]*@")


def redacted(value: Any) -> Any:
    """``value`` (a body, a table) with every secret replaced by ``***``: bindkeys, passwords,
    and the password of any URL (``mqtt://gw:***@broker``)."""
    if isinstance(value, dict):
        return {
            k: ("***" if k in SECRET_KEYS and v is not None else redacted(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redacted(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return _URL_PASSWORD.sub(r"\g<head>:***@", value)
    return value


def to_builtins(message: Command | CommandResult) -> Any:
    """The message as JSON-compatible builtins (for JSON columns and API responses)."""
    return msgspec.to_builtins(message)


def result(
    command_id: uuid.UUID | None,
    gateway_id: str,
    outcome: Outcome,
    message: str,
    at: datetime,
    *,
    config_revision: str | None = None,
    status: schema.GatewayStatus | None = None,
) -> CommandResult:
    return CommandResult(
        command_id=command_id,
        gateway_id=gateway_id,
        outcome=outcome,
        message=message,
        config_revision=config_revision,
        at=at,
        status=status,
    )
