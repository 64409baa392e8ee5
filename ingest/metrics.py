"""Ingest's Prometheus metrics, and the ``/metrics`` endpoint that serves them.

Each :class:`IngestMetrics` has a registry of its own (several ingesters in one process, as in
the tests, do not mix their counters). The endpoint is prometheus_client's HTTP server, in a
daemon thread (metrics are thread-safe); every metric is updated once per batch, never per
reading, so the hot path pays a few microseconds per transaction.

Names (all prefixed ``coldtrail_ingest_``): see docs/deployment.md#metrics.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import start_http_server

from coldtrail import schema
from coldtrail.errors import ServiceUnavailable

log = logging.getLogger(__name__)

TABLES = ("readings", "positions", "events")

_ROW_BUCKETS = (1, 10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000)
_MESSAGE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000)
_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_LAG_BUCKETS = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 6 * 3600.0,
    24 * 3600.0, 7 * 24 * 3600.0,
)  # fmt: skip


def reason_label(reason: str) -> str:
    """A dead letter's reason reduced to its kind (a bounded set of label values): the text
    before the first ':' (or msgspec's ' - at $.path'), quoted values and numbers masked.

    >>> reason_label("gateway_id 'gw-2' does not match the topic's 'gw-1'")
    "gateway_id '…' does not match the topic's '…'"
    """
    kind = reason.split(":", 1)[0].split(" - at ", 1)[0]
    kind = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", kind)
    kind = re.sub(r"\d+(\.\d+)?", "N", kind)
    return kind[:80]


def oldest_item_time(telemetry: Iterable[schema.TelemetryBatch]) -> datetime | None:
    """The earliest measured time (else received time) among the items, or None."""
    oldest: datetime | None = None
    for b in telemetry:
        for items in (b.readings, b.positions, b.events):
            for item in items:
                t = item.measured_at or item.received_at
                if oldest is None or t < oldest:
                    oldest = t
    return oldest


class IngestMetrics:
    """The counters, histograms and gauges of one ingester."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        p = "coldtrail_ingest"
        self.up = Gauge(f"{p}_up", "1 while ingest runs", registry=r)
        self.info = Info(p, "The running ingest worker", registry=r)
        self.messages = Counter(
            f"{p}_messages", "MQTT messages processed and acknowledged (after their commit)",
            registry=r,
        )  # fmt: skip
        self.rows = Counter(
            f"{p}_rows_stored", "Rows stored for the first time, by table", ["table"], registry=r
        )
        self.duplicates = Counter(
            f"{p}_duplicates",
            "Rows already stored (a message delivered again), ignored, by table",
            ["table"],
            registry=r,
        )
        self.dead_letters = Counter(
            f"{p}_dead_letters",
            "Messages (or parts) written to dead_letters, by kind of reason",
            ["reason"],
            registry=r,
        )
        self.write_retries = Counter(
            f"{p}_write_retries",
            "Failed database writes that were retried (the batch stays unacknowledged)",
            registry=r,
        )
        self.batch_messages = Histogram(
            f"{p}_batch_messages", "MQTT messages per committed batch",
            buckets=_MESSAGE_BUCKETS, registry=r,
        )  # fmt: skip
        self.batch_rows = Histogram(
            f"{p}_batch_rows", "Rows (readings, positions, events) per committed batch",
            buckets=_ROW_BUCKETS, registry=r,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            f"{p}_batch_duration_seconds",
            "Time to write and commit one batch (retries included)",
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self.message_age = Histogram(
            f"{p}_message_age_seconds",
            "At each commit: how long ingest had held the batch's oldest message (since it was"
            " read from the broker)",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.measured_lag = Histogram(
            f"{p}_measured_lag_seconds",
            "At each commit: commit time minus the measured time of the batch's oldest item"
            " (its received time when the sensor sent none); gateways' outboxes and broker"
            " backlog included",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        for table in TABLES:  # export zeros from the start
            self.rows.labels(table)
            self.duplicates.labels(table)

    def describe(self, client_id: str, share_group: str | None, protocol: str) -> None:
        try:
            ours = version("coldtrail")
        except PackageNotFoundError:  # running from a source tree that was not installed
            ours = "unknown"
        self.info.info(
            {
                "version": ours,
                "client_id": client_id,
                "share_group": share_group or "",
                "mqtt_protocol": protocol,
            }
        )

    def watch_connection(
        self,
        held: Callable[[], float],
        held_bytes: Callable[[], float],
        paused: Callable[[], float],
    ) -> None:
        """Gauges read at scrape time from the MQTT connection's flow control."""
        p, r = "coldtrail_ingest", self.registry
        Gauge(
            f"{p}_held_messages", "Messages received, not yet acknowledged", registry=r
        ).set_function(held)
        Gauge(f"{p}_held_bytes", "Payload bytes of those messages", registry=r).set_function(
            held_bytes
        )
        Gauge(
            f"{p}_reading_paused",
            "1 while ingest does not read from the broker (it holds its maximum)",
            registry=r,
        ).set_function(paused)

    def committed(
        self,
        *,
        messages: int,
        rows: int,
        inserted: Mapping[str, int],
        duplicates: Mapping[str, int],
        seconds: float,
        message_age_s: float | None,
        measured_lag_s: float | None,
    ) -> None:
        """One committed batch."""
        self.messages.inc(messages)
        for table, n in inserted.items():
            self.rows.labels(table).inc(n)
        for table, n in duplicates.items():
            self.duplicates.labels(table).inc(n)
        self.batch_messages.observe(messages)
        self.batch_rows.observe(rows)
        self.batch_seconds.observe(seconds)
        if message_age_s is not None:
            self.message_age.observe(max(message_age_s, 0.0))
        if measured_lag_s is not None:
            self.measured_lag.observe(max(measured_lag_s, 0.0))

    def dead_letter(self, reason: str) -> None:
        self.dead_letters.labels(reason_label(reason)).inc()


@dataclass
class MetricsServer:
    """A running ``/metrics`` endpoint."""

    host: str
    port: int
    _httpd: WSGIServer

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    async def close(self) -> None:
        # shutdown() waits for serve_forever's poll (0.5 s): not on the event loop.
        await asyncio.to_thread(self._httpd.shutdown)
        self._httpd.server_close()


def serve(metrics: IngestMetrics, host: str, port: int) -> MetricsServer:
    """Serve ``metrics`` on ``http://host:port/metrics`` (port 0: any free port)."""
    try:
        httpd, _ = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        raise ServiceUnavailable(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}; several ingest"
            " workers on one host need a COLDTRAIL_INGEST_METRICS_PORT each (0 = any free"
            " port, none = no endpoint)"
        ) from None
    server = MetricsServer(host, int(httpd.server_port), httpd)
    log.info("metrics on %s", server.url)
    return server
