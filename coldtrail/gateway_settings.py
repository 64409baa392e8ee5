"""The gateway's settings as msgspec Structs (no pydantic: a gateway does not load it, ~15 MiB).

Each table of the gateway's TOML file is a Struct with its constraints (``msgspec.Meta``) and its
checks (``__post_init__``). :func:`convert` builds one from a table (TOML, environment, a remote
command) and raises :class:`FieldError` naming the key that is wrong. Keyword construction
(``GatewaySettings(outbox={"path": ...})``) converts nested tables and runs the same checks;
the ranges and patterns of ``msgspec.Meta`` are checked by :func:`convert` only, which is what
every value a user supplies goes through. The services read :class:`MqttSettings` through
pydantic (:mod:`coldtrail.service_common`), from this one definition.
"""

from __future__ import annotations

import math
import re
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import msgspec

from coldtrail import schema, sensor_kinds, topics
from coldtrail.errors import ConfigError

_MAC = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
_DEVICE_ID = r"^[^\s/+#]{1,64}$"
_HEX = frozenset("0123456789abcdefABCDEF")


class Secret:
    """A string never shown in ``repr``/``str`` (logs, tracebacks): ``get_secret_value()``
    gives it, as pydantic's ``SecretStr`` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class FieldError(ValueError):
    """A setting that is wrong: ``loc`` is where (keys and list indexes), ``msg`` what."""

    def __init__(self, loc: tuple[str | int, ...], msg: str) -> None:
        self.loc = loc
        self.msg = msg
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        super().__init__(f"{where}: {msg}" if where else msg)


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Secret:
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return Secret(value)
        raise TypeError(f"Expected `str`, got `{type(value).__name__}`")
    raise NotImplementedError(f"no conversion to {kind!r}")


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Secret):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


_AT = re.compile(r"^(?P<msg>.*) - at (?P<key>`key` in )?`\$(?P<path>[^`]*)`$", re.DOTALL)
_STEP = re.compile(r"\.(?P<key>[^.\[]+)|\[(?P<index>\d+)\]|\[(?P<other>[^\]]*)\]")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>.*)`$")


def problem(exc: msgspec.ValidationError) -> FieldError:
    """msgspec's error (``Expected `int` >= 1 - at `$.outbox.max_items```) as a FieldError."""
    msg = str(exc)
    loc: list[str | int] = []
    match = _AT.match(msg)
    if match is not None:
        msg = match["msg"] + (" (a key of this table)" if match["key"] else "")
        for step in _STEP.finditer(match["path"]):
            if step["key"] is not None:
                loc.append(step["key"])
            elif step["index"] is not None:
                loc.append(int(step["index"]))
            else:
                loc.append(step["other"])  # a table's key: msgspec says "..."
    cause = exc.__cause__
    if isinstance(cause, FieldError):
        loc.extend(cause.loc)
        msg = cause.msg
    unknown = _UNKNOWN.match(msg)
    if unknown is not None:
        loc.append(unknown["key"])
        msg = "unknown setting (not a field of this table)"
    return FieldError(tuple(loc), msg)


_CONVERTED: dict[type, list[tuple[str, Any]]] = {}


def _needs_conversion(kind: Any) -> bool:
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct | Secret):
        return True
    return any(_needs_conversion(arg) for arg in typing.get_args(kind))


S = TypeVar("S", bound="Settings")


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A table of the gateway's settings."""

    def __post_init__(self) -> None:
        # Keyword construction: nested tables given as dicts, secrets given as str.
        cls = type(self)
        fields = _CONVERTED.get(cls)
        if fields is None:
            fields = [(f.name, f.type) for f in msgspec.structs.fields(cls)]
            fields = _CONVERTED[cls] = [(n, t) for n, t in fields if _needs_conversion(t)]
        for name, kind in fields:
            value = getattr(self, name)
            if value is not None and not isinstance(value, msgspec.Struct | Secret):
                setattr(self, name, msgspec.convert(value, kind, dec_hook=_dec_hook, strict=False))

    @classmethod
    def prepare(cls, table: Any, loc: tuple[str | int, ...] = ()) -> Any:
        """``table`` as :func:`convert` reads it (e.g. an MQTT ``url`` as its fields)."""
        return table

    @classmethod
    def from_table(cls: type[S], table: Any) -> S:
        """This table from a TOML table (or JSON object); :class:`FieldError` saying what is
        wrong where. Strings are read as numbers and booleans where those are expected."""
        return convert(table, cls)


def convert(table: Any, cls: type[S]) -> S:
    """``cls`` from ``table``, every constraint checked; :class:`FieldError` if one fails."""
    table = cls.prepare(table)
    try:
        return msgspec.convert(table, cls, dec_hook=_dec_hook, strict=False)
    except msgspec.ValidationError as exc:
        error = problem(exc)
        loc, kind = _resolve(table, error.loc, cls)
        msg = error.msg
        choices = _choices(kind) if msg.startswith("Invalid enum value") else ()
        if choices:
            msg += f"; choose one of {', '.join(choices)}"
        raise FieldError(loc, msg) from None


def _choices(kind: Any) -> tuple[str, ...]:
    """The values a Literal type (or a dict's Literal keys) allows."""
    if typing.get_origin(kind) is Literal:
        return tuple(str(arg) for arg in typing.get_args(kind))
    if typing.get_origin(kind) is dict:
        return _choices(typing.get_args(kind)[0])
    return next((c for c in map(_choices, typing.get_args(kind)) if c), ())


def _resolve(
    table: Any, loc: tuple[str | int, ...], kind: Any
) -> tuple[tuple[str | int, ...], Any]:
    """``loc`` with the table keys msgspec leaves out (``...``) found in ``table`` (the first
    key whose value does not convert), and the type at ``loc``."""
    out: list[str | int] = []
    for step in loc:
        kind = _container(kind)
        if step == "..." and isinstance(table, dict) and typing.get_origin(kind) is dict:
            inner = typing.get_args(kind)[1]
            for key, value in table.items():
                try:
                    msgspec.convert(value, inner, dec_hook=_dec_hook, strict=False)
                except msgspec.ValidationError:
                    step = key
                    break
            kind, table = inner, table.get(step)
        elif isinstance(step, int) and isinstance(table, list) and step < len(table):
            kind, table = typing.get_args(kind)[0], table[step]
        elif isinstance(step, str) and isinstance(table, dict) and isinstance(kind, type):
            fields = {f.name: f.type for f in msgspec.structs.fields(kind)}
            kind, table = fields.get(step), table.get(step)
        else:
            kind, table = None, None
        out.append(step)
    return tuple(out), kind


def _container(kind: Any) -> Any:
    """The Struct, list or dict type in ``kind`` (``X | None``, ``Annotated[X, ...]``)."""
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return kind
    if typing.get_origin(kind) in (list, dict):
        return kind
    for arg in typing.get_args(kind):
        found = _container(arg)
        if found is not None:
            return found
    return None


def to_builtins(settings: Settings) -> Any:
    """``settings`` as a table, secrets masked (``**********``)."""
    return msgspec.to_builtins(settings, enc_hook=_enc_hook)


class MqttSettings(Settings, kw_only=True):
    """How to reach the broker: ``COLDTRAIL_<SERVICE>_MQTT__HOST`` etc., or ``..._MQTT__URL``."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1883
    username: str | None = None
    password: Secret | None = None
    password_file: str | None = None
    """A file holding the password (mode 0600), instead of ``password``."""
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 30
    topic_prefix: str = topics.DEFAULT_PREFIX
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    """MQTT version. ``5`` lets ingest announce its Receive Maximum (Mosquitto 2, EMQX); the
    demo's amqtt broker speaks 3.1.1 only."""

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            topics.check_prefix(self.topic_prefix)
        except ValueError as exc:
            raise FieldError(("topic_prefix",), str(exc)) from None

    @classmethod
    def prepare(cls, table: Any, loc: tuple[str | int, ...] = ()) -> Any:
        if isinstance(table, dict) and table.get("url"):
            rest = {k: v for k, v in table.items() if k != "url"}  # never change the input
            try:
                return {**parse_mqtt_url(str(table["url"])), **rest}
            except ValueError as exc:
                raise FieldError((*loc, "url"), str(exc)) from None
        return table

    @classmethod
    def from_url(cls, url: str, **fields: Any) -> MqttSettings:
        """``mqtt://user:pass@host:port`` (or ``mqtts://``), other fields given apart."""
        return convert({"url": url, **fields}, cls)

    def secret(self) -> str | None:
        """The password, from ``password`` or else ``password_file``."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is None:
            return None
        try:
            return Path(self.password_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the MQTT password file {self.password_file}: {exc.strerror}"
            ) from None

    def url(self) -> str:
        """The broker's address without credentials (safe to log)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> dict[str, Any]:
    """``mqtt://user:pass@host:port`` (or ``mqtts://``) -> MqttSettings fields."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {parts.scheme!r}://")
    tls = parts.scheme in ("mqtts", "ssl")
    out: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or (8883 if tls else 1883),
        "tls": tls,
    }
    if parts.username:
        out["username"] = unquote(parts.username)
    if parts.password:
        out["password"] = unquote(parts.password)
    return out


class CalibrationSettings(Settings, kw_only=True):
    """One quantity's calibration (``[sensors.calibration.temperature_c]``): either an
    ``offset`` added to every raw value, or two ``points``, each ``[raw, reference]`` (what the
    sensor read, what the reference instrument read), which define a straight line through
    both. ``certificate`` names the calibration record it comes from."""

    offset: Annotated[float, msgspec.Meta(ge=-20, le=20)] | None = None
    points: tuple[tuple[float, float], tuple[float, float]] | None = None
    certificate: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.offset is None) == (self.points is None):
            raise FieldError(
                (), "give either offset = <number> or points = [[raw, reference], [raw, reference]]"
            )
        if self.offset is not None and not math.isfinite(self.offset):
            raise FieldError(("offset",), "must be a finite number")
        self.correction()  # the line through the points must be usable

    def correction(self) -> schema.Calibration:
        """The calibration as the readings carry it: ``value = slope * raw + offset``."""
        if self.points is None:
            return schema.Calibration(offset=self.offset or 0.0, certificate=self.certificate)
        (raw1, ref1), (raw2, ref2) = self.points
        if not all(math.isfinite(v) for v in (raw1, ref1, raw2, ref2)):
            raise ValueError("calibration points must be finite numbers")
        if abs(raw2 - raw1) < 1e-6:
            raise ValueError(
                f"the two calibration points need different raw values, not {raw1} twice"
            )
        slope = (ref2 - ref1) / (raw2 - raw1)
        if not 0.5 <= slope <= 2.0:
            raise ValueError(
                f"calibration points {self.points} give a slope of {slope:.4g}: a sensor that"
                " needs a slope outside 0.5..2 is not fit for use (check the points' order:"
                " [raw, reference])"
            )
        offset = ref1 - slope * raw1
        if not -100 <= offset <= 100:
            raise ValueError(f"calibration points {self.points} give an offset of {offset:.4g}")
        return schema.Calibration(slope=slope, offset=offset, certificate=self.certificate)


class SensorSettings(Settings, kw_only=True):
    """A BLE sensor the gateway listens to (``[[sensors]]`` in the gateway's TOML file)."""

    mac: Annotated[str, msgspec.Meta(pattern=_MAC)]
    kind: str = sensor_kinds.AUTO
    """A kind of :data:`coldtrail.sensor_kinds.KINDS` (``bthome``, ``ruuvi``, ``inkbird``,
    ``govee``, ...), or ``auto`` (detected from each advert)."""
    bindkey: Secret | None = None
    """Hex key of an encrypted BTHome or Xiaomi MiBeacon sensor (32 hex digits)."""
    label: str | None = None
    compartment: str | None = None
    calibration: dict[schema.CalibratedQuantity, CalibrationSettings] = {}
    """Per quantity (temperature_c, humidity_pct, pressure_hpa): applied on the gateway, the
    raw value kept beside the corrected one (docs/gateway.md, "Calibration")."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.mac = self.mac.upper()
        try:
            sensor_kinds.check_config_kind(self.kind)
        except ValueError as exc:
            raise FieldError(("kind",), str(exc)) from None
        if self.bindkey is not None:
            key = self.bindkey.get_secret_value()
            if len(key) != 32 or any(c not in _HEX for c in key):
                raise FieldError(("bindkey",), "a bindkey is 32 hexadecimal digits (16 bytes)")

    def corrections(self) -> dict[schema.CalibratedQuantity, schema.Calibration]:
        return {quantity: c.correction() for quantity, c in self.calibration.items()}


class BleSettings(Settings, kw_only=True):
    enabled: bool = True
    adapter: str = "hci0"
    mode: Literal["auto", "passive", "active"] = "auto"
    stall_s: Annotated[float, msgspec.Meta(ge=5)] = 60.0
    """Restart the scanner after this long without any advert."""


class SerialPortSettings(Settings, kw_only=True):
    """A serial device (``[[serial]]``): a GPS receiver (NMEA) or a sensor board."""

    path: str
    """Prefer /dev/serial/by-id/... : it survives replugging into another USB port."""
    protocol: Literal["nmea", "board"] = "nmea"
    baud: Annotated[int, msgspec.Meta(gt=0)] = 9600
    device: Annotated[str, msgspec.Meta(pattern=_DEVICE_ID)] | None = None
    """The device id reported for this port (default: derived from the path)."""


class OutboxSettings(Settings, kw_only=True):
    path: str | None = None
    """SQLite file of the store-and-forward outbox; none = in memory (lost on restart)."""
    max_items: Annotated[int, msgspec.Meta(ge=100)] = 2_000_000
    """Bound of the outbox; see docs/gateway.md for what happens when it is full."""
    commit_interval_s: Annotated[float, msgspec.Meta(ge=0, le=5)] = 0.0
    """0 (default): each decoded frame's readings are committed to the disk outbox before the
    gateway reads on. Above 0 (opt-in write-behind): committed together, at most once per
    interval (one fsync per interval, not per reading), at the price of losing the readings of
    the last interval on a power cut, crash or SIGKILL."""


class GatewaySettings(Settings, kw_only=True):
    """Environment (``COLDTRAIL_GATEWAY_...``) and, with ``--config``, a TOML file: built by
    :func:`coldtrail.settings.load_gateway` (as pydantic-settings would)."""

    ENV_PREFIX: ClassVar[str] = "COLDTRAIL_GATEWAY_"

    gateway_id: str = "gateway-1"
    mqtt: MqttSettings = msgspec.field(default_factory=MqttSettings)
    sources: list[str] = []
    """Extra source specs ``kind:key=value,key=value``; e.g. ``sim:vehicle=van-1,seed=7``."""
    sensors: list[SensorSettings] = []
    ble: BleSettings = msgspec.field(default_factory=BleSettings)
    serial: list[SerialPortSettings] = []
    outbox: OutboxSettings = msgspec.field(default_factory=OutboxSettings)
    batch_max_items: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500
    batch_max_wait_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    status_interval_s: Annotated[float, msgspec.Meta(ge=1)] = 30.0
    await_stored: bool = True
    """Keep each item in the outbox until ingest acknowledges its storage (the ``stored``
    topic, docs/mqtt-contract.md), not just until the broker's PUBACK: a broker crash then
    loses nothing. Turn it off only with an ingest that sends no acknowledgements (older than
    this setting): the outbox would not drain."""
    stored_resend_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    """A message whose storage is not acknowledged this long after it was published is
    published again (the wait doubles after each resend without any acknowledgement, up to 64
    times this, and starts again at the next acknowledgement)."""
    max_awaiting_storage: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    """The most items published and awaiting their storage acknowledgement: the publisher
    waits when it is reached (ingest away), and what it holds is what a resend sends again."""
    status_file: str | None = None
    """Where the gateway writes its latest status for ``coldtrail gateway status``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            topics.check_gateway_id(self.gateway_id)
        except ValueError as exc:
            raise FieldError(("gateway_id",), str(exc)) from None
        macs = [s.mac for s in self.sensors]
        if len(macs) != len(set(macs)):
            raise FieldError(("sensors",), f"a sensor MAC appears twice: {sorted(macs)}")
        paths = [p.path for p in self.serial]
        if len(paths) != len(set(paths)):
            raise FieldError(("serial",), f"a serial path appears twice: {sorted(paths)}")

    @classmethod
    def prepare(cls, table: Any, loc: tuple[str | int, ...] = ()) -> Any:
        if isinstance(table, dict) and isinstance(table.get("mqtt"), dict):
            return {**table, "mqtt": MqttSettings.prepare(table["mqtt"], (*loc, "mqtt"))}
        return table
