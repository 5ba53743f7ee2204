"""Individual sounds of the brewery, each added into a window at its own level.

Levels are dBFS at the box for a box fully exposed to the cellar; a box in a closed plant room
hears them through `site_exposure`. Every sound draws from its own keyed generator, so the
healthy and the faulty twin of a window hear the same cellar.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .dsp import (
    add_at,
    band,
    cycles,
    db,
    harmonic_table,
    lookup,
    poisson_offsets,
    rfft_freqs,
    shaped_noise,
    smooth_random,
    struck_modes,
    table_index,
)
from .frame import Frame
from .keys import rng_for


class SiteMix:
    """The window being filled, with keyed generators and lazily drawn noise beds."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.out = np.zeros(frame.n)
        self.exposure = frame.unit.site_exposure
        self._beds: dict[str, np.ndarray] = {}

    def rng(self, name: str) -> np.random.Generator:
        unit = self.frame.unit
        return rng_for("site", name, unit.device_id, unit.seed, self.frame.key)

    def bed(self, name: str, lo: float, hi: float) -> np.ndarray:
        """A unit-RMS noise bed for the window (drawn once, shared by that band's sounds)."""
        if name not in self._beds:
            shape = band(rfft_freqs(self.frame.n, self.frame.rate), lo, hi, 2)
            self._beds[name] = shaped_noise(self.rng("bed" + name), self.frame.n, shape, 1.0)
        return self._beds[name]

    def add_struck(self, rng: np.random.Generator, per_s: float, modes: tuple[float, ...],
                   decays: tuple[float, ...], level_db: float, spread: float) -> None:
        """Impacts at random moments, each a struck object with slightly varying pitch."""
        rate = self.frame.rate
        for at in poisson_offsets(rng, per_s, self.frame.n / rate):
            pitch = rng.uniform(1.0 - spread, 1.0 + spread)
            amps = tuple(float(a) for a in rng.uniform(0.3, 1.0, len(modes)))
            seg = struck_modes(rate, tuple(m * pitch for m in modes), decays, amps,
                               min(4.0 * max(decays), 1.0))
            add_at(self.out, int(at * rate), db(level_db) * rng.uniform(0.2, 1.0) * seg)


def solenoid_clicks(mix: SiteMix) -> None:
    """Glycol solenoids on fermenter jackets: a sharp clack on opening and on closing."""
    rng = mix.rng("solenoid")
    per_s = 1.0 / 8.0 if mix.frame.op.activity.staffed else 1.0 / 20.0
    # Valves hang on every fermenter, some near even a closed plant room: half the dB exposure.
    mix.add_struck(rng, per_s, (2200.0, 3700.0, 5400.0, 900.0), (0.004, 0.003, 0.002, 0.01),
                   -38.0 + 10 * math.log10(mix.exposure), 0.15)


def keg_washer(mix: SiteMix) -> None:
    """Pneumatic valves venting (hiss bursts) and steel kegs clanging on the washer's rails."""
    rng = mix.rng("keg")
    rate = mix.frame.rate
    hiss = mix.bed("hi", 2500.0, 9000.0)
    for at in poisson_offsets(rng, 0.4, mix.frame.n / rate):
        length = int(rng.uniform(0.15, 0.6) * rate)
        start = int(at * rate)
        lo, hi = max(start, 0), min(start + length, mix.frame.n)
        if lo < hi:
            decay = np.exp(-np.arange(hi - start)[lo - start:] / (0.4 * length))
            mix.out[lo:hi] += db(-36.0) * mix.exposure * decay * hiss[lo:hi]
    mix.add_struck(rng, 0.2, (520.0, 1390.0, 2650.0, 4100.0), (0.6, 0.35, 0.2, 0.12),
                   -30.0 + 20 * math.log10(mix.exposure), 0.08)


def canning_line(mix: SiteMix) -> None:
    """Cans clinking against each other on the conveyor, and the conveyor chain's rattle."""
    rng = mix.rng("cans")
    mix.add_struck(rng, 7.0, (3100.0, 5200.0, 7400.0), (0.01, 0.007, 0.005),
                   -46.0 + 20 * math.log10(mix.exposure), 0.1)
    rattle = smooth_random(rng, mix.frame.n, 40) ** 2
    mix.out += db(-52.0) * mix.exposure * rattle * mix.bed("mid", 250.0, 4000.0)


def cip_spray(mix: SiteMix) -> None:
    """A rotating spray ball inside a tank: water drumming on steel, swelling as it turns."""
    rng = mix.rng("cip")
    turn = rng.uniform(0.4, 1.2)
    swell = 0.65 + 0.35 * np.cos(2 * np.pi * cycles(turn, mix.frame.t_s, mix.frame.t))
    mix.out += db(-47.0) * mix.exposure * swell * mix.bed("mid", 250.0, 4000.0)


def hose_and_drain(mix: SiteMix) -> None:
    """Someone hosing the floor: hiss of the nozzle and the gurgle of the floor drain."""
    rng = mix.rng("hose")
    if rng.random() > 0.2:
        return
    gurgle = smooth_random(rng, mix.frame.n, 14) ** 3
    mix.out += db(-50.0) * mix.exposure * gurgle * mix.bed("mid", 250.0, 4000.0)
    mix.out += db(-48.0) * mix.exposure * rng.uniform(0.3, 1.0) * mix.bed("hi", 2500.0, 9000.0)


def forklift(mix: SiteMix) -> None:
    """A forklift reversing past: tonal beeper (on a quarter-second cadence) and motor whine."""
    rng = mix.rng("forklift")
    if rng.random() > 0.07:
        return
    t = mix.frame.t
    tone = rng.uniform(950.0, 1250.0)
    gate = cycles(2.0, mix.frame.t_s, t) % 1.0 < 0.5
    beep = np.sin(2 * np.pi * tone * t) + 0.3 * np.sin(2 * np.pi * 3 * tone * t)
    whine = np.sin(2 * np.pi * rng.uniform(350.0, 800.0) * (t + 0.05 * t**2))
    level = db(-36.0) * mix.exposure * rng.uniform(0.15, 1.0)
    mix.out += level * (gate * beep + 0.2 * whine)


def _voiced(rate: int, n: int, rng: np.random.Generator, pitch: float) -> np.ndarray:
    """A talker: glottal harmonics shaped by two formants, with intonation and syllables."""
    harmonics = max(2, min(30, int(0.45 * rate / (1.3 * pitch))))
    k = np.arange(harmonics + 1, dtype=np.float64)
    f1, f2 = rng.uniform(300, 800), rng.uniform(900, 2300)
    env = 1.0 / (1.0 + ((k * pitch - f1) / 150) ** 2) + 0.6 / (1.0 + ((k * pitch - f2) / 250) ** 2)
    coeffs = (env / np.maximum(k, 1.0)).astype(np.complex128)
    table = harmonic_table(coeffs / math.sqrt(float(np.sum(coeffs[1:] ** 2).real) / 2), 1024)
    t = np.arange(n) / rate
    f0 = pitch * (1.0 + 0.12 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 6)))
    voice = lookup(table, table_index(np.cumsum(f0) / rate, 1024))
    syllables = np.clip(np.sin(2 * np.pi * rng.uniform(3.5, 5.5) * t + rng.uniform(0, 6)), 0, 1)
    return voice * syllables * (smooth_random(rng, n, 6) > 0.9)


def voices(mix: SiteMix) -> None:
    rng = mix.rng("voices")
    if rng.random() > 0.3:
        return
    voice = _voiced(mix.frame.rate, mix.frame.n, rng, rng.uniform(95.0, 240.0))
    mix.out += db(-44.0) * mix.exposure * rng.uniform(0.2, 1.0) * voice


@lru_cache(maxsize=8)
def _chord_table() -> np.ndarray:
    """A major chord in just intonation (4:5:6:8) is harmonics of a quarter of its root."""
    coeffs = np.zeros(9, dtype=np.complex128)
    coeffs[[4, 5, 6, 8]] = [1.0, 0.8, 0.7, 0.5]
    return harmonic_table(coeffs, 2048)


def radio(mix: SiteMix) -> None:
    """A radio on a shelf playing music: a chord changing every two seconds, a kick on the beat."""
    rng = mix.rng("radio")
    frame = mix.frame
    chord = rng_for("chord", frame.unit.seed, math.floor(frame.t_s / 2.0))
    root = 110.0 * 2.0 ** (int(chord.integers(0, 12)) / 12.0)
    music = lookup(_chord_table(), table_index(cycles(root / 4.0, frame.t_s, frame.t), 2048))
    kick = struck_modes(frame.rate, (60.0, 120.0), (0.06, 0.03), (1.0, 0.5), 0.25)
    beats = np.arange(math.ceil(frame.t_s * 2.0), (frame.t_s + frame.n / frame.rate) * 2.0)
    for beat in beats:
        add_at(music, int((beat / 2.0 - frame.t_s) * frame.rate), 2.0 * kick)
    mix.out += db(-56.0) * mix.exposure * rng.uniform(0.7, 1.0) * music
