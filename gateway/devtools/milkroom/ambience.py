"""Everything the microphone hears that is not the condensing unit: the farm around it.

Absolute levels (dBFS at the mic). The milking parlour next door is loud while milking:
the vacuum pump's drone, pulsators ticking in alternation at ~60 cycles/min, milk pump
bursts, clusters clanking, a radio; cows moo and their hooves clack on concrete. After
milking the pressure washer runs; after collection the tank is washed. Outside: tractors
and the scraper by day, rain on the metal roof, wind, birds at dawn, flies in summer.
Night is nearly silent. Events are drawn per window from the window's own stream.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from . import dsp, schedule, weather
from .seeding import stream, window_key
from .units import Unit

Static = list[tuple[np.ndarray, float]]


def _ringing(f: np.ndarray, f0: float, q: float) -> np.ndarray:
    """Spectral colour of something struck: metal clanks ring long, hooves thud short."""
    return np.asarray(np.abs(dsp.decay_response(f, f0, q)))


@lru_cache(maxsize=256)
def _shapes(n: int, rate: int) -> dict[str, np.ndarray]:
    f = dsp.freqs(n, rate)
    pink = 1.0 / np.sqrt(np.maximum(f, 20.0))
    clank = _ringing(f, 3100.0, 25.0) + _ringing(f, 5400.0, 30.0)
    shapes = {"room": pink * dsp.highpass(f, 30.0), "vacuum": pink * dsp.band(f, 80.0, 4000.0),
            "ring": pink * dsp.band(f, 150.0, 2500.0), "jet": dsp.band(f, 800.0, 12000.0),
            "spray": dsp.band(f, 400.0, 8000.0), "rain": dsp.band(f, 1500.0, 14000.0),
            "wind": dsp.lowpass(f, 120.0) * pink, "engine": pink * dsp.band(f, 40.0, 1500.0),
            "voice": dsp.band(f, 300.0, 3400.0), "click": _ringing(f, 2500.0, 4.0),
            "clank": clank, "hoof": _ringing(f, 900.0, 3.0)}
    for struck in ("click", "clank", "hoof"):
        shapes[struck] = dsp.unit_peak(shapes[struck], n)
    return shapes


def build(unit: Unit, t_s: float, n: int, rate: int) -> tuple[np.ndarray, Static]:
    r = stream(unit.seed, unit.device_id, "ambience", window_key(t_s), rate)
    tau = np.arange(n) / rate
    shapes = _shapes(n, rate)
    out = np.zeros(n)
    static: Static = [(shapes["room"], dsp.db(unit.farm.night_db))]
    hour = (weather.local_days(unit, t_s) % 1.0) * 24.0
    milking = schedule.milking_at(unit, t_s)
    if milking:
        out += _parlour(unit, t_s, tau, rate, shapes, r, static)
    if schedule.parlour_wash_at(unit, t_s) and r.random() < 0.7:
        _pressure_washer(unit, tau, shapes, r, static, out)
    if schedule.tank_wash_at(unit, t_s):
        static.append((shapes["spray"], dsp.db(-32)))
    out += _cows(unit, tau, rate, shapes, r, milking, 6 <= hour < 21)
    _weather(unit, t_s, tau, rate, shapes, r, static, out, hour)
    return out, static


def _parlour(unit: Unit, t_s: float, tau: np.ndarray, rate: int, shapes: dict[str, np.ndarray],
             r: np.random.Generator, static: Static) -> np.ndarray:
    farm, level = unit.farm, dsp.db(unit.farm.parlour_db)
    n = tau.size
    if farm.vacuum_kind == "rotary_vane":  # vane pass drone plus exhaust noise
        v = farm.vanes
        amps = np.zeros(2 * v, complex)
        amps[[0, v - 1, 2 * v - 1]] = [0.3, 1.0, 0.4]
        table = dsp.harmonic_table(amps)
        drone = dsp.lookup(table, r.random() + farm.vacuum_hz * tau)
        out = drone * (0.7 * level / dsp.table_rms(table))
        static.append((shapes["vacuum"], 0.7 * level))
    else:  # a liquid-ring pump is mostly the rush of its water ring
        out = np.sin(2 * np.pi * (farm.vacuum_hz * tau + r.random())) * 0.3 * level
        static.append((shapes["ring"], 0.95 * level))
    # Pulsators: half tick at phase 0, the other half at 0.5 (alternating pulsation).
    beat = farm.pulsation_hz * ((t_s % 3600.0) + tau)  # the pulsation clock runs on
    idx = np.concatenate([dsp.event_indices(beat, off) for off in (0.0, 0.5)])
    clicks = r.uniform(0.6, 1.0, idx.size) * level * math.sqrt(farm.pulsators) * 0.5
    out += dsp.ring(n, rate, idx, clicks, shapes["click"])
    clanks = r.poisson(0.15)
    if clanks:
        out += dsp.ring(n, rate, r.integers(0, n, clanks), r.uniform(1, 3, clanks) * level,
                        shapes["clank"])
    if (t_s % 150.0) < 25.0:  # the milk pump empties the receiver jar in bursts
        impeller = 6 * farm.mains_hz * 0.965  # 2-pole centrifugal pump, 6 vanes
        out += np.sin(2 * np.pi * (impeller * tau + r.random())) * 0.4 * level
        static.append((shapes["spray"], 0.3 * level))
    if stream(unit.seed, unit.device_id, "radio").random() < 0.6:  # most parlours have one
        syllables = dsp.harmonic_table(np.exp(2j * np.pi * r.random(6)) / np.arange(1, 7))
        env = np.maximum(dsp.lookup(syllables, 4.0 * tau), 0.0)
        voice = dsp.shaped_noise(r, shapes["voice"], 0.25 * level, n)
        out += voice * env / max(float(np.mean(env)), 1e-6) * 0.5
    return out


def _pressure_washer(unit: Unit, tau: np.ndarray, shapes: dict[str, np.ndarray],
                     r: np.random.Generator, static: Static, out: np.ndarray) -> None:
    """A triplex plunger pump (3 plungers at ~24 rev/s) and the jet hitting concrete."""
    level = dsp.db(unit.farm.parlour_db + 4.0)
    rot = unit.farm.mains_hz / 2 * 0.96
    out += np.sin(2 * np.pi * (3 * rot * tau + r.random())) * 0.3 * level
    static.append((shapes["jet"], level))


def _cows(unit: Unit, tau: np.ndarray, rate: int, shapes: dict[str, np.ndarray],
          r: np.random.Generator, milking: bool, day: bool) -> np.ndarray:
    out = np.zeros(tau.size)
    if r.random() < (0.08 if milking else 0.02 if day else 0.005):
        out += _moo(tau, rate, r, dsp.db(r.uniform(-45, -25)))
    hooves = r.poisson(1.5 if milking else 0.1)
    if hooves:
        idx = r.integers(0, tau.size, hooves)
        amp = r.uniform(0.5, 1, hooves) * dsp.db(-30)
        out += dsp.ring(tau.size, rate, idx, amp, shapes["hoof"])
    return out


def _moo(tau: np.ndarray, rate: int, r: np.random.Generator, level: float) -> np.ndarray:
    """A moo: a voiced tone (f0 ~ 120-200 Hz, gliding) rich in harmonics, swelling and
    fading; it may start before the window or run past its end."""
    start, dur = r.uniform(-1.5, 0.8), r.uniform(1.0, 2.5)
    x = (tau - start) / dur
    env = np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0, 1)) ** 2, 0.0)
    f0 = r.uniform(120, 200) * (1.0 + 0.25 * np.sin(np.pi * np.clip(x, 0, 1)))
    amps = np.array([1.0, 0.7, 0.5, 0.35, 0.2, 0.12, 0.08]) * np.exp(2j * np.pi * r.random(7))
    table = dsp.harmonic_table(amps)
    return dsp.lookup(table, np.cumsum(f0) / rate) * env * level * 2


def _weather(unit: Unit, t_s: float, tau: np.ndarray, rate: int, shapes: dict[str, np.ndarray],
             r: np.random.Generator, static: Static, out: np.ndarray, hour: float) -> None:
    rain, wind = weather.rain(unit, t_s), weather.wind(unit, t_s)
    if rain > 0.0:
        static.append((shapes["rain"], dsp.db(-62) * (1 + 40 * rain**1.5)))
    if wind > 0.05:
        static.append((shapes["wind"], dsp.db(-70) * (1 + 8 * wind)))
    if 7 <= hour < 19 and (int(t_s // 600) * 7919 + unit.seed) % 9 == 0:  # a tractor passes
        static.append((shapes["engine"], dsp.db(-38)))
        out += np.sin(2 * np.pi * (r.uniform(45, 70) * tau + r.random())) * dsp.db(-36)
    if 4.5 <= hour < 7.5 and rain < 0.2 and r.random() < 0.5:
        out += _chirps(tau, rate, r)
    if 10 <= hour < 19 and weather.ambient_c(unit, t_s) > 16 and r.random() < 0.2:
        buzz = r.uniform(170, 240)
        am = 0.5 + 0.5 * np.sin(2 * np.pi * (r.uniform(0.3, 1.5) * tau + r.random()))
        out += np.sign(np.sin(2 * np.pi * buzz * tau)) * am * dsp.db(-58)


def _chirps(tau: np.ndarray, rate: int, r: np.random.Generator) -> np.ndarray:
    """Birdsong at dawn: short downward sweeps between 2 and 6 kHz."""
    out = np.zeros(tau.size)
    for _ in range(int(r.integers(1, 6))):
        t0, dur = r.uniform(0, tau[-1]), r.uniform(0.03, 0.12)
        f_hi, f_lo = r.uniform(3500, 6000), r.uniform(2000, 3500)
        a, b = int(t0 * rate), min(tau.size, int((t0 + dur) * rate))
        local = tau[a:b] - t0
        x = local / dur
        phase = 2 * np.pi * (f_hi * local - (f_hi - f_lo) * local * x / 2)  # falling pitch
        out[a:b] += np.sin(phase) * np.sin(np.pi * x) * dsp.db(-42)
    return out
