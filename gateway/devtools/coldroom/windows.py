"""The public windows: what a sensor box on the unit records at a time (audio, tri-axial
vibration), as arrays and as the payloads the box sends, and a healthy device-week of window
times. Healthy randomness comes from (unit, time); a fault's from (unit, time, fault), so a
fault at severity 0 is the healthy window, sample for sample."""

from __future__ import annotations

import numpy as np

from gateway.devtools.coldroom import audio as audio_parts
from gateway.devtools.coldroom import vibration as vibration_parts
from gateway.devtools.coldroom.faults import FAULTS
from gateway.devtools.coldroom.moment import moment_for
from gateway.devtools.coldroom.operation import running_at as duty_running_at
from gateway.devtools.coldroom.pieces import rng_for
from gateway.devtools.coldroom.units import Unit
from gateway.devtools.coldroom.vibration_faults import VIBRATION_FAULT_FNS
from gateway.wav import encode_wav

AUDIO_FAULTS = tuple(FAULTS)
VIBRATION_FAULTS = tuple(VIBRATION_FAULT_FNS)
G = 9.80665


def running_at(unit: Unit, t_s: float) -> bool:
    return duty_running_at(unit.duty, t_s)


def _check(fault: str | None, severity: float, known) -> None:
    if fault is not None and fault not in known:
        raise ValueError(f"unknown fault {fault!r}; expected one of {sorted(known)}")
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity {severity!r} is not within 0..1")


def audio_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                 running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    """What the microphone records from t_s: (frames,) or (frames, 2), full scale ±1."""
    _check(fault, severity, FAULTS)
    m = moment_for(unit, t_s, unit.audio_rate, seconds, running)
    stamp = int(round(t_s * 1000))
    rng = rng_for("audio", unit.device_id, unit.seed, stamp)
    voice = audio_parts.healthy_voice(unit, m, rng)
    if fault is not None and severity > 0:
        FAULTS[fault](unit, m, voice, severity, rng_for("fault", fault, unit.device_id,
                                                        unit.seed, stamp))
    return audio_parts.scene_window(unit, m, voice, rng)


def audio_wav(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
              running: bool | None = None) -> bytes:
    """The audio window as the box sends it: PCM 16-bit WAV."""
    return encode_wav(audio_window(unit, t_s, fault, severity, running), unit.audio_rate)


def vibration_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                     running: bool | None = None) -> np.ndarray:
    """(3, n) acceleration in m/s² at unit.vib_rate over the accelerometer's window."""
    _check(fault, severity, VIBRATION_FAULT_FNS)
    m = moment_for(unit, t_s, unit.vib_rate, unit.accel.seconds, running)
    stamp = int(round(t_s * 1000))
    rng = rng_for("vibration", unit.device_id, unit.seed, stamp)
    parts = vibration_parts.healthy_parts(unit, m, rng)
    if fault is not None and severity > 0:
        VIBRATION_FAULT_FNS[fault](unit, m, parts, severity, rng_for(
            "vibration-fault", fault, unit.device_id, unit.seed, stamp))
    return vibration_parts.render(unit, m, parts, rng)


def vibration_payload(unit: Unit, xyz: np.ndarray, t_s: float) -> dict:
    """The vibration JSON document (docs/mqtt.md): in the unit the box is set to, values
    rounded as a box's firmware prints them (5 significant digits)."""
    scale = 1.0 / G if unit.accel.unit == "g" else 1.0
    axes = {name: [float(f"{v:.5g}") for v in np.asarray(row) * scale]
            for name, row in zip("xyz", xyz, strict=True)}
    return {"ts": round(float(t_s), 3), "sample_rate": unit.vib_rate, "unit": unit.accel.unit,
            **axes}


def device_week(unit: Unit, start_s: float, cadence_s: float,
                days: float) -> list[tuple[float, bool]]:
    """Window times over `days` from start_s, one every cadence_s, with the duty cycle's
    running state at each."""
    count = int(days * 86_400 / cadence_s)
    times = start_s + cadence_s * np.arange(count)
    return [(float(t), running_at(unit, float(t))) for t in times]
