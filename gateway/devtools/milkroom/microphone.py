"""The sensor box's microphone: room, distance, MEMS response, gain, noise, PCM16.

The machine and the farm reach the mic along different paths (the machine across the
milk room, the farm through walls and the door), so each group gets its own room response.
A stereo box has a second capsule a little further or nearer: its own gain and delay.
The MEMS capsule adds its vent high-pass and port resonance, self-noise and a DC offset;
the ADC clips loud sound and quantises to 16 bits.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import dsp
from .seeding import stream
from .units import Unit

FULL = 32768.0


def _ripple(f: np.ndarray, seed: int, depth_db: float) -> np.ndarray:
    """A smooth random +-depth dB ripple over log frequency: room modes and reflections."""
    r = stream(seed, "ripple")
    knots = np.linspace(np.log(20.0), np.log(max(f[-1], 21.0)), 24)
    gains_db = r.uniform(-depth_db, depth_db, knots.size)
    return np.asarray(10.0 ** (np.interp(np.log(np.maximum(f, 20.0)), knots, gains_db) / 20.0))


@lru_cache(maxsize=256)
def responses(unit: Unit, n: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per channel: (machine path, farm path) complex responses on the rfft grid."""
    mic, rate = unit.mic, unit.audio_rate
    f = dsp.freqs(n, rate)
    capsule = (f / mic.highpass_hz) ** 2 / np.sqrt(1 + (f / mic.highpass_hz) ** 4)
    capsule = capsule * (1.0 + 0.6 * dsp.resonance(f, mic.peak_hz, mic.peak_q))
    air = np.exp(-f * mic.distance_m * 2e-5)  # air absorption and near-field roll-off
    gain = dsp.db(mic.gain_db)
    machine = capsule * air * _ripple(f, mic.room_seed, 3.0) * gain
    farm = capsule * _ripple(f, mic.room_seed + 1, 4.0) * gain
    out = [(machine.astype(complex), farm.astype(complex))]
    if mic.stereo:
        shift = np.exp(-2j * np.pi * f * mic.channel2_delay_s) * dsp.db(mic.channel2_db)
        out.append((machine * shift * _ripple(f, mic.room_seed + 2, 1.5),
                    farm * shift * _ripple(f, mic.room_seed + 3, 2.0)))
    return tuple(out)


def render(unit: Unit, machine: np.ndarray, farm: np.ndarray, n: int,
           r: np.random.Generator) -> np.ndarray:
    """Source spectra (machine, farm) of n frames -> float32 samples on the PCM16 grid."""
    channels = []
    for hm, hf in responses(unit, n):
        x = np.fft.irfft(machine * hm + farm * hf, n)
        x += r.standard_normal(n) * dsp.db(unit.mic.self_noise_db) + unit.mic.dc
        channels.append(x)
    y = np.stack(channels, axis=1) if len(channels) > 1 else channels[0]
    return quantise(y)


def quantise(x: np.ndarray) -> np.ndarray:
    """Clip as the ADC does and round to the 16-bit grid, kept as float32 (exact)."""
    codes = np.clip(np.rint(x * FULL), -FULL, FULL - 1.0)
    return (codes / FULL).astype(np.float32)
