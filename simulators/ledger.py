"""The source ledger: what each simulated sensor produced, written before the gateway sees it.

A scenario van (:mod:`simulators.scenario_source`) runs inside its gateway's process, as the
gateway's ``sim:`` frame source. For every batch of frames (one tick of the loggers, the
board, the GPS) it first appends to its ledger what the gateway must make of them, with the
values, and only then hands the frames over; once the gateway's intake has committed them to
its outbox and asks for the next frame, it appends that the batch was taken. One JSON object a
line, each write one ``os.write`` on a file opened with ``O_APPEND`` (a SIGKILL leaves whole
lines):

* ``{"start": WALL-ISO, "gateway": "gw-van-1", "pid": 1234}``: this process began producing
  (a restarted gateway starts a new segment);
* ``{"b": 7, "k": "r", "d": DEVICE, "t": ISO, "v": {"temperature_c": 4.12, ...}}``: item of
  batch 7, produced. ``k`` is ``r`` (a reading), ``p`` (a position) or ``e`` (an event; a scan
  is an event of kind ``scan``); ``v`` the values the device sent, in the contract's units;
* ``{"ok": 7}``: batch 7 taken by the gateway: committed to its outbox with the gateway's
  default ``[outbox] commit_interval_s = 0`` (the chaos runs use it). With the opt-in
  write-behind it only means handed over: a SIGKILL within the interval would lose an "ok"
  batch, and the judge would rightly count it lost.

:func:`read` parses one ledger into :class:`Produced` items. An item of a batch that was never
taken, followed by a new ``start``, was in the gateway's memory when its process died (a
SIGKILL between the handing over and the outbox's commit): :attr:`Produced.in_flight`. The judge
(:mod:`simulators.tally`) counts those apart; any other item must be stored exactly once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from coldtrail.errors import ColdtrailError

Kind = Literal["r", "p", "e"]
KINDS: tuple[Kind, ...] = ("r", "p", "e")
Value = float | int | str | None


class LedgerError(ColdtrailError):
    """A ledger that cannot be read: what was produced cannot be counted."""


@dataclass(frozen=True, slots=True)
class Produced:
    kind: Kind
    device: str
    at: datetime
    values: dict[str, Value]
    gateway: str
    in_flight: bool = False
    """Its batch was never taken: the gateway's process ended while it held it in memory."""


@dataclass(slots=True)
class LedgerContents:
    gateway: str
    items: list[Produced]
    starts: int
    """Processes that produced into this ledger (1 + the gateway's restarts)."""


class LedgerWriter:
    """The writing side, used by the scenario source in the gateway's process."""

    def __init__(self, path: Path | None, gateway: str) -> None:
        self._fd = None if path is None else os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self._batch = 0
        self.count = 0
        self._write([{"start": datetime.now(UTC).isoformat(), "gateway": gateway,
                      "pid": os.getpid()}])  # fmt: skip

    def produced(self, items: list[tuple[Kind, str, datetime, dict[str, Value]]]) -> int:
        """Append a batch of produced items before the gateway sees them; its number."""
        self._batch += 1
        self.count += len(items)
        self._write(
            [
                {"b": self._batch, "k": kind, "d": device, "t": at.isoformat(), "v": values}
                for kind, device, at, values in items
            ]
        )
        return self._batch

    def taken(self, batch: int) -> None:
        """The gateway's intake committed batch ``batch`` to its outbox (handed it over, with
        write-behind: see the module docstring)."""
        self._write([{"ok": batch}])

    def _write(self, lines: list[dict[str, object]]) -> None:
        if self._fd is not None and lines:
            text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
            os.write(self._fd, text.encode())


def read(path: Path) -> LedgerContents:
    """The items of one ledger; :class:`LedgerError` if it is missing, empty or malformed."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LedgerError(
            f"{path}: no ledger: what its gateway produced cannot be counted"
        ) from None
    gateway = ""
    items: list[Produced] = []
    pending: dict[int, list[Produced]] = {}
    starts = 0

    def end_segment(restarted: bool) -> None:
        # Batches never taken: held in memory by a process that died (a restart follows), or,
        # at the end of the file, expected in the database like any other.
        for batch in pending.values():
            items.extend(
                Produced(p.kind, p.device, p.at, p.values, p.gateway, in_flight=restarted)
                for p in batch
            )
        pending.clear()

    for number, line in enumerate(text.splitlines(), 1):
        try:
            obj = json.loads(line)
            if "start" in obj:
                if starts:
                    end_segment(restarted=True)
                starts += 1
                if gateway and obj["gateway"] != gateway:
                    raise ValueError(f"gateway {obj['gateway']!r} after {gateway!r}")
                gateway = str(obj["gateway"])
            elif not starts:
                raise ValueError("an item before the first start line")
            elif "ok" in obj:
                items.extend(pending.pop(int(obj["ok"]), []))
            else:
                if obj["k"] not in KINDS or not isinstance(obj["v"], dict):
                    raise ValueError(f"kind {obj['k']!r} or values {obj['v']!r}")
                at = datetime.fromisoformat(obj["t"])
                if at.tzinfo is None:
                    raise ValueError(f"time {obj['t']!r} without a UTC offset")
                produced = Produced(obj["k"], str(obj["d"]), at, obj["v"], gateway)
                pending.setdefault(int(obj["b"]), []).append(produced)
        except (ValueError, KeyError, TypeError) as exc:
            raise LedgerError(f"{path}:{number}: not a ledger line ({exc}): {line[:200]}") from None
    if not starts:
        raise LedgerError(f"{path}: empty ledger: its gateway's source never started")
    end_segment(restarted=False)
    return LedgerContents(gateway, items, starts)
