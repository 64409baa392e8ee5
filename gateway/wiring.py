"""From the gateway's settings to its sources: configured BLE sensors, serial ports, and any
extra source specs (``--source``). One place, so ``run`` and ``check-config`` agree."""

from __future__ import annotations

from coldtrail.settings import GatewaySettings
from gateway import sources
from gateway.ports import FrameSource


def build_sources(settings: GatewaySettings) -> list[FrameSource]:
    out = [sources.build_source(spec) for spec in settings.sources]
    if settings.sensors and settings.ble.enabled:
        out.append(
            sources.build(
                "ble",
                {
                    "adapter": settings.ble.adapter,
                    "mode": settings.ble.mode,
                    "stall": str(settings.ble.stall_s),
                    "macs": "|".join(sensor.mac for sensor in settings.sensors),
                },
                what="the [ble] section",
            )
        )
    for i, port in enumerate(settings.serial):
        options = {"path": port.path, "baud": str(port.baud), "protocol": port.protocol}
        if port.device:
            options["device"] = port.device
        out.append(sources.build("serial", options, what=f"serial[{i}] ({port.path})"))
    return out


def describe_sources(settings: GatewaySettings, built: list[FrameSource]) -> list[str]:
    """One line per source, for people (no secrets: bindkeys are only counted)."""
    lines = []
    for source in built:
        line = source.name
        if source.name.startswith("ble"):
            keyed = sum(1 for s in settings.sensors if s.bindkey is not None)
            line += f": {len(settings.sensors)} sensors ({keyed} with a bindkey)"
        lines.append(line)
    return lines
