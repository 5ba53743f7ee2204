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
import traceback
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlite_utils import Database

from gateway.config import Config, ConfigError, InferenceSection, MachineSection, load_config
from gateway.delivery.publisher import Publisher
from gateway.delivery.uplink import Uplink, sync_disabled_reason
from gateway.inference.model import AudioModel, shipped_model_path
from gateway.inference.queue import AnalysisQueue, build_huey
from gateway.inference.result_writer import ResultWriter
from gateway.inference.results import unanalysed
from gateway.inference.verdict import VerdictRules, spacing_ms
from gateway.inference.vibration_features import kinematics_of
from gateway.inference.worker import Analyser, AudioScorer, RetryPolicy
from gateway.intake.writer import IntakeWriter
from gateway.interfaces import Source
from gateway.logs import kv, set_level
from gateway.mqtt_bridge import MqttBridge
from gateway.service.clock import JumpWatch, clock_problem
from gateway.service.degraded import Degraded, watched_loader
from gateway.service.health import Heartbeats, LoopPulse, WatchdogPinger
from gateway.service.metrics import GatewayMetrics, MetricsSnapshot, start_metrics_server
from gateway.service.native import tune_native_libraries
from gateway.service.observe import metrics_snapshot
from gateway.service.periodic import PeriodicJob
from gateway.service.runlock import RunLock
from gateway.service.sdnotify import Notifier
from gateway.service.silence import CHECK_EVERY_S, SilenceCheck
from gateway.service.wear import CardWearMeter
from gateway.sources.mic import CaptureDevice, CaptureError, MicSource, open_pyaudio_capture
from gateway.store.daemon_state import DaemonState, write_daemon_state
from gateway.store.database import IntakeStore, check_store, open_database
from gateway.store.read_model import last_receipt_ms
from gateway.store.retention import Retention
from gateway.store.segments import roll_bytes_for

log = logging.getLogger("gateway.daemon")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
TICK_S = 1.0
READY_POLL_S = 0.02  # until READY=1: the subscription is awaited this finely, not per tick
EVER = 2**62  # a time bound that every stored time stamp is below
STATE_EVERY_S = 10.0  # how often the daemon's own state is looked at for `gateway status`
# ... and rewritten at least this often; otherwise only when it changed: an unchanged row
# rewritten every 10 s was most of what an idle daemon wrote (5.5 MB/h, issue 14).
STATE_REFRESH_S = 300.0
SWEEP_GRACE_MS = 60_000  # a window younger than this may simply still be on its way
# A loop silent for WatchdogSec (at least this) is stuck: the watchdog pings stop.
MIN_LOOP_SILENCE_S = 5.0
DEFAULT_LOOP_SILENCE_S = 30.0
RETENTION_SILENCE_S = 900.0
AUDIO, MIC = "audio_analysis", "mic"  # the optional parts (service/degraded.py)


def _kind(clock_problem: str) -> str:
    """A clock problem without the time it names: the same problem a minute later."""
    return clock_problem.split(", ", 1)[-1]


def _what_changes(state: DaemonState) -> object:
    """The daemon's state less what moves on its own (the time, the running card-wear
    figures): a change here is written at once, the rest every STATE_REFRESH_S."""
    wear = state["wear"]
    return ([v for k, v in state.items() if k not in ("updated_ms", "wear")],
            wear["bytes_per_day"] is None, wear["card_years"] is None, wear["warming_up"],
            wear["note"])


def model_path(config: Config) -> Path:
    return Path(config.inference.model) if config.inference.model else shipped_model_path()


def build_analyser(config: Config, writer: ResultWriter,
                   degraded: Degraded | None = None) -> Analyser:
    """The analysis task body, handing its results to `writer`. With `degraded`, a model
    that cannot load is reported there (and audio waits)."""
    inf = config.inference
    load: Callable[[], AudioScorer] = partial(AudioModel, model_path(config))
    return Analyser(
        config.store_path, watched_loader(load, degraded, AUDIO) if degraded else load,
        verdict_rules(inf, config.machines), retry_policy(config), inf.time_limit_s, writer)


def verdict_rules(inf: InferenceSection, machines: Mapping[str, MachineSection]
                  ) -> VerdictRules:
    """The verdict's rules from the validated [inference] and [machines.<id>] sections."""
    return VerdictRules(inf.baseline_windows, inf.threshold_sigmas, inf.alert_after,
                        inf.alert_window,
                        machines={device: kinematics_of(m) for device, m in machines.items()},
                        learn_spacing_ms=spacing_ms(inf.baseline_hours, inf.baseline_windows))


def retry_policy(config: Config) -> RetryPolicy:
    inf = config.inference
    return RetryPolicy(inf.max_attempts, inf.retry_base_s, inf.retry_max_s)


@dataclass(frozen=True)
class Pipeline:
    """The started parts the main thread talks to while the daemon runs."""

    main_db: Database  # the main thread's own connection (sweep, daemon state)
    bridge: MqttBridge
    intake: IntakeWriter
    queue: AnalysisQueue
    analyser: Analyser
    results: ResultWriter
    publisher: Publisher


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
        self.ready = False
        self.started_ms = int(time.time() * 1000)
        self.card_wear = CardWearMeter(config.storage, config.gateway.data_dir)
        self.lock = RunLock(config.gateway.data_dir)
        self.uplink: Uplink | None = None  # none while sync is off; replaced on reload
        self._next_state = 0.0
        self._state_written: tuple[object, float] | None = None  # (what changed, when)
        self._next_sweep = 0.0

    def request_stop(self, signum: int | None = None, frame: object = None) -> None:
        self.stop_requested.set()
        self._wake.set()

    def request_reload(self, signum: int | None = None, frame: object = None) -> None:
        self.reload_requested.set()
        self._wake.set()

    def start(self, stack: ExitStack) -> Pipeline:
        """Store first, then the stages downstream of it, intake sources last. Each stop is
        registered on `stack` as its part starts, so the stops run in reverse, and after a
        failed start only what was started is stopped."""
        cfg = self.config
        stack.callback(log.info, "gateway stopped")
        self.lock.acquire()
        _on_stop(stack, "run lock", self.lock.release)
        check_store(cfg.store_path)  # damaged or cut to 0 bytes: one line, exit 1, file kept
        store = IntakeStore(cfg.store_path, rejected_keep=cfg.intake.rejected_keep,
                            rejected_sample_bytes=cfg.intake.rejected_sample_bytes,
                            raw_segment_bytes=roll_bytes_for(cfg.retention.disk_budget_mb << 20))
        _on_stop(stack, "store", store.close)
        main_db = open_database(cfg.store_path)
        _on_stop(stack, "main connection", main_db.close)
        self._check_model()
        self._check_clock(main_db)
        # Pings while anything still runs, until the end of a stop (STATUS= once all is up).
        pinger = WatchdogPinger(self.notifier, self.heartbeats)
        pinger.start()
        _on_stop(stack, "watchdog pinger", pinger.stop)
        retention = self._start_retention(stack)
        bridge = MqttBridge(cfg)
        _on_stop(stack, "broker session", bridge.close)
        self._start_uplink()
        _on_stop(stack, "uplink", self._stop_uplink)
        publisher = Publisher(cfg.store_path, cfg.out_prefix, bridge.publish,
                              bridge.is_connected, pulse=self._watch("publisher"))
        publisher.start()
        _on_stop(stack, "publisher", publisher.stop)
        queue = AnalysisQueue(build_huey(cfg))
        _on_stop(stack, "queue storage", queue.close)
        metrics = GatewayMetrics(partial(self._metrics_snapshot, queue))
        results, analyser = self._start_analysis(stack, queue, publisher, metrics)
        self._sweep(main_db, queue, at_start=True)
        silence = SilenceCheck(cfg.store_path, store.activity, publisher.wake)
        _on_stop(stack, "silence check", silence.close)
        self._start_job(stack, PeriodicJob("silence", CHECK_EVERY_S, silence.run_once,
                                           pulse=self._watch("silence")))
        intake = IntakeWriter(store, cfg.intake, on_windows=queue.enqueue,
                              pulse=self._watch("intake"),
                              refuse_raw=lambda: retention.raw_refused, disk=retention.disk,
                              inflight_limit=cfg.mqtt.receive_maximum)
        intake.start()
        _on_stop(stack, "intake writer", intake.stop)
        metrics_server = start_metrics_server(cfg.metrics, metrics.registry)
        if metrics_server is not None:
            _on_stop(stack, "metrics server", metrics_server.stop)
        pipeline = Pipeline(main_db, bridge, intake, queue, analyser, results, publisher)
        pinger.status = partial(self._status_line, pipeline)
        self._start_sources(stack, pipeline)
        stack.callback(self._stopping)
        return pipeline

    def _start_analysis(self, stack: ExitStack, queue: AnalysisQueue, publisher: Publisher,
                        metrics: GatewayMetrics) -> tuple[ResultWriter, Analyser]:
        """The result writer, then the queue's workers that hand it their results: so it
        stops after them (nothing more is handed to it), and before the queue closes (a
        failed save queues a retry) and the publisher stops (it publishes these)."""
        cfg = self.config
        results = ResultWriter(cfg.store_path, retry_policy(cfg), requeue=queue.enqueue_later,
                               on_result=partial(self._on_result, publisher),
                               on_analysed=metrics.observe_inference,
                               pulse=self._watch("results"))
        results.start()
        _on_stop(stack, "result writer", results.stop)
        analyser = build_analyser(cfg, results, degraded=self.degraded)
        _on_stop(stack, "analyser", analyser.close)
        queue.huey.on_startup()(analyser.prepare_worker)
        queue.start(cfg.queue.workers, analyser.handle, pulse=self._watch("queue"))
        _on_stop(stack, "queue workers", partial(queue.stop, cfg.gateway.stop_grace_s))
        return results, analyser

    def _start_retention(self, stack: ExitStack) -> Retention:
        cfg = self.config
        retention = Retention(cfg.retention, cfg.gateway.data_dir, cfg.store_path,
                              keep_normal_raw_every=cfg.storage.keep_normal_raw_every)
        _on_stop(stack, "retention", retention.close)
        # A clean-up of a big store may take minutes: it is stuck only well past that.
        limit = max(self._silence_limit(), RETENTION_SILENCE_S)
        self._start_job(stack, PeriodicJob("retention", cfg.retention.interval_s,
                                           retention.run_once,
                                           pulse=self.heartbeats.watch("retention", limit)))
        return retention

    def _start_job(self, stack: ExitStack, job: PeriodicJob) -> None:
        job.start()
        _on_stop(stack, f"{job.name} job", job.stop)

    def _start_sources(self, stack: ExitStack, pipeline: Pipeline) -> None:
        """The microphone if it opens, MQTT last; the main loop's own heartbeats."""
        sources: list[Source] = []
        if self.config.mic.enabled:
            mic = self._open_mic()
            if mic is not None:
                sources.append(mic)
        sources.append(pipeline.bridge)
        self._watch("main")
        self._watch("workers")
        self._watch("mqtt")
        # What start-up made (modules, the model, the stages) lives as long as the process:
        # frozen, full garbage collections stop walking it again (measured 27 → 8 ms each).
        gc.freeze()
        for source in sources:
            source.start(pipeline.intake)
            _on_stop(stack, f"source {source.name}", source.stop)
        log.info("gateway started", extra=kv(gateway_id=self.config.gateway.id,
                                             data_dir=self.config.gateway.data_dir,
                                             sources=",".join(s.name for s in sources)))

    def _stopping(self) -> None:
        """The first stop: intake ends first, then each stage drains into the next."""
        log.info("gateway stopping")
        self.notifier.stopping()

    def _open_mic(self) -> MicSource | None:
        """A microphone that cannot open (no PyAudio, no device) is left out, and said."""
        try:
            return self._make_mic()
        except CaptureError as e:
            self.degraded.missing(MIC, str(e))
            return None

    def _check_model(self) -> None:
        """Load the model once at start, to say at once whether audio can be analysed; a
        failure is not fatal (service/degraded.py): the workers keep trying."""
        path = model_path(self.config)
        try:
            model = watched_loader(partial(AudioModel, path), self.degraded, AUDIO)()
        except Exception:
            return
        log.info("model loaded", extra=kv(model=model.name_version, path=path))

    def _check_clock(self, main_db: Database) -> None:
        try:
            last = last_receipt_ms(main_db.conn)
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

    def _watch(self, loop: str) -> LoopPulse:
        return self.heartbeats.watch(loop, self._silence_limit())

    def _status_line(self, pipeline: Pipeline) -> str:
        """STATUS= for `systemctl status`: in-memory figures only (runs in the pinger)."""
        broker = "broker connected" if pipeline.bridge.is_connected() else "BROKER DOWN"
        warnings = [w for w in (self.degraded.status_text(),
                                "CLOCK WRONG" if self.clock_problem else "") if w]
        return "; ".join(warnings + [
            f"{broker}", f"stored {pipeline.intake.stats.stored}, analysed "
            f"{pipeline.results.stats.analysed}, published {pipeline.publisher.published}"])

    def _metrics_snapshot(self, queue: AnalysisQueue) -> MetricsSnapshot:
        return metrics_snapshot(self.config, queue.depth(),
                                self.heartbeats.silence(), unavailable=self.degraded.snapshot(),
                                clock_problem=self.clock_problem, clock_jumps=self.clock.jumps)

    def _start_uplink(self) -> None:
        reason = sync_disabled_reason(self.config.sync)
        if reason:
            log.info("upstream sync off; everything is kept on this gateway",
                     extra=kv(reason=reason))
            return
        sync = self.config.sync
        # A request may hang up to its timeouts without the loop being stuck.
        pulse = self.heartbeats.watch("uplink", self._silence_limit() + sync.read_timeout_s
                                      + sync.connect_timeout_s)
        self.uplink = Uplink(sync, self.config.gateway.id, self.config.store_path, pulse=pulse)
        self.uplink.start()

    def _stop_uplink(self) -> None:
        uplink, self.uplink = self.uplink, None
        if uplink is not None:
            uplink.stop(self.config.sync.read_timeout_s + 1)
            self.heartbeats.unregister("uplink")

    def _on_result(self, publisher: Publisher, alerted: bool) -> None:
        """A result was committed: to the local broker at once; an alert also to the cloud
        at once (results wait for the next upload round: one request per window would be
        wasteful on a metered link)."""
        publisher.wake()
        uplink = self.uplink
        if alerted and uplink is not None:
            uplink.wake()

    def _make_mic(self) -> MicSource:
        mic = self.config.mic

        def open_device() -> CaptureDevice:
            return open_pyaudio_capture(mic.input_device, mic.sample_rate, mic.channels,
                                        frames_per_buffer=int(mic.sample_rate * 0.1))

        return MicSource(open_device(), device_id=mic.device_id, sample_rate=mic.sample_rate,
                         channels=mic.channels, window_s=mic.window_s, reopen=open_device)

    def _sweep(self, main_db: Database, queue: AnalysisQueue, at_start: bool = False) -> None:
        """Queue windows stored but never analysed (a crash between commit and enqueue, a
        queue lost with the process). At start: all of them. Later: only when the queue is
        idle, so a backlog is never queued twice, and only windows that had time to arrive."""
        now = int(time.time() * 1000)
        if not at_start and queue.depth() > 0:
            return
        inf = self.config.inference
        stale_ms = int((inf.retry_max_s + inf.time_limit_s) * 1000) + SWEEP_GRACE_MS
        if at_start:  # everything: no worker of ours is running yet (whatever the clock said)
            ids = unanalysed(main_db.conn, EVER, EVER)
        else:
            ids = unanalysed(main_db.conn, now - SWEEP_GRACE_MS, now - stale_ms)
        if ids:
            queue.enqueue(ids)
            log.info("queued windows found without a result",
                     extra=kv(windows=len(ids), at_start=at_start))
        self._next_sweep = time.monotonic() + self.config.queue.sweep_interval_s

    def _write_state(self, pipeline: Pipeline) -> None:
        """What only the running daemon knows, for `gateway status` in another process."""
        self._next_state = time.monotonic() + STATE_EVERY_S
        state: DaemonState = {
            "started_ms": self.started_ms, "updated_ms": int(time.time() * 1000),
            "broker_connected": pipeline.bridge.is_connected(),
            "queue_depth": pipeline.queue.depth(), "stale_loops": self.heartbeats.stale(),
            "unavailable": self.degraded.snapshot(), "clock": self.clock.as_dict(),
            "wear": self.card_wear.reading()}
        key, now = _what_changes(state), time.monotonic()
        if self._state_written and self._state_written[0] == key and \
                now - self._state_written[1] < STATE_REFRESH_S:
            return
        try:
            write_daemon_state(pipeline.main_db.conn, state)
            self._state_written = key, now
        except Exception as e:  # status would show stale figures; the daemon goes on
            log.warning("cannot record the daemon's state", extra=kv(error=repr(e)))

    def _tick(self, pipeline: Pipeline) -> None:
        """Periodic jobs, run by the main thread between signals."""
        self.heartbeats.beat("main")
        step = self.clock.check()
        if step:
            log.warning("the wall clock jumped", extra=kv(by_s=round(step, 1)))
            self._check_clock(pipeline.main_db)
        if pipeline.analyser.oldest_running_s() < 2 * self.config.inference.time_limit_s + 10:
            self.heartbeats.beat("workers")
        if pipeline.bridge.network_alive():  # paho's own thread: it has no turns to beat in
            self.heartbeats.beat("mqtt")
        if not self.ready and pipeline.bridge.subscribed.is_set():
            # READY only once the store is open and the broker session is up.
            self.ready = True
            self.notifier.ready(self._status_line(pipeline))
            log.info("gateway ready", extra=kv(broker="connected"))
        if time.monotonic() >= self._next_state:
            self._check_clock(pipeline.main_db)
            self._write_state(pipeline)
        if time.monotonic() >= self._next_sweep:
            try:
                self._sweep(pipeline.main_db, pipeline.queue)
            except Exception as e:
                log.error("sweep for unqueued windows failed; next try at the next interval",
                          extra=kv(error=repr(e)))
                self._next_sweep = time.monotonic() + self.config.queue.sweep_interval_s

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
            self._stop_uplink()
            self.config = dataclasses.replace(self.config, sync=new.sync)
            self._start_uplink()
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
        with ExitStack() as stack:  # on the way out, also after a failed start: every stop
            try:
                pipeline = self.start(stack)
            except Exception as e:
                log.error("start failed; stopping what was started",
                          extra=kv(error=f"{type(e).__name__}: {e}"))
                raise
            while not self.stop_requested.is_set():
                self._wake.wait(TICK_S if self.ready else READY_POLL_S)
                self._wake.clear()
                if self.reload_requested.is_set() and not self.stop_requested.is_set():
                    self.reload_requested.clear()
                    self.reload()
                self._tick(pipeline)
        return 0


def _on_stop(stack: ExitStack, part: str, stop: Callable[[], object]) -> None:
    """Register a started part's stop; its failure is logged and the other stops go on."""
    log.debug("part started", extra=kv(part=part))
    stack.callback(_stop_part, part, stop)


def _stop_part(part: str, stop: Callable[[], object]) -> None:
    try:
        stop()
    except Exception as e:
        log.error("stopping a part failed; stopping the others", extra=kv(
            part=part, error=repr(e), trace=traceback.format_exc()))
        return
    log.debug("part stopped", extra=kv(part=part))
