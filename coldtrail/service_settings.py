"""Settings of the services (ingest, API, notifications): pydantic-settings, one class per
service with its own env prefix. The gateway's settings are msgspec Structs
(:mod:`coldtrail.gateway_settings`: a gateway loads neither pydantic nor pydantic-settings); the
services read its ``MqttSettings`` through :mod:`coldtrail.service_common`. Re-exported by
:mod:`coldtrail.settings`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsError

from coldtrail.errors import ConfigError
from coldtrail.gateway_settings import GatewaySettings, MqttSettings
from coldtrail.service_common import DatabaseSettings as DatabaseSettings
from coldtrail.service_common import MqttField, service_config
from coldtrail.settings import describe_error, load_gateway


class IngestSettings(BaseSettings):
    model_config = service_config("COLDTRAIL_INGEST_")

    client_id: str = "coldtrail-ingest"
    """The MQTT client id: also the name of the persistent session. Unique per worker."""
    share_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    """With several ingest workers: the shared subscription group (``$share/<group>/...``) that
    splits telemetry between them (Mosquitto 2, EMQX; not the demo's amqtt broker)."""
    mqtt: MqttField = Field(default_factory=MqttSettings)
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
    stay small; twice that lets the next batch be taken and decoded while one is written
    (docs/deployment.md)."""
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
    rules_nice: int = Field(0, ge=0, le=19)
    """How much lower the rule process's CPU priority is than the worker's (``os.nice`` in the
    child; with ``rules_process`` only). 0, the default, leaves the two equal; a higher value
    lets storing and acknowledging win when the cores are short, the rules catching up from
    their queue afterwards (later alerts under overload: docs/scaling.md)."""
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
    model_config = service_config("COLDTRAIL_API_")

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
    mqtt: MqttField | None = None
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
    ``GatewaySettings`` (not a pydantic-settings class) goes to :func:`load_gateway`.
    """
    import os

    if not issubclass(cls, BaseSettings) and issubclass(cls, GatewaySettings):
        return load_gateway(None, **overrides)

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
        problems = "; ".join(describe_error(err, prefix, _source) for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None
    except SettingsError as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(
            f"invalid configuration: {exc}{cause} (lists and nested values are JSON,"
            " e.g. COLDTRAIL_GATEWAY_SOURCES='[\"sim:vehicle=van-1\"]')"
        ) from None


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

    model_config = service_config("COLDTRAIL_NOTIFY_")

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
