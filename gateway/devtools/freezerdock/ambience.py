"""The site around the compressor, as heard by the box's microphone.

A steady bed (building ventilation, distant traffic, and — when it rains — drumming on the
roof, louder for penthouse plant rooms) under the dock's events: forklifts and reach trucks,
reversing beepers, pallets, forks, fast roller doors, dock levellers, PA announcements,
radios, the shift bell at 06:00, 14:00 and 22:00, and truck reefer units idling at the doors
(a diesel engine firing at cylinders x rpm / 120, with the half-orders of a four-stroke,
muffled by the wall). Busy day shifts, a quieter late shift, a few trucks at night; the same
everywhere in one plant room, at a level set by how close the room is to the dock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from . import climate, dsp, events, seeding, site_sounds
from .units import Unit

DOCKS = 3  # reefer positions within earshot
REEFER_SLOT_S = 900.0


Maker = Callable[[np.random.Generator], site_sounds.Sound]


def _kinds(unit: Unit) -> list[tuple[events.Kind, Maker]]:
    """The dock's event kinds: (slot, longest event, events per slot at an activity)."""
    mains = unit.machine.mains_hz
    return [
        (events.Kind("forklift", 30.0, 12.0, lambda a: 1.5 * a), site_sounds.forklift),
        (events.Kind("beeper", 30.0, 6.0, lambda a: 0.6 * a), site_sounds.beeper),
        (events.Kind("pallet", 20.0, 0.6, lambda a: 0.4 * a), site_sounds.pallet),
        (events.Kind("clank", 20.0, 1.2, lambda a: 0.5 * a), site_sounds.clank),
        (events.Kind("door", 60.0, 3.0, lambda a: 1.6 * a), site_sounds.roller_door(mains)),
        (events.Kind("leveller", 120.0, 5.0, lambda a: 0.3 * a), site_sounds.leveller),
        (events.Kind("pa", 300.0, 10.0, lambda a: 0.15 * (a + 0.2)), site_sounds.announcement),
        (events.Kind("radio", 60.0, 4.0, lambda a: 0.5 * a + 0.05), site_sounds.radio),
    ]


def _events(unit: Unit, t0: float, n: int, fs: float, g: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    t1 = t0 + n / fs
    for kind, make in _kinds(unit):
        for ev in events.in_window(unit, kind, t0, t1):
            dur, render = make(ev.params)
            i0, i1, tau = events.span(t0, n, fs, ev.start, dur)
            if i1 > i0:
                out[i0:i1] += render(tau, fs, g)
    return out


def _shift_bell(unit: Unit, t0: float, n: int, fs: float) -> np.ndarray:
    """A two-tone horn for three seconds at each shift change."""
    hour, _ = climate.local_hours(np.array([t0]), unit.plan.tz_s)
    since0 = min(((float(hour[0]) - s) % 24.0) * 3600.0 for s in climate.SHIFT_HOURS)
    if since0 >= 3.0 and since0 + n / fs < 86400.0 - 8 * 3600.0:
        return np.zeros(n)  # (8 h is the gap between bells)
    since = (since0 + np.arange(n) / fs) % (8 * 3600.0)
    hz = np.where((since % 1.0) < 0.5, 450.0, 560.0)
    return np.where(since < 3.0, 0.8 * np.sin(2 * np.pi * hz * since), 0.0)


@lru_cache(maxsize=256)
def _reefer(unit: Unit, dock: int, slot_ms: int) -> tuple[float, float, np.ndarray] | None:
    """A reefer parked at a dock for this slot: (cycle Hz, level, wavetable), or None."""
    g = seeding.rng(unit.seed, unit.device_id, f"site:reefer{dock}", slot_ms)
    busy = float(climate.activity(np.array([slot_ms / 1000.0]), unit.plan.tz_s)[0])
    if g.random() > 0.15 + 0.3 * min(busy, 1.0):
        return None
    cyl, rpm = int(g.choice([2, 3, 4])), g.choice([1450.0, 1800.0]) * g.uniform(0.97, 1.03)
    cycle_hz = rpm / 120.0  # one four-stroke cycle per two crank revolutions
    k = np.arange(1, 41)
    amps = (0.25 / k + 1.0 * (k % cyl == 0)) / (1 + (k * cycle_hz / 300.0) ** 2)
    wave = dsp.table(amps * np.exp(g.normal(0, 0.3, k.size)), g.uniform(0, 2 * np.pi, k.size))
    return float(cycle_hz), float(g.uniform(0.1, 0.6)), wave


def _reefers(unit: Unit, t0: float, n: int, fs: float) -> tuple[np.ndarray, float]:
    """Idling diesels at the doors, continuous within a slot; also their fans' noise level."""
    out, fans = np.zeros(n), 0.0
    t1 = t0 + n / fs
    for k in range(math.floor(t0 / REEFER_SLOT_S), math.floor(t1 / REEFER_SLOT_S) + 1):
        slot = k * REEFER_SLOT_S
        i0, i1, tau = events.span(t0, n, fs, slot, REEFER_SLOT_S)
        for dock in range(DOCKS):
            truck = _reefer(unit, dock, round(slot * 1000))
            if truck is None or i1 <= i0:
                continue
            hz, level, wave = truck
            out[i0:i1] += level * dsp.lookup(wave, hz * tau)
            fans += level * 0.3
    return out, fans


@lru_cache(maxsize=64)
def _beds(n: int, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = dsp.freqs(n, fs)
    pink = (np.maximum(f, 20.0) / 100.0) ** -0.5
    return dsp.band(f, 30.0, 2000.0) * pink, dsp.band(f, 300.0, 9000.0), dsp.band(f, 100, 3000)


def _bed(unit: Unit, t0: float, n: int, fs: float, fans: float, g: np.random.Generator
         ) -> dsp.Mix:
    """The steady bed: one Gaussian noise whose spectrum is the sum of its sources' spectra."""
    vent, roof, reefer_fans = _beds(n, fs)
    wet = float(climate.rain(unit.seed, np.array([t0]))[0])
    rain = wet * 10 ** ((unit.mic.rain_db - unit.mic.site_db) / 20)
    shape = np.sqrt((0.3 * vent) ** 2 + (rain * roof) ** 2 + (fans * reefer_fans) ** 2)
    bed = dsp.Mix(n).add_spec(dsp.noise_spec(g, shape, n, math.sqrt(0.09 + rain**2 + fans**2)))
    if wet > 0:
        drops = g.poisson(wet * 150.0 * n / fs)  # heavier drops stand out as ticks
        bed.add(dsp.impulses(n, g.integers(0, n, drops), 2.0 * rain * g.standard_normal(drops)))
    return bed


def site(unit: Unit, t0: float, n: int, fs: float, g: np.random.Generator) -> dsp.Mix:
    """Everything but the refrigeration plant, at the microphone."""
    level = unit.machine.level * 10 ** (unit.mic.site_db / 20)
    reefers, fans = _reefers(unit, t0, n, fs)
    bed = _bed(unit, t0, n, fs, fans, g)
    steady = reefers + _events(unit, t0, n, fs, g) + _shift_bell(unit, t0, n, fs)
    out = dsp.Mix(n).add(level * steady)
    if bed.spec is not None:
        out.add_spec(level * bed.spec)
    if bed.time is not None:
        out.add(level * bed.time)
    return out
