"""The sounds of a defrost cycle in the penthouse above the chamber.

* Heater and coil ticks: tubes, fins and heater sheaths creak as they expand — fast at the
  start of the heat, slowing as temperatures even out — and again as the coil contracts when
  refrigeration restarts after the drip time.
* Pressure-equalisation hiss: when the valves switch (hot-gas valve opening at the start of a
  hot-gas defrost, the suction/equalising valve opening at the end of the drip time), gas
  rushes between the high- and low-pressure sides for a few seconds.
Fans stopping and restarting are in ``fans`` (they follow the schedule).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import dsp, schedule
from .machine import Operating
from .units import Unit


@lru_cache(maxsize=64)
def _tick_modes(unit: Unit, n: int, fs: float) -> np.ndarray:
    f = dsp.freqs(n, fs)
    f0 = 1800.0 + (unit.machine.timbre % 1000) * 2.5
    return dsp.resonance(f, f0, 15.0) + 0.6 * dsp.resonance(f, 2.4 * f0, 12.0)


@lru_cache(maxsize=64)
def _hiss_shape(n: int, fs: float) -> np.ndarray:
    return dsp.band(dsp.freqs(n, fs), 1500.0, 9000.0)


def _tick_rate(unit: Unit, d: schedule.Defrost, t: float) -> float:
    """Ticks per second at epoch time t during and after defrost d."""
    if unit.plan.defrost == "off_cycle":
        return 0.0  # no heat, only room air: nothing expands
    rate = 0.0
    if d.start <= t < d.heat_end:
        rate += 6.0 * np.exp(-(t - d.start) / 400.0) + 0.4
    if d.drip_end <= t < d.drip_end + 900.0:
        rate += 3.0 * np.exp(-(t - d.drip_end) / 300.0)
    return rate * (0.5 if unit.plan.defrost == "hot_gas" else 1.0)


def _hiss_env(unit: Unit, d: schedule.Defrost, op: Operating) -> np.ndarray:
    env = np.zeros(op.n)
    valves = [(d.drip_end, 1.0, 5.0)]
    if unit.plan.defrost == "hot_gas":
        valves += [(d.start, 1.5, 8.0), (d.heat_end, 0.5, 3.0)]
    for at, amp, tau in valves:
        dt = op.t - (at - op.t0)
        env += np.where(dt >= 0, amp * np.exp(-np.maximum(dt, 0) / tau), 0.0)
    return env


def sounds(unit: Unit, op: Operating, g: np.random.Generator) -> dsp.Mix:
    """Defrost ticks and hiss in this window (silence most of the day)."""
    seconds = op.n / op.fs
    out = dsp.Mix(op.n)
    level = unit.machine.level * unit.machine.evap_level
    for d in schedule.defrosts_near(unit, op.t0 - 30.0, op.t0 + seconds):
        env = _hiss_env(unit, d, op)
        if env.max() > 1e-3:
            out.add(3.0 * level * env * dsp.noise_from_shape(g, _hiss_shape(op.n, op.fs), op.n, 1))
        count = g.poisson(_tick_rate(unit, d, op.t0 + seconds / 2) * seconds)
        if count:
            idx = g.integers(0, op.n, count)
            peaks = level * 2.0 * np.exp(g.normal(0, 0.6, count))
            area = peaks * 15.0 / (2 * np.pi * 2500.0)
            out.add_spec(dsp.ring_spec(op.n, idx, area, _tick_modes(unit, op.n, op.fs), op.fs))
    return out
