"""Audio windows: the machine and the yard through the sensor box's microphone chain.

The chain: near-field gain of the unit (mic distance), far-field yard sound, wind at the
windscreen and the capsule's self-noise per capsule, a high-pass (wind / DC filter), the
ADC's anti-alias roll-off, clipping and PCM16 quantisation. Stereo boxes have a second
capsule a few centimetres away: a small delay and gain change on everything it shares.
"""

from __future__ import annotations

import numpy as np

from ...wav import encode_wav
from . import dsp
from .faults_audio import AUDIO_FAULT_FUNCS
from .frame import make_frame
from .machine import machine
from .names import AUDIO_FAULTS, active_fault
from .unit import Unit
from .yard import wind_noise, yard

SCALE = 0.2  # reference units to full scale at the reference mic gain


def near_gain(unit: Unit) -> float:
    """The unit's own sound at the mic: closer capsules hear it louder (near field)."""
    return SCALE * unit.mic_gain * (0.5 / unit.mic_distance_m) ** 0.8


def audio_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                 running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    """One window of the unit's microphone, float32 on the PCM16 grid, (frames,) or
    (frames, 2); the healthy parts are identical with and without a fault."""
    name = active_fault(fault, severity, AUDIO_FAULTS)
    fr = make_frame(unit, t_s, running, seconds, unit.audio_rate, "audio")
    parts = machine(fr)
    own = parts.total()
    if name is not None:
        own = own + AUDIO_FAULT_FUNCS[name](fr, parts, float(severity))
    y_time, y_spec = yard(fr)
    far = SCALE * unit.mic_gain
    m_spec = (np.fft.rfft(own) + parts.spec) * near_gain(unit)
    y_spec = (np.fft.rfft(y_time) + y_spec) * far
    chain = fr.shape(dsp.butter_hp, unit.mic_hp_hz) * fr.shape(dsp.butter_lp,
                                                               unit.mic_lp_frac * fr.rate)
    lo = fr.low()
    chans = []
    for c in range(unit.channels):
        if c == 0:
            spec = m_spec + y_spec
        else:  # the second capsule: the machine arrives later, the yard from elsewhere
            spec = (0.85 * m_spec * np.exp(-2j * np.pi * fr.f * unit.stereo_delay / fr.rate)
                    + 0.95 * y_spec * np.exp(2j * np.pi * fr.f * 3 / fr.rate))
        spec = spec + far * dsp.lift(wind_noise(lo, c), fr.n)
        x = np.fft.irfft(spec * chain, fr.n)
        x += unit.mic_noise * fr.rng(f"self-noise-{c}").standard_normal(fr.n)
        chans.append(x)
    out = chans[0] if unit.channels == 1 else np.stack(chans, axis=1)
    return dsp.pcm16(out)


def audio_wav(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
              running: bool | None = None) -> bytes:
    """A 1 s PCM16 WAV of audio_window, as the sensor box publishes it."""
    x = audio_window(unit, t_s, fault, severity, running, 1.0)
    return encode_wav(x, unit.audio_rate, "pcm16")
