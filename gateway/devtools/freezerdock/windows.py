"""The public windows: audio, WAV, vibration and the box's vibration message.

Each window is a pure function of its arguments. Its randomness comes from streams seeded by
(seed, device_id, purpose, window millisecond): one per healthy part (machine phases, plant,
site, microphone, vibration) and one per fault, so a faulty window is its healthy twin plus
the fault's contribution (added before the microphone's knee and quantisation), and severity
0 returns the healthy window exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gateway.wav import encode_wav

from . import (
    ambience,
    audio_faults,
    checks,
    compressor_sound,
    defrost_sounds,
    fans,
    machine,
    microphone,
    seeding,
    vibration,
    vibration_faults,
)
from .units import Unit

MIN_SAMPLES = 64  # very short windows are synthesised at this length, then cut


def _streams(unit: Unit, t_s: float, prefix: str) -> Callable[[str], np.random.Generator]:
    """Generators for one window: one per purpose, seeded by the window's millisecond."""
    ms = round(t_s * 1000)

    def stream(purpose: str) -> np.random.Generator:
        return seeding.rng(unit.seed, unit.device_id, f"{prefix}:{purpose}", ms)

    return stream


def _args(t_s: float, fault: str | None, severity: float, running: bool | None,
          seconds: float, names: tuple[str, ...], kind: str
          ) -> tuple[float, str | None, float, bool | None, float]:
    return (checks.finite_time(t_s), checks.fault(fault, names, kind), checks.severity(severity),
            checks.running(running), checks.seconds(seconds))


def audio_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                 running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    """float32 samples on the PCM16 grid: (n,) for a mono box, (n, 2) for a stereo one."""
    t, name, sev, run, sec = _args(t_s, fault, severity, running, seconds, audio_faults.NAMES,
                                   "audio")
    fs = unit.audio_rate
    n = round(sec * fs)
    work = max(n, MIN_SAMPLES)
    stream = _streams(unit, t, "audio")
    op = machine.operating(unit, t, work, fs, run, stream("machine"))
    plant_g = stream("plant")
    near = compressor_sound.healthy(unit, op, plant_g)
    for part in (fans.condenser, fans.evaporator, defrost_sounds.sounds):
        near.add_mix(part(unit, op, plant_g))
    dock = ambience.site(unit, t, work, fs, stream("site"))
    if name is not None and sev > 0.0:
        near.add_mix(audio_faults.contribution(name, unit, op, sev, stream("fault:" + name)))
    out = microphone.capture(unit, near, dock, fs, stream("mic"))
    return out[:n]


def audio_wav(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
              running: bool | None = None) -> bytes:
    """The 1 s audio window as a PCM16 WAV file."""
    return encode_wav(audio_window(unit, t_s, fault, severity, running), unit.audio_rate,
                      "pcm16")


def vibration_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                     running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    """(3, n) float64 acceleration in m/s^2 on the box's axes."""
    t, name, sev, run, sec = _args(t_s, fault, severity, running, seconds,
                                   vibration_faults.NAMES, "vibration")
    fs = unit.vib_rate
    n = round(sec * fs)
    work = max(n, MIN_SAMPLES)
    stream = _streams(unit, t, "vib")
    op = machine.operating(unit, t, work, fs, run, stream("machine"))
    hva = vibration.healthy(unit, op, stream("healthy"))
    if name is not None and sev > 0.0:
        hva = hva + vibration_faults.FAULTS[name](unit, op, sev, stream("fault:" + name))
    xyz = vibration.to_box(unit, hva) + vibration.sensor_noise(unit, work, fs, stream("sensor"))
    return np.ascontiguousarray(xyz[:, :n])


def vibration_payload(unit: Unit, xyz: np.ndarray, t_s: float) -> dict[str, object]:
    """The box's vibration JSON message (see INTERFACES.md), values in the box's unit."""
    t = checks.finite_time(t_s)
    data = np.asarray(xyz, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] != 3 or data.shape[1] == 0:
        raise ValueError(f"xyz must have shape (3, n) with n >= 1, got {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("xyz must contain only finite values")
    if unit.vib_unit == "g":
        data = data / vibration.G0
    values = np.round(data, 6)
    return {
        "ts": float(t), "sample_rate": unit.vib_rate, "unit": unit.vib_unit,
        "x": values[0].tolist(), "y": values[1].tolist(), "z": values[2].tolist(),
    }  # fmt: skip


__all__ = ["audio_window", "audio_wav", "vibration_window", "vibration_payload"]
