from datetime import UTC, datetime, timedelta

from alerts.events import Sample

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def minutes(*temps: float, every: float = 1.0, start: float = 0.0) -> list[Sample]:
    """Temperatures ``every`` minutes apart from T0 + ``start`` minutes."""
    return [
        Sample(at=T0 + timedelta(minutes=start + i * every), temperature_c=t)
        for i, t in enumerate(temps)
    ]


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)
