"""A sensor's button pressed (a logger's "mark" button, a board's push button): one ``button``
alert per press, severity ``info``, so that the press is a fact on the parcel's timeline (a
driver marking a hand-over, a check, a problem seen) and in the report. ``peak`` is the button's
number (1 when the sensor has one button), ``count`` the press's number in the trip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from alerts.events import Alert, Readings, Sample, check_order
from alerts.profile_model import Severity


class ButtonState(NamedTuple):
    last_at: datetime | None = None
    presses: int = 0


@dataclass(frozen=True, slots=True)
class ButtonRule:
    name: str = "button/press"
    severity: Severity = "info"

    def initial(self) -> ButtonState:
        return ButtonState()

    def unchanged_by_readings(self, state: ButtonState, readings: Readings) -> bool:
        """Plain readings carry no button event: the state stays as it is."""
        return True

    def step(self, state: ButtonState, sample: Sample) -> tuple[ButtonState, list[Alert]]:
        if sample.button is None:
            return state, []
        if state.last_at is not None and sample.at < state.last_at:
            check_order(state.last_at, sample, self.name)
        presses = state.presses + 1
        alert = Alert(
            rule=self.name,
            kind="button",
            severity=self.severity,
            start=sample.at,
            end=sample.at,
            peak=sample.button_number or 1.0,
            limit=0.0,
            duration=sample.at - sample.at,
            count=presses,
        )
        return ButtonState(sample.at, presses), [alert]
