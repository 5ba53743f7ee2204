"""The six vibration faults of the monitored compressor, as an accelerometer on its body feels
them (m/s2, in the machine's own directions: vertical radial, horizontal radial, axial).

Bearing defects are impacts at their defect frequency (from the bearing's geometry and the
shaft speed, with a little slip) that ring the structure's resonances between bearing and
sensor: an outer-race spall sits in the load zone, so every impact is alike; an inner-race spall
turns with the shaft and is struck hard only while in the load zone (modulation at 1x); a
ball defect strikes both races, twice per spin, and is carried through the load zone by the
cage (modulation at FTF). Imbalance is a rotating force at 1x, an elliptical orbit in the radial
plane. Misalignment (motor to compressor, a bent shaft, a cocked bearing) shows at 2x and in the
axial direction. Looseness of the feet or the frame makes the response non-linear: harmonics
of 1x far up, half orders, and a knock each time the foot lands.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .bearing import defect_rates
from .dsp import band, cycles, resonance, rfft_freqs
from .frame import Frame
from .keys import rng_for, unit_interval
from .unit import Unit

G = 9.80665
RADIAL_HEAVY = np.array([1.0, 0.6, 0.35])  # a bearing's load direction dominates
BEARING_PEAK = 25.0  # m/s2 peak of one impact at severity 1: a spalled race, plainly broken


@dataclass(frozen=True)
class VibContext:
    frame: Frame
    shaft_phase: np.ndarray
    severity: float
    name: str

    def rng(self, part: str) -> np.random.Generator:
        unit = self.frame.unit
        return rng_for("vib-fault", self.name, part, unit.device_id, unit.seed, self.frame.key)

    def fixed(self, part: str) -> float:
        return unit_interval("vib-fixed", self.name, part, self.frame.unit.device_id,
                             self.frame.unit.seed)


@lru_cache(maxsize=128)
def structure_response(unit: Unit, n: int, rate: int) -> np.ndarray:
    """Bearing-to-sensor transfer: the structure's resonances below the sensor's anti-alias
    filter, scaled so that a unit impulse rings with a peak of 1 m/s2."""
    freqs = rfft_freqs(n, rate)
    response = np.zeros(freqs.shape, dtype=np.complex128)
    for f0, zeta, gain in zip(unit.mount_hz, unit.mount_zeta, (1.0, 0.7, 0.5), strict=True):
        response += gain * resonance(freqs, f0, 1.0 / (2.0 * zeta))
    response *= band(freqs, 0, 0.42 * rate, 4)
    peak = float(np.max(np.abs(np.fft.irfft(response, n))))
    return response / peak


def ring_impacts(frame: Frame, times: np.ndarray, amps: np.ndarray) -> np.ndarray:
    """Impacts (s from the window start, peak m/s2) rung through the structure, one axis."""
    pos = times * frame.rate
    base = np.floor(pos).astype(np.intp)
    frac = pos - base
    pulses = np.zeros(frame.n + 1)
    inside = (base >= 0) & (base < frame.n)
    np.add.at(pulses, base[inside], (amps * (1.0 - frac))[inside])
    np.add.at(pulses, base[inside] + 1, (amps * frac)[inside])
    # A ring started just before the window reaches in circularly: the window is stationary.
    response = structure_response(frame.unit, frame.n, frame.rate)
    return np.fft.irfft(np.fft.rfft(pulses[:frame.n]) * response, frame.n)


def _impact_times(ctx: VibContext, rate_hz: float) -> np.ndarray:
    """Impact times at a defect rate anchored to absolute time, with 1 % rolling slip."""
    frame = ctx.frame
    first = frame.t_s * rate_hz + ctx.fixed("offset")
    ks = np.arange(math.floor(first), math.ceil(first + rate_hz * frame.n / frame.rate) + 1)
    slip = ctx.rng("slip").normal(0.0, 0.01, ks.size)
    return (ks - first + slip) / rate_hz


def _amp(ctx: VibContext, count: int) -> np.ndarray:
    return BEARING_PEAK * ctx.severity * (1.0 + 0.1 * ctx.rng("amps").standard_normal(count))


def bearing_outer(ctx: VibContext) -> np.ndarray:
    rates = defect_rates(ctx.frame.unit, ctx.frame.op.shaft_hz)
    times = _impact_times(ctx, rates.bpfo)
    return np.outer(RADIAL_HEAVY, ring_impacts(ctx.frame, times, _amp(ctx, times.size)))


def _shaft_at(ctx: VibContext, times: np.ndarray) -> np.ndarray:
    hz = ctx.frame.op.shaft_hz
    return ctx.shaft_phase[0] + hz * times


def bearing_inner(ctx: VibContext) -> np.ndarray:
    rates = defect_rates(ctx.frame.unit, ctx.frame.op.shaft_hz)
    times = _impact_times(ctx, rates.bpfi)
    angle = _shaft_at(ctx, times) - ctx.fixed("load_zone")
    zone = 0.15 + 0.85 * (0.5 + 0.5 * np.cos(2.0 * np.pi * angle)) ** 2
    return np.outer(RADIAL_HEAVY, ring_impacts(ctx.frame, times, _amp(ctx, times.size) * zone))


def bearing_ball(ctx: VibContext) -> np.ndarray:
    rates = defect_rates(ctx.frame.unit, ctx.frame.op.shaft_hz)
    times = _impact_times(ctx, 2.0 * rates.bsf)
    cage = cycles(rates.ftf, ctx.frame.t_s, times) - ctx.fixed("load_zone")
    zone = 0.2 + 0.8 * (0.5 + 0.5 * np.cos(2.0 * np.pi * cage)) ** 2
    races = np.where(np.arange(times.size) % 2 == 0, 1.0, 0.6)  # inner-race hits travel farther
    amps = 0.7 * _amp(ctx, times.size) * zone * races
    return np.outer(RADIAL_HEAVY, ring_impacts(ctx.frame, times, amps))


def _harmonic_acc(ctx: VibContext, order: float, velocity_mm_s: float, shift: float) -> np.ndarray:
    """Acceleration of a sinusoid at `order` x shaft with the given velocity amplitude."""
    omega = 2.0 * np.pi * order * ctx.frame.op.shaft_hz
    return omega * velocity_mm_s * 1e-3 * np.cos(2.0 * np.pi * (order * ctx.shaft_phase + shift))


def imbalance(ctx: VibContext) -> np.ndarray:
    shift = ctx.fixed("heavy_spot")
    v = 9.0 * ctx.severity  # mm/s at 1x: ISO 10816 "unacceptable" at severity 1
    vert = _harmonic_acc(ctx, 1.0, v, shift)
    horiz = _harmonic_acc(ctx, 1.0, 0.85 * v, shift - 0.25)  # lags vertical by 90 degrees
    axial = _harmonic_acc(ctx, 1.0, 0.1 * v, shift)
    return np.stack([vert, horiz, axial])


def misalignment(ctx: VibContext) -> np.ndarray:
    v, shift = 6.0 * ctx.severity, ctx.fixed("coupling")
    axial = (_harmonic_acc(ctx, 1.0, 0.6 * v, shift) + _harmonic_acc(ctx, 2.0, v, shift + 0.1)
             + _harmonic_acc(ctx, 3.0, 0.3 * v, shift + 0.3))
    vert = _harmonic_acc(ctx, 2.0, 0.5 * v, shift) + _harmonic_acc(ctx, 1.0, 0.3 * v, shift)
    horiz = _harmonic_acc(ctx, 2.0, 0.45 * v, shift + 0.2) + _harmonic_acc(ctx, 1.0, 0.25 * v,
                                                                           shift + 0.45)
    return np.stack([vert, horiz, axial])


def looseness(ctx: VibContext) -> np.ndarray:
    """The foot lifts when the 1x force exceeds what holds it and lands with a knock; alternate
    turns lift differently (the rocking settles every second turn), giving half orders."""
    sev, frame = ctx.severity, ctx.frame
    hold = 1.0 - 0.6 * sev  # the preload the 1x force must beat; a bolt gone slack lowers it
    angle = ctx.shaft_phase - ctx.fixed("foot")
    lift = np.maximum(np.cos(2.0 * np.pi * angle) - hold, 0.0)
    lift *= 1.0 + 0.5 * np.cos(np.pi * angle)
    response = (lift - lift.mean()) * (3.0 * sev / 0.9)  # about 3 m/s2 peak at severity 1
    lands_at = math.acos(hold) / (2.0 * math.pi)  # the foot comes down after the crest
    turns = np.arange(-1, math.ceil(frame.op.shaft_hz * frame.n / frame.rate) + 2)
    landings = (turns + lands_at - angle[0] % 1.0) / frame.op.shaft_hz
    knocks = ring_impacts(frame, landings, 0.25 * BEARING_PEAK * sev
                          * ctx.rng("knock").uniform(0.6, 1.0, landings.size))
    return np.outer(np.array([1.0, 0.5, 0.3]), response + knocks)


VIB_FAULT_FUNCS: dict[str, Callable[[VibContext], np.ndarray]] = {
    "bearing_outer": bearing_outer,
    "bearing_inner": bearing_inner,
    "bearing_ball": bearing_ball,
    "imbalance": imbalance,
    "misalignment": misalignment,
    "looseness": looseness,
}
