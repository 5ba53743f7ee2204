"""Simulated sensor boxes: N compressors publishing audio, vibration and telemetry over MQTT.

Each box behaves as firmware would (docs/mqtt.md): its own MQTT v5 connection, QoS 1, a WAV
with the `ts` user property, vibration and telemetry JSON. How a box sounds and shakes comes
from gateway.synth, the generator the audio model was trained on; this module only decides
when a box publishes, whether its compressor runs, how far a scripted fault has progressed
and, in flaky mode, how the box misbehaves.

Every event has a nominal time (seconds since start, on a fixed per-box grid). Samples, duty
cycle and fault severity follow it, so one seed gives the same samples on every run; only the
wall-clock stamps differ.
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway import synth
from gateway.logs import RateLimitedLog, kv, setup_logging
from gateway.wav import encode_wav

log = logging.getLogger("gateway.simulate")
AUDIO_RATE, VIBRATION_RATE = 16_000, 3_200
STREAMS = ("audio", "vibration", "telemetry")
# Flaky-mode malformed kinds per stream, and the rejection reason the gateway gives each.
MALFORMED = {"audio": ("bad_wav",), "vibration": ("not_json",),
             "telemetry": ("not_json", "wrong_device", "oversize")}
REJECTION_REASON = {"bad_wav": "truncated_wav", "not_json": "not_json",
                    "wrong_device": "device_mismatch", "oversize": "oversize"}
OVERSIZE_BYTES = 2 * 65_536  # twice the gateway's default intake.max_telemetry_bytes
STAT_KEYS = (*STREAMS, "burst", "duplicate", *REJECTION_REASON, "dropped", "skipped",
             "acked", "refused")


@dataclass(frozen=True)
class FaultPlan:
    """Box `device_id` develops `kind` after_s seconds in (or at its after_windows-th audio
    window, counting from 0), its severity ramping linearly from 0 to max_severity over
    ramp_s seconds. Neither after_s nor after_windows: faulty from the start."""

    device_id: str
    kind: str
    after_s: float | None = None
    after_windows: int | None = None
    ramp_s: float = 0.0
    max_severity: float = 1.0

    def __post_init__(self) -> None:
        where = f"fault for {self.device_id}"
        if self.kind not in synth.FAULT_KINDS:
            raise ValueError(f"{where}: kind {self.kind!r} is not one of "
                             f"{', '.join(synth.FAULT_KINDS)}")
        if self.after_s is not None and self.after_windows is not None:
            raise ValueError(f"{where}: give after (seconds) or windows, not both")
        if (self.after_s or 0) < 0 or (self.after_windows or 0) < 0 or self.ramp_s < 0:
            raise ValueError(f"{where}: after, windows and ramp must not be negative")
        if not 0 < self.max_severity <= 1:
            raise ValueError(f"{where}: max severity must be in (0, 1]")

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """`DEVICE:KIND[:after=S|:windows=N][:ramp=S][:max=0..1]`, e.g. box-2:bearing:after=60"""
        device, _, rest = spec.partition(":")
        kind, *options = rest.split(":")
        if not device or not kind:
            raise ValueError(f"fault {spec!r}: expected DEVICE:KIND[:after=S][:ramp=S]...")
        fields = {"after": ("after_s", float), "windows": ("after_windows", int),
                  "ramp": ("ramp_s", float), "max": ("max_severity", float)}
        values = {}
        for option in options:
            key, _, text = option.partition("=")
            if key not in fields:
                raise ValueError(f"fault {spec!r}: unknown option {key!r}; expected "
                                 f"{', '.join(fields)}")
            name, convert = fields[key]
            try:
                values[name] = convert(text)
            except ValueError:
                raise ValueError(f"fault {spec!r}: {key}={text!r} is not a number") from None
        return cls(device, kind, **values)

    def onset_s(self, first_window_s: float, window_every_s: float) -> float:
        if self.after_windows is not None:
            return first_window_s + self.after_windows * window_every_s
        return self.after_s or 0.0

    def severity(self, t_s: float, onset_s: float) -> float:
        if t_s < onset_s:
            return 0.0
        if self.ramp_s == 0:
            return self.max_severity
        return self.max_severity * min(1.0, (t_s - onset_s) / self.ramp_s)


@dataclass(frozen=True)
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "sensors"
    boxes: int = 3  # named box-1 .. box-N
    window_every_s: float = 5.0
    window_s: float = 1.0
    vibration_every_s: float = 5.0
    vibration_s: float = 1.0
    telemetry_every_s: float = 10.0
    duty_on_s: float = 300.0  # the compressor runs this long, then rests duty_off_s;
    duty_off_s: float = 60.0  # 0 = it never rests
    faults: tuple[FaultPlan, ...] = ()
    flaky: float = 0.0  # chance per regular message that a burst/duplicate/malformed follows
    burst_size: int = 10
    seed: int = 0
    max_inflight: int = 20  # per box: unacknowledged QoS 1 messages on the wire
    max_queued: int = 50  # per box: beyond this paho refuses, and we count it as dropped
    summary_every_s: float = 10.0

    def device_ids(self) -> list[str]:
        return [f"box-{i}" for i in range(1, self.boxes + 1)]

    def every(self, stream: str) -> float:
        return {"audio": self.window_every_s, "vibration": self.vibration_every_s,
                "telemetry": self.telemetry_every_s}[stream]

    def validate(self) -> None:
        if not 1 <= self.boxes <= 10_000:
            raise ValueError(f"boxes {self.boxes} is outside 1-10000")
        if min(map(self.every, STREAMS)) <= 0 or self.summary_every_s <= 0:
            raise ValueError("every interval must be above 0 s")
        if not 0.25 <= self.window_s <= 60 or not 8 / VIBRATION_RATE <= self.vibration_s <= 1:
            raise ValueError("audio windows must last 0.25-60 s, vibration 0.0025-1 s")
        if self.duty_on_s <= 0 or self.duty_off_s < 0:
            raise ValueError("duty cycle: on must be above 0 s, off at least 0 s")
        if not 0 <= self.flaky <= 1:
            raise ValueError(f"flaky rate {self.flaky} is outside 0-1")
        unknown = sorted({p.device_id for p in self.faults} - set(self.device_ids()))
        if unknown:
            raise ValueError(f"fault names {unknown[0]!r}; the boxes are box-1..box-{self.boxes}")
        if len({p.device_id for p in self.faults}) < len(self.faults):
            raise ValueError("at most one fault per box")


class _Box:
    """One box's state and payloads; used only by the scheduler thread."""

    def __init__(self, index: int, device_id: str, config: SimConfig, client: mqtt.Client):
        self.device_id, self.config, self.client = device_id, config, client
        self.profile = synth.profile_for(device_id)
        # One generator per purpose, so flaky draws never shift what the streams contain.
        seeds = np.random.SeedSequence([config.seed, index]).spawn(5)
        schedule, *rngs = (np.random.default_rng(s) for s in seeds)
        self.rng = dict(zip((*STREAMS, "flaky"), rngs, strict=True))
        # Random phases stagger the boxes so their windows do not all arrive together.
        self.first_s = {s: float(schedule.uniform(0, config.every(s))) for s in STREAMS}
        self.duty_phase_s = float(schedule.uniform(0, config.duty_on_s + config.duty_off_s))
        self.plan = next((p for p in config.faults if p.device_id == device_id), None)
        self.onset_s = (self.plan.onset_s(self.first_s["audio"], config.window_every_s)
                        if self.plan else float("inf"))
        self.topic = {s: f"{config.topic_prefix}/{device_id}/{s}" for s in STREAMS}

    def running(self, t_s: float) -> bool:
        cycle = self.config.duty_on_s + self.config.duty_off_s
        return self.config.duty_off_s == 0 or (t_s + self.duty_phase_s) % cycle < \
            self.config.duty_on_s

    def fault_at(self, t_s: float) -> tuple[str | None, float]:
        if self.plan is None or t_s < self.onset_s:
            return None, 0.0
        return self.plan.kind, self.plan.severity(t_s, self.onset_s)

    def build(self, stream: str, t_s: float, wall0: float) -> tuple[bytes, int | None]:
        """The payload of the window ending (or reading taken) at nominal time t_s, and for
        audio the `ts` property in epoch ms."""
        fault, severity = self.fault_at(t_s)
        common = {"fault": fault, "severity": severity, "running": self.running(t_s),
                  "rng": self.rng[stream]}
        if stream == "telemetry":
            doc = synth.telemetry(self.profile, ts_s=wall0 + t_s, **common)
            return json.dumps(doc).encode(), None
        if stream == "audio":
            start = t_s - self.config.window_s
            samples = synth.audio_window(self.profile, duration_s=self.config.window_s,
                                         sample_rate=AUDIO_RATE, t0_s=start, **common)
            return encode_wav(samples, AUDIO_RATE), round((wall0 + start) * 1000)
        start = t_s - self.config.vibration_s
        xyz = synth.vibration_window(self.profile, duration_s=self.config.vibration_s,
                                     sample_rate=VIBRATION_RATE, t0_s=start, **common)
        # 1 mm/s^2 steps stay below the sensor noise floor and halve the payload.
        doc = {"ts": round(wall0 + start, 3), "sample_rate": VIBRATION_RATE, "unit": "m/s2",
               **{axis: np.round(xyz[i], 3).tolist() for i, axis in enumerate("xyz")}}
        return json.dumps(doc, separators=(",", ":")).encode(), None

    def malformed(self, kind: str, payload: bytes, other_id: str) -> bytes:
        """A broken variant of a valid payload; unique because the payload was."""
        if kind in ("bad_wav", "not_json"):  # a transfer cut short
            return payload[: len(payload) // 2]
        doc = json.loads(payload)
        if kind == "wrong_device":  # a box flashed with its neighbour's config
            doc["device_id"] = other_id
        else:  # "oversize": a debug dump left in the firmware
            doc["debug"] = "0" * OVERSIZE_BYTES
        return json.dumps(doc).encode()


class Simulator:
    """N boxes on one scheduler thread; each box's paho client has its own network thread."""

    def __init__(self, config: SimConfig):
        config.validate()
        self.config = config
        self._boxes: list[_Box] = []
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
            self._boxes.append(_Box(index, device_id, self.config, self._make_client(device_id)))
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

    def _misbehave(self, box: _Box, stream: str, t_s: float, wall0: float, payload: bytes,
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

    def _publish(self, box: _Box, stream: str, payload: bytes, ts_ms: int | None,
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

    def _log_changes(self, box: _Box, t_s: float) -> None:
        """One line when a fault begins or peaks, and when a compressor starts or stops."""
        earlier = t_s - self.config.window_every_s  # the box's previous audio window
        if box.running(t_s) != box.running(earlier):
            log.debug("compressor " + ("started" if box.running(t_s) else "stopped"),
                      extra=kv(device=box.device_id))
        (fault, severity), (_, before) = box.fault_at(t_s), box.fault_at(earlier)
        if fault and earlier < box.onset_s:
            log.info("fault begins", extra=kv(device=box.device_id, kind=fault,
                                              ramp_s=box.plan.ramp_s))
        if fault and before < severity == box.plan.max_severity:
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
