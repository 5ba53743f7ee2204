"""The public window makers: audio and vibration windows, the WAV and the JSON payload.

A window is a pure function of (unit, t_s, fault, severity, running, seconds): every
draw comes from a stream named by the unit, the window's millisecond and its purpose, and
a fault's draws from a stream of its own, so a faulty window equals its healthy twin plus
the fault's contribution (before the microphone's clipping and quantisation).
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from ...wav import encode_wav
from . import ambience, compressor_sound, dsp, microphone, vibration
from .audio_faults import AUDIO_FAULTS, contribution
from .machine import motion
from .seeding import stream, window_key
from .units import Unit
from .vibration import VIBRATION_FAULTS

G = 9.80665
MAX_SECONDS = 60.0


def check(t_s: float, fault: str | None, severity: float, seconds: float) -> None:
    """Argument errors are ValueErrors naming the argument, before any work is done."""
    if not isinstance(t_s, Real) or not math.isfinite(t_s):
        raise ValueError(f"t_s must be a finite number of epoch seconds, got {t_s!r}")
    if fault is not None and fault not in AUDIO_FAULTS and fault not in VIBRATION_FAULTS:
        known = ", ".join(AUDIO_FAULTS + VIBRATION_FAULTS)
        raise ValueError(f"unknown fault {fault!r}; expected None or one of: {known}")
    if not isinstance(severity, Real) or not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity must be within [0, 1], got {severity!r}")
    if not isinstance(seconds, Real) or not 0.0 < seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be within (0, {MAX_SECONDS:g}], got {seconds!r}")


def audio_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                 running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    check(t_s, fault, severity, seconds)
    rate = unit.audio_rate
    m = motion(unit, t_s, running, seconds, rate)
    n = m.speed.size
    scene = compressor_sound.build(unit, m, t_s, rate)
    source = np.zeros(n)
    for part in scene.parts.values():
        source += part
    if fault in AUDIO_FAULTS and severity > 0.0:
        source += contribution(scene, fault, severity, t_s)
    farm, farm_static = ambience.build(unit, t_s, n, rate)
    r = stream(unit.seed, unit.device_id, "audio-noise", window_key(t_s), rate)
    machine = np.fft.rfft(source) + _static(r, scene.static, n)
    around = np.fft.rfft(farm) + _static(r, farm_static, n)
    return microphone.render(unit, machine, around, n, r)


def _static(r: np.random.Generator, parts: list[tuple[np.ndarray, float]], n: int
            ) -> np.ndarray:
    return dsp.gaussian_spectrum(r, dsp.mixed_magnitude(parts, n))


def audio_wav(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
              running: bool | None = None) -> bytes:
    samples = audio_window(unit, t_s, fault, severity, running, 1.0)
    return encode_wav(samples, unit.audio_rate, "pcm16")


def vibration_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                     running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    check(t_s, fault, severity, seconds)
    return vibration.window(unit, t_s, fault, severity, running, seconds)


def vibration_payload(unit: Unit, xyz: np.ndarray, t_s: float) -> dict[str, object]:
    """The box's JSON message (shared/INTERFACES.md): ts, sample_rate, unit, x, y, z in
    the box's own unit, rounded to 6 decimals, plain Python floats."""
    data = np.asarray(xyz, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] != 3:
        raise ValueError(f"xyz must have shape (3, n), got {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("xyz contains NaN or Inf")
    if unit.vib_unit == "g":
        data = data / G
    x, y, z = (np.round(axis, 6).tolist() for axis in data)
    return {"ts": float(t_s), "sample_rate": unit.vib_rate, "unit": unit.vib_unit,
            "x": x, "y": y, "z": z}

