"""How a unit runs over time: the kitchen's day and week, the cooling load, thermostat
cycles with minimum run and off times, defrosts, the ice machine's harvests, speed, and the
slow drift of a week (condenser coil fouling, a fan slowing).

The thermostat follows the textbook two-state model: with the load a fraction x of the
compressor's capacity and a box of thermal constant tau (differential x heat capacity /
capacity), a run lasts tau / (1 - x) and an off period tau / x, so the duty cycle is x and a
warm service or a door left open stretches the runs until the unit runs flat out. Time is cut
into two-hour blocks whose cycles are drawn from the block's own generator, so any instant's
state is found without replaying the weeks before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gateway.devtools.kitchen.pieces import rng, uniforms
from gateway.devtools.kitchen.units import Unit

DAY_S = 86_400.0
BLOCK_S = 7_200.0
INVERTER_MIN = 0.4  # capacity at the inverter's lowest speed, as a fraction of its maximum

# (start hour, end hour, activity 0-1, what the kitchen is doing)
_RESTAURANT = [(9.5, 11.5, 0.35, "prep"), (11.5, 14.5, 0.9, "service"),
               (14.5, 17.5, 0.3, "prep"), (17.5, 22.5, 1.0, "service"),
               (22.5, 23.5, 0.45, "closing")]
_BRUNCH = [(9.0, 10.0, 0.4, "prep"), (10.0, 15.0, 1.0, "service"), (15.0, 17.5, 0.3, "prep"),
           (17.5, 22.5, 0.9, "service"), (22.5, 23.5, 0.45, "closing")]
_HOTEL = [(5.5, 6.5, 0.4, "prep"), (6.5, 10.5, 0.8, "service"), (10.5, 12.0, 0.4, "prep"),
          (12.0, 14.5, 0.7, "service"), (14.5, 18.0, 0.35, "prep"),
          (18.0, 22.0, 0.9, "service"), (22.0, 23.5, 0.45, "closing")]
_CANTEEN = [(6.0, 7.0, 0.4, "prep"), (7.0, 8.5, 0.6, "service"), (8.5, 11.3, 0.5, "prep"),
            (11.3, 13.7, 1.0, "service"), (13.7, 15.0, 0.45, "closing")]
_BASE_LOAD = {"undercounter": 0.3, "reachin": 0.3, "walkin_cooler": 0.35,
              "walkin_freezer": 0.42, "ice_machine": 0.45}
_DOOR_LOAD = {"undercounter": 0.35, "reachin": 0.3, "walkin_cooler": 0.25,
              "walkin_freezer": 0.2, "ice_machine": 0.4}


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    running: bool
    tag: str  # "cycle" | "pulldown" | "defrost"


@dataclass(frozen=True)
class Moment:
    """What the unit and its kitchen are doing at one instant."""

    running: bool
    since_s: float  # in this state (starts and stops matter for a few seconds)
    tag: str
    load: float  # fraction of capacity, 0-1
    activity: float  # the kitchen, 0 (night) to 1 (full service)
    phase: str  # "night" | "prep" | "service" | "closing" | "closed"
    head: float  # head pressure relative to a clean coil on a mild day (1.0)
    shaft_rps: float
    mains_hz: float
    fan_rps: float
    harvest_s: float  # seconds into the ice machine's harvest (hot gas valve open), or -1
    defrost: bool
    fouling: float  # 0 clean coil .. 1 due for cleaning
    hour: float  # local
    day: int  # local day number


def local_clock(unit: Unit, t_s: float) -> tuple[int, float, int]:
    """(local day number, hour of day, weekday 0=Monday) at the unit's site."""
    lt = t_s + unit.utc_offset_h * 3600.0
    day = math.floor(lt / DAY_S)
    return day, (lt - day * DAY_S) / 3600.0, (day + 3) % 7  # 1970-01-01 was a Thursday


def _schedule(unit: Unit, weekday: int) -> list[tuple[float, float, float, str]]:
    if weekday == unit.closed_weekday:
        return []
    if unit.site == "canteen":
        return _CANTEEN if weekday < 5 else []
    if unit.site == "hotel":
        return _HOTEL
    return _BRUNCH if weekday >= 5 else _RESTAURANT


def kitchen_activity(unit: Unit, t_s: float) -> tuple[float, str]:
    day, hour, weekday = local_clock(unit, t_s)
    sched = _schedule(unit, weekday)
    if not sched:
        return 0.0, "closed"
    for start, end, level, label in sched:
        if start <= hour < end:
            busy = 0.85 + 0.3 * uniforms(1, "busy", unit.site, unit.device_id, day)[0]
            return min(1.0, level * busy), label
    return 0.0, "night"


def _weather(unit: Unit, t_s: float) -> float:
    """A warm or cool day (interpolated between local days): -1 .. 1."""
    day, hour, _ = local_clock(unit, t_s)
    a = 2 * uniforms(1, "weather", unit.site, unit.utc_offset_h, day)[0] - 1
    b = 2 * uniforms(1, "weather", unit.site, unit.utc_offset_h, day + 1)[0] - 1
    return float(a + (b - a) * hour / 24.0)


def fouling(unit: Unit, t_s: float) -> float:
    """Grease and dust on the condenser coil, cleaned every 2-5 weeks: 0 .. 1."""
    u_period, u_phase = uniforms(2, "fouling", unit.device_id, unit.seed)
    period = (14 + 21 * u_period) * DAY_S
    return float(((t_s / period) + u_phase) % 1.0)


def load_fraction(unit: Unit, t_s: float) -> float:
    activity, phase = kitchen_activity(unit, t_s)
    x = _BASE_LOAD[unit.kind] + _DOOR_LOAD[unit.kind] * activity + 0.07 * _weather(unit, t_s)
    if phase in ("night", "closed"):
        x -= 0.06  # night set-back and no doors opening
    x *= 1.0 + 0.18 * fouling(unit, t_s)  # a fouled coil lowers capacity, so runs stretch
    return float(min(0.97, max(0.08, x)))


def head_pressure(unit: Unit, t_s: float) -> float:
    activity, _ = kitchen_activity(unit, t_s)
    return 1.0 + 0.12 * activity + 0.06 * _weather(unit, t_s) + 0.3 * fouling(unit, t_s)


def _origin(unit: Unit) -> float:
    return BLOCK_S * uniforms(1, "origin", unit.device_id, unit.seed)[0]


def _is_defrost_block(unit: Unit, b: int) -> bool:
    per = int(unit.defrost_every_h * 3600 / BLOCK_S)
    return per > 0 and b % per == 0


def _duration(unit: Unit, running: bool, x: float, g: np.random.Generator) -> float:
    if unit.inverter:
        x = x / INVERTER_MIN
    x = min(0.98, max(0.05, x))
    jitter = float(g.uniform(0.85, 1.15))
    if running:
        return max(unit.tau_s / (1.0 - x) * jitter, unit.min_run_s)
    return max(unit.tau_s / x * jitter, unit.min_off_s)


def _cycles(unit: Unit, t: float, end: float, pulldown: bool,
            g: np.random.Generator) -> list[Segment]:
    segs, running = [], True
    while t < end:
        x = load_fraction(unit, t)
        if unit.inverter and running and x > INVERTER_MIN:
            segs.append(Segment(t, end, True, "cycle"))  # modulating, never stopping
            break
        dur = _duration(unit, running, x, g) * (1.8 if pulldown and running else 1.0)
        following = unit.min_off_s if running else unit.min_run_s
        if end - (t + dur) < following:
            dur = end - t  # too little left for the next state: this one fills the block
        segs.append(Segment(t, min(end, t + dur), running, "pulldown" if pulldown else "cycle"))
        t, running, pulldown = t + dur, not running, False
    return segs


def block(unit: Unit, b: int) -> list[Segment]:
    """Block b's segments; a block starts running (or defrosting, then pulling down)."""
    cache = unit.cache.setdefault("blocks", {})
    if b in cache:
        return cache[b]
    start = _origin(unit) + b * BLOCK_S
    g = rng("cycles", unit.device_id, unit.seed, b)
    segs: list[Segment] = []
    t, pulldown = start, False
    if _is_defrost_block(unit, b):
        dur = unit.defrost_s * float(g.uniform(0.85, 1.15))  # ends on coil temperature
        segs.append(Segment(t, t + dur, False, "defrost"))
        t, pulldown = t + dur, True
    segs += _cycles(unit, t, start + BLOCK_S, pulldown, g)
    if len(cache) > 256:
        cache.clear()
    cache[b] = segs
    return segs


def _segment_at(unit: Unit, t_s: float) -> tuple[Segment, float]:
    """The segment holding t_s and how long the unit has been in that state (a run or an
    off period carries over from the block before when it ends in the same state)."""
    b = math.floor((t_s - _origin(unit)) / BLOCK_S)
    segs = block(unit, b)
    seg = next((s for s in segs if s.start <= t_s < s.end), segs[-1])
    since = t_s - seg.start
    if seg is segs[0]:
        for back in range(1, 13):
            prev = block(unit, b - back)
            if prev[-1].running != seg.running:
                break
            since += prev[-1].end - prev[-1].start
            if len(prev) > 1:
                break
    return seg, since


def running_at(unit: Unit, t_s: float) -> bool:
    return _segment_at(unit, t_s)[0].running


def ice_cycle(unit: Unit) -> tuple[float, float]:
    """The ice machine's freeze and harvest lengths (s): the compressor runs through both."""
    u_freeze, u_harvest = uniforms(2, "ice", unit.device_id, unit.seed)
    return 720 + 360 * u_freeze, 90 + 90 * u_harvest


def _into_harvest(unit: Unit, since_s: float) -> float:
    """Seconds into the current harvest, or -1 outside one."""
    if unit.kind != "ice_machine":
        return -1.0
    freeze, harvest = ice_cycle(unit)
    into = since_s % (freeze + harvest) - freeze
    return float(into) if into >= 0 else -1.0


def _mains(unit: Unit, t_s: float) -> float:
    """The grid's frequency wanders by some hundredths of a hertz over minutes."""
    return unit.mains_hz * (1.0 + 0.0006 * math.sin(t_s / 517.0 + unit.seed)
                            + 0.0003 * math.sin(t_s / 83.0))


def shaft_speed(unit: Unit, mains: float, x: float, head: float, tag: str) -> float:
    if unit.inverter:
        if tag == "pulldown":
            return 95.0
        share = (x - INVERTER_MIN) / (0.97 - INVERTER_MIN)
        return 30.0 + 65.0 * min(1.0, max(0.0, share))
    torque = min(1.5, max(0.6, 0.85 + 0.8 * (head - 1.0)))  # head pressure is the torque
    return mains * (1.0 - unit.slip_rated * torque)


def fan_speed(unit: Unit, t_s: float, mains: float) -> float:
    """The condenser fan's shaft; a shaded-pole motor's bearing dries and it slows a few
    percent over weeks (re-oiled or replaced, then fast again)."""
    u_period, u_phase = uniforms(2, "fan-wear", unit.device_id, unit.seed)
    wear = ((t_s / ((10 + 30 * u_period) * DAY_S)) + u_phase) % 1.0
    slow = 0.05 if unit.fan_motor == "shaded_pole" else 0.015
    return unit.fan_rps * (mains / unit.mains_hz) * (1.0 - slow * wear)


def moment(unit: Unit, t_s: float, running: bool | None = None) -> Moment:
    """The unit's state at t_s; `running` overrides the thermostat (a steady state then:
    no start or stop in the window unless the thermostat agrees)."""
    seg, since = _segment_at(unit, t_s)
    if running is not None and running != seg.running:
        since, tag = 600.0, "cycle"
    else:
        running, tag = seg.running, seg.tag
    activity, phase = kitchen_activity(unit, t_s)
    x, head = load_fraction(unit, t_s), head_pressure(unit, t_s)
    mains = _mains(unit, t_s)
    day, hour, _ = local_clock(unit, t_s)
    return Moment(
        running=running, since_s=since, tag=tag, load=x, activity=activity, phase=phase,
        head=head, shaft_rps=shaft_speed(unit, mains, x, head, tag), mains_hz=mains,
        fan_rps=fan_speed(unit, t_s, mains),
        harvest_s=_into_harvest(unit, since) if running else -1.0,
        defrost=tag == "defrost" and not running, fouling=fouling(unit, t_s), hour=hour,
        day=day,
    )


def device_week(unit: Unit, start_s: float, cadence_s: float, days: float
                ) -> list[tuple[float, bool]]:
    count = int(days * DAY_S / cadence_s)
    times = [start_s + i * cadence_s for i in range(count)]
    return [(t, running_at(unit, t)) for t in times]
