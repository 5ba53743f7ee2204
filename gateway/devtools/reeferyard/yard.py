"""The container yard around a unit: neighbouring reefers, straddle carriers and trucks,
twist-lock clangs, gulls, ships' horns, rain on steel, wind, the port's distant rumble.

Yard events (a carrier's pass, a clang, a horn) are keyed by the yard (the seed) and time
slot only, so every sensor in the yard hears the same event at the same moment; only its
distance, hence its level, is the unit's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import dsp
from .frame import Frame
from .keys import smooth_noise, stream, uniform
from .schedule import local_hour
from .unit import Neighbour, Unit


def activity(unit: Unit, t_s: float) -> float:
    """Port activity 0.35-1: quieter 00-05 h, a lull at each shift change (06, 14, 22 h)."""
    h = local_hour(unit, t_s)
    night = 0.35 if 0.0 <= h < 5.0 else 1.0
    lull = min(min(abs(h - c), 24.0 - abs(h - c)) for c in (6.0, 14.0, 22.0))
    return night * (0.5 if lull < 0.4 else 1.0)


def neighbour_running(nb: Neighbour, t_s: float) -> bool:
    """A neighbour's own thermostat cycle (independent of this unit's)."""
    return ((t_s + nb.offset_s) / nb.cycle_s) % 1.0 < nb.duty


def neighbour_load(nb: Neighbour, t: np.ndarray) -> np.ndarray:
    """A digital neighbour's PWM loading (its own period), 1 for others."""
    if not nb.digital:
        return np.ones_like(t)
    out: np.ndarray = 0.15 + 0.85 * (np.mod(t + nb.offset_s, nb.pwm_s) < 0.55 * nb.pwm_s)
    return out


@dataclass(frozen=True)
class Pass:
    """A straddle carrier, reach stacker or truck driving past."""

    tc: float  # epoch s of closest approach
    speed: float  # m/s
    d0: float  # closest distance to this unit, m
    cycle_hz: float  # engine cycle rate (rpm / 120 for a four-stroke)
    gain: float


def passes(unit: Unit, t0: float, t1: float) -> list[Pass]:
    """Vehicle passes whose sound reaches [t0, t1) (slots of 120 s, yard-wide)."""
    out = []
    for slot in range(int(math.floor((t0 - 60.0) / 120.0)), int(math.floor((t1 + 60) / 120)) + 1):
        rng = stream("pass", unit.seed, slot)
        count = min(int(rng.poisson(1.3 * activity(unit, slot * 120.0))), 3)
        for i in range(count):
            tc = slot * 120.0 + 120.0 * rng.random()
            speed = 2.5 + 5.0 * rng.random()
            rpm = 1300.0 + 900.0 * rng.random()
            gain = 0.6 + 0.8 * rng.random()
            d0 = 4.0 + 40.0 * uniform("pass-d", unit.device_id, unit.seed, slot, i)
            if abs(t0 - tc) < 60.0 or abs(t1 - tc) < 60.0:
                out.append(Pass(tc, speed, d0, rpm / 120.0, gain))
    return out


def pass_envelope(p: Pass, t: np.ndarray) -> np.ndarray:
    """Spherical spreading as the vehicle approaches and leaves (reference 10 m)."""
    out: np.ndarray = p.gain * 10.0 / np.sqrt(p.d0 ** 2 + (p.speed * (t - p.tc)) ** 2)
    return out


def _neighbours(fr: Frame) -> np.ndarray:
    out = np.zeros(fr.n)
    for nb in fr.unit.neighbours:
        if not neighbour_running(nb, fr.t_s):
            continue
        g = 0.5 / nb.distance_m * 0.7  # the own mic is ~0.5 m from its compressor
        ph = stream("nb-phase", nb.name).uniform(0, 2 * np.pi, 8)
        tab = dsp.wavetable([0.25, 0.14, 0.1, 0.07, 0.05, 0.04], list(ph[:6]), [1, 2, 3, 4, 5, 6])
        load = neighbour_load(nb, fr.t_s + fr.t)
        out += g * load * dsp.play(tab, dsp.cycles(nb.shaft_hz, fr.t_s, fr.t))
        fan = dsp.wavetable([0.08, 0.03], list(ph[6:]), [nb.blades, 2 * nb.blades])
        out += g * dsp.play(fan, dsp.cycles(nb.fan_hz, fr.t_s, fr.t))
    return out


def _vehicles(fr: Frame) -> np.ndarray:
    """Diesel engines of passing carriers: cycle-rate orders, firing orders strongest."""
    out = np.zeros(fr.n)
    orders = list(range(1, 25))
    amps = [(0.3 if k % 6 == 0 else 0.05) / math.sqrt(k) for k in orders]
    for p in passes(fr.unit, fr.t_s, fr.t_s + fr.n / fr.rate):
        env = pass_envelope(p, fr.t_s + fr.t)
        ph = stream("pass-phase", p.tc).uniform(0, 2 * np.pi, len(orders))
        out += 0.35 * env * dsp.play(dsp.wavetable(amps, list(ph), orders),
                                     dsp.cycles(p.cycle_hz, fr.t_s, fr.t))
    return out


def _tyres(fr: Frame) -> np.ndarray:
    """Tyre and engine broadband of the passing carriers, rising and falling with distance."""
    ps = passes(fr.unit, fr.t_s, fr.t_s + fr.n / fr.rate)
    if not ps:
        return np.zeros(fr.n)
    env = sum(pass_envelope(p, fr.t_s + fr.t) for p in ps)
    shape = fr.shape(dsp.band, 40.0, 3000.0, 1) * fr.shape(dsp.pink, 150.0)
    out: np.ndarray = 0.3 * env * np.fft.irfft(dsp.white_spec(fr.rng("tyres"), fr.n) * shape,
                                               fr.n)
    return out


def _clangs(fr: Frame) -> np.ndarray:
    span = fr.n / fr.rate
    times: list[float] = []
    amps: list[float] = []
    freqs: list[float] = []
    taus: list[float] = []
    for slot in range(int(math.floor((fr.t_s - 4.0) / 10.0)),
                      int(math.floor((fr.t_s + span) / 10.0)) + 1):
        rng = stream("clang", fr.unit.seed, slot)
        for i in range(int(rng.poisson(0.7 * activity(fr.unit, slot * 10.0)))):
            t0 = slot * 10.0 + 10.0 * rng.random() - fr.t_s
            d = 8.0 + 70.0 * uniform("clang-d", fr.unit.device_id, fr.unit.seed, slot, i)
            modes = rng.uniform(180.0, 2600.0, 4)
            tau = rng.uniform(0.12, 0.7, 4)
            if t0 >= span or t0 < -4.0:
                continue
            for m in range(4):
                if modes[m] < 0.45 * fr.rate:
                    times.append(t0)
                    amps.append(1.2 * 10.0 / d / (1 + m))
                    freqs.append(float(modes[m]))
                    taus.append(float(tau[m]))
    return dsp.decays(times, amps, freqs, taus, fr.n, fr.rate)


def _gulls(fr: Frame) -> np.ndarray:
    """Herring-gull calls: a few descending 'kyow' syllables with two overtones."""
    out = np.zeros(fr.n)
    span = fr.n / fr.rate
    h = local_hour(fr.unit, fr.t_s)
    p_call = 0.2 if 5.0 <= h < 21.0 else 0.03
    for slot in range(int(math.floor((fr.t_s - 1.5) / 4.0)), int(math.floor((fr.t_s + span) / 4.0))
                      + 1):
        rng = stream("gull", fr.unit.seed, slot)
        if rng.random() >= p_call:
            continue
        start = slot * 4.0 + 4.0 * rng.random() - fr.t_s
        f1, f2 = rng.uniform(1500, 2300), rng.uniform(650, 1000)
        amp = rng.uniform(0.03, 0.2) * (0.5 + uniform("gull-d", fr.unit.device_id, slot))
        for s in range(int(rng.integers(2, 5))):
            dur = rng.uniform(0.14, 0.26)
            t0 = start + s * (dur + rng.uniform(0.05, 0.12))
            lo, hi = max(int(t0 * fr.rate), 0), min(int((t0 + dur) * fr.rate), fr.n)
            if hi <= lo:
                continue
            tau = fr.t[lo:hi] - t0
            ph = 2 * np.pi * (f1 * tau + (f2 - f1) * tau * tau / (2 * dur))
            win = np.sin(np.pi * tau / dur) ** 2
            out[lo:hi] += amp * win * (np.sin(ph) + 0.5 * np.sin(2 * ph) + 0.2 * np.sin(3 * ph))
    return out


def _horns(fr: Frame) -> np.ndarray:
    """A ship's horn across the harbour: low, rich, seconds long, slow attack."""
    span = fr.n / fr.rate
    slot = int(math.floor(fr.t_s / 600.0))
    out = np.zeros(fr.n)
    for s in (slot - 1, slot):
        rng = stream("horn", fr.unit.seed, s)
        if rng.random() >= 0.25:
            continue
        start, dur = s * 600.0 + 590.0 * rng.random(), rng.uniform(2.0, 6.0)
        if start + dur < fr.t_s or start > fr.t_s + span:
            continue
        f0 = rng.uniform(70.0, 150.0)
        tab = dsp.wavetable([1.0 / k for k in range(1, 11)], list(rng.uniform(0, 6.3, 10)),
                            list(range(1, 11)))
        tau = fr.t_s + fr.t - start
        env = np.clip(tau / 0.4, 0, 1) * np.clip((dur - tau) / 0.5, 0, 1)
        out += 0.04 * env * dsp.play(tab, dsp.cycles(f0, fr.t_s, fr.t))
    return out


def _rain(fr: Frame) -> np.ndarray:
    """Rain on the containers' steel roofs: a dense random train of tiny ringing ticks."""
    block = int(math.floor(fr.t_s / 10800.0))
    rng = stream("rain", fr.unit.seed, block)
    if rng.random() >= 0.12:
        return np.zeros(len(fr.f), complex)
    intensity = rng.uniform(0.1, 1.0)
    drops = fr.rng("drops")
    rate_hz = 300.0 + 3000.0 * intensity
    hits = drops.random(fr.n) < rate_hz / fr.rate
    train = np.where(hits, drops.exponential(0.01, fr.n), 0.0)
    steel = fr.shape(dsp.resonance, min(4500.0, 0.4 * fr.rate), 2.0)
    steel = steel + 0.6 * fr.shape(dsp.resonance, 1800.0, 3.0)
    out: np.ndarray = np.fft.rfft(train) * steel
    return out


def yard(fr: Frame) -> tuple[np.ndarray, np.ndarray]:
    """Sound arriving from the yard: (time-domain part, spectrum part). Neighbours, engines,
    horns and the rumble are made at the low rate and lifted into the spectrum."""
    lo = fr.low()
    low = _neighbours(lo) + _vehicles(lo) + _horns(lo)
    x = _tyres(fr) + _clangs(fr) + _gulls(fr)
    spec = dsp.lift(low, fr.n) + _rain(fr)
    nb_power = sum((0.5 / nb.distance_m * 0.7) ** 2 for nb in fr.unit.neighbours
                   if neighbour_running(nb, fr.t_s))
    power = (0.03 * activity(fr.unit, fr.t_s) * fr.shape(dsp.band, 20.0, 700.0, 1)
             * fr.shape(dsp.pink, 50.0)) ** 2
    power = power + nb_power * (0.25 * fr.shape(dsp.band, 100.0, 2500.0, 1)) ** 2
    spec += dsp.white_spec(fr.rng("yard-noise"), fr.n) * np.sqrt(power)
    return x, spec


def wind_speed(unit: Unit, t_s: float) -> float:
    """Yard wind, m/s, wandering over half-hours."""
    return 5.0 + 4.5 * smooth_noise(t_s, 1800.0, "wind", unit.seed)


def wind_noise(fr: Frame, channel: int) -> np.ndarray:
    """Turbulence at the microphone's windscreen: low-frequency, gusty, one per capsule."""
    v = max(wind_speed(fr.unit, fr.t_s), 0.0)
    rng = fr.rng(f"wind-{channel}")
    shape = 1.0 / (1.0 + (fr.f / 45.0) ** 2)
    x = np.fft.irfft(dsp.white_spec(rng, fr.n) * shape, fr.n)
    span = fr.n / fr.rate
    knots = [smooth_noise(fr.t_s + k * span / 4, 0.7, "gust", fr.unit.seed) for k in range(5)]
    gust = np.interp(fr.t, np.linspace(0, span, 5), knots)
    out: np.ndarray = 0.02 * (v / 6.0) ** 2 * (1.0 + 0.6 * gust) * x
    return out
