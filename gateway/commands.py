"""What a gateway does with a command from its ``cmd`` topic (the contract: coldtrail/commands.py).

:meth:`CommandHandler.handle` turns one payload into one result, and applies it at most once:

1. A payload that does not decode (bad JSON, unknown kind, a body the settings refuse) is
   ``refused`` with the reason; nothing changes.
2. A command whose id is in the :class:`~gateway.command_log.CommandLog` is not applied again:
   the result says ``duplicate`` and repeats the first result's outcome and message.
3. A configuration command (gateway/config_file.py) builds the new file, validated with the
   gateway's own settings model, and hands its settings to the running gateway
   (:meth:`Target.reconfigure`: new sources and sensor configuration, swapped in only once they
   are all built); only then does the new file replace the old. A command that cannot apply is
   ``refused``, one whose settings the gateway could not take ``failed``: either way the old file
   and the old configuration keep running.
4. ``status`` answers with the gateway's status; ``restart`` is ``applied`` and the gateway
   restarts once the result is published (systemd starts it again).

Every result but a duplicate's is recorded in the log before it is published. The revision a
configuration command is about to write is recorded before the file is replaced: a command
delivered again after a crash in between is answered ``applied`` if the file is at that
revision (it was applied), and applied normally if not.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import msgspec

from coldtrail import commands, schema
from coldtrail.commands import Command, CommandResult, Outcome
from coldtrail.errors import ColdtrailError, InvalidMessage
from coldtrail.settings import GatewaySettings
from gateway.command_log import CommandLog
from gateway.config_file import ConfigFile, Refused, at_restart, edit

log = logging.getLogger(__name__)


class Target(Protocol):
    """The running gateway, as commands see it."""

    @property
    def settings(self) -> GatewaySettings: ...

    async def reconfigure(self, settings: GatewaySettings) -> None:
        """Run with ``settings`` from now on; raise (and keep running as before) if it cannot."""
        ...

    def status(self, state: str = "online") -> schema.GatewayStatus: ...


@dataclass(frozen=True, slots=True)
class Handled:
    result: CommandResult
    key: str | None
    """The result's key in the command log (None: a duplicate's, not recorded)."""
    restart: bool = False


class CommandHandler:
    def __init__(
        self,
        target: Target,
        command_log: CommandLog,
        config: ConfigFile | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._target = target
        self._log = command_log
        self._config = config
        self._clock = clock
        self.handled = 0

    @property
    def gateway_id(self) -> str:
        return self._target.settings.gateway_id

    def revision(self) -> str | None:
        if self._config is None:
            return None
        try:
            return self._config.revision()
        except OSError:
            return None

    async def handle(self, payload: bytes) -> Handled:
        self.handled += 1
        try:
            command = commands.decode_command(payload)
        except InvalidMessage as exc:
            command_id = commands.command_id(payload)
            log.warning("command %s refused: %s", command_id or "(no id)", exc.reason)
            prior = self._prior(command_id)
            if prior is not None:
                return prior
            return self._record(command_id, "refused", exc.reason)
        prior = self._prior(command.id)
        if prior is not None:
            log.info(
                "command %s (%s) was handled before: not applied again", command.id, command.kind
            )
            return prior
        if command.gateway_id != self.gateway_id:
            return self._record(
                command.id,
                "refused",
                f"command addressed to gateway {command.gateway_id!r}, this is {self.gateway_id!r}",
            )
        if command.kind == "status":
            return self._record(
                command.id, "applied", "status attached", status=self._target.status()
            )
        if command.kind == "restart":
            return dataclasses.replace(
                self._record(command.id, "applied", "restarting now"), restart=True
            )
        outcome, message = await self._configure(command)
        log.info("command %s (%s) %s: %s", command.id, command.kind, outcome, message)
        return self._record(command.id, outcome, message)

    def failed(self, payload: bytes, exc: Exception, *, record: bool = True) -> Handled:
        """The result of a command whose handling raised what nothing foresaw; with ``record``
        false (the command log itself failed), a result that is published but not recorded."""
        command_id = commands.command_id(payload)
        message = (
            f"unexpected error: {type(exc).__name__}: {exc}; the previous configuration keeps"
            " running"
        )
        if record:
            return self._record(command_id, "failed", message)
        return Handled(self._result(command_id, "failed", message), None)

    def _prior(self, command_id: uuid.UUID | None) -> Handled | None:
        if command_id is None:
            return None
        first = self._log.get(command_id)
        if first is None:
            return None
        result = msgspec.structs.replace(
            first,
            outcome="duplicate",
            first_outcome=first.outcome,
            message=f"handled before, at {first.at.isoformat()}: {first.outcome}: {first.message}",
            at=self._clock(),
        )
        return Handled(result, None)

    def _record(
        self,
        command_id: uuid.UUID | None,
        outcome: Outcome,
        message: str,
        *,
        status: schema.GatewayStatus | None = None,
    ) -> Handled:
        result = self._result(command_id, outcome, message, status=status)
        return Handled(result, self._log.record(result))

    def _result(
        self,
        command_id: uuid.UUID | None,
        outcome: Outcome,
        message: str,
        *,
        status: schema.GatewayStatus | None = None,
    ) -> CommandResult:
        return commands.result(
            command_id,
            self.gateway_id,
            outcome,
            message,
            self._clock(),
            config_revision=self.revision(),
            status=status,
        )

    async def _configure(self, command: Command) -> tuple[Outcome, str]:
        config = self._config
        if config is None:
            return "refused", (
                "this gateway runs without a configuration file (--config): there is nothing"
                " to change remotely"
            )
        running = self._target.settings
        begun = self._log.begun(command.id)
        if begun is not None and begun == self.revision():
            return "applied", (
                f"{command.kind} applied before the gateway restarted: configuration revision"
                f" {begun}"
            )
        try:
            before = config.revision()
            table = edit(config.table(), commands.body(command.kind, command.body))
            candidate = config.prepare(table, running)
        except (Refused, ValueError) as exc:
            return "refused", f"{exc}; the previous configuration keeps running"
        except OSError as exc:
            return "failed", f"cannot write the configuration: {exc}"
        try:
            await self._target.reconfigure(candidate.settings)
        except (ColdtrailError, OSError, ValueError) as exc:
            config.discard(candidate)
            return (
                "failed",
                f"the gateway could not take it ({exc}); the previous configuration keeps running",
            )
        try:
            self._log.begin(command.id, candidate.revision)
            config.commit(candidate)
        except OSError as exc:
            config.discard(candidate)
            await self._target.reconfigure(running)
            return (
                "failed",
                f"cannot replace the configuration file ({exc}); the previous configuration"
                " keeps running",
            )
        sensors = len(candidate.settings.sensors)
        later = at_restart(candidate.settings, running)
        return "applied", (
            f"{command.kind} applied: configuration revision {before} -> {candidate.revision},"
            f" {sensors} sensor{'s' if sensors != 1 else ''} configured"
            + (
                f"; {', '.join(later)} takes effect at the next restart (send a restart command)"
                if later
                else ""
            )
        )
