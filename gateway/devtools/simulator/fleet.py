"""Simulated sensor boxes: N compressors publishing audio, vibration and telemetry over MQTT.

Each box behaves as firmware would (docs/mqtt.md): its own MQTT v5 connection, QoS 1, a WAV
with the `ts` user property, vibration and telemetry JSON. What each box sends is decided in
simulate_boxes.py; this module decides when it publishes, counts what became of each message,
and is the `gateway simulate` command.
"""

from __future__ import annotations

import argparse
import heapq
import logging
import signal
import sys
import threading
import time
from collections import Counter

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.devtools import synth
from gateway.devtools.simulator.boxes import (
    MALFORMED,
    REJECTION_REASON,
    STREAMS,
    Box,
    FaultPlan,
    SimConfig,
)
from gateway.logs import RateLimitedLog, kv, setup_logging

log = logging.getLogger("gateway.simulate")

STAT_KEYS = (*STREAMS, "burst", "duplicate", *REJECTION_REASON, "dropped", "skipped",
             "acked", "refused")


class Simulator:
    """N boxes on one scheduler thread; each box's paho client has its own network thread."""

    def __init__(self, config: SimConfig):
        config.validate()
        self.config = config
        self._boxes: list[Box] = []
        self._counts: Counter[str] = Counter()
        self._handed = 0  # messages paho accepted; the flush at stop waits for their acks
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._warn = RateLimitedLog(log, 10.0)

    @property
    def stats(self) -> dict[str, int]:
        """Messages sent per stream (valid ones, bursts included) and per flaky kind, plus
        dropped (paho's queue full), skipped (schedule slots missed), acked and refused."""
        with self._lock:
            return {key: self._counts[key] for key in STAT_KEYS}

    def start(self) -> Simulator:
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        for index, device_id in enumerate(self.config.device_ids(), 1):
            self._boxes.append(Box(index, device_id, self.config, self._make_client(device_id)))
        for box in self._boxes:
            # connect_async: the boxes buffer and keep retrying while the broker is away.
            box.client.connect_async(self.config.host, self.config.port)
            box.client.loop_start()
        self._thread = threading.Thread(target=self._schedule, name="simulator", daemon=True)
        self._thread.start()
        log.info("simulator started", extra=kv(boxes=len(self._boxes), host=self.config.host,
                                                port=self.config.port, seed=self.config.seed,
                                                flaky=self.config.flaky))
        return self

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while not all(box.client.is_connected() for box in self._boxes):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self, flush_timeout_s: float = 2.0) -> None:
        """Stop publishing, give queued messages a moment to be acknowledged, disconnect."""
        if self._thread is None or self._stopping:
            return
        self._stopping = True
        self._stop.set()
        self._thread.join()
        deadline = time.monotonic() + flush_timeout_s
        while time.monotonic() < deadline and self._unsettled() > 0:
            time.sleep(0.02)
        for box in self._boxes:  # disconnect all first: it ends paho's reconnect waits at once
            box.client.disconnect()
        for box in self._boxes:
            box.client.loop_stop()
        log.info("simulator stopped", extra=kv(unacked=self._unsettled(), **self.stats))

    def _unsettled(self) -> int:
        with self._lock:
            return self._handed - self._counts["acked"] - self._counts["refused"]

    def _make_client(self, device_id: str) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{device_id}",
                             protocol=mqtt.MQTTv5, userdata=device_id)
        # Bounded: a slow or absent broker makes publish() refuse, never block or grow memory.
        client.max_inflight_messages_set(self.config.max_inflight)
        client.max_queued_messages_set(self.config.max_queued)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = lambda c, device_id: self._warn.warning(
            "connect", "broker unreachable, retrying", device=device_id)
        client.on_publish = self._on_publish
        return client

    def _on_connect(self, client, device_id, flags, reason_code, properties) -> None:
        log.info("box connected", extra=kv(device=device_id, reason=str(reason_code)))

    def _on_disconnect(self, client, device_id, flags, reason_code, properties) -> None:
        if not self._stopping:
            log.warning("box disconnected", extra=kv(device=device_id, reason=str(reason_code)))

    def _on_publish(self, client, device_id, mid, reason_code, properties) -> None:
        with self._lock:
            self._counts["refused" if reason_code.is_failure else "acked"] += 1

    def _schedule(self) -> None:
        """Fire each (box, stream) on its grid; a slot already past is skipped, not caught up,
        so an overloaded host publishes less rather than ever later."""
        start, wall0 = time.monotonic(), time.time()
        heap = [(box.first_s[s], n, i, s) for i, box in enumerate(self._boxes)
                for n, s in enumerate(STREAMS)]
        heap.append((self.config.summary_every_s, -1, -1, "summary"))
        heapq.heapify(heap)
        while not self._stop.is_set():
            due, order, index, stream = heap[0]
            if self._stop.wait(max(0.0, due - (time.monotonic() - start))):
                break
            try:
                self._fire(index, stream, due, wall0)
            except Exception:  # one bad event must not end the simulation
                log.exception("simulator event failed", extra=kv(stream=stream))
            every = self.config.summary_every_s if index < 0 else self.config.every(stream)
            late_by = time.monotonic() - start - due
            skipped = max(0, int(late_by // every))
            if skipped and index >= 0:
                with self._lock:
                    self._counts["skipped"] += skipped
            heapq.heapreplace(heap, (due + (skipped + 1) * every, order, index, stream))

    def _fire(self, index: int, stream: str, t_s: float, wall0: float) -> None:
        if index < 0:
            connected = sum(box.client.is_connected() for box in self._boxes)
            log.info("simulator summary", extra=kv(elapsed_s=round(t_s), connected=connected,
                                                   **self.stats))
            return
        box = self._boxes[index]
        if stream == "audio":
            self._log_changes(box, t_s)
        payload, ts_ms = box.build(stream, t_s, wall0)
        self._publish(box, stream, payload, ts_ms, "normal")
        if box.rng["flaky"].random() < self.config.flaky:
            self._misbehave(box, stream, t_s, wall0, payload, ts_ms)

    def _misbehave(self, box: Box, stream: str, t_s: float, wall0: float, payload: bytes,
                   ts_ms: int | None) -> None:
        rng = box.rng["flaky"]
        action = str(rng.choice(("burst", "duplicate", "malformed")))
        if action == "duplicate":  # a resend: same bytes, same ts
            self._publish(box, stream, payload, ts_ms, "duplicate")
        elif action == "burst":  # a backlog flushed at once, windows back to back
            step = {"audio": self.config.window_s, "vibration": self.config.vibration_s,
                    "telemetry": 1.0}[stream]
            for k in range(self.config.burst_size, 0, -1):
                self._publish(box, stream, *box.build(stream, t_s - k * step, wall0), "burst")
        else:
            kind = str(rng.choice(MALFORMED[stream]))
            others = [b.device_id for b in self._boxes if b is not box]
            other_id = others[0] if others else f"{box.device_id}-2"
            self._publish(box, stream, box.malformed(kind, payload, other_id), ts_ms, kind)

    def _publish(self, box: Box, stream: str, payload: bytes, ts_ms: int | None,
                 kind: str) -> None:
        props = None
        if ts_ms is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = ("ts", str(ts_ms))
        info = box.client.publish(box.topic[stream], payload, qos=1, properties=props)
        # NO_CONN: paho keeps the message and sends it once connected.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            with self._lock:
                self._counts["dropped"] += 1
            self._warn.warning(box.device_id, "message dropped", device=box.device_id,
                               stream=stream, reason=mqtt.error_string(info.rc))
            return
        with self._lock:
            self._handed += 1
            if kind in ("normal", "burst"):
                self._counts[stream] += 1
            if kind != "normal":
                self._counts[kind] += 1

    def _log_changes(self, box: Box, t_s: float) -> None:
        """One line when a fault begins or peaks, and when a compressor starts or stops."""
        earlier = t_s - self.config.window_every_s  # the box's previous audio window
        if box.running(t_s) != box.running(earlier):
            log.debug("compressor " + ("started" if box.running(t_s) else "stopped"),
                      extra=kv(device=box.device_id))
        (fault, severity), (_, before) = box.fault_at(t_s), box.fault_at(earlier)
        if fault and box.plan and earlier < box.onset_s:
            log.info("fault begins", extra=kv(device=box.device_id, kind=fault,
                                              ramp_s=box.plan.ramp_s))
        if fault and box.plan and before < severity == box.plan.max_severity:
            log.info("fault at full severity", extra=kv(device=box.device_id, kind=fault))


def _fault_arg(spec: str) -> FaultPlan:
    try:
        return FaultPlan.parse(spec)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="broker address")
    parser.add_argument("--port", type=int, default=1883, help="broker port")
    parser.add_argument("--topic-prefix", default="sensors")
    parser.add_argument("--boxes", type=int, default=3, help="how many boxes (box-1..box-N)")
    parser.add_argument("--fault", type=_fault_arg, action="append", default=[],
                        metavar="DEVICE:KIND[:after=S|:windows=N][:ramp=S][:max=SEVERITY]",
                        help=f"scripted fault, repeatable; KIND one of "
                             f"{', '.join(synth.FAULT_KINDS)}; e.g. box-2:bearing:after=60:ramp=30")
    parser.add_argument("--window-every", type=float, default=5.0, metavar="S",
                        help="seconds between 1 s audio windows per box")
    parser.add_argument("--vibration-every", type=float, default=5.0, metavar="S")
    parser.add_argument("--telemetry-every", type=float, default=10.0, metavar="S")
    parser.add_argument("--duty-on", type=float, default=300.0, metavar="S",
                        help="the compressors run S seconds at a time")
    parser.add_argument("--duty-off", type=float, default=60.0, metavar="S",
                        help="then rest S seconds (0: they never rest)")
    parser.add_argument("--duration", type=float, metavar="S",
                        help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--flaky", type=float, default=0.0, metavar="RATE",
                        help="chance per message that a burst, a duplicate or a malformed "
                             "message follows it (0-1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"))


def config_from_args(args: argparse.Namespace) -> SimConfig:
    return SimConfig(host=args.host, port=args.port, topic_prefix=args.topic_prefix,
                     boxes=args.boxes, window_every_s=args.window_every,
                     vibration_every_s=args.vibration_every,
                     telemetry_every_s=args.telemetry_every, duty_on_s=args.duty_on,
                     duty_off_s=args.duty_off, faults=tuple(args.fault), flaky=args.flaky,
                     seed=args.seed)


def run(args: argparse.Namespace) -> int:
    try:
        simulator = Simulator(config_from_args(args))
    except ValueError as e:
        print(f"simulate: {e}", file=sys.stderr)
        return 2
    setup_logging(args.log_level)
    done = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: done.set())
    try:
        simulator.start()
        done.wait(args.duration)
    finally:
        simulator.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway simulate",
                                     description="simulated sensor boxes publishing over MQTT")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
