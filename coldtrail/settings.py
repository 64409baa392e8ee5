"""Settings of every service: pydantic-settings, one class per service with its own env prefix.

Built in ``main()`` (never at import time). Invalid configuration stops start-up with a
:class:`~coldtrail.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from coldtrail import schema, sensor_kinds, topics
from coldtrail.errors import ConfigError

_HEX = frozenset("0123456789abcdefABCDEF")


class MqttSettings(BaseModel):
    """How to reach the broker: ``COLDTRAIL_<SERVICE>_MQTT__HOST`` etc., or ``..._MQTT__URL``."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    password_file: str | None = None
    """A file holding the password (mode 0600), instead of ``password``."""
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    topic_prefix: str = topics.DEFAULT_PREFIX
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    """MQTT version. ``5`` lets ingest announce its Receive Maximum (Mosquitto 2, EMQX); the
    demo's amqtt broker speaks 3.1.1 only."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _from_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("url"):
            rest = {k: v for k, v in data.items() if k != "url"}  # never change the input
            data = {**parse_mqtt_url(str(data["url"])), **rest}
        return data

    @pydantic.field_validator("topic_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        return topics.check_prefix(value)

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


class DatabaseSettings(BaseModel):
    """How to reach PostgreSQL / TimescaleDB: a libpq URL (``DATABASE_URL`` is honoured too)."""

    url: SecretStr = SecretStr("postgresql://127.0.0.1:5432/coldtrail")

    @pydantic.field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        # libpq echoes a malformed URL, password included, in its error: refuse it here,
        # without repeating it.
        text = value.get_secret_value()
        for i, char in enumerate(text):
            escape = text[i + 1 : i + 3]
            if char == "%" and (len(escape) < 2 or not all(c in _HEX for c in escape)):
                raise ValueError(
                    "has a '%' not followed by two hex digits: percent-encode special"
                    " characters of the password ('%' is %25, '@' is %40)"
                )
        return value

    def redact(self, text: str) -> str:
        """``text`` with this URL's password masked (for messages of the database driver)."""
        password = urlsplit(self.url.get_secret_value()).password
        if not password:
            return text
        for form in {password, unquote(password)}:
            text = text.replace(form, "***")
        return text

    pool_min: int = Field(1, ge=1)
    pool_max: int = Field(8, ge=1)


_MAC = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
_DEVICE_ID = r"^[^\s/+#]{1,64}$"


class CalibrationSettings(BaseModel):
    """One quantity's calibration (``[sensors.calibration.temperature_c]``): either an
    ``offset`` added to every raw value, or two ``points``, each ``[raw, reference]`` (what the
    sensor read, what the reference instrument read), which define a straight line through
    both. ``certificate`` names the calibration record it comes from."""

    model_config = pydantic.ConfigDict(extra="forbid")

    offset: float | None = Field(None, ge=-20, le=20, allow_inf_nan=False)
    points: tuple[tuple[float, float], tuple[float, float]] | None = None
    certificate: str | None = Field(None, min_length=1, max_length=64)

    @pydantic.model_validator(mode="after")
    def _one_method(self) -> CalibrationSettings:
        if (self.offset is None) == (self.points is None):
            raise ValueError(
                "give either offset = <number> or points = [[raw, reference], [raw, reference]]"
            )
        self.correction()  # the line through the points must be usable
        return self

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


class SensorSettings(BaseModel):
    """A BLE sensor the gateway listens to (``[[sensors]]`` in the gateway's TOML file)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    mac: str = Field(pattern=_MAC)
    kind: str = sensor_kinds.AUTO
    """A kind of :data:`coldtrail.sensor_kinds.KINDS` (``bthome``, ``ruuvi``, ``inkbird``,
    ``govee``, ...), or ``auto`` (detected from each advert)."""
    bindkey: SecretStr | None = None
    """Hex key of an encrypted BTHome or Xiaomi MiBeacon sensor (32 hex digits)."""
    label: str | None = None
    compartment: str | None = None
    calibration: dict[schema.CalibratedQuantity, CalibrationSettings] = {}
    """Per quantity (temperature_c, humidity_pct, pressure_hpa): applied on the gateway, the
    raw value kept beside the corrected one (docs/gateway.md, "Calibration")."""

    def corrections(self) -> dict[schema.CalibratedQuantity, schema.Calibration]:
        return {quantity: c.correction() for quantity, c in self.calibration.items()}

    @pydantic.field_validator("mac")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @pydantic.field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        return sensor_kinds.check_config_kind(value)

    @pydantic.field_validator("bindkey")
    @classmethod
    def _check_bindkey(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            key = value.get_secret_value()
            if len(key) != 32 or any(c not in "0123456789abcdefABCDEF" for c in key):
                raise ValueError("a bindkey is 32 hexadecimal digits (16 bytes)")
        return value


class BleSettings(BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    enabled: bool = True
    adapter: str = "hci0"
    mode: Literal["auto", "passive", "active"] = "auto"
    stall_s: float = Field(60.0, ge=5)
    """Restart the scanner after this long without any advert."""


class SerialPortSettings(BaseModel):
    """A serial device (``[[serial]]``): a GPS receiver (NMEA) or a sensor board."""

    model_config = pydantic.ConfigDict(extra="forbid")

    path: str
    """Prefer /dev/serial/by-id/... : it survives replugging into another USB port."""
    protocol: Literal["nmea", "board"] = "nmea"
    baud: int = Field(9600, gt=0)
    device: str | None = Field(None, pattern=_DEVICE_ID)
    """The device id reported for this port (default: derived from the path)."""


class OutboxSettings(BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    path: str | None = None
    """SQLite file of the store-and-forward outbox; none = in memory (lost on restart)."""
    max_items: int = Field(2_000_000, ge=100)
    """Bound of the outbox; see docs/gateway.md for what happens when it is full."""


class GatewaySettings(BaseSettings):
    """Environment (``COLDTRAIL_GATEWAY_...``) and, with ``--config``, a TOML file."""

    model_config = SettingsConfigDict(
        env_prefix="COLDTRAIL_GATEWAY_", env_nested_delimiter="__", extra="forbid"
    )

    gateway_id: str = "gateway-1"
    mqtt: MqttSettings = MqttSettings()
    sources: list[str] = []
    """Extra source specs ``kind:key=value,key=value``; e.g. ``sim:vehicle=van-1,seed=7``."""
    sensors: list[SensorSettings] = []
    ble: BleSettings = BleSettings()
    serial: list[SerialPortSettings] = []
    outbox: OutboxSettings = OutboxSettings()
    batch_max_items: int = Field(500, ge=1, le=10_000)
    batch_max_wait_s: float = Field(1.0, gt=0, le=60)
    status_interval_s: float = Field(30.0, ge=1)
    await_stored: bool = True
    """Keep each item in the outbox until ingest acknowledges its storage (the ``stored``
    topic, docs/mqtt-contract.md), not just until the broker's PUBACK: a broker crash then
    loses nothing. Turn it off only with an ingest that sends no acknowledgements (older than
    this setting): the outbox would not drain."""
    stored_resend_s: float = Field(60.0, gt=0)
    """A message whose storage is not acknowledged this long after it was published is
    published again (the wait doubles after each resend without any acknowledgement, up to 64
    times this, and starts again at the next acknowledgement)."""
    max_awaiting_storage: int = Field(10_000, ge=1)
    """The most items published and awaiting their storage acknowledgement: the publisher
    waits when it is reached (ingest away), and what it holds is what a resend sends again."""
    status_file: str | None = None
    """Where the gateway writes its latest status for ``coldtrail gateway status``."""

    @pydantic.field_validator("gateway_id")
    @classmethod
    def _check_gateway_id(cls, value: str) -> str:
        return topics.check_gateway_id(value)

    @pydantic.model_validator(mode="after")
    def _unique(self) -> GatewaySettings:
        macs = [s.mac for s in self.sensors]
        if len(macs) != len(set(macs)):
            raise ValueError(f"a sensor MAC appears twice in sensors: {sorted(macs)}")
        paths = [p.path for p in self.serial]
        if len(paths) != len(set(paths)):
            raise ValueError(f"a serial path appears twice in serial: {sorted(paths)}")
        return self


def load_gateway(config_file: str | None = None, **overrides: Any) -> GatewaySettings:
    """Gateway settings from its TOML file (if any), the environment and overrides, in
    increasing priority; ConfigError naming the file, line or field when something is wrong."""
    if config_file is None:
        return load(GatewaySettings, **overrides)
    path = Path(config_file)
    try:
        with path.open("rb") as f:
            tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None

    class FromFile(GatewaySettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=path)
            return (init_settings, env_settings, toml, file_secret_settings)

    return load(FromFile, _source=str(path), **overrides)


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COLDTRAIL_INGEST_", env_nested_delimiter="__")

    client_id: str = "coldtrail-ingest"
    """The MQTT client id: also the name of the persistent session. Unique per worker."""
    share_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    """With several ingest workers: the shared subscription group (``$share/<group>/...``) that
    splits telemetry between them (Mosquitto 2, EMQX; not the demo's amqtt broker)."""
    mqtt: MqttSettings = MqttSettings()
    database: DatabaseSettings = DatabaseSettings()
    batch_max_rows: int = Field(10_000, ge=1)
    """Rows per transaction, at most (about). 10,000 rather than 5,000: a third less fixed cost
    per reading (commits, bookkeeping, the rule runner's passes), at twice the commit latency
    under full load (docs/scaling.md#ingest-throughput-rules-on-and-off)."""
    batch_max_wait_s: float = Field(0.2, gt=0, le=10)
    receive_maximum: int = Field(10_000, ge=1, le=65_535)
    """The most messages ingest holds unacknowledged (received, not yet committed). Announced
    to the broker as MQTT 5 Receive Maximum (``mqtt.protocol = "5"``); with MQTT 3.1.1 the
    broker's own limit applies (Mosquitto ``max_inflight_messages``) and ingest stops reading
    at this bound. Keep it at least ``batch_max_rows`` / readings per message, or batches
    stay small (docs/deployment.md)."""
    max_held_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024)
    """The most payload bytes ingest holds unacknowledged; it stops reading at this bound."""
    metrics_port: int | None = Field(9108, ge=0, le=65535)
    """Port of the Prometheus ``/metrics`` endpoint; 0 = any free port (logged); unset (or
    ``none`` in the environment) = no endpoint. Several workers on one host need one each."""
    metrics_host: str = "127.0.0.1"
    """Address of the ``/metrics`` endpoint (``0.0.0.0`` in a container)."""

    @pydantic.field_validator("metrics_port", mode="before")
    @classmethod
    def _no_metrics(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
            return None
        return value

    stored_acks: bool = True
    """After each commit, tell each gateway which of its telemetry messages are committed, on
    ``<prefix>/v1/<gateway>/stored`` (docs/mqtt-contract.md): its outbox forgets them then, not
    at the broker's PUBACK. The broker's ACL must let ingest write those topics."""
    migrate: bool = True
    """Apply pending schema migrations at start-up (idempotent)."""
    rules: bool = True
    """Run the alert rules and position tracking (ingest/derive.py). With several workers, one
    of them runs them at a time (the others stand by); false keeps a worker out of that."""
    rules_process: bool = True
    """Run the rule runner in a child process of its own (ingest/rules_process.py), so that the
    rules and the write path each have a core; false runs it in ingest's own event loop (one
    process, about a third of the batched throughput while the rules are busy: docs/scaling.md)."""
    shock_g: float = Field(6.0, gt=0)
    """A parcel's shock alert threshold, in g."""
    silent_after_min: float = Field(15.0, gt=0)
    """A sensor watching a parcel, not heard from for this long while its gateway is online,
    raises a sensor-silent alert."""
    offline_grace_min: float = Field(5.0, ge=0)
    """A gateway offline for longer than this raises one gateway-offline alert (and no
    sensor-silent alert for the sensors behind it)."""
    profiles_dir: Path | None = None
    """A directory of user-defined profiles (``*.toml``/``*.json``, docs/profiles.md), stored
    as new revisions when the rule runner starts (``coldtrail profiles import`` does the same)."""
    zone_radius_m: float = Field(500.0, gt=0, le=50_000)
    """The radius of each shipment's origin and destination zones (geofences: the scope of
    the profile's rules, departure and arrival on the timeline)."""


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COLDTRAIL_API_", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    database: DatabaseSettings = DatabaseSettings()
    ops_tokens: list[SecretStr] = []
    webhook_secrets: list[SecretStr] = []
    """HMAC secrets of the checkpoint webhook's integrators, each ``integrator:secret``
    (docs/carriers.md#push): ``POST /v1/webhooks/{integrator}/checkpoints`` is signed with it."""
    """API keys of the operations team, each ``name:role:token`` (role admin, agent or viewer)
    or a bare token (admin, named "ops"). Ops endpoints refuse every request without one."""
    public_url: str | None = None
    """Base URL of the links the API hands out; default: the base URL of the request."""
    map_tile_url: str | None = Field(None, pattern=r"^https://[^/?#\s]+/\S*\{z\}\S*$")
    """Raster tile URL template of the web pages' maps (``https://{s}.host/{z}/{x}/{y}.png``);
    default none: the offline Natural Earth basemap. Its host is allowed in the pages' CSP."""
    map_tile_attribution: str = "© OpenStreetMap contributors"
    """The credit shown under the map when ``map_tile_url`` is set."""
    sla_ack_critical_s: float = Field(1800, gt=0)
    """How long a critical exception may stay open before someone acknowledges it."""
    sla_ack_warning_s: float = Field(4 * 3600, gt=0)
    sla_ack_info_s: float = Field(24 * 3600, gt=0)
    jwt_secret: SecretStr | None = None
    """Signs the JWTs of the OAuth2 password flow (HS256; at least 32 characters, e.g.
    ``openssl rand -base64 48``). Unset: password login answers 503 (ops tokens still work)."""
    jwt_expiry_s: int = Field(3600, ge=60, le=24 * 3600)
    """How long a JWT from ``POST /v1/auth/token`` is valid."""
    login_max_failures: int = Field(5, ge=1)
    """Failed logins allowed per user name and client address within the window; then 429."""
    login_failure_window_s: float = Field(900, gt=0)
    link_ttl_days: float = Field(90, gt=0)
    """How long a new shopper link works, counted from the promised date when that is later
    than the creation, else from the creation."""
    public_rate_per_min: float = Field(120, gt=0)
    """Requests per minute and client address on the public endpoints (a shopper token or none:
    /v1/track/*, /t/*, a timeline or live stream without a bearer token); then 429."""
    public_burst: int = Field(30, ge=1)
    """How many public requests a client may make at once before the per-minute rate applies."""
    trusted_proxies: list[pydantic.IPvAnyNetwork] = []
    """Reverse proxies whose ``X-Forwarded-For`` names the client (e.g. ``["10.0.0.0/8"]``);
    from any other peer the header is ignored."""
    cors_origins: list[str] = []
    """Origins allowed to call the API from a browser (``["https://shop.example"]``); empty: no
    CORS headers at all (closed)."""
    live_poll_s: float = Field(1.0, ge=0.05, le=60)
    """How often each API process's change-log reader looks for changes (one query for all its
    live streams and cached responses): the most a live event or a cached response lags."""
    live_recheck_s: float = Field(2.0, ge=0.05, le=300)
    """How often an open stream's access is checked again (a shopper link revoked or expired,
    an ops user disabled): the stream ends within about this long."""
    live_queue_bytes: int = Field(1024 * 1024, ge=4096)
    """Events waiting for one slow stream, at most (bytes); past it the stream gets a ``resync``
    event and is closed (the browser reconnects with its last event id and misses nothing)."""
    workers: int | None = Field(None, ge=1, le=64)
    """Worker processes of ``coldtrail api`` (one socket shared by all); default: one per usable
    core (CPU affinity), at most 4. The per-address, per-link and login limits below are split
    between them, each at least the worker count (see docs/api.md)."""
    cache_ttl_s: float = Field(10.0, ge=0, le=3600)
    """How long a shipment's timeline or tracking JSON may be served from this process's cache;
    a change to the shipment (change log) drops it sooner. 0: no cache."""
    cache_max_entries: int = Field(2000, ge=1)
    """Cached responses per process, at most (least recently used go first)."""
    cache_max_bytes: int = Field(64 * 1024 * 1024, ge=0)
    """The cached responses' bytes per process, at most (least recently used go first; each
    entry counts its body and about 256 bytes more). Only pages of at most the default
    ``limit`` (500) are cached."""
    live_max_streams: int = Field(200, ge=1)
    """Shoppers' live streams (a tracking token, no bearer token) open at once in this process;
    one more gets 503."""
    live_max_ops_streams: int = Field(50, ge=1)
    """Ops live streams (bearer token) open at once in this process, a pool apart from the
    shoppers' so that shoppers cannot starve the ops console; one more gets 503."""
    live_max_streams_per_link: int = Field(4, ge=1)
    """Live streams one shopper link may hold open at once (a few tabs or devices); then 429."""
    live_max_streams_per_address: int = Field(20, ge=1)
    """Shoppers' live streams one client address may hold open at once (several shoppers may
    share an address behind a carrier's NAT); then 429."""
    link_secret: SecretStr | None = None
    """Checks the unsubscribe links of the shoppers' messages (the dispatcher's
    ``COLDTRAIL_NOTIFY_LINK_SECRET``); unset: those links answer 404."""
    shopper_retention_days: float = Field(90, gt=0)
    """``coldtrail api shoppers purge`` erases the shopper's personal data (name, contact,
    subscription addresses) of shipments delivered, or created, longer ago than this."""
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    """The largest request body accepted (1 MiB); a larger one gets 413 before anything reads
    it. A batch of 500 carrier checkpoints with every text field at its longest fits."""
    mqtt: MqttSettings | None = None
    """The broker through which the API relays the gateway commands ops admins send, with its
    own identity (the only one the broker's ACL lets write the gateways' ``cmd`` topics); none:
    commands are stored and stay pending until an API process with a broker relays them."""
    command_resend_s: float = Field(30.0, gt=0)
    """A command sent without a result yet is published again after this long, then after twice
    as long each time (up to 128 times this)."""
    command_expire_s: float = Field(7 * 86_400, gt=0)
    """A command without a result this long after it was issued is closed as ``expired``
    (audited) and no longer sent."""

    @pydantic.field_validator("jwt_secret")
    @classmethod
    def _check_jwt_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and 0 < len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (HS256 needs a 256-bit key)")
        return value if value is not None and value.get_secret_value() else None

    @pydantic.field_validator("webhook_secrets")
    @classmethod
    def _check_webhook_secrets(cls, value: list[SecretStr]) -> list[SecretStr]:
        names: set[str] = set()
        for index, entry in enumerate(value):
            name, _, secret = entry.get_secret_value().partition(":")
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name) or len(secret) < 32:
                raise ValueError(
                    f"entry {index} must be integrator:secret, the secret at least 32 characters"
                )
            if name in names:
                raise ValueError(f"entry {index} repeats the integrator {name!r}")
            names.add(name)
        return value

    @pydantic.field_validator("ops_tokens")
    @classmethod
    def _check_ops_tokens(cls, value: list[SecretStr]) -> list[SecretStr]:
        seen: set[str] = set()
        for index, entry in enumerate(value):
            parsed = split_ops_token(entry.get_secret_value(), index)  # raises, naming the entry
            if parsed is not None:
                if parsed[2] in seen:
                    raise ValueError(f"entry {index} repeats the token of an earlier entry")
                seen.add(parsed[2])
        return value


OPS_ROLES = ("viewer", "agent", "admin")
"""The ops roles, each with the rights of those before it."""
_OPS_USER = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
RESERVED_OPS_USERS = frozenset({"system"})
"""Names that ops users may not take: "system" is the rule runner in the audit trail."""


def split_ops_token(entry: str, index: int = 0) -> tuple[str, str, str] | None:
    """``name:role:token`` or a bare token -> (name, role, token); None for an empty entry.

    A bare token means the admin named "ops" (as before roles existed). An entry with a ':' must
    be ``name:role:token``. Errors name the entry's index, never its text (it holds a secret).
    """
    if not entry:
        return None
    if ":" not in entry:
        return "ops", "admin", entry
    name, _, rest = entry.partition(":")
    role, _, token = rest.partition(":")
    where = f"entry {index}"
    if role not in OPS_ROLES or not token:
        raise ValueError(
            f"{where} has a ':' but is not name:role:token with a role among"
            f" {', '.join(OPS_ROLES)} (a bare token may not contain ':')"
        )
    if not re.match(_OPS_USER, name):
        raise ValueError(
            f"{where}: the user name must be 1-64 letters, digits, '_', '.', '@' or '-'"
        )
    if name in RESERVED_OPS_USERS:
        raise ValueError(f"{where}: the user name {name!r} is reserved")
    return name, role, token


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], _source: str | None = None, **overrides: Any) -> S:
    """Build settings from the environment (plus overrides), or raise ConfigError naming the field.

    ``DATABASE_URL`` fills ``database.url`` when the service's own variable is not set.
    """
    import os

    if "database" in cls.model_fields and "DATABASE_URL" in os.environ:
        prefix = str(cls.model_config.get("env_prefix", ""))
        if f"{prefix}DATABASE__URL" not in os.environ:
            database = dict(overrides.get("database", {}))
            database.setdefault("url", os.environ["DATABASE_URL"])
            overrides["database"] = database
    try:
        return cls(**overrides)
    except pydantic.ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = "; ".join(_describe(err, prefix, _source) for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None
    except SettingsError as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(
            f"invalid configuration: {exc}{cause} (lists and nested values are JSON,"
            " e.g. COLDTRAIL_GATEWAY_SOURCES='[\"sim:vehicle=van-1\"]')"
        ) from None


def _describe(err: Any, prefix: str, source: str | None) -> str:
    loc = [str(p) for p in err["loc"]]
    env = f"{prefix}{'__'.join(loc).upper()}"
    if source is None:
        return f"{env}: {err['msg']}"
    dotted = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc).lstrip(".")
    return f"{dotted} (in {source} or {env}): {err['msg']}"


class SmtpSettings(BaseModel):
    """The SMTP server that sends the shoppers' e-mails (``COLDTRAIL_NOTIFY_SMTP__HOST`` ...)."""

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    """starttls: plain connection upgraded with STARTTLS (port 587), refused if the server does
    not offer it; tls: TLS from the start (port 465); none: no encryption (a local relay only)."""
    username: str | None = None
    password: SecretStr | None = None
    """With ``username``: AUTH after the TLS handshake."""
    sender: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    """The From address, e.g. ``tracking@shop.example``."""
    sender_name: str | None = None
    """The From display name; default: the merchant's brand of each shipment."""
    ca_file: Path | None = None
    """CA certificates (PEM) to trust for the server's certificate instead of the system's (a
    private relay); the host name is checked either way."""
    timeout_s: float = Field(30.0, gt=0)


class NotifySettings(BaseSettings):
    """The notification dispatcher (``coldtrail alerts notify``; docs/notifications.md).

    Channels are apprise URLs, one per entry, given as JSON lists, e.g.
    ``COLDTRAIL_NOTIFY_OPS_URLS='["jsons://hooks.example.com/ops", "mailtos://u:p@mail.example"]'``.
    They embed credentials: secrets, never logged (errors name the entry's index, not its text).
    """

    model_config = SettingsConfigDict(env_prefix="COLDTRAIL_NOTIFY_", env_nested_delimiter="__")

    database: DatabaseSettings = DatabaseSettings()
    ops_urls: list[SecretStr] = []
    """The operations on-call's channels; none: ops notices are recorded as skipped."""
    quality_urls: list[SecretStr] = []
    """The shipper's quality contact's channels; none: quality notices are recorded as skipped."""
    shopper_url_template: SecretStr | None = None
    """An apprise URL with ``{contact}`` where the shipment's shopper contact goes, e.g.
    ``mailtos://user:pass@smtp.example.com?to={contact}``; none: shopper notices are skipped."""
    smtp: SmtpSettings | None = None
    """The shoppers' e-mails (subscribed on the tracking page); none: no e-mail channel."""
    sms_url_template: SecretStr | None = None
    """An apprise URL of an SMS service with ``{contact}`` where the shopper's number goes (e.g.
    ``smseagles://token@sms.example.com/{contact}``); none: no SMS channel."""
    public_url: str | None = Field(None, pattern=r"^https?://[^\s/?#]+(/\S*)?$")
    """The API's public base URL, for the unsubscribe links of the shoppers' messages (needed
    with ``smtp`` or ``sms_url_template``)."""
    link_secret: SecretStr | None = None
    """Signs the unsubscribe links (the same value as ``COLDTRAIL_API_LINK_SECRET``; at least
    32 characters; needed with ``smtp`` or ``sms_url_template``)."""
    quiet_hours: str | None = Field(None, pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")
    """``21:00-08:00``: shopper messages wait until the end of this daily span (condition
    incidents do not); none: no quiet hours."""
    shopper_timezone: str = "UTC"
    """The IANA zone of the quiet hours and of the times in the shoppers' messages."""
    ops_language: Literal["en", "fr"] = "en"
    """Language of the ops messages whose notice names none."""
    quality_language: Literal["en", "fr"] = "en"
    max_attempts: int = Field(40, ge=1)
    """Attempts before a notification is marked failed (the default keeps trying for > 24 h)."""
    backoff_base_s: float = Field(10.0, gt=0)
    """Delay after the first failed attempt; it doubles after each one, up to the cap."""
    backoff_cap_s: float = Field(3600.0, gt=0)
    backoff_jitter: float = Field(0.2, ge=0, lt=1)
    """Each delay is shortened by a random fraction up to this, so retries do not align."""
    batch_size: int = Field(20, ge=1, le=1000)
    """Notifications claimed (and sent concurrently) at a time by one dispatcher."""
    poll_interval_s: float = Field(5.0, gt=0, le=3600)
    """Longest wait between two looks at the outbox (new notices also wake it at once)."""
    send_timeout_s: float = Field(30.0, gt=0)
    """Limit of one send through apprise."""
    lease_s: float = Field(120.0, gt=0)
    """How long a claimed notification is reserved for its dispatcher: another dispatcher takes
    it over after that (when the first crashed during the send), hence at-least-once."""
    worker_id: str | None = None
    """This dispatcher's name in the attempts record (default: host and process id)."""

    @pydantic.field_validator("shopper_url_template")
    @classmethod
    def _check_template(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and "{contact}" not in value.get_secret_value():
            raise ValueError("must contain {contact}, where the shopper's contact goes")
        return value

    @pydantic.field_validator("sms_url_template")
    @classmethod
    def _check_sms_template(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and "{contact}" not in value.get_secret_value():
            raise ValueError("must contain {contact}, where the shopper's number goes")
        return value

    @pydantic.field_validator("shopper_timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Europe/Paris)"
            ) from None
        return value

    @pydantic.model_validator(mode="after")
    def _check_links(self) -> NotifySettings:
        if self.smtp is not None or self.sms_url_template is not None:
            if self.public_url is None:
                raise ValueError("public_url is needed for the unsubscribe links (smtp or sms)")
            secret = self.link_secret.get_secret_value() if self.link_secret else ""
            if len(secret) < 32:
                raise ValueError(
                    "link_secret of at least 32 characters is needed to sign the unsubscribe"
                    " links (smtp or sms)"
                )
        return self

    @pydantic.model_validator(mode="after")
    def _check_times(self) -> NotifySettings:
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError("backoff_cap_s must not be smaller than backoff_base_s")
        if self.lease_s <= self.send_timeout_s:
            raise ValueError("lease_s must be longer than send_timeout_s")
        return self
