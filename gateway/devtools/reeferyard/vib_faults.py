"""The six vibration faults on the compressor's or the condenser fan's rotating parts.

Bearing faults use the site's bearing geometry (unit.comp_bearing or unit.fan_bearing):
impacts at the defect frequency ring a structural resonance; inner-race impacts are
amplitude-modulated by the load zone at 1x, ball defects by the cage (FTF). Shaft faults:
imbalance at 1x, misalignment 1x/2x with strong axial, looseness with half orders, a
restrained (clipped) 1x response and an impact per turn.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import dsp
from .frame import Frame
from .keys import uniform
from .ringing import crossings, defect_times, ring
from .unit import Bearing

VibFault = Callable[[Frame, float], np.ndarray]


def site(fr: Frame, kind: str) -> tuple[float, np.ndarray, Bearing]:
    """(rotation Hz, phase in cycles, bearing) of the faulty part; 0 Hz when stopped.

    kind is "bearing" or "shaft": each unit has its bearing faults and its shaft faults on
    either the compressor or the condenser fan.
    """
    u = fr.unit
    where = u.bearing_site if kind == "bearing" else u.shaft_site
    if where == "fan":
        return fr.cond_fan_hz, dsp.cycles(fr.cond_fan_hz, fr.t_s, fr.t), u.fan_bearing
    return (fr.shaft_hz if fr.running else 0.0), fr.shaft, u.comp_bearing


def bearing_resonance(fr: Frame) -> float:
    """The structural mode bearing impacts excite, kept inside the accelerometer's band."""
    u = fr.unit
    f0 = 900.0 + 1700.0 * uniform("bres", u.device_id, u.seed)
    return min(f0, 0.36 * fr.rate)


def defect_rate(fr: Frame, fault: str) -> float:
    """The defect frequency (Hz) a bearing fault shows in the envelope spectrum."""
    hz, _, b = site(fr, "bearing")
    key = {"bearing_outer": "bpfo", "bearing_inner": "bpfi", "bearing_ball": "bsf"}[fault]
    return b.orders()[key] * hz


def _bearing(fr: Frame, s: float, times: np.ndarray, amps: np.ndarray) -> np.ndarray:
    f0 = bearing_resonance(fr)
    x = ring(times, amps * 6.0 * s ** 1.2, fr.n, fr.rate, fr.f, [(f0, 10.0, 1.0),
                                                                (f0 * 1.6, 8.0, 0.4)])
    return np.outer([1.0, 0.7, 0.4], x)


def bearing_outer(fr: Frame, s: float) -> np.ndarray:
    """Outer-race spall in the load zone: evenly spaced impacts of steady strength at BPFO."""
    hz, _, b = site(fr, "bearing")
    if hz <= 0:
        return np.zeros((3, fr.n))
    rng = fr.rng("v-outer")
    times = defect_times(b.orders()["bpfo"] * hz, fr.n / fr.rate, 0.005, rng, rng.random())
    return _bearing(fr, s, times, 1.0 + 0.1 * rng.standard_normal(len(times)))


def bearing_inner(fr: Frame, s: float) -> np.ndarray:
    """Inner-race spall turning with the shaft: impacts at BPFI, strong only while the spall
    passes through the load zone, so the impact train is modulated at 1x."""
    hz, ph, b = site(fr, "bearing")
    if hz <= 0:
        return np.zeros((3, fr.n))
    rng = fr.rng("v-inner")
    times = defect_times(b.orders()["bpfi"] * hz, fr.n / fr.rate, 0.005, rng, rng.random())
    idx = np.minimum((times * fr.rate).astype(int), fr.n - 1)
    zone = (0.5 + 0.5 * np.cos(2 * np.pi * (ph[idx] - 0.3))) ** 1.5
    return _bearing(fr, s, times, (0.15 + 0.85 * zone) * (1 + 0.1 * rng.standard_normal(
        len(times))))


def bearing_ball(fr: Frame, s: float) -> np.ndarray:
    """A ball defect strikes the outer and inner race once per ball spin each (2x BSF, the
    two strikes unequal, so BSF shows too), modulated as the cage carries the ball round."""
    hz, _, b = site(fr, "bearing")
    if hz <= 0:
        return np.zeros((3, fr.n))
    rng = fr.rng("v-ball")
    o = b.orders()
    times = defect_times(2.0 * o["bsf"] * hz, fr.n / fr.rate, 0.006, rng, rng.random())
    strike = np.where(np.arange(len(times)) % 2 == 0, 1.0, 0.55)
    cage = 0.55 + 0.45 * np.cos(2 * np.pi * (o["ftf"] * hz * times + rng.random()))
    return _bearing(fr, s, times, 0.8 * strike * cage)


def imbalance(fr: Frame, s: float) -> np.ndarray:
    """Mass imbalance: a rotating force at 1x, radial, x and y in quadrature."""
    hz, ph, _ = site(fr, "shaft")
    if hz <= 0:
        return np.zeros((3, fr.n))
    a = 4.0 * s * max(fr.unit.shaft_1x, 0.2) * (hz / max(fr.shaft_hz, 1.0)) ** 2
    c = 2 * np.pi * ph
    return np.stack((a * np.cos(c + 0.2), 0.8 * a * np.sin(c + 0.2), 0.1 * a * np.cos(c)))


def misalignment(fr: Frame, s: float) -> np.ndarray:
    """Shaft/coupling misalignment: 2x radial above 1x, and strong axial 1x and 2x."""
    hz, ph, _ = site(fr, "shaft")
    if hz <= 0:
        return np.zeros((3, fr.n))
    a = 2.5 * s * max(fr.unit.shaft_1x, 0.2)
    c = 2 * np.pi * ph
    x = 0.5 * a * np.cos(c + 0.7) + a * np.cos(2 * c + 0.3)
    y = 0.4 * a * np.sin(c + 0.7) + 0.8 * a * np.sin(2 * c + 0.3)
    z = 1.0 * a * np.cos(c + 2.0) + 0.7 * a * np.cos(2 * c + 1.1)
    return np.stack((x, y, z))


def looseness(fr: Frame, s: float) -> np.ndarray:
    """Mechanical looseness (loose mount bolts): the foot lifts and lands once a turn, so the
    1x response is restrained (clipped) on one side, half orders appear (0.5x, 1.5x, ...),
    and each landing is an impact ringing a low frame mode."""
    hz, ph, _ = site(fr, "shaft")
    if hz <= 0:
        return np.zeros((3, fr.n))
    base = max(fr.unit.shaft_1x, 0.2)
    rng = fr.rng("v-loose")
    c = 2 * np.pi * ph
    swing = base * (1.0 + 2.0 * s) * np.cos(c)
    clipped = np.minimum(swing, base * (1.0 - 0.5 * s)) - base * np.cos(c)
    orders = [1, 3, 5, 7, 2, 4, 6, 8]  # on a half-speed table: 0.5x, 1.5x, ..., 1x, 2x, ...
    amps = [0.5, 0.35, 0.2, 0.12, 0.0, 0.3, 0.2, 0.12]
    halves = base * s * dsp.play(dsp.wavetable(amps, list(rng.uniform(0, 6.3, 8)), orders),
                                 ph / 2.0)
    lands = crossings(ph, fr.rate, 0.45)
    thud = ring(lands, 2.0 * s * (0.6 + 0.8 * rng.random(len(lands))), fr.n, fr.rate, fr.f,
                [(min(fr.unit.frame_hz[1], 0.4 * fr.rate), 6.0, 1.0)])
    radial = clipped + halves + thud
    return np.stack((radial, 0.7 * radial, 0.3 * radial))


VIB_FAULT_FUNCS: dict[str, VibFault] = {
    "bearing_outer": bearing_outer,
    "bearing_inner": bearing_inner,
    "bearing_ball": bearing_ball,
    "imbalance": imbalance,
    "misalignment": misalignment,
    "looseness": looseness,
}
