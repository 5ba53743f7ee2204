"""The box's microphone and ADC: from sound at the capsule to PCM16 codes.

A MEMS capsule with its bass roll-off and port resonance, the installer's gain, an
anti-alias low-pass, self-noise, a DC offset from the preamp, then — for some boxes — an
analogue front end that compresses above a knee, and always the ADC's hard limit and 16-bit
quantisation. Stereo boxes have two capsules a few centimetres apart: the compressor and the
dock reach them from different directions, so each gets its own small delay, and the second
capsule's sensitivity differs slightly. Everything before the knee is linear, which is what
lets a fault be added to the healthy sound before this stage.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import dsp
from .units import Unit

FULL = 32768.0


@lru_cache(maxsize=64)
def _response(unit: Unit, n: int, fs: float) -> np.ndarray:
    mic = unit.mic
    f = dsp.freqs(n, fs)
    peak = 1.0 + (10 ** (mic.peak_db / 20) - 1.0) * np.abs(dsp.resonance(f, mic.peak_hz, 3.0))
    gain = 10 ** (mic.gain_db / 20)
    return gain * dsp.highpass(f, mic.hp_hz, 2) * dsp.lowpass(f, mic.lp_frac * fs, 8) * peak


@lru_cache(maxsize=64)
def _delays(unit: Unit, n: int, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Second capsule: compressor path delayed, dock path arriving a little earlier."""
    f = dsp.freqs(n, fs)
    pair = 10 ** (unit.mic.pair_db / 20)
    tau = unit.mic.spacing_s
    return pair * np.exp(-2j * np.pi * f * tau), pair * np.exp(2j * np.pi * f * 0.6 * tau)


def _saturate(y: np.ndarray, knee: float) -> np.ndarray:
    """Soft compression above the knee (identity below it), then the ADC's rails."""
    if knee < 1.0:
        over = np.abs(y) > knee
        if over.any():
            mag = knee + (1 - knee) * np.tanh((np.abs(y[over]) - knee) / (1 - knee))
            y = y.copy()
            y[over] = np.sign(y[over]) * mag
    return np.clip(np.rint(y * FULL), -FULL, FULL - 1) / FULL


def capture(unit: Unit, near: dsp.Mix, dock: dsp.Mix, fs: float, g: np.random.Generator
            ) -> np.ndarray:
    """PCM16-grid float32 samples: (n,) for a mono box, (n, 2) for a stereo one."""
    n = near.n
    resp = _response(unit, n, fs)
    if unit.mic.channels == 1:
        y = np.fft.irfft((near.spectrum() + dock.spectrum()) * resp, n)[None, :]
    else:
        plant, site = near.spectrum(), dock.spectrum()
        d_plant, d_site = _delays(unit, n, fs)
        spec = np.stack([plant + site, plant * d_plant + site * d_site]) * resp
        y = np.fft.irfft(spec, n, axis=-1)
    noise = 10 ** (unit.mic.noise_dbfs / 20)
    y += noise * g.standard_normal(y.shape)
    y += np.array(unit.mic.dc[: y.shape[0]])[:, None]
    out = _saturate(y, unit.mic.knee).astype(np.float32)
    return out[0] if unit.mic.channels == 1 else np.ascontiguousarray(out.T)
