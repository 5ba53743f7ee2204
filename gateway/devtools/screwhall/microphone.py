"""The concrete room and the sensor box's microphone: what arrives at the capsule (the
compressor's direct sound at 0.5-2 m plus the reverberant field of everything, with RT60
0.8-2.2 s), the capsule's band, the low fixed gain set for a 90-100 dB room, the box's
self-noise and PCM16 quantisation, mono or a stereo pair.

The reverberation is a circular convolution in the frequency domain with an exponentially
decaying noise response: a window is a snapshot of a steady process, so its own wrapped tail
stands in for the tail of the seconds before it.
"""

from __future__ import annotations

import numpy as np

from gateway.devtools.screwhall.pieces import band, noise_spectrum, pcm16, rng_for
from gateway.devtools.screwhall.units import Unit

CRITICAL_DISTANCE_M = 1.4  # direct = reverberant energy at this distance in such a room
FAR_DIRECT = 0.35  # the rest of the room reaches the microphone mostly reverberant


def _reverb(unit: Unit, n: int, rate: int, channel: int) -> np.ndarray:
    key = ("reverb", n, rate, channel)
    if key not in unit.cache:
        rng = rng_for("screwhall-room", unit.device_id, unit.seed, channel)
        t = np.arange(n) / rate
        ir = rng.standard_normal(n) * np.exp(-6.9 * t / unit.rt60_s)
        ir[: int(0.004 * rate)] = 0.0  # the first reflections come after the direct sound
        ir /= np.sqrt(np.sum(ir ** 2))
        unit.cache[key] = np.fft.rfft(ir)
    return unit.cache[key]


def _capsule(unit: Unit, n: int, rate: int) -> np.ndarray:
    key = ("capsule", n, rate)
    if key not in unit.cache:
        freqs = np.fft.rfftfreq(n, 1 / rate)
        unit.cache[key] = band(freqs, 35.0, min(12_000.0, 0.42 * rate), 3.0)
    return unit.cache[key]


def capture(unit: Unit, t_s: float, near: np.ndarray, near_shape: np.ndarray,
            far: np.ndarray, far_shape: np.ndarray, gain_drift: float) -> np.ndarray:
    """Pascals at the sources (near: the compressor at 1 m, far: the room) to the box's
    samples, float32 on PCM16 steps, (frames,) or (frames, 2)."""
    n, rate = near.size, unit.audio_rate
    rng = rng_for("screwhall-mic", unit.device_id, unit.seed, round(t_s * 1000))
    direct = 1.0 / unit.mic_distance_m
    reverb_gain = direct * unit.mic_distance_m / CRITICAL_DISTANCE_M
    near_spec = np.fft.rfft(near) + noise_spectrum(rng, near_shape, n)
    far_spec = np.fft.rfft(far) + noise_spectrum(rng, far_shape, n)
    gain = 10 ** (unit.mic_gain_db / 20) * gain_drift
    channels = []
    for ch in range(unit.channels):
        room = _reverb(unit, n, rate, ch)
        spec = near_spec * (direct + reverb_gain * room) + far_spec * (FAR_DIRECT + room)
        x = np.fft.irfft(spec * _capsule(unit, n, rate), n) * gain
        x += unit.self_noise * rng.standard_normal(n)
        channels.append(x)
    out = channels[0] if unit.channels == 1 else np.stack(channels, axis=1)
    return pcm16(out)
