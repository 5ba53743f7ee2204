"""The sensor box's microphone inside the cabinet: the unit's sound and (shielded by the
panels) the site's, its ageing gain, its band (a low cut against wind, a roll-off at the
top), self-noise, clipping and PCM16; a stereo box's second capsule hears another mix.
"""

from __future__ import annotations

import zlib

import numpy as np

from gateway.devtools.rooftop.pieces import band, freqs, pcm16, rng
from gateway.devtools.rooftop.units import Unit

SITE_THROUGH_CABINET = 0.6


def capture(unit: Unit, machine: np.ndarray, site: np.ndarray, drift: float, t_s: float
            ) -> np.ndarray:
    n, rate = machine.size, unit.audio_rate
    g = rng("microphone", unit.device_id, unit.seed, t_s)
    mixes = [machine + SITE_THROUGH_CABINET * site]
    if unit.channels == 2:  # the other capsule: nearer the fan grille, a few samples later
        lag = 1 + zlib.crc32(unit.device_id.encode()) % 11  # ~2-10 cm between capsules
        late = np.concatenate([np.zeros(lag), site[:-lag]])
        mixes.append(0.8 * machine + 1.3 * SITE_THROUGH_CABINET * late)
    signal = np.stack(mixes) * (unit.mic_gain * drift)
    response = band(freqs(n, rate), unit.mic_hp_hz, unit.mic_lp_hz, 1.5)
    shaped = np.fft.irfft(np.fft.rfft(signal, axis=1) * response, n, axis=1)
    shaped += g.normal(0.0, unit.mic_floor, shaped.shape)
    out = pcm16(np.clip(shaped, -1.0, 1.0))
    return out[0] if unit.channels == 1 else out.T.copy()
