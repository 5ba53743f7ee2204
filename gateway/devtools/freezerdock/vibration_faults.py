"""The six vibration faults, in the machine frame (H, V, A), m/s^2.

* Bearing defects are impact trains at the defect frequency of the unit's bearing geometry
  (``bearing``), each impact ringing the shell's structural modes (so an envelope spectrum of
  a resonance band shows the defect frequency): outer race at BPFO, steady in the load zone;
  inner race at BPFI, modulated as the defect rotates through the load zone once per
  revolution (sidebands at +/- 1x); a ball at 2 x BSF (it strikes both races each spin, the
  two strikes unequal, so BSF itself shows) modulated at the cage frequency FTF as the ball
  orbits through the load zone. Rolling elements slip, so impacts scatter a little in time.
* Imbalance: a rotating force at 1x, H and V in quadrature, growing with speed squared.
* Misalignment: 2x radial, and strong axial 1x and 2x.
* Looseness: the foot lifts and lands — the vertical motion is truncated (a rich series of
  harmonics), the rocking adds half-orders, and each landing is an impact.
All scale linearly with severity and vanish when the shaft stops.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import bearing, dsp, seeding
from .machine import Operating
from .units import Unit
from .vibration import structure, tonal

Fault = Callable[[Unit, Operating, float, np.random.Generator], np.ndarray]
IMPACT = 4.0  # m/s^2 ring amplitude of a severity-1 bearing impact at 25 Hz shaft speed


def _detail(unit: Unit, name: str) -> np.random.Generator:
    return seeding.rng(unit.seed, unit.device_id, "vib-detail:" + name)


def _impacts(unit: Unit, op: Operating, g: np.random.Generator, order: float,
             gain: Callable[[np.ndarray], np.ndarray], axes: tuple[float, float, float]
             ) -> np.ndarray:
    """Impacts at ``order`` x shaft speed (scaled per impact by ``gain`` of its index), ringing
    the structure, spread over the three axes."""
    idx = dsp.crossings(op.phi / (2 * np.pi) * order)
    period = op.fs / max(order * op.shaft_hz, 1.0)
    idx = idx + np.rint(g.normal(0, 0.01 * period, idx.size)).astype(np.int64)
    idx = idx[(idx >= 0) & (idx < op.n)]
    speed = op.shaft_hz / 25.0
    peaks = IMPACT * speed * op.r[idx] ** 2 * gain(idx) * np.exp(g.normal(0, 0.1, idx.size))
    # The impulse's area is set for the first structural mode's ring amplitude.
    f0, q, _ = unit.accel.resonances[0]
    ring = dsp.ring_train(op.n, idx, peaks * q / (2 * np.pi * f0), structure(unit, op.n, op.fs),
                          op.fs)
    return np.array(axes)[:, None] * ring


def bearing_outer(unit: Unit, op: Operating, sev: float, g: np.random.Generator) -> np.ndarray:
    """Outer-race spall: impacts at BPFO."""
    orders = bearing.frequencies(unit)
    return sev * _impacts(unit, op, g, orders.bpfo, lambda i: np.ones(i.size), (0.5, 1.0, 0.3))


def bearing_inner(unit: Unit, op: Operating, sev: float, g: np.random.Generator) -> np.ndarray:
    """Inner-race spall: impacts at BPFI, strongest when the defect faces the load zone."""
    orders = bearing.frequencies(unit)
    theta = float(_detail(unit, "inner").uniform(0, 2 * np.pi))

    def zone(i: np.ndarray) -> np.ndarray:
        # Load rises smoothly as the defect turns into the loaded arc: 1x sidebands.
        return 0.3 + 0.7 * (0.5 + 0.5 * np.cos(op.phi[i] - theta))

    return sev * _impacts(unit, op, g, orders.bpfi, zone, (0.6, 1.0, 0.3))


def bearing_ball(unit: Unit, op: Operating, sev: float, g: np.random.Generator) -> np.ndarray:
    """Ball spall: impacts at 2 x BSF, alternately on the outer and inner race, modulated at
    the cage frequency as the ball orbits through the load zone."""
    orders = bearing.frequencies(unit)
    theta = float(_detail(unit, "ball").uniform(0, 2 * np.pi))
    cycles = op.phi / (2 * np.pi)

    def zone(i: np.ndarray) -> np.ndarray:
        race = np.where(np.floor(cycles[i] * 2 * orders.bsf) % 2 == 0, 1.0, 0.55)
        cage = np.maximum(np.cos(2 * np.pi * cycles[i] * orders.ftf - theta), 0.0) ** 2
        return 0.7 * race * (0.15 + 0.85 * cage)

    return sev * _impacts(unit, op, g, 2 * orders.bsf, zone, (0.5, 1.0, 0.35))


def _force(op: Operating) -> np.ndarray:
    return (op.shaft_hz / 25.0) ** 2 * op.r**2


def imbalance(unit: Unit, op: Operating, sev: float, g: np.random.Generator) -> np.ndarray:
    """Mass imbalance: 1x rotating force, H and V in quadrature, a little axial."""
    d = _detail(unit, "imbalance")
    alpha, ellipse = d.uniform(0, 2 * np.pi), d.uniform(0.6, 1.3)
    amp = sev * (1.2 + 4.0 * unit.accel.one_x) * _force(op)
    cyc = op.phi * (1.0 / (2 * np.pi)) + alpha / (2 * np.pi)
    h, v = dsp.cosine(cyc), dsp.cosine(cyc - 0.25)  # cos and sin: a rotating force
    return amp * np.stack([h, ellipse * v, 0.1 * dsp.cosine(cyc + 1.0 / (2 * np.pi))])


def misalignment(unit: Unit, op: Operating, sev: float, g: np.random.Generator) -> np.ndarray:
    """Motor-compressor misalignment: 2x radial, strong axial 1x and 2x."""
    d = _detail(unit, "misalignment")
    b, c, e = d.uniform(0, 2 * np.pi, 3)
    amp = sev * 1.5 * _force(op)
    cyc = op.phi * (1.0 / (2 * np.pi))
    b, c, e = b / (2 * np.pi), c / (2 * np.pi), e / (2 * np.pi)  # phases in cycles
    radial_h = dsp.cosine(2 * cyc + b) + 0.3 * dsp.cosine(cyc + c)
    radial_v = 0.8 * dsp.cosine(2 * cyc + b - 0.25) + 0.3 * dsp.cosine(cyc + c - 0.25)
    axial = (0.9 * dsp.cosine(cyc + e) + 0.7 * dsp.cosine(2 * cyc + b + e)
             + 0.2 * dsp.cosine(3 * cyc + c))
    return amp * np.stack([radial_h, radial_v, axial])


def looseness(unit: Unit, op: Operating, sev: float, g: np.random.Generator) -> np.ndarray:
    """Structural looseness: truncated vertical motion, half-orders, landing impacts."""
    d = _detail(unit, "looseness")
    delta = d.uniform(0, 2 * np.pi)
    force = _force(op)
    # The foot rocks at half the shaft speed as well as at 1x (it lands every other turn);
    # truncating that motion where the foot meets the frame spreads it over many integer and
    # half orders.
    rocking = np.cos(op.phi + delta) + 0.7 * np.cos(0.5 * op.phi + 2 * delta)
    lift = tonal(unit, op)[1] + force * rocking
    cap = 0.3 * (np.max(np.abs(lift)) if lift.size else 0.0)
    truncated = np.minimum(lift, cap) - lift
    # Sub-harmonic response of the loose joint: a series of half orders.
    half = force * (0.6 * np.cos(0.5 * op.phi + delta) + 0.4 * np.cos(1.5 * op.phi + 2 * delta)
                    + 0.25 * np.cos(2.5 * op.phi + 3 * delta))
    landings = dsp.crossings(op.phi / (2 * np.pi) + delta / (2 * np.pi))
    ring = _impacts_at(unit, op, g, landings)
    v = 1.5 * truncated + 0.8 * half
    return sev * (np.stack([0.5 * v, v, 0.2 * v]) + ring)


def _impacts_at(unit: Unit, op: Operating, g: np.random.Generator, idx: np.ndarray
                ) -> np.ndarray:
    peaks = 0.5 * IMPACT * (op.shaft_hz / 25.0) * op.r[idx] ** 2
    peaks = peaks * np.exp(g.normal(0, 0.3, idx.size))
    f0, q, _ = unit.accel.resonances[0]
    ring = dsp.ring_train(op.n, idx, peaks * q / (2 * np.pi * f0), structure(unit, op.n, op.fs),
                          op.fs)
    return np.array([0.4, 1.0, 0.2])[:, None] * ring


FAULTS: dict[str, Fault] = {
    "bearing_outer": bearing_outer,
    "bearing_inner": bearing_inner,
    "bearing_ball": bearing_ball,
    "imbalance": imbalance,
    "misalignment": misalignment,
    "looseness": looseness,
}
NAMES: tuple[str, ...] = tuple(FAULTS)
