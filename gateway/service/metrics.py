"""Prometheus metrics at http://<metrics.host>:<metrics.port>/metrics (docs/metrics.md).

Most figures already live in the store (counters, outbox, dead letters), so they are not
counted twice in memory: a collector asks the daemon's `snapshot()` for them at scrape
time. Only what is measured in-process (how long inference takes) is a direct instrument.
Everything sits on the gateway's own CollectorRegistry, never the library's global one, so
tests and several daemons in one process do not collide.

`snapshot()` is called from the HTTP server's threads and returns a `MetricsSnapshot`; each
key is optional (a missing key leaves its metric out) and holds:

    received          {stream: n}                       cumulative
    rejected          {stream: {reason: n}}             cumulative; stream "unknown" when
                                                        the topic named none
    analysed          {stream: {outcome: n}}            cumulative; outcome normal, anomaly,
                                                        learning or dead
    synced            n                                 records the cloud accepted, cumulative
    uploads           {result: n}                       upload batches by result: accepted,
                                                        retry, paused, rejected
    queue_depth       n                                 windows waiting for analysis
    dead_letters      {stage: n}                        stage inference or sync
    upload_backlog    n                                 records waiting for the cloud
    disk_used_bytes, disk_budget_bytes, disk_free_bytes   n
    loop_silence_seconds  {loop: s}                     from health.Heartbeats.silence()
    sequence_gaps     {stream: {device: n}}             messages missing in the senders'
                                                        sequence numbers, cumulative
    sequence_restarts {stream: {device: n}}             senders starting again from 0
    ts_flagged        {stream: {flag: n}}               stored messages kept with a doubtful
                                                        time stamp (ahead, before_2000, unusable)
    unavailable       {part: 1}                         optional parts missing: audio_analysis,
                                                        mic
    silent            {stream: {device: 1}}             streams marked silent (service/silence.py)
    clock_wrong       n                                 1 while the gateway's clock looks wrong
    clock_jumps       n                                 wall-clock jumps since the start
    storage_written_bytes          n                    the daemon's write_bytes since it
                                                        started (service/wear.py)
    storage_written_bytes_per_day  n                    over the rolling day (less at first)
    storage_write_window_seconds   s                    what that rate was measured over
    card_life_projected_years      n                    on the configured card ([storage])
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypedDict

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway import __version__
from gateway.config import MetricsSection
from gateway.logs import RateLimitedLog, kv

log = logging.getLogger("gateway.metrics")
PREFIX = "sensor_gateway_"
# One analysis of a window takes a few milliseconds on a Pi: resolve 1-100 ms finely.
INFERENCE_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 1.0)

# key -> (name, help, label names); a label per nesting level of the snapshot value
_COUNTERS = {
    "received": ("messages_received", "Messages stored, by stream.", ("stream",)),
    "rejected": ("messages_rejected", "Invalid messages acknowledged and set aside, by stream "
                                      "and reason code (docs/mqtt.md).", ("stream", "reason")),
    "analysed": ("windows_analysed", "Windows analysed, by stream and outcome.",
                 ("stream", "outcome")),
    "synced": ("records_synced", "Records the cloud accepted.", ()),
    "uploads": ("upload_batches", "Upload batches by result: accepted, retry, paused, "
                                  "rejected.", ("result",)),
    "sequence_gaps": ("sequence_gaps", "Messages missing in a sender's sequence numbers, by "
                                       "stream and device: lost before the gateway.",
                      ("stream", "device")),
    "sequence_restarts": ("sequence_restarts", "Times a sender's sequence numbers started "
                                               "again (a reboot), by stream and device.",
                          ("stream", "device")),
    "clock_jumps": ("clock_jumps", "Jumps of the wall clock seen since the daemon started.",
                    ()),
    "storage_written_bytes": ("storage_written_bytes", "Bytes the daemon's process has "
                                                       "written to storage since it started "
                                                       "(write_bytes of /proc/self/io).", ()),
}
_GAUGES = {
    "queue_depth": ("queue_depth", "Windows waiting for analysis.", ()),
    "dead_letters": ("dead_letters", "Items in the dead-letter list, by stage.", ("stage",)),
    "upload_backlog": ("upload_backlog_records", "Records waiting to be uploaded.", ()),
    "disk_used_bytes": ("disk_used_bytes", "Bytes used by the data dir.", ()),
    "disk_budget_bytes": ("disk_budget_bytes", "The data dir's budget "
                                               "(retention.disk_budget_mb).", ()),
    "disk_free_bytes": ("disk_free_bytes", "Bytes free on the data dir's file system.", ()),
    "loop_silence_seconds": ("loop_silence_seconds", "Seconds since each internal loop last "
                                                     "reported alive.", ("loop",)),
    "ts_flagged": ("ts_flagged_records", "Stored messages kept with a doubtful time stamp, by "
                                         "stream and flag (docs/mqtt.md).", ("stream", "flag")),
    "unavailable": ("part_unavailable", "1 for each optional part the daemon runs without: "
                                        "audio_analysis, mic.", ("part",)),
    "silent": ("device_silent", "1 for each device and stream marked silent: nothing "
                                "received for ten of its usual intervals.", ("stream", "device")),
    "clock_wrong": ("clock_wrong", "1 while the gateway's own clock looks wrong "
                                   "(docs/retention.md).", ()),
    "storage_written_bytes_per_day": ("storage_written_bytes_per_day", "Bytes the daemon "
                                      "writes to storage per day, over the last day (over "
                                      "storage_write_window_seconds while warming up).", ()),
    "storage_write_window_seconds": ("storage_write_window_seconds", "Seconds the write rate "
                                     "was measured over; under 86400 while warming up.", ()),
    "card_life_projected_years": ("card_life_projected_years", "Years the card lasts at this "
                                  "write rate ([storage] card_gb, card_endurance_writes).", ()),
}


Nested = dict[str, dict[str, int]]


class MetricsSnapshot(TypedDict, total=False):
    """The figures of one scrape, as the module's docstring describes them."""

    received: dict[str, int]
    rejected: Nested
    analysed: Nested
    synced: int
    uploads: dict[str, int]
    queue_depth: int
    dead_letters: dict[str, int]
    upload_backlog: int
    disk_used_bytes: int
    disk_budget_bytes: int
    disk_free_bytes: int
    loop_silence_seconds: dict[str, float]
    sequence_gaps: Nested
    sequence_restarts: Nested
    ts_flagged: Nested
    unavailable: dict[str, int]
    silent: Nested
    clock_wrong: int
    clock_jumps: int
    storage_written_bytes: int
    storage_written_bytes_per_day: float
    storage_write_window_seconds: float
    card_life_projected_years: float


class MetricsError(Exception):
    """The metrics server could not start; the message says where and what to change."""


def _flatten(value: Any, depth: int) -> Iterator[tuple[list[str], float]]:
    """{a: {b: n}} with depth 2 -> (["a", "b"], n); a plain number with depth 0 -> ([], n)."""
    if depth == 0:
        yield [], float(value)
        return
    for key, inner in value.items():
        for labels, number in _flatten(inner, depth - 1):
            yield [str(key), *labels], number


def _family(kind: type, spec: tuple[str, str, tuple[str, ...]], value: Any) -> Metric:
    name, help_text, labels = spec
    family = kind(PREFIX + name, help_text, labels=list(labels))
    for label_values, number in _flatten(value, len(labels)):
        family.add_metric(label_values, number)
    return family


class SnapshotCollector(Collector):
    """Turns the daemon's snapshot into metric families at each scrape."""

    def __init__(self, snapshot: Callable[[], Mapping[str, Any]]):
        self.snapshot = snapshot
        self._errors = RateLimitedLog(log, interval_s=300)

    def collect(self) -> Iterator[Metric]:
        ok = GaugeMetricFamily(PREFIX + "snapshot_ok", "1 if this scrape could read the "
                                                       "store's figures, 0 if not.")
        try:
            families = self._families(self.snapshot())
        except Exception as e:  # answer snapshot_ok 0, not an HTTP 500 that hides the rest
            self._errors.warning("snapshot", "metrics snapshot failed", error=repr(e))
            families = []
            ok.add_metric([], 0)
        else:
            ok.add_metric([], 1)
        yield ok
        yield from families

    def _families(self, snap: Mapping[str, Any]) -> list[Metric]:
        """All families built first, so a bad value fails the whole snapshot, not half."""
        families = [_family(CounterMetricFamily, spec, snap[key])
                    for key, spec in _COUNTERS.items() if key in snap]
        families += [_family(GaugeMetricFamily, spec, snap[key])
                     for key, spec in _GAUGES.items() if key in snap]
        return families


class GatewayMetrics:
    """The gateway's registry: the snapshot collector, the process's own figures and the
    in-process instruments."""

    def __init__(self, snapshot: Callable[[], Mapping[str, Any]]):
        self.registry = CollectorRegistry()
        self.registry.register(SnapshotCollector(snapshot))
        # Memory and CPU of the daemon itself: what runs out first on a small box.
        ProcessCollector(registry=self.registry)
        info = Gauge(PREFIX + "build_info", "Always 1; the version is in the label.",
                     ["version"], registry=self.registry)
        info.labels(__version__).set(1)
        self.inference_seconds = Histogram(
            PREFIX + "inference_seconds", "Time to analyse one window (features and model).",
            ["stream"], buckets=INFERENCE_BUCKETS, registry=self.registry)

    def observe_inference(self, stream: str, seconds: float) -> None:
        self.inference_seconds.labels(stream).observe(seconds)


class MetricsServer:
    """The HTTP endpoint in its own daemon thread; `stop` frees the port."""

    def __init__(self, httpd, thread: threading.Thread):
        self.httpd, self.thread = httpd, thread
        self._stopped = False

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return host, port

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout_s)


def start_metrics_server(section: MetricsSection,
                         registry: CollectorRegistry) -> MetricsServer | None:
    """Serve `registry` on metrics.host:metrics.port; None when metrics.enabled is false."""
    if not section.enabled:
        return None
    try:
        httpd, thread = start_http_server(section.port, section.host, registry)
    except OSError as e:
        raise MetricsError(f"cannot serve metrics on {section.host}:{section.port}: "
                           f"{e.strerror or e}; change metrics.port or set metrics.enabled "
                           f"= false") from None
    log.info("metrics served",
             extra=kv(url=f"http://{section.host}:{httpd.server_address[1]}/metrics"))
    return MetricsServer(httpd, thread)
