"""What the dock's machines and people sound like, one event at a time.

Each maker draws an event's parameters from its own Generator and returns the event's length
and a renderer; the renderer gives the sound at times ``tau`` since the event started (levels
relative to the site's reference level), drawing any noise from the window's site stream.
The physics is kept simple but recognisable: electric truck traction motors whine with speed,
reversing beepers gate a kHz tone, dropped pallets thump and clatter, steel forks ring with
the inharmonic modes of a free bar, roller doors rattle as slats pass the rollers, dock
levellers run a hydraulic gear pump then drop their steel lip, and the PA and radios carry a
voice-like buzz (a glottal pulse train shaped by moving formants).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import dsp

Render = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
Sound = tuple[float, Render]
BAR_MODES = np.array([1.0, 2.756, 5.404, 8.933])  # free-free beam
VOWELS = ((800, 1200, 2500), (300, 2300, 3000), (500, 900, 2400), (400, 1900, 2600))


def _hp(x: np.ndarray) -> np.ndarray:
    """First difference: a cheap high-pass that turns noise into clatter and hiss."""
    return np.diff(x, prepend=x[:1]) if x.size else x


def _fade(tau: np.ndarray, dur: float, edge: float) -> np.ndarray:
    return np.clip(np.minimum(tau, dur - tau) / edge, 0.0, 1.0)


def forklift(p: np.random.Generator) -> Sound:
    """An electric forklift or reach truck passing: traction whine, inverter whine, tyres."""
    dur, f_m, amp = p.uniform(4, 12), p.uniform(40, 120), p.uniform(0.3, 1.5)
    whine, lift = p.uniform(3000, 7000), p.random() < 0.3
    pump = p.uniform(350, 550)

    def render(tau: np.ndarray, fs: float, g: np.random.Generator) -> np.ndarray:
        env = amp * _fade(tau, dur, 0.5) / (1 + ((tau - dur / 2) / (0.25 * dur)) ** 2)
        ph = 2 * np.pi * f_m * (tau - 0.4 * dur / np.pi * np.cos(np.pi * tau / dur))
        out = 0.6 * np.cos(ph) + 0.3 * np.cos(2 * ph + 1) + 0.15 * np.cos(3 * ph + 2)
        if whine < 0.45 * fs:
            out += 0.1 * np.cos(2 * np.pi * whine * tau + 0.5 * np.sin(ph))
        if lift and 3 * pump < 0.45 * fs:
            gate = (np.abs(tau - dur / 2) < dur / 5).astype(float)
            ph = 2 * np.pi * pump * tau
            out += gate * (0.4 * np.cos(ph) + 0.2 * np.cos(3 * ph))
        tyres = dsp.boxcar(g.standard_normal(tau.size), max(1, int(fs / 1500)))
        return env * (out + 0.6 * tyres)

    return dur, render


def beeper(p: np.random.Generator) -> Sound:
    """A reversing alarm: a gated tone, or the broadband 'white noise' kind."""
    dur, hz, amp = p.uniform(2, 6), p.uniform(1000, 1300), p.uniform(0.2, 1.0)
    period, broadband = p.uniform(0.8, 1.1), p.random() < 0.3

    def render(tau: np.ndarray, fs: float, g: np.random.Generator) -> np.ndarray:
        gate = np.clip(8 * np.sin(2 * np.pi * tau / period), 0.0, 1.0)
        if broadband:
            return amp * gate * 0.5 * _hp(g.standard_normal(tau.size))
        ph = 2 * np.pi * hz * tau
        out = np.sin(ph) + (0.3 * np.sin(3 * ph) if 3 * hz < 0.45 * fs else 0.0)
        return amp * gate * out

    return dur, render


def pallet(p: np.random.Generator) -> Sound:
    """A pallet set down hard: a floor thump, then wooden clatter with a bounce or two."""
    amp, thump = p.uniform(1.0, 10.0), p.uniform(50, 110)
    bounces = np.concatenate(([0.0], np.sort(p.uniform(0.03, 0.2, 2))))
    weights = np.array([1.0, p.uniform(0.2, 0.6), p.uniform(0.1, 0.3)])

    def render(tau: np.ndarray, fs: float, g: np.random.Generator) -> np.ndarray:
        low = np.where(tau >= 0, np.exp(-tau / 0.05) * np.sin(2 * np.pi * thump * tau), 0.0)
        env = sum(w * np.where(tau >= b, np.exp(-(tau - b) / 0.015), 0.0)
                  for b, w in zip(bounces, weights, strict=True))
        return amp * (low + 0.5 * env * _hp(g.standard_normal(tau.size)))

    return 0.6, render


def clank(p: np.random.Generator) -> Sound:
    """Steel forks or a cage striking something: ringing bar modes, sometimes twice."""
    f0, amp = p.uniform(300, 900), p.uniform(0.5, 3.0)
    decays = np.array([0.25, 0.15, 0.08, 0.05]) * p.uniform(0.6, 1.5)
    amps = np.array([1.0, 0.7, 0.5, 0.3]) * amp
    again, gap = p.random() < 0.4, p.uniform(0.1, 0.3)

    def render(tau: np.ndarray, fs: float, g: np.random.Generator) -> np.ndarray:
        hz = f0 * BAR_MODES
        out = dsp.partials(tau, hz, decays, amps, fs)
        if again:
            out += 0.5 * dsp.partials(tau - gap, hz, decays, amps, fs)
        return out

    return 1.2, render


def roller_door(mains_hz: float) -> Callable[[np.random.Generator], Sound]:
    """A fast-acting roller door opening or closing: motor hum, slat rattle, end thud."""

    def make(p: np.random.Generator) -> Sound:
        dur, amp, slats = p.uniform(1.5, 3.0), p.uniform(0.3, 1.0), p.uniform(12, 25)

        def render(tau: np.ndarray, fs: float, g: np.random.Generator) -> np.ndarray:
            run = _fade(tau, dur - 0.1, 0.15)
            hum = np.cos(4 * np.pi * mains_hz * tau) + 0.4 * np.cos(8 * np.pi * mains_hz * tau)
            rattle = (0.5 + 0.5 * np.cos(2 * np.pi * slats * tau)) ** 3
            noise = _hp(g.standard_normal(tau.size))
            thud = np.where(tau >= dur - 0.1, np.exp(-(tau - dur + 0.1) / 0.04), 0.0)
            body = thud * np.sin(2 * np.pi * 75 * tau)
            return amp * (run * (0.3 * hum + 0.6 * rattle * noise) + 1.5 * body)

        return dur, render

    return make


def leveller(p: np.random.Generator) -> Sound:
    """A dock leveller: hydraulic pump whine while the deck rises, then the lip drops."""
    pump, amp, drop = p.uniform(250, 450), p.uniform(0.3, 1.0), p.uniform(2.0, 3.5)
    lip = p.uniform(150, 350) * np.array([1.0, 2.3, 3.9])

    def render(tau: np.ndarray, fs: float, g: np.random.Generator) -> np.ndarray:
        run = _fade(tau, drop, 0.2)
        ph = 2 * np.pi * pump * tau
        whine = np.cos(ph) + 0.5 * np.cos(2 * ph) + (0.3 * np.cos(3 * ph) if 3 * pump < 0.45 * fs
                                                     else 0.0)
        clang = dsp.partials(tau - drop, lip, np.array([0.3, 0.2, 0.1]),
                             np.array([3.0, 2.0, 1.0]), fs)
        return amp * (0.3 * run * whine + clang)

    return drop + 1.5, render


def _voice(p: np.random.Generator, lo: float, hi: float) -> Callable[[np.ndarray], np.ndarray]:
    """A voice-like buzz: pitch wandering, two vowels cross-faded, syllables at ~4 Hz."""
    f0 = p.uniform(100, 220)
    k = np.arange(1, int(hi / f0) + 1)
    tables = []
    for v in p.choice(len(VOWELS), 2, replace=False):
        weights = sum(np.exp(-(((k * f0) - fm) / 120.0) ** 2) for fm in VOWELS[int(v)])
        weights = weights * (k * f0 > lo) / np.sqrt(k)
        tables.append(dsp.table(weights, p.uniform(0, 2 * np.pi, k.size)))
    syll, phase = p.uniform(3.5, 5.0), p.uniform(0, 2 * np.pi)

    def say(tau: np.ndarray) -> np.ndarray:
        cycles = f0 * (tau - 0.08 / np.pi * np.cos(np.pi * tau))
        mix = 0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * tau + phase)
        buzz = mix * dsp.lookup(tables[0], cycles) + (1 - mix) * dsp.lookup(tables[1], cycles)
        s = np.maximum(np.sin(2 * np.pi * syll * tau + 0.8 * np.sin(2 * np.pi * 0.7 * tau)), 0)
        return buzz * s**1.5

    return say


def announcement(p: np.random.Generator) -> Sound:
    """A PA announcement: a two-tone chime, then a voice through horn loudspeakers."""
    dur, amp = p.uniform(4, 10), p.uniform(0.5, 2.0)
    chime = p.uniform(500, 800) * np.array([1.0, 0.8])
    say = _voice(p, 250.0, 5000.0)

    def render(tau: np.ndarray, fs: float, g: np.random.Generator) -> np.ndarray:
        ding = sum(dsp.partials(tau - 0.5 * i, np.array([hz, 2 * hz]), np.array([0.6, 0.3]),
                                np.array([1.0, 0.3]), fs) for i, hz in enumerate(chime))
        talk = np.where(tau > 1.5, say(tau - 1.5), 0.0) * _fade(tau, dur, 0.3)
        return amp * (0.6 * ding + talk)

    return dur, render


def radio(p: np.random.Generator) -> Sound:
    """A two-way radio: key-up click, narrow-band voice, squelch tail."""
    dur, amp = p.uniform(1.0, 4.0), p.uniform(0.2, 0.8)
    say = _voice(p, 300.0, 3000.0)

    def render(tau: np.ndarray, fs: float, g: np.random.Generator) -> np.ndarray:
        squelch = np.where(tau > dur - 0.2, 0.4, 0.0) * _hp(g.standard_normal(tau.size))
        click = np.where(tau < 0.003, 1.0, 0.0)
        return amp * (say(tau) * (tau < dur - 0.2) + squelch + click)

    return dur, render
