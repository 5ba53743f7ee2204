"""Long windows in bounded memory (issue 12.7, 12.10): audio is analysed piece by piece, so
memory stays that of a few seconds, the time limit stops an analysis between pieces, and a
window shorter than two pieces gives exactly the features it always did; a long vibration
window's spectra are taken one axis at a time."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from gateway.inference import features as features_module
from gateway.inference import worker as worker_module
from gateway.inference.audio_features import audio_condition
from gateway.inference.features import (
    LONG_AXIS,
    context_vectors,
    log_mel,
    resample,
    smooth_at_most,
    to_mono,
    vibration_features,
)
from gateway.inference.model import PIECE_S, AudioModel, shipped_model_path
from gateway.inference.results import ResultStore
from gateway.inference.verdict import VerdictRules
from gateway.inference.vibration_features import vibration_analysis, vibration_condition
from gateway.inference.worker import AnalysisTimeout, RetryPolicy
from gateway.intake.payloads import audio_window
from gateway.store.database import IntakeStore
from gateway.wav import decode_wav, encode_wav, inspect_wav
from tests.support import CommittedAnalyser

RULES = VerdictRules(baseline_windows=10, threshold_sigmas=6, alert_after=2, alert_window=3)
LONG_S, LONG_RATE = 40.0, 48_000
# The whole-window analysis (before pieces) of 40 s at 48 kHz stereo peaked at 70 MB of
# numpy arrays (tracemalloc); in pieces it is 8 MB, a piece's share, whatever the length.
PEAK_BOUND_MB = 20.0
# 700,000 samples an axis: the window itself is 17 MB, its copy without gravity another 17 MB;
# one axis's spectrum and envelope at a time add 25-40 MB.
VIBRATION_BOUND_MB = 65.0


@pytest.fixture(scope="module")
def model() -> AudioModel:
    return AudioModel(shipped_model_path())


def noisy_hum(seconds: float, rate: int, channels: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.2 * np.sin(2 * np.pi * 50 * t) + rng.normal(0, 0.05, t.size)
    return np.stack([mono * (1 - 0.1 * c) for c in range(channels)], axis=1).astype(np.float32)


def whole_window_features(samples: np.ndarray, rate: int, model: AudioModel):
    """The analysis as it was before pieces: the whole window, in one go."""
    params = model.card.features
    at_rate = resample(to_mono(samples), rate, params.sample_rate)
    logmel = log_mel(at_rate, params)
    vectors = context_vectors(logmel, params.context_frames)
    return audio_condition(at_rate, logmel, params), model._vector_scores(vectors)


def worker_outcome(payload: bytes, model: AudioModel, check=lambda analysed_s: None):
    return worker_module.audio_outcome(payload, model, check)


@pytest.mark.parametrize(("seconds", "rate", "channels", "encoding"),
                         [(1.0, 16_000, 1, "pcm16"), (1.0, 48_000, 2, "pcm24"),
                          (1.0, 44_100, 1, "float32"), (3.5, 48_000, 2, "pcm16")])
def test_a_window_shorter_than_two_pieces_keeps_its_features_exactly(
        model, seconds, rate, channels, encoding):
    assert seconds < 2 * PIECE_S
    payload = encode_wav(noisy_hum(seconds, rate, channels), rate, encoding)
    samples, _ = decode_wav(payload)
    condition, scores = whole_window_features(samples, rate, model)
    outcome = worker_outcome(payload, model)
    got = outcome.observation.features
    assert got.names[:-1] == condition.names
    assert np.array_equal(got.values[:-1], condition.values)  # bit for bit
    assert got.values[-1] == np.log(max(float(scores.mean()), 1e-6))
    assert outcome.details["model_score"] == float(scores.mean())
    assert outcome.details["rotation_hz"] == condition.context["rotation_hz"]
    assert np.array_equal(model.score(samples, rate).condition.values, got.values)


def test_a_long_window_is_analysed_in_bounded_memory(model):
    payload = encode_wav(noisy_hum(LONG_S, LONG_RATE, 2), LONG_RATE)
    worker_outcome(encode_wav(noisy_hum(1.0, LONG_RATE, 2), LONG_RATE), model)  # warm caches
    tracemalloc.start()
    try:
        outcome = worker_outcome(payload, model)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak / 1e6 < PEAK_BOUND_MB, f"peak {peak / 1e6:.1f} MB"
    # every piece was scored: ~30 vectors a second of the whole window
    assert outcome.details["vectors"] > 25 * LONG_S


def test_a_long_window_features_stay_close_to_the_whole_window_analysis(model):
    """Pieces change only edges (frames, vectors at a piece's ends): a long steady signal
    still reads the same levels and lines."""
    samples = noisy_hum(12.0, LONG_RATE, 2)
    payload = encode_wav(samples, LONG_RATE)
    condition, scores = whole_window_features(decode_wav(payload)[0], LONG_RATE, model)
    got = worker_outcome(payload, model)
    features = got.observation.features
    levels = [i for i, n in enumerate(condition.names) if n.endswith(" level") or "hum" in n
              or n.startswith("rotation")]
    assert np.allclose(features.values[levels], condition.values[levels], atol=0.5)
    assert got.details["rotation_hz"] == condition.context["rotation_hz"]
    assert got.details["model_score"] == pytest.approx(float(scores.mean()), rel=0.05)


def test_the_time_limit_stops_a_long_window_between_pieces(model):
    payload = encode_wav(noisy_hum(LONG_S, LONG_RATE, 2), LONG_RATE)
    analysed = []

    def check(analysed_s):
        analysed.append(analysed_s)
        raise AnalysisTimeout(f"at {analysed_s} s")

    with pytest.raises(AnalysisTimeout):
        worker_outcome(payload, model, check)
    assert analysed == [PIECE_S]  # stopped after the first piece, not after 40 s


def test_an_analyser_with_a_tiny_limit_gives_up_on_a_long_window_early(tmp_path, model):
    store_path = tmp_path / "gateway.db"
    store = IntakeStore(store_path)
    payload = encode_wav(noisy_hum(LONG_S, LONG_RATE, 2), LONG_RATE)
    inspect_wav(payload)
    store.write_batch([audio_window(device_id="box", topic="sensors/box/audio",
                                    payload=payload, captured_at_ms=1000,
                                    received_at_ms=1000, source="mqtt")])
    store.close()
    worker = CommittedAnalyser(store_path, lambda: model, RULES, RetryPolicy(3, 1.0, 4.0),
                               1e-6)
    assert worker.handle(1) > 0  # a failed attempt, retried as any AnalysisTimeout
    store = ResultStore(store_path)
    try:
        (error,), = store.conn.execute("SELECT last_error FROM analysis").fetchall()
    finally:
        store.close()
    assert error.startswith("AnalysisTimeout")
    assert f"with {PIECE_S:.1f} s of the window analysed" in error, error


def test_a_long_vibration_window_is_analysed_axis_by_axis_in_bounded_memory():
    """700,000 samples per axis (the most a 4 MiB message holds): the severity and condition
    features once held every axis's full spectrum at once, 60 and 103 MB of arrays."""
    rng = np.random.default_rng(5)
    n = 700_000
    t = np.arange(n) / 25_600
    xyz = np.stack([np.sin(2 * np.pi * 25 * t) + rng.normal(0, 0.3, n) for _ in range(3)])
    tracemalloc.start()
    try:
        severity = vibration_features(xyz, 25_600)
        first = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        condition = vibration_condition(xyz, 25_600, severity)
        second = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert first / 1e6 < VIBRATION_BOUND_MB and second / 1e6 < VIBRATION_BOUND_MB, (
        f"peaks {first / 1e6:.1f} and {second / 1e6:.1f} MB")
    assert condition.context["rotation_hz"] == pytest.approx(25, abs=0.1)
    assert np.isfinite(condition.values).all()


def test_a_vibration_window_axis_by_axis_gives_the_batched_figures(monkeypatch):
    """Past LONG_AXIS the spectra are taken one axis at a time; the figures are those of the
    batched transform (to round-off), which every window up to LONG_AXIS still uses."""
    rng = np.random.default_rng(6)
    xyz = rng.normal(0, 1, (3, LONG_AXIS + LONG_AXIS // 4))  # 2^15 * 5: kept whole
    severity = vibration_features(xyz, 25_600)
    condition = vibration_condition(xyz, 25_600, severity)
    monkeypatch.setattr(features_module, "LONG_AXIS", xyz.shape[1])  # batched this time
    same = vibration_features(xyz, 25_600)
    same_condition = vibration_condition(xyz, 25_600, same)
    figures, batched_figures = severity.as_dict(), same.as_dict()
    assert figures.pop("iso_zone") == batched_figures.pop("iso_zone")
    assert batched_figures == pytest.approx(figures, rel=1e-12)
    assert np.allclose(same_condition.values, condition.values, rtol=1e-12, atol=1e-12)


def test_a_long_vibration_window_of_prime_length_is_analysed_over_a_smooth_prefix():
    """699,007 samples (a prime: the most a 4 MiB message holds) would need Bluestein's FFT,
    100 MB of buffers per transform; its first 691,200 = 2^9 3^3 5^2 samples are analysed."""
    rng = np.random.default_rng(7)
    xyz = rng.normal(0, 1, (3, 699_007))
    assert smooth_at_most(xyz.shape[1]) == 691_200
    severity = vibration_features(xyz, 25_600)
    prefix = vibration_features(xyz[:, :691_200], 25_600)
    assert severity == prefix
    assert np.array_equal(vibration_condition(xyz, 25_600, severity).values,
                          vibration_condition(xyz[:, :691_200], 25_600, prefix).values)


@pytest.mark.parametrize("samples", [3200, 700_000])
def test_the_worker_s_vibration_analysis_centres_once_and_gives_the_same_figures(samples):
    rng = np.random.default_rng(8)
    xyz = 9.81 + rng.normal(0, 1, (3, samples))
    severity = vibration_features(xyz, 25_600)
    condition = vibration_condition(xyz, 25_600, severity)
    given_up = xyz.copy()
    tracemalloc.start()
    try:
        got_severity, got_condition = vibration_analysis(given_up, 25_600)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got_severity == severity
    assert np.array_equal(got_condition.values, condition.values)
    # no copy of the window (17 MB at 700,000 samples), one axis's spectra at a time: 37 MB;
    # with a copy 58 MB, and 102 MB when every axis's spectra were held at once
    assert peak / 1e6 < 45, f"peak {peak / 1e6:.1f} MB"
