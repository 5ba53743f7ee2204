"""The public side: a unit's audio and vibration windows at an instant, healthy or with a
fault of a kind and severity, and what a sensor box would send for them (a WAV file, a
vibration JSON document, as docs/mqtt.md specifies)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import numpy as np

from gateway.devtools.plant_sounds import faults, machine, operation, room, vibration
from gateway.devtools.plant_sounds.units import Unit
from gateway.wav import encode_wav

# one code per random stream, so that adding a fault never changes the healthy sound
_MACHINE, _FAULT, _ROOM, _EVENTS, _MIC, _NEIGHBOUR, _VIB, _VIB_FAULT = range(8)


def _rng(unit: Unit, t_s: float, stream: int) -> np.random.Generator:
    return np.random.default_rng([*unit.key, int(round(t_s * 1000)) & 0xFFFFFFFFFFFF, stream])


def running_at(unit: Unit, t_s: float) -> bool:
    """Whether the compressor runs at t_s (its duty cycle and defrosts)."""
    return operation.point(unit.duty, t_s).running


def _point(unit: Unit, t_s: float, running: bool | None) -> operation.Point:
    """The operating point; `running` forces the compressor on (steadily) or off."""
    p = operation.point(unit.duty, t_s)
    if running is None or running == p.running:
        return p
    return dataclasses.replace(p, running=running, since_start_s=np.inf, until_stop_s=np.inf,
                               since_stop_s=np.inf, until_start_s=np.inf)


def _kinematics(m: machine.Machine, p: operation.Point, n: int, rate: int, unit: Unit,
                rng) -> machine.Kinematics:
    motion = operation.motion(p, n, rate, unit.spin_up_s, unit.run_down_s)
    return machine.kinematics(m, n, rate, p.load, motion, rng)


def _shaft(unit: Unit, t_s: float, running: bool | None, seconds: float, rate: int,
           stream: int) -> tuple[operation.Point, machine.Kinematics, np.random.Generator]:
    """The operating point, the shaft's motion in the window, and the window's chance."""
    p = _point(unit, t_s, running)
    rng = _rng(unit, t_s, stream)
    return p, _kinematics(unit.machine, p, int(seconds * rate), rate, unit, rng), rng


def audio_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                 running: bool | None = None) -> np.ndarray:
    """Mono samples in [-1, 1] at unit.audio_rate, for the window starting at t_s."""
    mic = unit.mic
    p, kin, rng = _shaft(unit, t_s, running, mic.window_s, mic.rate, _MACHINE)
    parts = machine.parts(unit.machine, kin, p.load, p.drift_db, rng)
    if fault is not None and severity > 0:
        ctx = faults.Context(unit.machine, kin, p.load, parts, _rng(unit, t_s, _FAULT),
                             unit.key)
        extra = faults.sound(fault, severity, unit.path_db[fault], ctx)
        # a leak hisses while the compressor is off too, the system still under pressure
        damp = 0.5 if fault == "leak" and not p.running else 1.0
        parts = {name: parts[name] + damp * extra.get(name, 0.0) for name in parts}
    n = len(kin.theta)
    housing = machine.housing_response(unit.machine, np.fft.rfftfreq(n, 1 / mic.rate),
                                       p.temp_shift)
    pressure = unit.scale * (np.fft.irfft(np.fft.rfft(parts["structure"]) * housing, n)
                             + parts["air"])
    pressure += _surroundings(unit, t_s, n, mic.rate)
    return room.capture(mic, pressure, unit.machine.mains_hz, _rng(unit, t_s, _MIC))


def _surroundings(unit: Unit, t_s: float, n: int, rate: int) -> np.ndarray:
    """The room, events and the neighbouring machine (its own duty cycle, through a wall)."""
    out = room.ambience(unit.room, t_s, n, rate, _rng(unit, t_s, _ROOM))
    out += room.events(unit.room, t_s, n, rate, _rng(unit, t_s, _EVENTS))
    near = operation.point(unit.neighbour_duty, t_s)
    if near.running:
        rng = _rng(unit, t_s, _NEIGHBOUR)
        kin = _kinematics(unit.neighbour, near, n, rate, unit, rng)
        parts = machine.parts(unit.neighbour, kin, near.load, 0.0, rng)
        wall = 1 / np.sqrt(1 + (np.fft.rfftfreq(n, 1 / rate) / 600) ** 2)
        out += 10 ** (unit.room.neighbour_db / 20) * unit.neighbour_scale * np.fft.irfft(
            np.fft.rfft(parts["structure"] + parts["air"]) * wall, n)
    return out


def audio_wav(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
              running: bool | None = None) -> bytes:
    """The WAV file the unit's box would send, in the box's own sample format."""
    samples = audio_window(unit, t_s, fault, severity, running)
    return encode_wav(samples, unit.audio_rate, unit.wav_encoding)


def vibration_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                     running: bool | None = None) -> np.ndarray:
    """(3, n) acceleration in m/s² at unit.vib_rate, for the window starting at t_s."""
    acc = unit.accelerometer
    p, kin, rng = _shaft(unit, t_s, running, acc.window_s, acc.rate, _VIB)
    xyz = vibration.healthy(unit.machine, acc, kin, p.load, rng)
    if fault is not None and severity > 0:
        xyz = xyz + vibration.fault(fault, severity, unit.machine, acc, kin,
                                    _rng(unit, t_s, _VIB_FAULT))
    return xyz


def vibration_payload(unit: Unit, xyz: np.ndarray, t_s: float) -> bytes:
    """The JSON document the unit's box would send, in its unit (m/s2 or g)."""
    acc = unit.accelerometer
    values = xyz / vibration.STANDARD_GRAVITY if acc.unit == "g" else xyz
    doc = {"ts": round(float(t_s), 3), "sample_rate": acc.rate, "unit": acc.unit,
           **{axis: [round(float(v), 5) for v in values[i]] for i, axis in enumerate("xyz")}}
    return json.dumps(doc, separators=(",", ":")).encode()


def device_week(unit: Unit, start_s: float, cadence_s: float = 120.0,
                days: float = 7.0) -> Iterator[tuple[float, bool]]:
    """The instants of a healthy device-week, one window every cadence_s, and whether the
    compressor runs at each (duty cycles, defrosts, the load over the day and the drift all
    follow from the instant)."""
    for i in range(int(days * operation.DAY_S / cadence_s)):
        t_s = start_s + i * cadence_s
        yield t_s, running_at(unit, t_s)
