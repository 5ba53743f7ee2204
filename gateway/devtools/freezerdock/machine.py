"""The compressor's operating point over one window: speeds, phases, pressures, switching.

Both the sound and the vibration models read the same description of what the machine is
doing, sample by sample: the shaft speed as a fraction of its running speed (so a window
containing a start shows the motor accelerating, one containing a stop shows it coasting),
whether the motor is energised, the shaft, supply and fan phases, and the slow quantities that
set the level of the healthy sound — load, the pressure ratio (outdoor temperature and condenser
fouling raise the condensing pressure), the condenser fan speed set by head-pressure control.
The random starting phases come from the caller's healthy stream; nothing here draws otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import climate, dsp, schedule
from .units import Unit

GRID_S = 0.02  # the controller's state is sampled every 20 ms
LOOKBACK = 400  # grid steps (8 s) before the window, so ramps already under way are right
EVAP_C = {"freezer": -32.0, "chill_dock": -8.0}  # evaporating temperatures


@dataclass(frozen=True, eq=False)
class Operating:
    """What the machine does during one window (arrays are per sample)."""

    fs: float
    n: int
    t0: float
    t: np.ndarray  # seconds since the window start
    r: np.ndarray  # shaft speed / running speed
    energised: np.ndarray  # 1.0 while the motor is powered
    fan: np.ndarray  # condenser fan speed / its set speed
    evap: np.ndarray  # unit-cooler fan speed / full speed
    phi: np.ndarray  # shaft angle, rad
    line_phase: np.ndarray  # motor supply phase, rad
    fan_phase: np.ndarray  # condenser fan angle, rad
    evap_phase: np.ndarray  # unit-cooler fan angle, rad
    shaft_hz: float
    line_hz: float
    fan_hz: float
    evap_hz: float
    load: float
    ratio: float  # discharge / suction pressure
    outdoor: float
    fouling: float
    heating: bool  # a defrost is heating the coil
    since_drip_s: float  # seconds since the last defrost's drip time ended
    switches: tuple[tuple[float, bool], ...]  # (seconds into window, switched on?)

    @property
    def turning(self) -> bool:
        """Whether the shaft turns at all in this window."""
        return bool(self.r.max() > 0.0)


def pressure_ratio(unit: Unit, outdoor: float, fouling: float, load: float) -> float:
    """Discharge/suction pressure ratio from saturation temperatures (Clausius-Clapeyron-like
    fit of a low-temperature HFC blend). Head-pressure control holds condensing above ~20 C."""
    t_cond = max(outdoor + 10.0 + 8.0 * fouling + 4.0 * min(load, 1.0), 20.0)
    t_evap = EVAP_C[unit.plan.role]
    return math.exp(2500.0 * (1.0 / (t_evap + 273.15) - 1.0 / (t_cond + 273.15)))


def _speeds(unit: Unit, load: float, speed: float) -> tuple[float, float]:
    """(supply Hz, shaft Hz): slip grows with load; an inverter sets the supply frequency."""
    m = unit.machine
    line = speed * m.drive_hz[1] if m.inverter else m.mains_hz
    shaft = line / (m.poles / 2) * (1.0 - m.slip * (0.3 + 0.7 * min(load, 1.0)))
    return line, shaft


def _grid(unit: Unit, t0: float, seconds: float, running: bool | None
          ) -> tuple[np.ndarray, np.ndarray, schedule.State]:
    # Anchored at t0, so the window starts in exactly the state running_at(t0) reports.
    tg = t0 + (np.arange(LOOKBACK + math.ceil(seconds / GRID_S) + 2) - LOOKBACK) * GRID_S
    st = schedule.state(unit, tg, with_load=False)
    mask = st.running if running is None else np.full(tg.size, running)
    return tg, mask, st


def _phase(rate_hz: float, profile: np.ndarray, fs: float, start: float) -> np.ndarray:
    return start + (2 * np.pi * rate_hz / fs) * np.cumsum(profile)


def operating(unit: Unit, t0: float, n: int, fs: float, running: bool | None,
              g: np.random.Generator) -> Operating:
    """The operating point for the window of ``n`` samples at ``fs`` starting at ``t0``."""
    seconds = n / fs
    tg, mask, st = _grid(unit, t0, seconds, running)
    t = np.arange(n) / fs
    rel = tg - t0
    centre = LOOKBACK + int(seconds / 2 / GRID_S)
    now = schedule.state(unit, tg[centre : centre + 1])
    load, speed = float(now.load[0]), float(now.speed[0])
    line_hz, shaft_hz = _speeds(unit, load, speed)
    outdoor = float(climate.outdoor_temp(unit.seed, tg[centre : centre + 1], unit.plan.tz_s)[0])
    foul = float(climate.fouling(tg[centre : centre + 1], unit.plan.fouling_days,
                                 unit.plan.fouling_phase)[0])
    fan_set = min(max(0.2 + (outdoor + 5.0) / 35.0 + 0.3 * foul, 0.2), 1.0)
    m = unit.machine
    r = np.interp(t, rel, dsp.ramp_steps(mask, GRID_S, m.tau_up_s, m.tau_down_s))
    fan = np.interp(t, rel, dsp.ramp_steps(mask, GRID_S, 3.0, 6.0))
    evap = np.interp(t, rel, dsp.ramp_steps(st.evap_fans, GRID_S, 2.5, 5.0))
    idx = np.minimum((t * (1.0 / GRID_S)).astype(np.int64) + LOOKBACK, tg.size - 1)
    energised = mask[idx].astype(np.float64)
    edges = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    switches = tuple((float(rel[e]), bool(mask[e])) for e in edges if 0.0 <= rel[e] < seconds)
    line_profile = r if m.inverter else np.ones(n)
    start_phase = g.uniform(0, 2 * np.pi, 4)
    fan_hz = m.fan_rpm / 60.0 * fan_set
    drip_end = schedule.defrost_bounds(unit, tg[centre : centre + 1])[2][0]
    return Operating(
        fs=fs, n=n, t0=t0, t=t, r=r, energised=energised, fan=fan, evap=evap,
        phi=_phase(shaft_hz, r, fs, start_phase[0]),
        line_phase=_phase(line_hz, line_profile, fs, start_phase[1]),
        fan_phase=_phase(fan_hz, fan, fs, start_phase[2]),
        evap_phase=_phase(m.evap_rpm / 60.0, evap, fs, start_phase[3]),
        shaft_hz=shaft_hz, line_hz=line_hz, fan_hz=fan_hz, evap_hz=m.evap_rpm / 60.0,
        load=load, ratio=pressure_ratio(unit, outdoor, foul, load), outdoor=outdoor,
        fouling=foul, heating=bool(now.heating[0]),
        since_drip_s=float(tg[centre] - drip_end), switches=switches,
    )  # fmt: skip
