"""The kitchen around the unit, as heard from the kitchen floor: clatter of pans and plates,
voices and shouting at service, a radio, the ticket printer, sinks, the dishwasher's cycle,
a combi oven's reversing fan and the floor being hosed at closing time.

How busy the kitchen is (operation.kitchen_activity) sets how often each happens; site.py
filters the result by where the microphone box hangs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from gateway.devtools.kitchen import pieces as P
from gateway.devtools.kitchen.operation import Moment
from gateway.devtools.kitchen.units import Unit

_METAL = [(820.0, 90.0, 1.0), (1930.0, 120.0, 0.8), (3350.0, 140.0, 0.6), (5100.0, 150.0, 0.4)]
_CERAMIC = [(2400.0, 25.0, 1.0), (4100.0, 30.0, 0.8), (6900.0, 35.0, 0.5)]
_PENTATONIC = np.array([0, 2, 4, 7, 9, 12, 14, 16])


def _slot(unit: Unit, name: str, t_s: float, seconds: float) -> np.random.Generator:
    """A generator shared by every window in the same slot of `seconds` (an episode)."""
    return P.rng(name, unit.device_id, unit.seed, int(t_s // seconds))


def clatter(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix) -> None:
    dur = fr.n / fr.rate
    for modes, rate_s, level in ((_METAL, 2.5, 74.0), (_CERAMIC, 2.0, 70.0)):
        count = g.poisson(rate_s * m.activity * dur)
        if count == 0:
            continue
        times, amps = g.uniform(0, dur, count), g.lognormal(0, 0.6, count)
        spec = P.ring_spectrum(fr.n, fr.rate, times, amps,
                               fr.modes(modes))
        mix.spec += P.scaled(spec, fr.n, P.spl(level) * np.sqrt(min(1.0, count * 0.2)))


@lru_cache(maxsize=64)
def _glottal(harmonics: int) -> np.ndarray:
    """A glottal pulse's period: harmonics falling 6 dB an octave."""
    return P.comb_table(np.arange(1, harmonics + 1) ** -1.0, np.zeros(harmonics))


def voices(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix) -> None:
    """Voiced speech: a glottal pulse comb gliding in pitch, three formants, syllables at
    ~4 Hz with pauses; shouts are louder and higher."""
    for level, chance, f0_range in ((62.0, 0.8, (100, 210)), (76.0, 0.25, (180, 320))):
        if g.random() >= chance * m.activity:
            continue
        f0 = g.uniform(*f0_range) * (1 + 0.1 * np.sin(2 * np.pi * g.uniform(0.3, 1) * fr.t))
        cycles = np.cumsum(f0) / fr.rate
        table = _glottal(P.harmonic_limit(float(f0.max()), fr.rate, 30))
        syll = np.abs(np.sin(2 * np.pi * g.uniform(1.6, 2.4) * fr.t + g.random() * 3))
        pause = P.envelope_ramp(fr.t, g.uniform(-0.5, 0.3), 0.05, g.uniform(0.6, 1.6), 0.05)
        spec = np.fft.rfft(P.play_comb(table, cycles) * syll ** 1.5 * pause)
        formants = sum(P.resonance(fr.f, g.uniform(*band), q)
                       for band, q in (((450, 800), 5), ((1100, 2000), 8), ((2400, 3100), 10)))
        mix.spec += P.scaled(spec * formants, fr.n, P.spl(level) * float(np.mean(pause)))


def radio(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix) -> None:
    """Pop music through a small speaker: three voices changing notes on the beat."""
    if not unit.radio or m.phase not in ("prep", "service", "closing"):
        return
    beat = 60.0 / _slot(unit, "tempo", fr.t_s, 200).uniform(90, 130)
    index = np.floor((fr.t + fr.t_s % beat) / beat).astype(int)
    table = _glottal(6)
    out = np.zeros(fr.n)
    for voice in range(3):
        notes = 220.0 * 2 ** (_PENTATONIC[g.integers(0, 8, index.max() + 1)] / 12.0) * \
            (2 ** (voice - 1))
        out += P.play_comb(table, np.cumsum(notes[index]) / fr.rate)
    spec = np.fft.rfft(out) * fr.band(180, 5000)
    mix.spec += P.scaled(spec, fr.n, P.spl(58.0))


def printer(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix) -> None:
    """A ticket printing: the stepper's whine for a second or two, then the cutter."""
    if m.phase != "service" or g.random() > 0.12 * m.activity:
        return
    at, length = g.uniform(-1.0, fr.n / fr.rate), g.uniform(1.0, 2.0)
    env = P.envelope_ramp(fr.t, at, 0.02, at + length, 0.02)
    step = g.uniform(400, 900)
    mix.time += P.spl(60.0) * 1.41 * env * np.sign(np.sin(2 * np.pi * step * fr.t)) * 0.5


def water(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix) -> None:
    """A sink running (episodes of tens of seconds) and the floor hosed at closing."""
    spray = fr.band(200, 10_000) * fr.pink(800, 0.4)
    if _slot(unit, "sink", fr.t_s, 40).random() < 0.5 * m.activity:
        mix.add_noise(spray, P.spl(64.0))
    if m.phase == "closing" and _slot(unit, "hose", fr.t_s, 300).random() < 0.6:
        mix.add_noise(spray, P.spl(76.0))


def dishwasher(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix) -> None:
    """A hood-type dishwasher's two-minute cycle: wash (pump, spray arms sweeping at ~1 Hz),
    drain (gurgle), rinse, racks changed."""
    busy = m.activity > 0.3 or m.phase == "closing"
    if not busy or _slot(unit, "dish", fr.t_s, 600).random() > 0.8:
        return
    phase = (fr.t_s + 37.0) % 120.0
    spray = fr.band(300, 9000) * fr.pink(600, 0.4)
    if phase < 75 or 88 <= phase < 105:
        arms = 1.0 + P.tone(1.2 * (fr.t + fr.t_s % 100.0), 0.5)
        mix.time += P.to_time(P.noise_spectrum(g, spray, P.spl(68.0)), fr.n) * arms
        mix.time += P.tone(2 * unit.mains_hz * fr.t, P.spl(55.0) * 1.41)
    elif phase < 88:
        gurgle = np.abs(P.tone(g.uniform(3, 8) * fr.t, 1.0)) ** 3
        mix.time += P.to_time(P.noise_spectrum(g, fr.band(100, 1500), P.spl(64.0)),
                              fr.n) * gurgle
    else:
        clatter(unit, m, fr, g, mix)


def combi_oven(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix) -> None:
    """The convection fan reverses every two minutes (a few seconds stopped in between)."""
    if m.phase not in ("prep", "service"):
        return
    phase = fr.t_s % 120.0
    if phase < 8.0:
        return
    f0 = unit.mains_hz / 2 * 0.93
    table = P.comb_table(np.array([0.2, 0.05, 0.02, 0.02, 0.02, 0.02, 1.0]), np.zeros(7))
    mix.time += P.spl(56.0) * P.play_comb(table, f0 * fr.t + g.random())
    mix.add_noise(fr.band(100, 3000), P.spl(55.0))


KITCHEN = (clatter, voices, radio, printer, water, dishwasher, combi_oven)
