"""What the gateway knows about itself, for its status message and ``coldtrail gateway status``.

Uptime, outbox depth and age, per-sensor last seen and RSSI, process CPU and memory, free disk
beside the outbox, BLE scanner restarts, and clock health: whether NTP synchronised the clock
(where systemd says so) and the offset between GPS time and the gateway's clock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from coldtrail import __version__, schema

_GPS_OFFSETS_KEPT = 120
_TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")


def ntp_synchronized() -> bool | None:
    """True/False as systemd reports it; None where this cannot be read (no systemd)."""
    if _TIMESYNC_FLAG.exists():
        return True
    if shutil.which("timedatectl") is None:
        return None
    try:
        out = subprocess.run(
            ["timedatectl", "show", "--property=NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    return {"yes": True, "no": False}.get(value)


def rss_mb() -> float | None:
    """Resident memory of this process (Linux), in MB."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 1_000_000, 1)


class HealthMonitor:
    def __init__(
        self,
        gateway_id: str,
        *,
        disk_path: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ntp: Callable[[], bool | None] = ntp_synchronized,
    ) -> None:
        self._gateway_id = gateway_id
        self._disk_path = disk_path or "."
        self._clock = clock
        self._ntp = ntp
        self._started = time.monotonic()
        self._cpu = (time.process_time(), time.monotonic())
        self._sensors: dict[str, schema.SensorHealth] = {}
        self._gps_offsets: deque[float] = deque(maxlen=_GPS_OFFSETS_KEPT)

    def heard(self, device_id: str, received_at: datetime, rssi_dbm: int | None = None) -> None:
        known = self._sensors.get(device_id)
        self._sensors[device_id] = schema.SensorHealth(
            last_seen=received_at,
            rssi_dbm=rssi_dbm if rssi_dbm is not None else (known.rssi_dbm if known else None),
            frames=(known.frames if known else 0) + 1,
        )

    def gps_fix(self, measured_at: datetime | None, received_at: datetime) -> None:
        if measured_at is not None:
            self._gps_offsets.append((measured_at - received_at).total_seconds())

    def _cpu_pct(self) -> float:
        cpu, wall = time.process_time(), time.monotonic()
        used, elapsed = cpu - self._cpu[0], wall - self._cpu[1]
        self._cpu = (cpu, wall)
        return round(100 * used / elapsed, 1) if elapsed > 0 else 0.0

    def status(
        self,
        state: str,
        *,
        pending: int,
        oldest_age_s: float | None,
        sources: dict[str, str],
        alarms: list[str],
        dropped: dict[str, int],
        scanner_restarts: int | None,
        stored_through: datetime | None = None,
        awaiting_storage: int | None = None,
        calibrations: Mapping[str, Mapping[schema.CalibratedQuantity, schema.Calibration]]
        | None = None,
    ) -> schema.GatewayStatus:
        try:
            disk_free = round(shutil.disk_usage(self._disk_path).free / 1_000_000, 1)
        except OSError:
            disk_free = None
        offset = _median(self._gps_offsets) if self._gps_offsets else None
        clock = schema.ClockHealth(
            ntp_synchronized=self._ntp(),
            gps_offset_s=None if offset is None else round(offset, 3),
        )
        if clock.ntp_synchronized is False and "clock-unsynchronized" not in alarms:
            alarms = [*alarms, "clock-unsynchronized"]
        return schema.GatewayStatus(
            gateway_id=self._gateway_id,
            state="online" if state == "online" else "offline",
            at=self._clock(),
            software=f"coldtrail {__version__}",
            uptime_s=round(time.monotonic() - self._started, 1),
            pending=pending,
            outbox_oldest_age_s=None if oldest_age_s is None else round(oldest_age_s, 1),
            alarms=alarms,
            dropped=dropped,
            sources=sources,
            sensors=dict(sorted(self._sensors.items())),
            scanner_restarts=scanner_restarts,
            cpu_pct=self._cpu_pct(),
            rss_mb=rss_mb(),
            disk_free_mb=disk_free,
            clock=clock,
            stored_through=stored_through,
            awaiting_storage=awaiting_storage,
            calibrations={d: dict(c) for d, c in sorted((calibrations or {}).items())},
        )


def write_status_file(path: str, status: schema.GatewayStatus) -> None:
    """Atomically replace ``path`` with the status (read by ``coldtrail gateway status``)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(schema.encode(status))
    os.replace(tmp, target)


def _median(values: Iterable[float]) -> float:
    """As ``statistics.median`` (which would load ``statistics``, ``fractions`` and ``decimal``
    into the gateway: ~0.9 MiB for one median a status)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
