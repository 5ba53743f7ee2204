"""The machine room around the monitored compressor: the other compressors on the rack,
the condenser fans on the roof, ventilation, pipework and the oil separator, occasional
events (a radio, controller beeps, a door), the concrete room's reverberation and the
microphone (gain, self-noise, PCM16)."""

from __future__ import annotations

import numpy as np

from gateway.devtools.rackhall.operation import Moment
from gateway.devtools.rackhall.pieces import (
    band_shape,
    cached,
    freqs,
    harmonic_series,
    low_rate,
    rng_for,
    shaped_noise,
    upsample,
)
from gateway.devtools.rackhall.units import Unit


def _shapes(unit: Unit, n: int, rate: int) -> tuple:
    """Fixed spectra of the far sources: neighbours' gas, ventilation, fans, pipework."""
    def make():
        f = freqs(n, rate)
        return (band_shape(f, 150, 7000, -3.0), band_shape(f, 40, 1500, -4.0),
                band_shape(f, 20, 300, -6.0), band_shape(f, 800, 6000, 0.0))
    return cached(unit.cache, ("room", n, rate), make)


def neighbours(unit: Unit, m: Moment, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Each running neighbour: a short comb at its speed (its gas noise is in ambience)."""
    factor, lo_rate = low_rate(rate)
    t = np.arange(n // factor) / lo_rate
    low = np.zeros(len(t))
    for other, hz in m.neighbours_on:
        orders = np.arange(1, 16)
        amps = 0.012 * other.level * orders ** -0.7
        amps[other.cylinders - 1::other.cylinders] *= 2.5
        low += harmonic_series(t, hz, amps, rng.uniform(0, 2 * np.pi, 15))
    return upsample(low, n)


def ambience(unit: Unit, m: Moment, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """The neighbours' gas noise, ventilation (low-pass broadband), roof fans through the slab
    (rumble and blade pass), refrigerant flowing in the headers."""
    gas, vent, fan, pipes = _shapes(unit, n, rate)
    level = sum(o.level for o, _ in m.neighbours_on)
    shape = (gas * 0.01 * level + vent * unit.vent_level * 3 + fan * 0.002 * np.sqrt(m.fans_on)
             + pipes * 0.0015 * (0.5 + m.load / unit.rack_size))
    out = shaped_noise(rng, n, rate, shape)
    blade = m.fan_hz * unit.fan_blades
    out += 0.002 * np.sqrt(m.fans_on) * np.sin(2 * np.pi * blade * np.arange(n) / rate
                                                + rng.uniform(0, 6.3))
    return out


def _burst(n: int, rate: int, rng: np.random.Generator, shape: np.ndarray,
           seconds: float) -> np.ndarray:
    start, length = int(rng.uniform(0, n)), int(seconds * rate)
    gate = np.zeros(n)
    gate[start:start + length] = np.hanning(min(length, n - start) + 2)[1:-1] ** 0.3
    return shaped_noise(rng, n, rate, shape) * gate


def events(unit: Unit, m: Moment, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Non-fault events drawn per window: the technician's radio (day shift), a controller
    beep, a door, the oil separator's float returning oil."""
    f, t = freqs(n, rate), np.arange(n) / rate
    out = np.zeros(n)
    draws = rng.random(4)
    day = 7 <= m.hour < 18
    if draws[0] < (0.12 if day else 0.01):  # speech/music: band 300-3400 Hz, syllables
        syllables = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6))
        out += shaped_noise(rng, n, rate, band_shape(f, 300, 3400, -2.0)) * 0.006 * syllables
    if draws[1] < 0.03:  # a controller's beep
        start = rng.uniform(0, 0.8)
        gate = (t > start) & (t < start + 0.12)
        out += 0.01 * np.sin(2 * np.pi * rng.choice((2000.0, 2730.0, 3150.0)) * t) * gate
    if draws[2] < (0.03 if day else 0.005):  # a door: a thud and its rattle
        out += _burst(n, rate, rng, band_shape(f, 40, 600, -6.0), 0.15) * 0.05
    if draws[3] < 0.04:  # oil return from the separator: a short hiss
        out += _burst(n, rate, rng, band_shape(f, 1500, 9000, 0.0), 0.8) * 0.004
    return out


def reverb_response(unit: Unit, n: int, rate: int, channel: int) -> np.ndarray:
    """The room's response folded onto the window (steady sound is periodic enough), as an
    rfft multiplier, unit energy; high frequencies decay faster (air and absorbers)."""
    key = ("reverb", n, rate, channel)
    if key not in unit.cache:
        rng = rng_for("reverb", unit.device_id, unit.seed, n, rate, channel)
        length = int(unit.rt60_s * rate)
        tail = rng.standard_normal(length) * np.exp(-6.91 * np.arange(length) / length)
        folded = np.zeros(n)
        for start in range(0, length, n):
            piece = tail[start:start + n]
            folded[: len(piece)] += piece
        f = freqs(n, rate)
        response = np.fft.rfft(folded) / np.sqrt(np.sum(tail ** 2))
        unit.cache[key] = response / (1 + (f / (6000 / unit.rt60_s)) ** 2)
    return unit.cache[key]


def microphone(unit: Unit, direct: np.ndarray, far: np.ndarray, rate: int,
               rng: np.random.Generator) -> np.ndarray:
    """Direct sound plus the room's reverberation of everything, per channel; gain (no AGC),
    self-noise, clipping and PCM16 steps. (frames,) or (frames, 2)."""
    n = len(direct)
    spectrum = np.fft.rfft(0.4 * direct + far)
    channels = []
    for ch in range(unit.channels):
        wet = np.fft.irfft(spectrum * reverb_response(unit, n, rate, ch), n)
        near = direct * (1.0 if ch == 0 else 0.8)
        channels.append((near + wet) * unit.mic_gain + rng.normal(0, 3e-5, n))
    x = np.clip(np.stack(channels, axis=1) if unit.channels == 2 else channels[0], -1, 1)
    return (np.round(x * 32767) / 32767).astype(np.float32)
