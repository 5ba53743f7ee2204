"""The rack over time: the cold-store load over the day and the weather, defrosts, the rack
controller staging compressors in and out (a stateless reading of a hunting suction-pressure
loop) and the lead compressor's inverter speed, and slow drift over days."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.rackhall.units import Unit

MIN_HZ, MAX_HZ = 25.0, 70.0
DECISION_S = 30.0          # the rack controller decides every 30 s
DEFROST_PERIOD_S = 6 * 3600  # a defrost every six hours, 35 minutes long
DEFROST_S = 35 * 60


@dataclass(frozen=True)
class Moment:
    """What the rack is doing at one instant."""
    running: bool          # the monitored compressor
    shaft_hz: float        # its speed (meaningful when running)
    load: float            # rack demand in compressors' worth of capacity
    neighbours_on: tuple   # (Neighbour, shaft Hz) of the others running
    fans_on: int
    fan_hz: float
    defrost: bool
    drift: float           # slow wear and weather, dimensionless around 1
    hour: float


def _wander(unit: Unit, t_s: float) -> float:
    """Weather and trade: a few slow sinusoids with periods of hours to days, in [-1, 1]."""
    days = t_s / 86_400 + unit.phase_days
    return float(0.5 * np.sin(2 * np.pi * days / 2.7) + 0.3 * np.sin(2 * np.pi * days / 0.31)
                 + 0.2 * np.sin(2 * np.pi * days / 6.1 + 1.0))


def defrosting(unit: Unit, t_s: float) -> bool:
    return (t_s + unit.phase_days * 3600) % DEFROST_PERIOD_S < DEFROST_S


def rack_load(unit: Unit, t_s: float) -> float:
    """Demand in compressors' worth: shop hours, weather, defrost (cases off, then pull-down)."""
    hour = (t_s / 3600) % 24
    shop = 0.55 + 0.3 * np.clip(np.sin(np.pi * (hour - 6) / 15), 0, None)  # 06:00-21:00
    since = (t_s + unit.phase_days * 3600) % DEFROST_PERIOD_S
    if since < DEFROST_S:
        shop *= 0.55
    elif since < DEFROST_S + 1200:
        shop *= 1.35  # pull-down after the defrost
    return float(unit.rack_size * np.clip(shop + 0.12 * _wander(unit, t_s), 0.12, 1.0))


def _hunting(stage: int, t_s: float, unit: Unit) -> float:
    """A triangle in [-1, 1]: the suction pressure swinging around the set point, a period per
    stage (8-25 min), so the marginal stage cycles with a duty set by the load."""
    period = 480 + 330 * ((stage * 7 + unit.rack_size) % 4)
    x = (t_s / period + 0.37 * stage + unit.phase_days) % 1.0
    return 4 * abs(x - 0.5) - 1


def stages_on(unit: Unit, t_s: float) -> tuple[bool, int, float]:
    """(lead on, fixed stages on, lead speed Hz) at the controller's last decision."""
    t = np.floor(t_s / DECISION_S) * DECISION_S
    load = rack_load(unit, t)
    fixed = sum(load - 0.25 * _hunting(k, t, unit) > k + 0.55 for k in range(1, unit.rack_size))
    rest = load - fixed
    lead_on = rest - 0.15 * _hunting(0, t, unit) > 0.3
    share = float(np.clip(rest, 0.36, 1.0))  # capacity goes with speed
    return bool(lead_on), int(fixed), MIN_HZ + (MAX_HZ - MIN_HZ) * (share - 0.36) / 0.64


def running_at(unit: Unit, t_s: float) -> bool:
    lead_on, fixed, _ = stages_on(unit, t_s)
    return lead_on if unit.stage == 0 else unit.stage <= fixed


def fixed_hz(unit: Unit) -> float:
    return 2 * unit.mains_hz / unit.poles * (1 - unit.slip)


def moment_at(unit: Unit, t_s: float, running: bool | None = None) -> Moment:
    lead_on, fixed, lead_hz = stages_on(unit, t_s)
    load = rack_load(unit, t_s)
    on = running_at(unit, t_s) if running is None else running
    others = tuple((n, lead_hz if n.stage == 0 else n.fixed_hz) for n in unit.neighbours
                   if (n.stage == 0 and lead_on) or (0 < n.stage <= fixed))
    fan_share = float(np.clip(0.3 + 0.5 * load / unit.rack_size + 0.2 * _wander(unit, t_s), 0, 1))
    days = t_s / 86_400
    drift = 1.0 + 0.04 * np.sin(2 * np.pi * (days + unit.phase_days) / 9.0) + 0.004 * (days % 30)
    return Moment(running=on, shaft_hz=lead_hz if unit.stage == 0 else fixed_hz(unit),
                  load=load, neighbours_on=others, fans_on=max(1, round(unit.fans * fan_share)),
                  fan_hz=8 + 8 * fan_share, defrost=defrosting(unit, t_s), drift=float(drift),
                  hour=(t_s / 3600) % 24)


def device_week(unit: Unit, start_s: float, cadence_s: float, days: float) -> list:
    count = int(days * 86_400 / cadence_s)
    return [(start_s + i * cadence_s, running_at(unit, start_s + i * cadence_s))
            for i in range(count)]
