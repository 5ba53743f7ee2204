"""Condenser and unit-cooler fans as heard at the microphone.

The condenser fan runs with the compressor, at a speed the head-pressure controller sets from
the outdoor temperature and coil fouling; the unit-cooler (evaporator) fans in the penthouse
run on their own, stopping only for a defrost and restarting after the fan delay. Each is a
blade-pass tone with a couple of harmonics over broadband blade noise; by the fan laws sound
pressure grows with speed to the power 2.5, so a slow night fan is much quieter.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import dsp
from .machine import Operating
from .units import Unit


@lru_cache(maxsize=64)
def _shapes(n: int, fs: float) -> tuple[np.ndarray, np.ndarray]:
    f = dsp.freqs(n, fs)
    tilt = (np.maximum(f, 50.0) / 500.0) ** -0.5
    return dsp.band(f, 60.0, 2500.0) * tilt, dsp.band(f, 100.0, 3500.0) * tilt


BLADE_TABLE = dsp.table(np.array([1.0, 0.4, 0.15]), np.array([1.0, 2.0, 3.0]))


def _tones(phase: np.ndarray, blades: int, hz: float, fs: float) -> np.ndarray:
    """Blade pass and two harmonics (fewer when they would pass the Nyquist limit)."""
    if 3 * blades * hz < 0.45 * fs:
        return dsp.lookup(BLADE_TABLE, phase * (blades / (2 * np.pi)))
    if blades * hz < 0.45 * fs:
        return dsp.cosine(phase * (blades / (2 * np.pi)) + 1 / (2 * np.pi))
    return np.zeros(phase.size)


def _fan(op: Operating, g: np.random.Generator, shape: np.ndarray, level: np.ndarray,
         tones: np.ndarray) -> dsp.Mix:
    """Blade noise (a spectrum when the speed is steady) plus the blade-pass tones."""
    out = dsp.Mix(op.n).add(level * tones)
    if level.min() == level.max():
        return out.add_spec(dsp.noise_spec(g, shape, op.n, float(level[0])))
    return out.add(level * dsp.noise_from_shape(g, shape, op.n, 1.0))


def condenser(unit: Unit, op: Operating, g: np.random.Generator) -> dsp.Mix:
    """The condenser fan, if it turns in this window."""
    m = unit.machine
    if not op.fan.any():
        return dsp.Mix(op.n)
    set_speed = op.fan_hz / (m.fan_rpm / 60.0)
    level = m.level * m.fan_level * (set_speed * op.fan) ** 2.5
    tones = 0.3 * _tones(op.fan_phase, m.fan_blades, op.fan_hz, op.fs)
    return _fan(op, g, _shapes(op.n, op.fs)[0], level, tones)


def evaporator(unit: Unit, op: Operating, g: np.random.Generator) -> dsp.Mix:
    """The unit-cooler fans, if they turn in this window."""
    m = unit.machine
    if not op.evap.any():
        return dsp.Mix(op.n)
    level = m.level * m.evap_level * op.evap**2.5
    tones = 0.25 * _tones(op.evap_phase, m.evap_blades, op.evap_hz, op.fs)
    return _fan(op, g, _shapes(op.n, op.fs)[1], level, tones)
