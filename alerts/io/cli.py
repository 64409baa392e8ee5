"""``coldtrail alerts ...``: the notification dispatcher and its outbox.

Each sub-command is one small ``_add_<name>(commands)`` function adding its parser and its
``func``; :func:`register` lists them and returns the group, for more sub-commands.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

import psycopg

from alerts.io import notify_queries as q
from coldtrail import settings as config
from coldtrail.cli import add_connection_arguments, connection_overrides, run_until_signalled
from coldtrail.errors import ColdtrailError
from coldtrail.settings import NotifySettings

log = logging.getLogger(__name__)

STATES = ("pending", "sent", "failed", "skipped")


def register(subparsers: Any) -> Any:
    """Add ``coldtrail alerts`` and its sub-commands; returns the group of sub-commands, so that
    another package can add its own (ingest adds ``replay``)."""
    parser = subparsers.add_parser(
        "alerts",
        help="alerts and notifications: dispatcher, outbox, retries",
        description="Environment: COLDTRAIL_NOTIFY_OPS_URLS, COLDTRAIL_NOTIFY_QUALITY_URLS,"
        " COLDTRAIL_NOTIFY_SHOPPER_URL_TEMPLATE, COLDTRAIL_NOTIFY_SMTP__HOST (the shoppers'"
        " e-mails), COLDTRAIL_NOTIFY_SMS_URL_TEMPLATE, COLDTRAIL_NOTIFY_PUBLIC_URL,"
        " COLDTRAIL_NOTIFY_LINK_SECRET, COLDTRAIL_NOTIFY_QUIET_HOURS,"
        " COLDTRAIL_NOTIFY_DATABASE__URL (or DATABASE_URL),"
        " ... (see docs/notifications.md)",
    )
    commands = parser.add_subparsers(title="alerts commands", metavar="COMMAND", required=True)
    for add in (_add_notify, _add_notifications, _add_retry):
        add(commands)
    return commands


def _add_notify(commands: Any) -> None:
    parser = commands.add_parser(
        "notify",
        help="send the queued notifications until stopped (SIGINT/SIGTERM)",
    )
    add_connection_arguments(parser, database=True)
    parser.set_defaults(func=_run_notify)


def _add_notifications(commands: Any) -> None:
    parser = commands.add_parser("notifications", help="list the notification outbox")
    add_connection_arguments(parser, database=True)
    parser.add_argument("--state", choices=STATES, help="only notifications in this state")
    parser.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    parser.add_argument(
        "--attempts", action="store_true", help="also list each notification's attempts"
    )
    parser.set_defaults(func=_run_notifications)


def _add_retry(commands: Any) -> None:
    parser = commands.add_parser(
        "retry", help="queue a failed notification again, with a fresh set of attempts"
    )
    add_connection_arguments(parser, database=True)
    parser.add_argument("notification_id", type=int, metavar="ID")
    parser.set_defaults(func=_run_retry)


def _settings(args: argparse.Namespace) -> NotifySettings:
    return config.load(NotifySettings, **connection_overrides(args))


def _run_notify(args: argparse.Namespace) -> int:
    from alerts.io.notify_dispatch import run_dispatcher  # here: apprise loads only when needed

    settings = _settings(args)
    # The dispatcher records apprise's messages with each attempt and logs each outcome once.
    logging.getLogger("apprise").propagate = False
    run_until_signalled(lambda stop: run_dispatcher(settings, stop))
    return 0


def _with_connection(args: argparse.Namespace, work: Callable[[psycopg.Connection], int]) -> int:
    settings = _settings(args)
    try:
        with psycopg.connect(settings.database.url.get_secret_value(), autocommit=True) as conn:
            return work(conn)
    except psycopg.OperationalError as exc:
        raise ColdtrailError(
            f"cannot reach the database: {settings.database.redact(str(exc)).strip()}"
        ) from None


def _run_notifications(args: argparse.Namespace) -> int:
    def work(conn: psycopg.Connection) -> int:
        rows = conn.execute(q.LIST, {"state": args.state, "limit": args.limit}).fetchall()
        print(f"{'id':>6}  {'state':<8} {'audience':<8} {'tries':>5}  {'when':<20} key / channel")
        for nid, state, audience, template, key, label, tries, next_at, sent_at, error, _ in rows:
            when = sent_at if state == "sent" else next_at if state == "pending" else None
            stamp = when.strftime("%Y-%m-%d %H:%M:%S") if when else ""
            print(f"{nid:>6}  {state:<8} {audience:<8} {tries:>5}  {stamp:<20} {key} ({template})")
            print(f"{'':>6}  -> {label}")
            if error:
                print(f"{'':>6}  last error: {error}")
            if args.attempts:
                for attempt, at, outcome, err, ms, worker in conn.execute(q.ATTEMPTS_OF, (nid,)):
                    print(
                        f"{'':>10}#{attempt} {at:%Y-%m-%d %H:%M:%S} {outcome:<7} {ms:8.1f} ms"
                        f"  {worker}{'  ' + err if err else ''}"
                    )
        if not rows:
            print("(no notifications" + (f" in state {args.state})" if args.state else ")"))
        return 0

    return _with_connection(args, work)


def _run_retry(args: argparse.Namespace) -> int:
    def work(conn: psycopg.Connection) -> int:
        with conn.transaction():
            done = conn.execute(q.RETRY, (args.notification_id,)).fetchone()
            if done is not None:
                conn.execute(q.WAKE)
        if done is not None:
            print(f"notification {args.notification_id} queued again")
            return 0
        row = conn.execute(q.STATE_OF, (args.notification_id,)).fetchone()
        if row is None:
            log.error("no notification %d", args.notification_id)
        elif row[1] == "":
            log.error(
                "notification %d was skipped because its audience had no channel: configure"
                " one, then queue the notice again",
                args.notification_id,
            )
        else:
            log.error(
                "notification %d is %s: only failed (or skipped) ones can be retried",
                args.notification_id,
                row[0],
            )
        return 1

    return _with_connection(args, work)
