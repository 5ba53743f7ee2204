"""The public windows: a microphone window, a vibration window and payload, and a week of
the unit's on/off states, each deterministic in its arguments."""

from __future__ import annotations

import numpy as np

from gateway.devtools.screwhall import faults as audio_faults
from gateway.devtools.screwhall import machine, microphone, site
from gateway.devtools.screwhall import vibration_faults as vib_faults
from gateway.devtools.screwhall.operation import moment
from gateway.devtools.screwhall.pieces import rng_for
from gateway.devtools.screwhall.units import Unit
from gateway.devtools.screwhall.vibration import healthy_vibration
from gateway.wav import encode_wav

STANDARD_GRAVITY = 9.80665


def _frames(rate: int, seconds: float) -> int:
    return max(8, int(round(rate * seconds)))


def audio_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                 running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    rate = unit.audio_rate
    n = _frames(rate, seconds)
    m = moment(unit, t_s, running)
    ms = round(t_s * 1000)
    near, near_shape = machine.voice(unit, m, t_s, n, rate,
                                     rng_for("screwhall-voice", unit.device_id, unit.seed, ms))
    if fault is not None and severity > 0:
        rng = rng_for("screwhall-fault", unit.device_id, unit.seed, fault, ms)
        ctx = audio_faults.Ctx(unit, m, t_s, n, rate, rng, float(severity))
        near = near + audio_faults.fault_sound(fault, ctx)
    elif fault is not None and fault not in audio_faults.FAULTS:
        raise ValueError(f"unknown audio fault {fault!r}")
    far, far_shape = site.room(unit, t_s, n, rate)
    return microphone.capture(unit, t_s, near, near_shape, far, far_shape, m.mic_gain)


def audio_wav(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
              running: bool | None = None) -> bytes:
    return encode_wav(audio_window(unit, t_s, fault, severity, running), unit.audio_rate)


def vibration_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                     running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    n = _frames(unit.vib_rate, seconds)
    m = moment(unit, t_s, running)
    out = healthy_vibration(unit, m, t_s, n)
    if fault is not None and severity > 0:
        rng = rng_for("screwhall-vib-fault", unit.device_id, unit.seed, fault, round(t_s * 1000))
        out = out + vib_faults.fault_vibration(fault, vib_faults.VibCtx(unit, m, t_s, n, rng),
                                               float(severity))
    elif fault is not None and fault not in vib_faults.VIB_FAULTS:
        raise ValueError(f"unknown vibration fault {fault!r}")
    return out


def vibration_payload(unit: Unit, xyz: np.ndarray, t_s: float) -> dict:
    """The box's message (docs/mqtt.md): some boxes report in g, others in m/s2."""
    if unit.vib_unit == "g":
        values, digits = np.asarray(xyz) / STANDARD_GRAVITY, 7
    else:
        values, digits = np.asarray(xyz), 6
    doc: dict = {"ts": round(float(t_s), 3), "sample_rate": unit.vib_rate, "unit": unit.vib_unit}
    for name, axis in zip(("x", "y", "z"), values, strict=True):
        doc[name] = np.round(axis, digits).tolist()
    return doc
