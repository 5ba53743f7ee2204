"""The sales floor around the case: shoppers, checkouts, music, doors, cleaning, deliveries.

Everything here is diffuse room sound (heard by both capsules, decorrelated at high
frequencies) except a bottle cooler's own glass door. Levels follow the store's day: babble and
footsteps and trolleys scale with the crowd, music and announcements play during opening hours,
the floor scrubber works the aisles after closing, roll cages rattle in at dawn; at night the
ventilation's rumble and the cases themselves are left.
"""

from __future__ import annotations

import numpy as np

from . import store_day
from .mix import Mix
from .seeding import uniform
from .spectral import (
    build_wavetable,
    coloured_noise,
    cycles_at,
    read_table,
    resonance,
    ringing,
    wavetable,
)
from .units import Unit


def _events(rng: np.random.Generator, rate_per_s: float, seconds: float) -> int:
    return int(rng.poisson(rate_per_s * seconds))


def _gate(times: np.ndarray, start: float, length: float, attack: float = 0.01) -> np.ndarray:
    """0-1 envelope of an event from start for length seconds with soft edges."""
    rise = np.clip((times - start) / attack, 0.0, 1.0)
    fall = np.clip((start + length - times) / attack, 0.0, 1.0)
    return rise * fall


def ventilation(mix: Mix, rng: np.random.Generator) -> None:
    """Store HVAC and lighting: a low rumble that never stops."""
    mix.add_noise(mix.band(30.0, 400.0, order=1), 0.0015, near=False)


def babble(mix: Mix, rng: np.random.Generator, crowd: float) -> None:
    """Many distant voices: speech-shaped noise with a slow, irregular loudness."""
    gain = mix.band(200.0, 3500.0, order=1) * (1.0 + resonance(mix.freqs, 500.0, 1.5))
    noise = coloured_noise(rng, mix.frames, gain / np.sqrt(np.mean(gain**2)))
    seconds = mix.frames / mix.rate
    knots = rng.uniform(0.6, 1.4, int(seconds * 4) + 2)
    envelope = np.interp(mix.times, np.linspace(0, seconds, knots.size), knots)
    mix.add_wave(noise * envelope * 0.03 * crowd**0.7, near=False)


def talkers(mix: Mix, rng: np.random.Generator, crowd: float) -> None:
    """Shoppers talking close by: a voiced source (harmonics of a 90-250 Hz pitch) through
    formants, in syllables at 4-6 per second."""
    seconds = mix.frames / mix.rate
    for _ in range(_events(rng, 1.2 * crowd, seconds)):
        f0 = rng.uniform(90.0, 250.0)
        formants = rng.uniform([400, 1100, 2300], [850, 1900, 3000])
        k = np.arange(1, int(min(4000.0, 0.45 * mix.rate) / f0))
        amps = sum(1.0 / (1.0 + ((k * f0 - f) / 150.0) ** 2) for f in formants) / k**0.5
        table = build_wavetable(tuple(amps), tuple(np.zeros(k.size)))
        vibrato = 0.03 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * mix.times)
        cycles = np.cumsum(f0 * (1.0 + vibrato)) / mix.rate
        syllables = np.clip(np.sin(2 * np.pi * rng.uniform(4.0, 6.0) * mix.times
                                   + rng.uniform(0, 6.3)), 0.0, None)  # fmt: skip
        start, length = rng.uniform(-0.5, seconds), rng.uniform(0.5, 2.0)
        level = 0.04 * rng.uniform(0.2, 1.0)
        mix.add_wave(read_table(table, cycles) * syllables * _gate(mix.times, start, length)
                     * level, near=False)  # fmt: skip


def footsteps_and_trolleys(mix: Mix, rng: np.random.Generator, crowd: float) -> None:
    """Heels on tiles (a thump and a click), trolley wheels and baskets rattling past."""
    seconds = mix.frames / mix.rate
    steps = np.zeros(mix.frames)
    count = _events(rng, 4.0 * crowd, seconds)
    np.add.at(steps, rng.integers(0, mix.frames, count), rng.uniform(0.004, 0.025, count))
    for _ in range(_events(rng, 0.4 * crowd, seconds)):  # a trolley: a burst of rattles
        start, length = rng.uniform(0, seconds), rng.uniform(0.3, 1.5)
        n = int(length * rng.uniform(40, 120))
        at = ((start + rng.uniform(0, length, n)) * mix.rate).astype(np.int64) % mix.frames
        np.add.at(steps, at, rng.uniform(0.002, 0.01, n) * rng.choice([-1.0, 1.0], n))
    gain = ringing(mix.freqs, 120.0, 1.5) + 0.6 * ringing(mix.freqs, 2500.0, 3.0)
    mix.add_impacts(steps, gain, near=False)


def checkout_beeps(unit: Unit, mix: Mix, rng: np.random.Generator, crowd: float) -> None:
    """Scanner beeps from the tills: short tones at the store's beep pitch, far away."""
    seconds = mix.frames / mix.rate
    pitch = 1800.0 + 1400.0 * uniform("beep", unit.store_kind, unit.utc_offset_h)
    if pitch > 0.45 * mix.rate:
        return
    tone = np.sin(2 * np.pi * pitch * mix.times)
    for _ in range(_events(rng, 1.5 * crowd, seconds)):
        gate = _gate(mix.times, rng.uniform(0, seconds), 0.08, attack=0.003)
        mix.add_wave(tone * gate * 0.004 * rng.uniform(0.3, 1.0), near=False)


def music(unit: Unit, mix: Mix, t_s: float) -> None:
    """In-store music from ceiling speakers: a chord every two seconds, soft, band-limited.
    A justly tuned major chord (4:5:6:8 over a root) is one harmonic series of a quarter of
    the root, so the whole chord with its notes' partials is read from one wavetable."""
    chord_index = int(float(t_s) // 2.0)
    root = 110.0 * 2 ** (int(uniform("chord", unit.store_kind, chord_index) * 12) / 12)
    since = (float(t_s) % 2.0) + mix.times
    wave = read_table(_chord_table(), cycles_at(t_s, mix.frames, mix.rate, root / 4.0))
    mix.add_wave(wave * np.exp(-since / 1.2) * 0.0025, near=False)


def _chord_table() -> np.ndarray:
    partials = (1.0, 0.5, 0.3, 0.15, 0.1)
    amps = np.zeros(40)
    for note in (4, 5, 6, 8):
        for k, a in enumerate(partials, start=1):
            amps[note * k - 1] += a
    return wavetable(tuple(float(a) for a in amps), tuple(0.37 * i % 6.28 for i in range(40)))


def announcement(unit: Unit, mix: Mix, t_s: float, rng: np.random.Generator) -> None:
    """A PA announcement in the first 12 s of some ten-minute slots: a chime, then a voice."""
    slot = int(float(t_s) // 600.0)
    since = float(t_s) % 600.0
    if since > 12.0 or uniform("announce", unit.store_kind, slot) > 0.3:
        return
    chime = np.sin(2 * np.pi * 880.0 * mix.times) * np.exp(-(since + mix.times) / 0.4)
    mix.add_wave(chime * 0.01 * (since < 2.0), near=False)
    if since > 1.0:
        gain = mix.band(300.0, 3500.0, order=2) * (1 + resonance(mix.freqs, 1000, 1.0))
        voice = coloured_noise(rng, mix.frames, gain / np.sqrt(np.mean(gain**2)))
        syll = np.clip(np.sin(2 * np.pi * 4.5 * (since + mix.times)), 0, None)
        mix.add_wave(voice * syll * 0.012, near=False)


def entrance_door(mix: Mix, t_s: float, rng: np.random.Generator, crowd: float) -> None:
    """The automatic sliding doors at the entrance, down the aisle: the operator's motor
    whining up and down as a shopper passes."""
    seconds = mix.frames / mix.rate
    table = wavetable((1.0, 0.4, 0.25), (0.0, 0.5, 1.0))
    for _ in range(_events(rng, 0.12 * crowd, seconds)):
        start = rng.uniform(-1.0, seconds)
        motor = read_table(table, cycles_at(t_s, mix.frames, mix.rate, rng.uniform(150, 230)))
        mix.add_wave(motor * _gate(mix.times, start, 1.2, attack=0.2) * 0.003, near=False)


def bottle_door(unit: Unit, mix: Mix, rng: np.random.Generator, crowd: float) -> None:
    """A shopper opening this cooler's glass door: the seal's thump and bottles clinking."""
    if unit.case_kind != "bottle_cooler":
        return
    seconds = mix.frames / mix.rate
    hits = np.zeros(mix.frames)
    for _ in range(_events(rng, 0.08 * crowd, seconds)):
        at = int(rng.uniform(0, seconds) * mix.rate)
        hits[at] += 0.06
        clinks = (at + rng.uniform(0.05, 0.6, 4) * mix.rate).astype(np.int64) % mix.frames
        hits[clinks] += rng.uniform(0.01, 0.03, 4)
    if hits.any():
        gain = ringing(mix.freqs, 90.0, 2.0) + ringing(mix.freqs, 4200.0, 30.0)
        mix.add_impacts(hits, gain, near=True)


def scrubber(mix: Mix, t_s: float, rng: np.random.Generator, nearness: float) -> None:
    """A ride-on floor scrubber: brush motor harmonics, vacuum blower whine and broadband."""
    table = wavetable((1.0, 0.6, 0.4, 0.2), (0.0, 1.0, 2.0, 3.0))
    motor = read_table(table, cycles_at(t_s, mix.frames, mix.rate, 24.5))
    blower = np.sin(2 * np.pi * cycles_at(t_s, mix.frames, mix.rate, 410.0))
    mix.add_wave((motor * 0.02 + blower * 0.01) * nearness, near=False)
    mix.add_noise(mix.band(100.0, 6000.0, order=1), 0.03 * nearness, near=False)


def deliveries(mix: Mix, rng: np.random.Generator, activity: float) -> None:
    """Roll cages rolling in over the floor joints: rattles and the odd bang."""
    seconds = mix.frames / mix.rate
    hits = np.zeros(mix.frames)
    n = _events(rng, 60.0 * activity, seconds)
    np.add.at(hits, rng.integers(0, mix.frames, n), rng.uniform(0.004, 0.02, n))
    if rng.random() < 0.2 * activity:
        hits[rng.integers(0, mix.frames)] += 0.12
    gain = ringing(mix.freqs, 200.0, 2.0) + ringing(mix.freqs, 1800.0, 6.0)
    mix.add_impacts(hits, gain, near=False)


def sales_floor(unit: Unit, mix: Mix, t_s: float, rng: np.random.Generator) -> None:
    """All of the room's sound for this window, by the store's time of day."""
    ventilation(mix, rng)
    crowd = store_day.crowd(unit, t_s)
    if crowd > 0:
        babble(mix, rng, crowd)
        talkers(mix, rng, crowd)
        footsteps_and_trolleys(mix, rng, crowd)
        checkout_beeps(unit, mix, rng, crowd)
        bottle_door(unit, mix, rng, crowd)
        entrance_door(mix, t_s, rng, crowd)
    if store_day.is_open(unit, t_s):
        music(unit, mix, t_s)
        announcement(unit, mix, t_s, rng)
    nearness = store_day.scrubber_nearness(unit, t_s)
    if nearness > 0:
        scrubber(mix, t_s, rng, nearness)
    activity = store_day.delivery_activity(unit, t_s)
    if activity > 0:
        deliveries(mix, rng, activity)
