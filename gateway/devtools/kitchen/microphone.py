"""The sensor box's microphone: its response (a MEMS capsule's roll-off below ~80 Hz, the
anti-alias filter), the gain and its slow drift, self-noise, a second capsule a few
centimetres away for stereo boxes, and PCM16.
"""

from __future__ import annotations

import numpy as np

from gateway.devtools.kitchen import pieces as P
from gateway.devtools.kitchen.units import Unit

SELF_NOISE_DB = 30.0  # equivalent input noise, dB SPL
PCM16 = 32768.0


def gain_drift_db(unit: Unit, t_s: float) -> float:
    """Grease on the port and an ageing capsule: the gain wanders about a dB over days."""
    g = P.rng("mic-drift", unit.device_id, unit.seed)
    slow = np.sin(2 * np.pi * t_s / (g.uniform(5, 12) * 86_400) + g.uniform(0, 6.3))
    return float(-1.2 * slow - 0.3)


def response(unit: Unit, fr: P.Frame) -> np.ndarray:
    cache = unit.cache.setdefault("mic", {})
    key = (fr.n, fr.rate)
    if key not in cache:
        cache[key] = fr.band(80.0, 0.42 * fr.rate, 4)
    return cache[key]


def _quantise(x: np.ndarray) -> np.ndarray:
    return (np.clip(np.rint(x * PCM16), -PCM16, PCM16 - 1) / PCM16).astype(np.float32)


def record(unit: Unit, fr: P.Frame, near: np.ndarray, far: np.ndarray,
           g: np.random.Generator) -> np.ndarray:
    """Samples in [-1, 1) on PCM16 steps from two pressure spectra (Pa): `near`, the unit
    and its plant (reaching the capsules a fraction of a millisecond apart), and `far`, the
    kitchen and the room (diffuse: the second capsule hears it partly decorrelated)."""
    scale = P.db(gain_drift_db(unit, fr.t_s)) / P.spl(unit.full_scale_db)
    h = response(unit, fr) * scale
    noise_rms = P.spl(SELF_NOISE_DB) * scale
    first = P.to_time((near + far) * h, fr.n) + g.normal(0, noise_rms, fr.n)
    if unit.channels == 1:
        return _quantise(first)
    spacing = 0.5 + 1.5 * P.uniforms(1, "capsules", unit.device_id, unit.seed)[0]  # x 0.1 ms
    delay = np.exp(-2j * np.pi * fr.f * spacing / 10_000)
    jitter = np.exp(1j * g.normal(0, 0.4, fr.f.size) * np.minimum(fr.f / 2000.0, 1.0))
    second = P.to_time((near * delay * 0.95 + far * jitter) * h, fr.n)
    second += g.normal(0, noise_rms, fr.n)
    return _quantise(np.stack([first, second], axis=1))
