"""The plain spectrum among the audio condition features (feature version 4): 32 log-spaced
bands of mean power from 50 Hz to 8 kHz, finer than the mel groups below 1 kHz."""

from __future__ import annotations

import dataclasses

import numpy as np

from gateway.inference.audio_features import SPECTRUM_PREFIX, WindowFeatures, audio_condition
from gateway.inference.features import MelParams, log_mel
from gateway.inference.verdict import Observation
from tests.unit.test_verdict import RULES, run

PARAMS = MelParams()


def spectrum_bands(signal: np.ndarray) -> dict[str, float]:
    f = audio_condition(signal, log_mel(signal.astype(np.float32), PARAMS), PARAMS)
    return {n: float(v) for n, v in zip(f.names, f.values, strict=True)
            if n.startswith(SPECTRUM_PREFIX)}


def band_edges(name: str) -> tuple[float, float]:
    low, high = name.removeprefix(SPECTRUM_PREFIX).removesuffix(" Hz").split("-")
    return float(low), float(high)


def test_the_spectrum_bands_hear_a_band_of_noise_where_it_is():
    rng = np.random.default_rng(8)
    y = 0.05 * rng.standard_normal(PARAMS.sample_rate)
    extra = np.fft.rfft(0.1 * rng.standard_normal(PARAMS.sample_rate))
    freqs = np.fft.rfftfreq(PARAMS.sample_rate, 1 / PARAMS.sample_rate)
    extra[(freqs < 3000) | (freqs > 5000)] = 0
    quiet, loud = spectrum_bands(y), spectrum_bands(y + np.fft.irfft(extra, PARAMS.sample_rate))
    assert len(quiet) == 32
    assert band_edges(min(quiet, key=lambda n: band_edges(n)[0]))[0] == 50.0
    for name in quiet:
        low, high = band_edges(name)
        rise = loud[name] - quiet[name]
        if low >= 3100 and high <= 4900:
            assert 5.0 < rise < 8.0, (name, rise)  # 4x the power in the band: ~7 dB
        elif high <= 2500:
            assert abs(rise) < 1.0, (name, rise)


def test_a_short_window_has_the_same_bands():
    rng = np.random.default_rng(9)
    whole, short = (spectrum_bands(0.05 * rng.standard_normal(n)) for n in (16000, 4000))
    assert list(whole) == list(short)
    # per Hz: white noise reads the same level from a quarter of a second (each band of the
    # short window has a few wide bins, so only the mean over bands is compared)
    assert abs(np.mean([whole[n] - short[n] for n in whole])) < 1.0


def test_a_rise_of_the_noise_floor_over_many_bands_is_flagged_and_named():
    """A floor of noise lifts many bands by a little each; the narrow low bands hear it below
    1 kHz too, where one mel group spans several of them."""
    names = tuple(f"band {i} level" for i in range(6)) + \
        tuple(f"{SPECTRUM_PREFIX}{k}" for k in range(16))
    rng = np.random.default_rng(5)

    def window(shift=0.0):
        values = rng.normal(0.0, 1.0, len(names))
        values[10:] += shift  # 12 of the 16 spectrum bands
        return Observation(WindowFeatures(names, values, np.full(len(names), 0.05),
                                          ("dB",) * len(names), -20.0, {}))

    rules = dataclasses.replace(RULES, baseline_windows=150)
    learning = run([window() for _ in range(150)], rules=rules)
    healthy = run([window() for _ in range(200)], learning[-1].memory, rules=rules)
    assert sum(v.anomaly for v in healthy) <= 4
    floor = run([window(3.0) for _ in range(5)], healthy[-1].memory, rules=rules)
    assert all(v.anomaly for v in floor)
    assert floor[0].details["drivers"][0]["feature"].startswith(SPECTRUM_PREFIX)
