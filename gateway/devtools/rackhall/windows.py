"""The public windows: one second of microphone or accelerometer at a time of the rack's
day, healthy or with a fault of a given severity; the box's payloads; a device-week."""

from __future__ import annotations

import numpy as np

from gateway.devtools.rackhall import faults, machine, room, vibration, vibration_faults
from gateway.devtools.rackhall.operation import moment_at
from gateway.devtools.rackhall.pieces import rng_for
from gateway.devtools.rackhall.units import Unit
from gateway.wav import encode_wav


def _angle(unit: Unit, t_s: float) -> float:
    return float(rng_for("angle", unit.device_id, unit.seed, int(t_s * 1000)).uniform(0, 6.283))


def audio_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                 running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    """float32 in [-1, 1] on PCM16 steps, (frames,) or (frames, 2). The healthy draws come
    first from their own generator, the fault's from another, so severity 0 is healthy."""
    rate, m = unit.audio_rate, moment_at(unit, t_s, running)
    n, angle = int(round(seconds * rate)), _angle(unit, t_s)
    rng = rng_for("audio", unit.device_id, unit.seed, int(t_s * 1000))
    direct = machine.voice(unit, m, n, rate, angle, rng) if m.running else np.zeros(n)
    far = room.neighbours(unit, m, n, rate, rng) + room.ambience(unit, m, n, rate, rng) \
        + room.events(unit, m, n, rate, rng)
    if fault is not None and severity > 0 and (m.running or fault == "leak"):
        fault_rng = rng_for("audio-fault", fault, unit.device_id, unit.seed, int(t_s * 1000))
        added = faults.audio_fault(fault, unit, m, n, rate, severity, angle, fault_rng, direct)
        direct = direct + (added if m.running else 0.6 * added)
    return room.microphone(unit, direct, far, rate, rng)


def audio_wav(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
              running: bool | None = None) -> bytes:
    return encode_wav(audio_window(unit, t_s, fault, severity, running), unit.audio_rate)


def vibration_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                     running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    """(3, n) acceleration in m/s² (x, y radial, z axial)."""
    rate, m = unit.vib_rate, moment_at(unit, t_s, running)
    n, angle = int(round(seconds * rate)), _angle(unit, t_s)
    rng = rng_for("vibration", unit.device_id, unit.seed, int(t_s * 1000))
    xyz, lines = vibration.healthy_vibration(unit, m, n, rate, angle, rng)
    if fault is not None and severity > 0 and m.running:
        fault_rng = rng_for("vib-fault", fault, unit.device_id, unit.seed, int(t_s * 1000))
        xyz = xyz + vibration_faults.vibration_fault(fault, unit, m, n, rate, severity, angle,
                                                     fault_rng, lines)
    return xyz


def vibration_payload(unit: Unit, xyz: np.ndarray, t_s: float) -> dict:
    return vibration.payload(unit, xyz, t_s)
