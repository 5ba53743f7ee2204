"""Vibration faults: each adds its physics to a window's vibration.Parts at a severity 0..1
(the physical meaning of each is in vibration.py's docstring). 0 adds nothing; every draw
comes from the fault's own stream, so a larger severity is the same fault, larger."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gateway.devtools.coldroom.moment import Moment, response
from gateway.devtools.coldroom.pieces import impulse_spectrum, modal_gain, rng_for, smooth_gains
from gateway.devtools.coldroom.vibration import Parts, tone_accel

RADIAL_SHARE = (1.0, 0.85, 0.3)  # how an impact at the bearing reaches x, y, z


def _bearing(kind: str):
    def add(unit, m: Moment, parts: Parts, severity: float, rng) -> None:
        width_mm = max(0.0, 3.0 * severity - 0.15)
        if width_mm <= 0 or not m.running:
            return
        orders = unit.machine.bearing.orders()
        order = {"bearing_outer": orders["bpfo"], "bearing_inner": orders["bpfi"],
                 "bearing_ball": 2 * orders["bsf"]}[kind]
        first, last = m.rev_span()
        count = int((last - first) * order) + 2
        at = first + rng.uniform(0, 1 / order) + np.cumsum(
            (1 + 0.01 * rng.standard_normal(count)) / order)
        peaks = 12.0 * width_mm / 2.85 * unit.traits.transmission["bearing"] * smooth_gains(
            rng, count, 0.2)
        if kind == "bearing_inner":  # the defect turns through the load zone once a turn
            peaks *= 0.1 + np.maximum(0.0, np.cos(2 * np.pi * at)) ** 1.5
        if kind == "bearing_ball":  # the ball is carried through the load zone by the cage
            peaks *= 0.1 + np.maximum(0.0, np.cos(2 * np.pi * orders["ftf"] * at)) ** 1.5
        ring_hz, q, _ = unit.accel.modes[1]
        spec = impulse_spectrum(m.n, m.rate, m.times_at_revs(at), peaks, ring_hz, q)
        spec = spec * response(unit, m, "modes", lambda: modal_gain(m.freqs, unit.accel.modes))
        for axis in range(3):
            parts.spectra[axis] = parts.spectra[axis] + spec * RADIAL_SHARE[axis]
    return add


def imbalance(unit, m: Moment, parts: Parts, severity: float, rng) -> None:
    if severity <= 0 or parts.radial.size < 2:
        return
    residual = rng_for(unit.device_id, "vib-1x").uniform(0, 2 * np.pi)
    phase = residual + rng_for(unit.device_id, "vib-added-mass").uniform(-1.0, 1.0)
    parts.radial[1] += tone_accel(2.5 * severity, m.shaft_hz) * np.exp(1j * phase)


def misalignment(unit, m: Moment, parts: Parts, severity: float, rng) -> None:
    if severity <= 0 or parts.radial.size < 4:
        return
    fixed = rng_for(unit.device_id, "misalignment").uniform(0, 2 * np.pi, 4)
    parts.radial[2] += tone_accel(2.0 * severity, 2 * m.shaft_hz) * np.exp(1j * fixed[0])
    parts.radial[3] += tone_accel(0.5 * severity, 3 * m.shaft_hz) * np.exp(1j * fixed[1])
    parts.axial[1] += tone_accel(1.2 * severity, m.shaft_hz) * np.exp(1j * fixed[2])
    parts.axial[2] += tone_accel(0.8 * severity, 2 * m.shaft_hz) * np.exp(1j * fixed[3])


def looseness(unit, m: Moment, parts: Parts, severity: float, rng) -> None:
    if severity <= 0 or not m.running:
        return
    fixed = rng_for(unit.device_id, "looseness").uniform(0, 2 * np.pi, 10)
    for k in range(2, min(9, parts.radial.size)):
        parts.radial[k] += tone_accel(1.5 * severity / k, k * m.shaft_hz) * np.exp(
            1j * fixed[k])
    first, last = m.rev_span()
    landings = np.arange(first, last) + fixed[0] / (2 * np.pi)
    weaker = 1.0 - 0.8 * severity * (np.arange(first, last) % 2)  # every other landing
    peaks = 8.0 * severity * weaker * smooth_gains(rng, landings.size, 0.25)
    ring_hz, q, _ = unit.accel.modes[0]
    spec = impulse_spectrum(m.n, m.rate, m.times_at_revs(landings), peaks, ring_hz, q)
    spec = spec * response(unit, m, "mode0", lambda: modal_gain(m.freqs, unit.accel.modes[:1]))
    rocking = sum(tone_accel(0.6 * severity ** 2 / (k + 1), (k + 0.5) * m.shaft_hz)
                  * np.cos(2 * np.pi * (k + 0.5) * m.revs + fixed[k + 5]) for k in range(3))
    spec = spec + np.fft.rfft(rocking)  # the half orders of landing every other turn
    for axis, share in enumerate((0.5, 1.0, 0.3)):  # the foot lifts vertically (y)
        parts.spectra[axis] = parts.spectra[axis] + spec * share


VIBRATION_FAULT_FNS: dict[str, Callable] = {
    "bearing_outer": _bearing("bearing_outer"), "bearing_inner": _bearing("bearing_inner"),
    "bearing_ball": _bearing("bearing_ball"), "imbalance": imbalance,
    "misalignment": misalignment, "looseness": looseness,
}
