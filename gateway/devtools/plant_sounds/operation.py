"""When a unit runs and how hard: on/off cycles under a thermostat (longer runs when the day is
warm), defrost cycles (electric: the compressor is off; hot gas: it runs hard while the
reversing valve sends a rush of gas), a start's inrush and pull-down, a stop's rundown, the
load over the day, and slow drift over days (wear-in, ambient temperature). Everything is a
function of the absolute time, so a window at a given instant is the same whenever asked."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY_S = 86_400.0


@dataclass(frozen=True)
class Duty:
    period_s: float
    on_fraction: float
    phase_s: float
    defrost_every_s: float
    defrost_s: float
    defrost_offset_s: float
    hot_gas: bool
    base_load: float
    day_swing: float
    commissioned_s: float     # wear-in runs from here
    wear_db: float            # how much louder a new machine is than a run-in one
    wander: tuple             # (period days, phase, dB) of the slow drift
    key: tuple                # seeds the per-cycle jitter


@dataclass(frozen=True)
class Point:
    """The unit at one instant."""

    running: bool
    load: float
    since_start_s: float      # inf when unknown or off
    until_stop_s: float       # inf when not stopping soon
    since_stop_s: float
    until_start_s: float      # inf when running or in an electric defrost
    defrost: str | None       # None, "electric" or "hot_gas"
    since_defrost_s: float
    drift_db: float
    temp_shift: float         # relative softening of the housing with warmth


def draw(rng: np.random.Generator, key: tuple) -> Duty:
    period = float(rng.uniform(600, 2700))
    every = float(rng.choice([6, 8, 12])) * 3600
    return Duty(period_s=period, on_fraction=float(rng.uniform(0.45, 0.85)),
                phase_s=float(rng.uniform(0, period)), defrost_every_s=every,
                defrost_s=float(rng.uniform(900, 2400)),
                defrost_offset_s=float(rng.uniform(0, every)), hot_gas=bool(rng.random() < 0.4),
                base_load=float(rng.uniform(0.55, 0.8)), day_swing=float(rng.uniform(0.05, 0.2)),
                commissioned_s=1_766_000_000.0 + float(rng.uniform(0, 30 * DAY_S)),
                wear_db=float(rng.uniform(0.5, 2.5)),
                wander=tuple((float(rng.uniform(2, 9)), float(rng.uniform(0, 2 * np.pi)),
                              float(rng.uniform(0.2, 0.8))) for _ in range(2)),
                key=key)


def day_load(d: Duty, t_s: float) -> float:
    """Warmest in mid-afternoon (local time taken as UTC), busiest on shop hours."""
    hour = (t_s % DAY_S) / 3600
    return d.base_load + d.day_swing * np.cos(2 * np.pi * (hour - 15) / 24)


def _cycle(d: Duty, index: int) -> tuple[float, float]:
    """Cycle `index`'s start and run length: the thermostat's runs vary cycle to cycle."""
    start = d.phase_s + index * d.period_s
    jitter = np.random.default_rng([*d.key, 17, index & 0xFFFFFFFF]).normal(0, 0.06)
    share = np.clip(d.on_fraction + 0.8 * (day_load(d, start) - d.base_load) + jitter, 0.2, 0.95)
    return start, float(share * d.period_s)


def _defrost(d: Duty, t_s: float) -> tuple[str | None, float]:
    since = (t_s - d.defrost_offset_s) % d.defrost_every_s
    if since >= d.defrost_s:
        return None, since
    return ("hot_gas" if d.hot_gas else "electric"), since


def drift(d: Duty, t_s: float) -> tuple[float, float]:
    """(level drift dB, housing softening): wear-in fades over ~two weeks, the rest wanders."""
    age_days = max(0.0, (t_s - d.commissioned_s) / DAY_S)
    level = d.wear_db * np.exp(-age_days / 14)
    level += sum(db * np.sin(2 * np.pi * t_s / (p * DAY_S) + ph) for p, ph, db in d.wander)
    hour = (t_s % DAY_S) / 3600
    temp = 6 * np.cos(2 * np.pi * (hour - 15) / 24) + 3 * np.sin(2 * np.pi * t_s / (5 * DAY_S))
    return float(level), float(2e-4 * temp)


def point(d: Duty, t_s: float) -> Point:
    index = int(np.floor((t_s - d.phase_s) / d.period_s))
    start, run = _cycle(d, index)
    defrost, since_defrost = _defrost(d, t_s)
    running = t_s - start < run and defrost != "electric"
    load = day_load(d, t_s)
    since_start = t_s - start if running else np.inf
    if defrost == "hot_gas":
        running, load, since_start = True, load + 0.3, since_defrost
    elif running:
        load += 0.3 * np.exp(-since_start / 200)  # pull-down after a start
    level, soften = drift(d, t_s)
    return Point(running=bool(running), load=float(load), since_start_s=float(since_start),
                 until_stop_s=float(start + run - t_s) if running and not defrost else np.inf,
                 since_stop_s=float(t_s - start - run) if not running else np.inf,
                 until_start_s=float(start + d.period_s - t_s) if not running and not defrost
                 else np.inf,
                 defrost=defrost, since_defrost_s=float(since_defrost), drift_db=level,
                 temp_shift=soften)


def motion(p: Point, n: int, rate: int, spin_up_s: float, run_down_s: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """(speed as a share of full speed, motor energised) per sample of a window starting at
    p: a start's quick ramp, a stop's exponential rundown, 0 when off, 1 when running."""
    t = np.arange(n) / rate
    if not p.running:
        powered = t >= p.until_start_s
        return np.clip((t - p.until_start_s) / spin_up_s, 0.0, 1.0) ** 0.7 * powered, powered
    shape = np.clip((t + p.since_start_s) / spin_up_s, 0.0, 1.0) ** 0.7
    powered = t < p.until_stop_s
    after = np.maximum(t - p.until_stop_s, 0.0)
    shape = np.where(powered, shape, np.exp(-after / run_down_s))
    return np.where(shape < 0.02, 0.0, shape), powered
