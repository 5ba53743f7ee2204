"""The engine room around the unit, in pascals at the microphone before the room's
reverberation: the other screw compressors (each on its own schedule, so some run while
this one is off), a reciprocating booster, ammonia pumps, the evaporative condenser's fans
and water through the wall, the ventilation fan, and now and then a forklift reversing, a PA
announcement or a pallet dropped. Never silent: the condenser and the ventilation run on.
"""

from __future__ import annotations

import numpy as np

from gateway.devtools.screwhall.operation import local_hour
from gateway.devtools.screwhall.pieces import (
    band,
    comb,
    impulses,
    ring,
    ringing_response,
    rng_for,
    tones,
)
from gateway.devtools.screwhall.units import Neighbour, Unit

BLOCK_S = 2_400.0  # neighbours and the booster change state at most every 40 minutes
EVENT_SLOT_S = 10.0


def neighbour_running(unit: Unit, nb: Neighbour, t_s: float) -> bool:
    block = int(np.floor(t_s / BLOCK_S))
    duty = 0.55 + 0.08 * nb.cycles_per_day
    return bool(rng_for("screwhall-nb", unit.device_id, unit.seed, nb.index, block).random()
                < duty)


def _neighbour(unit: Unit, nb: Neighbour, t_s: float, t: np.ndarray, rate: int
               ) -> tuple[np.ndarray, float]:
    rng = rng_for("screwhall-nb-voice", unit.device_id, unit.seed, nb.index)
    k = np.arange(1, 80)
    amps = np.where(k % nb.lobes == 0, (k / nb.lobes) ** -1.0, 0.03 / k) * rng.uniform(0.5, 1.5,
                                                                                        k.size)
    cycles = np.mod(nb.speed_hz * t_s, 1.0) + nb.speed_hz * t
    return comb(0.6 * nb.level * amps, rng.uniform(0, 2 * np.pi, k.size), cycles, nb.speed_hz,
                rate), 0.5 * nb.level


def _booster(unit: Unit, t_s: float, t: np.ndarray, rate: int) -> np.ndarray:
    """A reciprocating booster: a crank-rate comb peaking at the cylinders' firing order."""
    if not unit.booster_cylinders:
        return np.zeros_like(t)
    if rng_for("screwhall-boost", unit.device_id, unit.seed,
               int(np.floor(t_s / BLOCK_S))).random() > 0.85:
        return np.zeros_like(t)
    k = np.arange(1, 120)
    cyl = unit.booster_cylinders
    amps = (0.02 + (k % cyl == 0) * 0.12 * (k / cyl) ** -0.6) * np.exp(-k / 90)
    rng = rng_for("screwhall-boost-voice", unit.device_id, unit.seed)
    cycles = np.mod(unit.booster_hz * t_s, 1.0) + unit.booster_hz * t
    return comb(amps, rng.uniform(0, 2 * np.pi, k.size), cycles, unit.booster_hz, rate)


def _rotating(unit: Unit, t_s: float, t: np.ndarray, rate: int) -> np.ndarray:
    """Ammonia pumps (vane pass), condenser fans through the wall, the ventilation fan."""
    hour = local_hour(unit, t_s)
    fans_on = max(1, round(unit.condenser_fans * (0.5 + 0.5 * np.sin(np.pi * (hour - 6) / 12))))
    fan_hz = unit.condenser_fan_hz * (0.7 if hour < 6 or hour >= 22 else 1.0)
    pump_hz = unit.mains_hz * 0.975
    freqs = [7 * pump_hz * (1 + 0.002 * i) for i in range(unit.nh3_pumps)]
    amps = [0.03] * unit.nh3_pumps
    freqs += [unit.condenser_blades * fan_hz * (1 + 0.004 * i) for i in range(fans_on)]
    amps += [0.07] * fans_on
    freqs += [2 * unit.condenser_blades * fan_hz, unit.vent_blades * unit.vent_hz,
              2 * unit.vent_blades * unit.vent_hz, 2 * unit.mains_hz]
    amps += [0.025, 0.04, 0.015, 0.012]
    f = np.array(freqs)
    phases = 2 * np.pi * np.mod(f * t_s, 1.0) + np.arange(f.size)
    return tones(f, np.array(amps), phases, t, rate)


def _beeper(rng: np.random.Generator, t: np.ndarray, start: float) -> np.ndarray:
    """A forklift's reversing alarm: ~1.1 kHz square-ish tone, half a second on and off."""
    f = rng.uniform(1000.0, 1250.0)
    gate = (np.mod(t - start, 1.0) < 0.5) & (t >= start) & (t < start + rng.uniform(3, 8))
    tone = np.sin(2 * np.pi * f * t) + 0.3 * np.sin(6 * np.pi * f * t)
    return rng.uniform(0.1, 0.5) * tone * gate


def _announcement(rng: np.random.Generator, t: np.ndarray, start: float, rate: int
                  ) -> np.ndarray:
    """A PA voice: a 120-220 Hz glottal comb through two moving formants, syllables at ~4 Hz,
    from a horn speaker (300 Hz-4 kHz)."""
    f0 = rng.uniform(110.0, 220.0) * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t))
    cycles = np.cumsum(f0) / rate
    k = np.arange(1, 25)
    formant = np.exp(-((k * 160.0 - 600.0) / 400.0) ** 2) + 0.6 * np.exp(
        -((k * 160.0 - 1800.0) / 500.0) ** 2)
    voice = comb(formant, rng.uniform(0, 2 * np.pi, k.size), cycles, float(f0.mean()), rate)
    syllables = np.clip(np.sin(2 * np.pi * rng.uniform(3.0, 5.0) * t), 0, None) ** 0.7
    return rng.uniform(0.05, 0.25) * voice * syllables * (t >= start)


def events(unit: Unit, t_s: float, t: np.ndarray, rate: int) -> np.ndarray:
    """The room's occasional sounds, decided per 10-second slot so that overlapping windows
    hear the same event."""
    out = np.zeros_like(t)
    hour = local_hour(unit, t_s)
    busy = 6.0 <= hour < 22.0
    first = int(np.floor(t_s / EVENT_SLOT_S))
    last = int(np.floor((t_s + t[-1]) / EVENT_SLOT_S))
    for slot in range(first - 1, last + 1):
        rng = rng_for("screwhall-event", unit.device_id, unit.seed, slot)
        draw = rng.random()
        start = slot * EVENT_SLOT_S + rng.uniform(0, EVENT_SLOT_S) - t_s
        if busy and draw < 0.05:
            out += _beeper(rng, t, start)
        elif busy and draw < 0.07:
            out += _announcement(rng, t, start, rate)
        elif draw < 0.10:
            clank = impulses(np.array([start]), np.array([rng.uniform(0.5, 3.0)]), t.size, rate)
            freqs = np.fft.rfftfreq(t.size, 1 / rate)
            out += ring(clank, ringing_response(freqs, [(rng.uniform(500, 1200), 20.0),
                                                        (rng.uniform(1800, 3500), 30.0)]))
    return out


def room(unit: Unit, t_s: float, n: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(time-domain site sound, amplitude spectrum of its steady broadband part)."""
    t = np.arange(n) / rate
    freqs = np.fft.rfftfreq(n, 1 / rate)
    out = _booster(unit, t_s, t, rate) + _rotating(unit, t_s, t, rate)
    roar = 0.0
    for nb in unit.neighbours:
        if neighbour_running(unit, nb, t_s):
            part, level = _neighbour(unit, nb, t_s, t, rate)
            out += part
            roar += level
    out += events(unit, t_s, t, rate)
    return out, _site_shape(unit, freqs, roar)


def _site_shape(unit: Unit, freqs: np.ndarray, roar: float) -> np.ndarray:
    key = ("site", freqs.size, float(freqs[-1]))
    if key not in unit.cache:
        def norm(s: np.ndarray) -> np.ndarray:
            return s / np.sqrt(np.mean(s ** 2))
        machines = norm(band(freqs, 80.0, 4000.0, 1.2) / np.sqrt(np.maximum(freqs, 80) / 80))
        water = norm(band(freqs, 100.0, 1200.0, 2.0))  # spray through the wall (mass law)
        vent = norm(band(freqs, 40.0, 2500.0, 1.0) / np.maximum(freqs, 40) ** 0.5)
        unit.cache[key] = (machines, water, vent)
    machines, water, vent = unit.cache[key]
    return roar * machines + 0.06 * water + 0.05 * vent
