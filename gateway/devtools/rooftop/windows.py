"""The public windows: a unit's audio (float32 on PCM16 steps, mono or stereo, and as
WAV), its vibration (3, n) in m/s^2 and as the box's JSON message, and its device-week.
Every window is a pure function of (unit, t_s, fault, severity, running)."""

from __future__ import annotations

import numpy as np

from gateway.devtools.rooftop.faults import AUDIO_FAULT_SOUNDS, SOUNDS_WHILE_STOPPED
from gateway.devtools.rooftop.machine import voice
from gateway.devtools.rooftop.microphone import capture
from gateway.devtools.rooftop.operation import moment_at
from gateway.devtools.rooftop.pieces import rng
from gateway.devtools.rooftop.site import surroundings
from gateway.devtools.rooftop.units import Unit
from gateway.devtools.rooftop.vibration import healthy_vibration
from gateway.devtools.rooftop.vibration_faults import VIBRATION_FAULT_SIGNALS
from gateway.wav import encode_wav

AUDIO_FAULTS: tuple[str, ...] = tuple(AUDIO_FAULT_SOUNDS)
VIBRATION_FAULTS: tuple[str, ...] = tuple(VIBRATION_FAULT_SIGNALS)
STANDARD_GRAVITY = 9.80665


def _check(fault: str | None, severity: float, known: tuple[str, ...]) -> None:
    if fault is not None and fault not in known:
        raise ValueError(f"unknown fault {fault!r}; expected one of {known}")
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity {severity!r} is outside [0, 1]")


def audio_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                 running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    _check(fault, severity, AUDIO_FAULTS)
    n = int(round(seconds * unit.audio_rate))
    moment = moment_at(unit, t_s, running)
    sound = voice(unit, moment, n, unit.audio_rate, t_s)
    machine = sum(sound.parts.values(), np.zeros(n))
    if fault and severity > 0 and (moment.running or fault in SOUNDS_WHILE_STOPPED):
        g = rng("audio-fault", unit.device_id, unit.seed, t_s, fault)
        machine = machine + AUDIO_FAULT_SOUNDS[fault](unit, moment, sound, g, severity)
    site = surroundings(unit, moment, t_s, n, unit.audio_rate)
    return capture(unit, machine, site, moment.mic_drift, t_s)


def audio_wav(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
              running: bool | None = None) -> bytes:
    return encode_wav(audio_window(unit, t_s, fault, severity, running), unit.audio_rate)


def vibration_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                     running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    _check(fault, severity, VIBRATION_FAULTS)
    n = int(round(seconds * unit.vib_rate))
    moment = moment_at(unit, t_s, running)
    xyz, turns = healthy_vibration(unit, moment, t_s, n)
    if fault and severity > 0 and moment.running:
        g = rng("vibration-fault", unit.device_id, unit.seed, t_s, fault)
        xyz = xyz + VIBRATION_FAULT_SIGNALS[fault](unit, moment, turns, g, severity)
    return xyz


def vibration_payload(unit: Unit, xyz: np.ndarray, t_s: float) -> dict:
    """The box's message (docs/mqtt.md): some boxes send g, the others m/s2."""
    scale = 1.0 / STANDARD_GRAVITY if unit.vib_unit == "g" else 1.0
    axes = {name: np.round(xyz[i] * scale, 6).tolist() for i, name in enumerate("xyz")}
    return {"ts": float(t_s), "sample_rate": unit.vib_rate, "unit": unit.vib_unit, **axes}
