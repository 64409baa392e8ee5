"""What the disk outbox gives up when it is full, and in which order. Pure code, no I/O.

When the outbox reaches its bound (``max_items`` items or ``max_bytes`` of used database pages)
it frees ``reclaim_fraction`` of its capacity at once (so this runs once per tenth of the
capacity, not at every put), in two stages, and counts everything it removes by reason:

1. **Thin steady readings** (counted as ``thinned``), oldest first. A *steady run* is a maximal
   sequence of consecutive readings of one device (in outbox order) that

   * all carry ``temperature_c`` and no ``shock_g`` (a shock is never thinned),
   * were all received more than ``min_age_s`` ago (recent data is never thinned),
   * all lie within ``band_c`` of the run's **first** reading (anchored band: a slow drift
     ends the run after ``band_c``, it is not thinned away step by step),
   * all lie on the same side of every temperature limit of ``limits_c`` as that first reading
     (the boundaries of the built-in profiles: a run never spans a limit, so the readings of a
     short excursion are never thinned together with those before it),
   * are not interrupted by a reading of that device which breaks any of the rules above, nor
     by an event of that device (a door opening ends the run, so the readings on either side
     of it are kept).

   Of a run of length ``L`` the readings at positions ``0, k, 2k, ...`` and ``L - 1`` are kept
   (``k = keep_every``), the others are deleted; runs of one or two readings are untouched.
   Positions and events are never thinned. Each reading is looked at by thinning at most once:
   a persistent cursor moves forward through the outbox, in windows of bounded size, so a kept
   reading is never thinned a second time and memory stays bounded. Runs are cut at window
   edges (the first and last reading of each device in a window are kept).
2. **Drop the oldest items** (counted as ``dropped_reading`` / ``dropped_position`` /
   ``dropped_event``), whatever their kind, if thinning did not free enough.

Every reclaim is logged (WARNING when only thinning, ERROR when anything was dropped), the
counters are persisted with the data, and the outbox raises its alarm flag, which the gateway
shows in its status message.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from coldtrail import schema

Item = schema.Reading | schema.Position | schema.Event


@dataclass(frozen=True, slots=True)
class ThinningPolicy:
    """How steady readings are thinned when the outbox is full (see the module docstring)."""

    min_age_s: float = 3600.0
    band_c: float = 0.25
    keep_every: int = 4
    limits_c: tuple[float, ...] = (-18.0, -0.5, 0.0, 2.0, 4.0, 8.0, 15.0, 25.0, 30.0, 45.0)
    """Profile boundaries (alerts/builtin_profiles.py and the WHO indicator thresholds; the gateway
    does not know which profile a reading is judged by, so it respects them all)."""

    def __post_init__(self) -> None:
        if self.keep_every < 2:
            raise ValueError(f"keep_every must be at least 2, got {self.keep_every}")
        if list(self.limits_c) != sorted(self.limits_c):
            raise ValueError("limits_c must be in ascending order")
        if self.band_c < 0 or self.min_age_s < 0:
            raise ValueError("band_c and min_age_s must not be negative")


def steady_doomed(
    rows: Iterable[tuple[int, Item]], *, cutoff: datetime, policy: ThinningPolicy
) -> list[int]:
    """The row ids of ``rows`` (in outbox order) that thinning deletes: readings inside steady
    runs except every ``keep_every``-th and the last of each run. ``cutoff``: readings received
    after it are too recent to thin."""
    runs: dict[str, list[tuple[int, float]]] = {}
    doomed: list[int] = []

    def end_run(device: str) -> None:
        run = runs.pop(device, None)
        if run is None or len(run) < 3:
            return
        last = len(run) - 1
        doomed.extend(
            row_id for i, (row_id, _) in enumerate(run) if i % policy.keep_every and i != last
        )

    for row_id, item in rows:
        device = item.device_id
        if isinstance(item, schema.Reading):
            temperature = item.temperature_c
            if temperature is None or item.shock_g is not None or item.received_at > cutoff:
                end_run(device)
                continue
            run = runs.get(device)
            if (
                run is not None
                and abs(temperature - run[0][1]) <= policy.band_c
                and bisect.bisect_right(policy.limits_c, temperature)
                == bisect.bisect_right(policy.limits_c, run[0][1])
            ):
                run.append((row_id, temperature))
            else:
                end_run(device)
                runs[device] = [(row_id, temperature)]
        elif isinstance(item, schema.Event):
            end_run(device)
    for device in list(runs):
        end_run(device)
    return doomed
