"""``coldtrail gateway``: run the edge daemon, check its configuration, show its status.

* ``coldtrail gateway [--config FILE] [--source KIND:OPTIONS ...]`` runs it;
* ``coldtrail gateway check-config FILE`` validates a configuration file and says what it
  would run;
* ``coldtrail gateway status [--config FILE]`` prints the running gateway's latest status;
* ``coldtrail gateway scan`` lists the BLE sensors in range.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from coldtrail import schema
from coldtrail import settings as config
from coldtrail.cli import add_connection_arguments, connection_overrides, run_until_signalled
from coldtrail.errors import ConfigError
from coldtrail.settings import GatewaySettings
from firmware_bridge.ble.registry import load_decoders
from gateway.config_file import TomlConfigFile
from gateway.service import Gateway
from gateway.wiring import build_sources, describe_sources


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gateway",
        help="read sensors and publish their readings over MQTT",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Settings: a TOML file (--config, see deploy/gateway.example.toml) and the"
        " environment (COLDTRAIL_GATEWAY_..., which wins); see docs/raspberry-pi.md.",
    )
    _run_arguments(parser)
    parser.set_defaults(func=_run)
    actions = parser.add_subparsers(title="actions", metavar="ACTION")

    check = actions.add_parser("check-config", help="validate a gateway configuration file")
    check.add_argument("file", help="the TOML file")
    check.set_defaults(func=_check_config)

    status = actions.add_parser("status", help="print the running gateway's latest status")
    status.add_argument("--config", help="the gateway's TOML file (for its status_file)")
    status.add_argument("--status-file", help="the status file (default: from the config)")
    status.set_defaults(func=_status)

    try:
        from gateway.scan_cli import register_scan
    except ImportError:  # pragma: no cover - bleak missing on a stripped install
        return
    register_scan(actions)


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="the gateway's TOML configuration file")
    parser.add_argument("--gateway-id", help="this gateway's id (one MQTT topic level)")
    add_connection_arguments(parser, mqtt=True)
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="KIND:OPTIONS",
        help="an extra frame source, repeatable; e.g. sim:vehicle=van-1,seed=7",
    )


RESTART_EXIT_CODE = 75
"""The exit status after a ``restart`` command (EX_TEMPFAIL): systemd starts the gateway again
(``Restart=always`` in deploy/systemd/coldtrail-gateway.service)."""


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides = connection_overrides(args)
    if getattr(args, "gateway_id", None):
        overrides["gateway_id"] = args.gateway_id
    if getattr(args, "source", None):
        overrides["sources"] = args.source
    return overrides


def _settings(args: argparse.Namespace, config_file: str | None) -> GatewaySettings:
    return config.load_gateway(config_file, **_overrides(args))


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args, args.config)
    sources = build_sources(settings)
    if not sources:
        raise ConfigError(
            "nothing to read: configure [[sensors]] or [[serial]] in the TOML file, or pass"
            " --source KIND:OPTIONS (e.g. sim:vehicle=van-1)"
        )
    remote = TomlConfigFile(args.config, _overrides(args)) if args.config else None
    gateway = Gateway(settings, sources, config=remote, build_sources=build_sources)
    run_until_signalled(gateway.run)
    return RESTART_EXIT_CODE if gateway.restart_requested else 0


def _check_config(args: argparse.Namespace) -> int:
    settings = config.load_gateway(args.file)
    sources = build_sources(settings)
    print(f"{args.file}: valid")
    print(f"  gateway id   {settings.gateway_id}")
    print(f"  broker       {settings.mqtt.url()} (user {settings.mqtt.username or '-'})")
    print(f"  outbox       {settings.outbox.path or 'in memory'}")
    for line in describe_sources(settings, sources):
        print(f"  source       {line}")
    for sensor in settings.sensors:
        for quantity, calibration in sensor.corrections().items():
            certificate = f" ({calibration.certificate})" if calibration.certificate else ""
            print(
                f"  calibration  {sensor.mac} {quantity} = {calibration.slope:.6g} x raw"
                f" {calibration.offset:+.6g}{certificate}"
            )
    folder = Path(args.file).resolve().parent
    writable = os.access(folder, os.W_OK)
    print(
        f"  remote       configuration commands {'can' if writable else 'cannot'} replace this"
        f" file ({folder} is {'' if writable else 'not '}writable by this user)"
    )
    problems = _missing_files(settings)
    try:  # as the gateway does at start: a broken parser install shows here, not in the van
        kinds = load_decoders(sensor.kind for sensor in settings.sensors)
    except ConfigError as exc:
        problems.append(str(exc))
    else:
        if kinds:
            print(f"  decoders     {', '.join(kinds)} (imported)")
    if not sources:
        problems.append("no sources: the gateway would refuse to start")
    for problem in problems:
        print(f"  problem      {problem}")
    return 1 if problems else 0


def _missing_files(settings: GatewaySettings) -> list[str]:
    mqtt = settings.mqtt
    files = {
        "mqtt.password_file": mqtt.password_file,
        "mqtt.ca_file": mqtt.ca_file,
        "mqtt.cert_file": mqtt.cert_file,
        "mqtt.key_file": mqtt.key_file,
    }
    problems = [
        f"{key} = {path}: no such file"
        for key, path in files.items()
        if path is not None and not Path(path).is_file()
    ]
    if mqtt.cert_file and not mqtt.key_file:
        problems.append("mqtt.cert_file without mqtt.key_file: mutual TLS needs both")
    if settings.outbox.path is not None and not Path(settings.outbox.path).parent.is_dir():
        problems.append(f"outbox.path = {settings.outbox.path}: its folder does not exist")
    return problems


def _status(args: argparse.Namespace) -> int:
    path = args.status_file
    if path is None:
        path = config.load_gateway(args.config).status_file
    if path is None:
        raise ConfigError("no status file: set status_file in the configuration or pass one")
    try:
        payload = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path} ({exc.strerror}): is the gateway running with this status_file?"
        ) from None
    status = schema.decode_status(payload)
    age = None if status.at is None else (datetime.now(UTC) - status.at).total_seconds()
    print(json.dumps(msgspec.to_builtins(status), indent=2))
    if age is not None:
        stale = " (stale: is the gateway running?)" if age > 3 * 60 else ""
        print(f"written {age:.0f} s ago{stale}", flush=True)
    return 0
