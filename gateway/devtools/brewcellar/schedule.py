"""When the monitored compressor runs: thermostat cycling on glycol (or keg-store) temperature.

A thermostat with hysteresis on a tank of thermal mass runs the compressor for
tau / (1 - d) and rests for tau / d, where d is demand over capacity: short runs and long rests on
a quiet night, long runs when a fermenter is crash-cooled, and no stop at all when the demand
reaches the capacity. The cycle phase is integrated over 10-minute blocks of one local day; at
midnight the controller's lead/lag rotation check restarts the cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .keys import unit_interval
from .unit import Unit
from .week import DAY_S, day_start_s, glycol_demand, keg_store_demand, local_day

BLOCK_S = 600.0
_BLOCKS = int(DAY_S / BLOCK_S)
ALWAYS_ON, ALWAYS_OFF = 0.97, 0.02  # duty beyond which the thermostat never reaches its band
STEADY_S = 3_600.0  # "since the last start/stop" when the compressor has not cycled for long


@dataclass(frozen=True, slots=True)
class CycleState:
    running: bool
    duty: float  # demand over capacity, clipped to [0, 1]
    since_change_s: float  # since the last start (running) or stop (resting)


def demand(unit: Unit, t_s: float) -> float:
    """Demand on this compressor over its capacity (may exceed 1 when undersized)."""
    if unit.role == "keg_store":
        return keg_store_demand(unit.seed, t_s) / unit.capacity
    site = glycol_demand(unit.seed, t_s)
    if unit.role == "chiller_lag":
        return max(0.0, site - unit.stage_above) / unit.capacity
    return site / unit.capacity


@lru_cache(maxsize=8192)
def _day_cycles(unit: Unit, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block edge times, duty at the edges, and cumulative thermostat cycles at the edges."""
    edges = day_start_s(day) + BLOCK_S * np.arange(_BLOCKS + 1)
    duty = np.clip([demand(unit, float(t)) for t in edges], 0.0, 1.0)
    mid = 0.5 * (duty[1:] + duty[:-1])
    rate = mid * (1.0 - mid) / unit.cycle_tau_s  # cycles per second: 1 / (t_on + t_off)
    start = unit_interval("cycle", unit.device_id, unit.seed, day)
    phase = start + np.concatenate(([0.0], np.cumsum(rate * BLOCK_S)))
    return edges, duty, phase


def cycle_at(unit: Unit, t_s: float) -> CycleState:
    day = local_day(t_s)
    edges, duties, phases = _day_cycles(unit, day)
    duty = float(np.interp(t_s, edges, duties))
    if duty >= ALWAYS_ON or duty <= ALWAYS_OFF:
        return CycleState(duty >= ALWAYS_ON, duty, STEADY_S)
    phase = float(np.interp(t_s, edges, phases))
    running = phase - math.floor(phase) < duty
    changed_at = math.floor(phase) + (0.0 if running else duty)
    t_change = float(np.interp(changed_at, phases, edges))
    since = t_s - max(t_change, edges[0]) if changed_at >= phases[0] else STEADY_S
    return CycleState(running, duty, min(max(since, 0.0), STEADY_S))


def running_at(unit: Unit, t_s: float) -> bool:
    """Whether the monitored compressor runs at epoch seconds t_s."""
    return cycle_at(unit, float(t_s)).running


def device_week(unit: Unit, start_s: float, cadence_s: float,
                days: float) -> list[tuple[float, bool]]:
    """(t, running) at start_s + i * cadence_s for every i with i * cadence_s < days."""
    if cadence_s <= 0:
        raise ValueError(f"cadence_s must be positive, got {cadence_s!r}")
    count = math.ceil(days * DAY_S / cadence_s)
    times = (float(start_s) + i * float(cadence_s) for i in range(max(count, 0)))
    return [(t, running_at(unit, t)) for t in times]
