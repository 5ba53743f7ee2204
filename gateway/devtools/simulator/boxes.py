"""What the simulated sensor boxes send: the simulation's settings, scripted faults, and each
box's payloads.

How a box sounds and shakes comes from gateway.devtools.synth, the generator the audio model was
trained on; this module decides whether a box's compressor runs, how far a scripted fault
has progressed and, in flaky mode, how a payload is broken. It neither schedules nor
publishes: simulate.py does, on MQTT.

Every event has a nominal time (seconds since start, on a fixed per-box grid). Samples, duty
cycle and fault severity follow it, so one seed gives the same samples on every run; only the
wall-clock stamps differ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import paho.mqtt.client as mqtt

from gateway.devtools import synth
from gateway.wav import encode_wav

AUDIO_RATE, VIBRATION_RATE = 16_000, 3_200
STREAMS = ("audio", "vibration", "telemetry")
# Flaky-mode malformed kinds per stream, and the rejection reason the gateway gives each.
MALFORMED = {"audio": ("bad_wav",), "vibration": ("not_json",),
             "telemetry": ("not_json", "wrong_device", "oversize")}
REJECTION_REASON = {"bad_wav": "truncated_wav", "not_json": "not_json",
                    "wrong_device": "device_mismatch", "oversize": "oversize"}
OVERSIZE_BYTES = 2 * 65_536  # twice the gateway's default intake.max_telemetry_bytes


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


class Box:
    """One box's state and payloads; used only by the simulator's scheduler thread."""

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
        running, rng = self.running(t_s), self.rng[stream]
        if stream == "telemetry":
            doc = synth.telemetry(self.profile, ts_s=wall0 + t_s, fault=fault, severity=severity,
                                  running=running, rng=rng)
            return json.dumps(doc).encode(), None
        if stream == "audio":
            start = t_s - self.config.window_s
            samples = synth.audio_window(self.profile, duration_s=self.config.window_s,
                                         sample_rate=AUDIO_RATE, t0_s=start, fault=fault,
                                         severity=severity, running=running, rng=rng)
            return encode_wav(samples, AUDIO_RATE), round((wall0 + start) * 1000)
        start = t_s - self.config.vibration_s
        xyz = synth.vibration_window(self.profile, duration_s=self.config.vibration_s,
                                     sample_rate=VIBRATION_RATE, t0_s=start, fault=fault,
                                     severity=severity, running=running, rng=rng)
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
