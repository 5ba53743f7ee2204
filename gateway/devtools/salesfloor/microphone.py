"""The sensor box's microphone chain: capsule response, port resonance, gain, self-noise,
an analogue front end that saturates softly, and the 16-bit converter.

A MEMS capsule rolls off below its vent's corner (20-90 Hz here) and the converter's
anti-alias filter (or the capsule itself) above 7-16 kHz; the port in the box's lid adds a
small Helmholtz peak. A stereo box has two capsules a few centimetres apart: near sources reach
them a few samples apart, the diffuse room is coherent only at low frequencies.
"""

from __future__ import annotations

import numpy as np

from .mix import Mix
from .spectral import band, resonance
from .units import Unit

PCM_STEP = 1.0 / 32768.0
KNEE = 0.7  # the front end is linear below this and saturates smoothly to under full scale


def response(unit: Unit, freqs: np.ndarray) -> np.ndarray:
    port = 0.8 * unit.mic_lowpass_hz
    return band(freqs, unit.mic_highpass_hz, unit.mic_lowpass_hz, order=2) * (
        1.0 + 0.4 * resonance(freqs, port, 3.0)
    )


def _saturate(x: np.ndarray) -> np.ndarray:
    if np.max(np.abs(x)) <= KNEE:
        return x
    over = np.abs(x) - KNEE
    soft = np.sign(x) * (KNEE + (1.0 - KNEE) * 0.98 * np.tanh(over / (1.0 - KNEE)))
    return np.where(over > 0, soft, x)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    codes = np.clip(np.rint(x / PCM_STEP), -32768, 32767)
    return (codes * PCM_STEP).astype(np.float32)


def _diffuse_phase(rng: np.random.Generator, freqs: np.ndarray, spacing_m: float) -> np.ndarray:
    """Per-bin phase between capsules for a diffuse field: coherent where the wavelength
    is long against the spacing, random where it is short."""
    spread = np.minimum(np.pi, np.pi * freqs * spacing_m / 343.0 * 2.0)
    return np.exp(1j * spread * rng.uniform(-1.0, 1.0, freqs.size))


def render(mix: Mix, unit: Unit, rng: np.random.Generator) -> np.ndarray:
    """The window as the box records it: float32 PCM16 steps, (frames,) or (frames, 2)."""
    h = response(unit, mix.freqs) * unit.mic_gain
    near, room = mix.spectra(rng)
    channels = [np.fft.irfft((near + room) * h, n=mix.frames)]
    if unit.channels == 2:
        delay = np.exp(-2j * np.pi * mix.freqs * unit.stereo_delay_samples / mix.rate)
        spacing = unit.stereo_delay_samples * 343.0 / mix.rate
        room2 = room * _diffuse_phase(rng, mix.freqs, spacing)
        channels.append(np.fft.irfft((near * delay + room2) * h * 0.96, n=mix.frames))
    out = np.stack(channels, axis=-1)
    out += rng.standard_normal(out.shape) * unit.mic_self_noise
    out = to_pcm16(_saturate(out))
    return out[:, 0] if unit.channels == 1 else out
