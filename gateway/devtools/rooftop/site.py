"""Everything around the unit that the microphone hears: the neighbours in the row (their
own cycles), the building's roof-top air handler, a kitchen exhaust fan, wind on the
microphone and cabinet, rain on sheet metal, traffic, birds, a lorry reversing, people,
and the town's floor. Events are drawn per minute (a lorry reverses for a while), their
detail per window.
"""

from __future__ import annotations

import math

import numpy as np

from gateway.devtools.rooftop.operation import Moment
from gateway.devtools.rooftop.pieces import (
    band,
    comb,
    filtered,
    freqs,
    harmonics_below,
    impulses,
    modes_response,
    peak,
    rng,
    running_phase,
    shaped_noise,
    times,
    tone,
)
from gateway.devtools.rooftop.units import Neighbour, Unit

FLOOR_RMS = 0.002  # the town at night, at the microphone


def neighbour_running(nb: Neighbour, t_s: float) -> bool:
    slot = math.floor((t_s - nb.phase_s) / nb.period_s)
    duty = float(rng("neighbour", nb.seed, slot).uniform(0.35, 0.85))
    return (t_s - nb.phase_s) - slot * nb.period_s < duty * nb.period_s


def neighbours(unit: Unit, t_s: float, n: int, rate: int, g: np.random.Generator
               ) -> np.ndarray:
    """The row's other units: their compressor and fan tones, muffled by distance."""
    out = np.zeros(n)
    f = freqs(n, rate)
    psd = np.zeros_like(f)
    for nb in unit.neighbours:
        if not neighbour_running(nb, t_s):
            continue
        count = harmonics_below(nb.shaft_hz, rate / 2, 8)
        k = np.arange(1, count + 1)
        turns = running_phase(float(g.random()), nb.shaft_hz, n, rate)
        tones = comb(turns, 1.0 / k, g.uniform(0, 6.3, count))
        blade = nb.fan_rps * nb.blades
        tones += 1.2 * tone(blade, n, rate, float(g.uniform(0, 6.3)))
        out += nb.level * 0.02 * tones
        psd += (nb.level * band(f, 50, nb.corner_hz, 1.5)) ** 2
    if psd.any():
        out += 0.02 * shaped_noise(g, n, rate, np.sqrt(psd), float(np.sqrt(psd.mean())))
    return out


def plant(unit: Unit, moment: Moment, n: int, rate: int, g: np.random.Generator
          ) -> np.ndarray:
    """The roof-top air handler (blower rumble) and the kitchen exhaust (blade tone)."""
    f = freqs(n, rate)
    out = np.zeros(n)
    if unit.hvac and (6 <= moment.hour < 23 or moment.ambient_c > 24):
        out += shaped_noise(g, n, rate, band(f, 40, 900, 1.0), 0.006)
        out += 0.003 * tone(2 * unit.mains_hz, n, rate, float(g.uniform(0, 6.3)))
    if unit.exhaust and 10 <= moment.hour < 22.5:
        bpf = 14.5 * 10
        out += 0.004 * tone(bpf, n, rate, float(g.uniform(0, 6.3)))
        out += shaped_noise(g, n, rate, band(f, 80, 2500, 1.0), 0.004)
    return out


def weather_sound(unit: Unit, moment: Moment, n: int, rate: int, g: np.random.Generator
                  ) -> np.ndarray:
    f = freqs(n, rate)
    out = np.zeros(n)
    if moment.wind > 0.05:  # turbulence on the membrane: loud, below a few hundred Hz
        gust = 1 + 0.8 * shaped_noise(g, n, rate, band(f, 0.1, 2.0, 2.0))
        rumble = shaped_noise(g, n, rate, band(f, 5, 250, 1.5))
        out += 0.03 * moment.wind ** 2 * np.clip(gust, 0, None) * rumble
    if moment.rain > 0:  # drops on the lid: ticks ringing the panels
        count = int(g.poisson(200 + 1500 * moment.rain))
        drops = impulses(n, rate, g.uniform(0, n / rate, count), g.exponential(1.0, count))
        shape = 0.3 * band(f, 1500, 9000, 1.0) + modes_response(f, unit.panel_modes)
        out += 0.004 * moment.rain * filtered(drops, shape)
    return out


def _minute_events(unit: Unit, t_s: float, moment: Moment) -> dict[str, bool]:
    g = rng("site-minute", unit.device_id, unit.seed, math.floor(t_s / 60))
    day = 5 <= moment.hour < 21
    dawn = 4.5 <= moment.hour < 8
    return {"birds": g.random() < unit.birds * (0.5 if dawn else 0.12 if day else 0.0),
            "lorry": moment.open and g.random() < (0.05 if moment.hour < 11 else 0.01),
            "people": moment.open and g.random() < 0.12,
            "car": g.random() < unit.traffic * (0.25 if day else 0.05)}


def events(unit: Unit, t_s: float, moment: Moment, n: int, rate: int,
           g: np.random.Generator) -> np.ndarray:
    f, t = freqs(n, rate), times(n, rate)
    active = _minute_events(unit, t_s, moment)
    out = shaped_noise(g, n, rate, band(f, 20, 400, 1.0) / np.sqrt(1 + f / 50),
                       FLOOR_RMS * (1 + unit.traffic * (1.5 if 6 <= moment.hour < 20 else 0.3)))
    if active["car"]:
        swell = np.exp(-((t - g.uniform(0, n / rate)) / 0.6) ** 2)
        out += 0.01 * swell * shaped_noise(g, n, rate, band(f, 30, 2000, 1.0))
    if active["birds"] and rate > 12000:
        for _ in range(int(g.integers(1, 5))):
            out += _chirp(g, n, rate)
    if active["lorry"]:  # the reversing alarm: ~1.2 kHz beeps, 2 a second, and its diesel
        beep = (np.sin(2 * np.pi * 2.0 * t + g.uniform(0, 6.3)) > 0).astype(float)
        out += 0.008 * beep * np.sin(2 * np.pi * float(g.uniform(1000, 1400)) * t)
        out += shaped_noise(g, n, rate, peak(f, 30.0, 2.0) + band(f, 20, 300, 1), 0.008)
    if active["people"]:  # speech: a voiced band with a syllable rhythm
        syllables = np.clip(shaped_noise(g, n, rate, band(f, 2.5, 6.0, 2.0)), 0, None)
        out += 0.004 * syllables * shaped_noise(g, n, rate, band(f, 200, 3000, 1.5))
    return out


def _chirp(g: np.random.Generator, n: int, rate: int) -> np.ndarray:
    t = times(n, rate)
    start, length = g.uniform(0, n / rate), g.uniform(0.05, 0.2)
    f0, f1 = g.uniform(2500, 4500), g.uniform(3000, 6500)
    local = np.clip((t - start) / length, 0, 1)
    envelope = np.sin(np.pi * local) ** 2
    phase = 2 * np.pi * (f0 * (t - start) + (f1 - f0) / 2 * length * local ** 2)
    return float(g.uniform(0.002, 0.01)) * envelope * np.sin(phase)


def surroundings(unit: Unit, moment: Moment, t_s: float, n: int, rate: int) -> np.ndarray:
    g = rng("site", unit.device_id, unit.seed, t_s)
    return (neighbours(unit, t_s, n, rate, g) + plant(unit, moment, n, rate, g)
            + weather_sound(unit, moment, n, rate, g) + events(unit, t_s, moment, n, rate, g))
