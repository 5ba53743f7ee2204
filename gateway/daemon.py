"""The composition root: builds the pipeline, starts it in order, stops it in reverse.

Flow: sources (MQTT bridge, microphone) → intake writer → store → analysis queue →
workers → result writer → store (results, alerts, outbox) → publisher (local broker) /
uplink (cloud).
Downstream stages start first, intake last, so nothing arrives before it can be
kept and handled. Signal handlers only set a flag; the main thread does the rest.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import signal
import threading
import time
from functools import partial
from pathlib import Path

from gateway.config import Config, ConfigError, load_config
from gateway.delivery.publisher import Publisher
from gateway.delivery.uplink import Uplink, sync_disabled_reason
from gateway.inference.model import AudioModel, shipped_model_path
from gateway.inference.queue import AnalysisQueue, build_huey
from gateway.inference.result_writer import ResultWriter
from gateway.inference.results import unanalysed
from gateway.inference.verdict import VerdictRules
from gateway.inference.worker import Analyser, RetryPolicy
from gateway.intake.writer import IntakeWriter
from gateway.interfaces import Source
from gateway.logs import kv, set_level
from gateway.mqtt_bridge import MqttBridge
from gateway.service.clock import JumpWatch, clock_problem, last_receipt_ms
from gateway.service.degraded import Degraded, watched_loader
from gateway.service.health import Heartbeats, WatchdogPinger
from gateway.service.metrics import GatewayMetrics, MetricsServer, start_metrics_server
from gateway.service.native import tune_native_libraries
from gateway.service.observe import metrics_snapshot
from gateway.service.periodic import PeriodicJob
from gateway.service.runlock import RunLock
from gateway.service.sdnotify import Notifier
from gateway.service.silence import CHECK_EVERY_S, SilenceCheck
from gateway.service.wear import CardWearMeter
from gateway.sources.mic import CaptureError, MicSource, open_pyaudio_capture
from gateway.store.daemon_state import write_daemon_state
from gateway.store.database import IntakeStore, check_store, open_database
from gateway.store.retention import Retention

log = logging.getLogger("gateway.daemon")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
TICK_S = 1.0
READY_POLL_S = 0.02  # until READY=1: the subscription is awaited this finely, not per tick
EVER = 2**62  # a time bound that every stored time stamp is below
STATE_EVERY_S = 10.0  # how often the daemon's own state is written for `gateway status`
SWEEP_GRACE_MS = 60_000  # a window younger than this may simply still be on its way
# A loop silent for WatchdogSec (at least this) is stuck: the watchdog pings stop.
MIN_LOOP_SILENCE_S = 5.0
DEFAULT_LOOP_SILENCE_S = 30.0
AUDIO, MIC = "audio_analysis", "mic"  # the optional parts (service/degraded.py)


def _kind(clock_problem: str) -> str:
    """A clock problem without the time it names: the same problem a minute later."""
    return clock_problem.split(", ", 1)[-1]


def model_path(config: Config) -> Path:
    return Path(config.inference.model) if config.inference.model else shipped_model_path()


def build_analyser(config: Config, on_result=lambda alerted: None,
                   on_analysed=lambda stream, seconds: None,
                   writer: ResultWriter | None = None,
                   retry_later=lambda window_id, delay_s: None,
                   degraded: Degraded | None = None) -> Analyser:
    """The analysis task body; with a writer, its results are committed in groups by it.
    With `degraded`, a model that cannot load is reported there (and audio waits)."""
    inf = config.inference
    path = model_path(config)
    load = partial(AudioModel, path)
    return Analyser(
        config.store_path, watched_loader(load, degraded, AUDIO) if degraded else load,
        VerdictRules(inf.baseline_windows, inf.threshold_sigmas, inf.alert_after,
                     inf.alert_window),
        RetryPolicy(inf.max_attempts, inf.retry_base_s, inf.retry_max_s),
        inf.time_limit_s, on_result=on_result, on_analysed=on_analysed, writer=writer,
        retry_later=retry_later)


class Daemon:
    def __init__(self, config: Config, service_env: dict[str, str] | None = None):
        self.config = config
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self._wake = threading.Event()  # set by the signal handlers
        self.notifier = Notifier.from_environ(service_env or {})
        self.heartbeats = Heartbeats()
        self.degraded = Degraded()
        self.clock = JumpWatch()
        self.clock_problem = ""
        self.pinger: WatchdogPinger | None = None
        self.metrics = GatewayMetrics(self._metrics_snapshot)
        self.metrics_server: MetricsServer | None = None
        self.analyser: Analyser | None = None
        self.results: ResultWriter | None = None
        self.ready = False
        self.started_ms = int(time.time() * 1000)
        self.main_db = None  # the main thread's own connection (sweep, daemon state)
        self._next_state = 0.0
        self.card_wear = CardWearMeter(config.storage, config.gateway.data_dir)
        self.lock = RunLock(config.gateway.data_dir)
        self.store: IntakeStore | None = None
        self.queue: AnalysisQueue | None = None
        self.publisher: Publisher | None = None
        self.uplink: Uplink | None = None
        self.retention: Retention | None = None
        self.retention_job: PeriodicJob | None = None
        self.silence: SilenceCheck | None = None
        self.silence_job: PeriodicJob | None = None
        self.writer: IntakeWriter | None = None
        self.bridge: MqttBridge | None = None
        self.sources: list[Source] = []
        self._next_sweep = 0.0

    def request_stop(self, signum: int | None = None, frame=None) -> None:
        self.stop_requested.set()
        self._wake.set()

    def request_reload(self, signum: int | None = None, frame=None) -> None:
        self.reload_requested.set()
        self._wake.set()

    def start(self) -> None:
        """Store first, then the stages downstream of it, intake sources last."""
        cfg = self.config
        self.lock.acquire()
        check_store(cfg.store_path)  # damaged or cut to 0 bytes: one line, exit 1, file kept
        self.store = IntakeStore(cfg.store_path, rejected_keep=cfg.intake.rejected_keep,
                                 rejected_sample_bytes=cfg.intake.rejected_sample_bytes)
        self.main_db = open_database(cfg.store_path)
        if cfg.mic.enabled:
            self._add_mic()
        self._check_model()
        self._check_clock()
        self.bridge = MqttBridge(cfg)
        self._watch("main", "publisher", "intake", "workers", "results")
        self.publisher = Publisher(cfg.store_path, cfg.out_prefix, self.bridge.publish,
                                   self.bridge.is_connected, beat=self._beat("publisher"))
        self.publisher.start()
        self.uplink = self._start_uplink()
        self.results = ResultWriter(cfg.store_path, beat=self._beat("results")).start()
        self.analyser = build_analyser(cfg, on_result=self._on_result,
                                       on_analysed=self.metrics.observe_inference,
                                       writer=self.results, retry_later=self._retry_later,
                                       degraded=self.degraded)
        self.queue = AnalysisQueue(build_huey(cfg), self.analyser.handle)
        self.queue.huey.on_startup()(self.analyser.prepare_worker)
        self.queue.start(cfg.queue.workers)
        self._sweep(at_start=True)
        self.retention = Retention(cfg.retention, cfg.gateway.data_dir, cfg.store_path)
        self.retention_job = PeriodicJob("retention", cfg.retention.interval_s,
                                         self.retention.run_once).start()
        self.writer = IntakeWriter(self.store, cfg.intake, on_windows=self.queue.enqueue,
                                   beat=self._beat("intake"),
                                   refuse_raw=lambda: self.retention.raw_refused,
                                   disk=self.retention.disk)
        self.writer.start()
        self.silence = SilenceCheck(cfg.store_path, self.store.activity, self.publisher.wake)
        self.silence_job = PeriodicJob("silence", CHECK_EVERY_S, self.silence.run_once).start()
        self.metrics_server = start_metrics_server(cfg.metrics, self.metrics.registry)
        self.pinger = WatchdogPinger(self.notifier, self.heartbeats, self._status_line).start()
        self.sources.append(self.bridge)
        # What start-up made (modules, the model, the stages) lives as long as the process:
        # frozen, full garbage collections stop walking it again (measured 27 → 8 ms each).
        gc.freeze()
        for source in self.sources:
            source.start(self.writer)
        log.info("gateway started", extra=kv(gateway_id=cfg.gateway.id,
                                             data_dir=cfg.gateway.data_dir,
                                             sources=",".join(s.name for s in self.sources)))

    def _add_mic(self) -> None:
        """A microphone that cannot open (no PyAudio, no device) is left out, and said."""
        try:
            self.sources.append(self._make_mic())
        except CaptureError as e:
            self.degraded.missing(MIC, str(e))

    def _check_model(self) -> None:
        """Load the model once at start, to say at once whether audio can be analysed; a
        failure is not fatal (service/degraded.py): the workers keep trying."""
        path = model_path(self.config)
        try:
            model = watched_loader(partial(AudioModel, path), self.degraded, AUDIO)()
        except Exception:
            return
        log.info("model loaded", extra=kv(model=model.name_version, path=path))

    def _check_clock(self) -> None:
        try:
            last = last_receipt_ms(self.main_db.conn)
        except Exception:
            last = None
        problem = clock_problem(int(time.time() * 1000), last)
        if problem and _kind(problem) != _kind(self.clock_problem):  # once, not per check
            log.warning("the gateway's clock looks wrong; data is kept with its own time "
                        "stamps", extra=kv(problem=problem))
        elif self.clock_problem and not problem:
            log.info("the gateway's clock looks right again")
        self.clock_problem = problem

    def _silence_limit(self) -> float:
        usec = self.notifier.watchdog_usec
        return max(usec / 1e6, MIN_LOOP_SILENCE_S) if usec else DEFAULT_LOOP_SILENCE_S

    def _watch(self, *loops: str) -> None:
        for loop in loops:
            self.heartbeats.register(loop, self._silence_limit())

    def _beat(self, loop: str):
        return lambda: self.heartbeats.beat(loop)

    def _status_line(self) -> str:
        """STATUS= for `systemctl status`: in-memory figures only (runs in the pinger)."""
        broker = "broker connected" if self.bridge.is_connected() else "BROKER DOWN"
        warnings = [w for w in (self.degraded.status_text(),
                                "CLOCK WRONG" if self.clock_problem else "") if w]
        return "; ".join(warnings + [
            f"{broker}", f"stored {self.writer.stats.stored}, analysed "
            f"{self.analyser.analysed}, published {self.publisher.published}"])

    def _metrics_snapshot(self) -> dict:
        return metrics_snapshot(self.config, self.queue.depth() if self.queue else 0,
                                self.heartbeats.silence(), unavailable=self.degraded.snapshot(),
                                clock_problem=self.clock_problem, clock_jumps=self.clock.jumps)

    def _start_uplink(self) -> Uplink | None:
        reason = sync_disabled_reason(self.config.sync)
        if reason:
            log.info("upstream sync off; everything is kept on this gateway",
                     extra=kv(reason=reason))
            return None
        uplink = Uplink(self.config.sync, self.config.gateway.id, self.config.store_path,
                        beat=self._beat("uplink"))
        # A request may hang up to its timeouts without the loop being stuck.
        self.heartbeats.register("uplink", self._silence_limit() + self.config.sync.read_timeout_s
                                 + self.config.sync.connect_timeout_s)
        uplink.start()
        return uplink

    def _on_result(self, alerted: bool) -> None:
        """A result was committed: to the local broker at once; an alert also to the cloud
        at once (results wait for the next upload round: one request per window would be
        wasteful on a metered link)."""
        self.publisher.wake()
        if alerted and self.uplink:
            self.uplink.wake()

    def _retry_later(self, window_id: int, delay_s: float) -> None:
        """A result the result writer could not save: its window is tried again later."""
        self.queue.enqueue_later(window_id, delay_s)

    def _make_mic(self) -> MicSource:
        mic = self.config.mic

        def open_device():
            return open_pyaudio_capture(mic.input_device, mic.sample_rate, mic.channels,
                                        frames_per_buffer=int(mic.sample_rate * 0.1))

        return MicSource(open_device(), device_id=mic.device_id, sample_rate=mic.sample_rate,
                         channels=mic.channels, window_s=mic.window_s, reopen=open_device)

    def _sweep(self, at_start: bool = False) -> None:
        """Queue windows stored but never analysed (a crash between commit and enqueue, a
        queue lost with the process). At start: all of them. Later: only when the queue is
        idle, so a backlog is never queued twice, and only windows that had time to arrive."""
        now = int(time.time() * 1000)
        if not at_start and self.queue.depth() > 0:
            return
        inf = self.config.inference
        stale_ms = int((inf.retry_max_s + inf.time_limit_s) * 1000) + SWEEP_GRACE_MS
        if at_start:  # everything: no worker of ours is running yet (whatever the clock said)
            ids = unanalysed(self.main_db.conn, EVER, EVER)
        else:
            ids = unanalysed(self.main_db.conn, now - SWEEP_GRACE_MS, now - stale_ms)
        if ids:
            self.queue.enqueue(ids)
            log.info("queued windows found without a result",
                     extra=kv(windows=len(ids), at_start=at_start))
        self._next_sweep = time.monotonic() + self.config.queue.sweep_interval_s

    def _write_state(self) -> None:
        """What only the running daemon knows, for `gateway status` in another process."""
        self._next_state = time.monotonic() + STATE_EVERY_S
        state = {"started_ms": self.started_ms, "updated_ms": int(time.time() * 1000),
                 "broker_connected": self.bridge.is_connected(),
                 "queue_depth": self.queue.depth(), "stale_loops": self.heartbeats.stale(),
                 "unavailable": self.degraded.snapshot(), "clock": self.clock.as_dict(),
                 "wear": self.card_wear.reading()}
        try:
            write_daemon_state(self.main_db.conn, state)
        except Exception as e:  # status would show stale figures; the daemon goes on
            log.warning("cannot record the daemon's state", extra=kv(error=repr(e)))

    def _tick(self) -> None:
        """Periodic jobs, run by the main thread between signals."""
        self.heartbeats.beat("main")
        step = self.clock.check()
        if step:
            log.warning("the wall clock jumped", extra=kv(by_s=round(step, 1)))
            self._check_clock()
        if self.analyser.oldest_running_s() < 2 * self.config.inference.time_limit_s + 10:
            self.heartbeats.beat("workers")
        if not self.ready and self.bridge.subscribed.is_set():
            # READY only once the store is open and the broker session is up.
            self.ready = True
            self.notifier.ready(self._status_line())
            log.info("gateway ready", extra=kv(broker="connected"))
        if time.monotonic() >= self._next_state:
            self._check_clock()
            self._write_state()
        if time.monotonic() >= self._next_sweep:
            try:
                self._sweep()
            except Exception as e:
                log.error("sweep for unqueued windows failed; next try at the next interval",
                          extra=kv(error=repr(e)))
                self._next_sweep = time.monotonic() + self.config.queue.sweep_interval_s

    def stop(self) -> None:
        """Stop intake, commit and acknowledge what was taken, let analyses finish within the
        grace period, commit their results, publish what is ready, say offline, close."""
        log.info("gateway stopping")
        self.notifier.stopping()
        for source in reversed(self.sources):
            source.stop()
        if self.writer:
            self.writer.stop()
        if self.silence_job:
            self.silence_job.stop()
        if self.silence:
            self.silence.close()
        if self.queue:
            self.queue.stop(self.config.gateway.stop_grace_s)
        if self.analyser:
            self.analyser.close()
        if self.results:
            # After the workers (nothing more is handed to it), before the queue closes (a
            # failed save queues a retry) and the publisher stops (it publishes these).
            self.results.stop()
        if self.queue:
            self.queue.close()
        if self.publisher:
            self.publisher.stop()
        if self.uplink:
            self.uplink.stop(self.config.sync.read_timeout_s + 1)
            self.heartbeats.unregister("uplink")
        if self.bridge:
            self.bridge.close()
        if self.retention_job:
            self.retention_job.stop()
        if self.retention:
            self.retention.close()
        if self.metrics_server:
            self.metrics_server.stop()
        if self.pinger:
            self.pinger.stop()
        if self.main_db:
            self.main_db.close()
        if self.store:
            self.store.close()
        self.lock.release()
        log.info("gateway stopped")

    def reload(self) -> None:
        """SIGHUP: re-read the config file; apply the log level and the sync settings (the
        uplink restarts with them); everything else needs a restart, and the log says so."""
        self.notifier.reloading()
        try:
            new = load_config(self.config.path)
        except ConfigError as e:
            log.error("reload refused: the config file has a mistake; running on unchanged",
                      extra=kv(error=str(e)))
            self.notifier.ready()
            return
        applied = []
        if new.gateway.log_level != self.config.gateway.log_level:
            set_level(new.gateway.log_level)
            applied.append("gateway.log_level")
        if new.sync != self.config.sync:
            if self.uplink:
                self.uplink.stop(self.config.sync.read_timeout_s + 1)
            self.config = dataclasses.replace(self.config, sync=new.sync)
            self.uplink = self._start_uplink()
            applied.append("sync")
        self.config = dataclasses.replace(
            self.config, gateway=dataclasses.replace(self.config.gateway,
                                                     log_level=new.gateway.log_level))
        others = [name for name in ("mqtt", "intake", "queue", "inference", "retention",
                                    "metrics", "mic", "storage")
                  if getattr(new, name) != getattr(self.config, name)]
        log.info("configuration reloaded", extra=kv(
            applied=",".join(applied) or "nothing changed",
            needs_restart=",".join(others) or "none"))
        self.notifier.ready()

    def run(self) -> int:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        tune_native_libraries()  # malloc arenas, BLAS threads: before start() makes threads
        try:
            self.start()
            while not self.stop_requested.is_set():
                self._wake.wait(TICK_S if self.ready else READY_POLL_S)
                self._wake.clear()
                if self.reload_requested.is_set() and not self.stop_requested.is_set():
                    self.reload_requested.clear()
                    self.reload()
                self._tick()
        finally:
            # Also after a failed start: commit what was taken, close what was opened.
            self.stop()
        return 0
