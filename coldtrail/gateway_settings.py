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
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

import msgspec

from coldtrail import schema, sensor_kinds, topics
from coldtrail.errors import ConfigError
from coldtrail.struct_settings import FieldError as FieldError
from coldtrail.struct_settings import Secret as Secret
from coldtrail.struct_settings import Settings as Settings
from coldtrail.struct_settings import convert as convert
from coldtrail.struct_settings import to_builtins as to_builtins

_MAC = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
_DEVICE_ID = r"^[^\s/+#]{1,64}$"
_HEX = frozenset("0123456789abcdefABCDEF")


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
        if isinstance(table, dict) and "url" in table:
            rest = {k: v for k, v in table.items() if k != "url"}  # never change the input
            if not table["url"]:  # COLDTRAIL_..._MQTT__URL= (an empty ${X:-}): no URL
                return rest
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
    try:
        port = parts.port
    except ValueError:  # its message would repeat the URL's text: a password, perhaps
        raise ValueError(
            "the MQTT URL is malformed (no port number after the host): percent-encode '/',"
            " '#', '?' and '@' in the user name and password ('/' is %2F, '@' is %40)"
        ) from None
    out: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": port or (8883 if tls else 1883),
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
