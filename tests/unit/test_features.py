"""Audio and vibration features: librosa equivalence, resampling accuracy, ISO 10816 figures."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest

from gateway.devtools import synth
from gateway.inference.features import (
    FeatureError,
    MelParams,
    audio_vectors,
    context_vectors,
    iso_zone,
    log_mel,
    mel_filterbank,
    resample,
    to_mono,
    vibration_features,
)
from gateway.wav import decode_wav, encode_wav

# max |ours - librosa| in dB (docs/inference.md): over values within 80 dB of the window's
# loudest, and over all values down to the -100 dB floor, where float32 round-off dominates.
DB_TOLERANCE, DB_TOLERANCE_FLOOR = 0.001, 0.05
DEFAULT = MelParams()
OTHER = MelParams(sample_rate=22050, n_fft=2048, hop_length=256, n_mels=128, fmin=20.0,
                  fmax=11025.0, context_frames=3)


def librosa_log_mel(y: np.ndarray, p: MelParams) -> np.ndarray:
    """The reference call of docs/inference.md, as (frames, mels)."""
    power = librosa.feature.melspectrogram(y=y, sr=p.sample_rate, n_fft=p.n_fft,
                                           hop_length=p.hop_length, n_mels=p.n_mels,
                                           fmin=p.fmin, fmax=p.fmax)
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None).T


def sine(hz: float, rate: float, seconds: float, amplitude: float = 0.5,
         phase: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t + phase)).astype(np.float32)


def test_mel_filterbank_equals_librosa():
    for p in (DEFAULT, OTHER):
        ours = mel_filterbank(p)
        ref = librosa.filters.mel(sr=p.sample_rate, n_fft=p.n_fft, n_mels=p.n_mels,
                                  fmin=p.fmin, fmax=p.fmax)
        assert ours.shape == ref.shape == (p.n_mels, p.n_fft // 2 + 1)
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


def reference_signals(rate: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    profile = synth.profile_for("librosa-check")
    return {
        "compressor": synth.audio_window(profile, sample_rate=rate, rng=rng),
        "faulty": synth.audio_window(profile, sample_rate=rate, fault="bearing", severity=1.0,
                                     rng=rng),
        "off": synth.audio_window(profile, sample_rate=rate, running=False, rng=rng),
        "noise_odd_length": (0.1 * rng.standard_normal(12_345)).astype(np.float32),
        "sine": sine(440.0, rate, 0.5),
        "silence": np.zeros(rate // 4, np.float32),
    }


@pytest.mark.parametrize("params", [DEFAULT, OTHER], ids=["default", "other"])
def test_log_mel_matches_librosa(params):
    for name, y in reference_signals(params.sample_rate).items():
        ours, ref = log_mel(y, params), librosa_log_mel(y, params)
        assert ours.shape == ref.shape == (1 + y.size // params.hop_length, params.n_mels), name
        assert ours.dtype == np.float32
        difference = np.abs(ours - ref)
        assert difference[ref >= ref.max() - 80].max() <= DB_TOLERANCE, name
        assert difference.max() <= DB_TOLERANCE_FLOOR, name


def test_log_mel_floor_is_minus_100_db():
    assert np.all(log_mel(np.zeros(4000, np.float32), DEFAULT) == pytest.approx(-100.0))


def test_context_vectors_concatenate_consecutive_frames():
    logmel = np.arange(7 * 3, dtype=np.float32).reshape(7, 3)  # 7 frames of 3 mels
    vectors = context_vectors(logmel, 4)
    assert vectors.shape == (4, 12)
    for row in range(4):
        np.testing.assert_array_equal(vectors[row], logmel[row : row + 4].reshape(-1))
    assert context_vectors(logmel[:3], 4).shape == (0, 12)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 32000, 44100, 48000, 96000, 12345])
def test_resample_keeps_a_sine(rate):
    x = sine(1000.0, rate, 1.3)
    y = resample(x, rate, 16000)
    assert y.dtype == np.float32
    assert y.size == math.ceil(x.size * 16000 / rate)
    ideal = sine(1000.0, 16000, y.size / 16000)
    inner = slice(32, -32)  # the first and last 2 ms lean on the mirrored padding
    assert np.abs(y[inner] - ideal[inner]).max() < 2e-3
    peak_hz = np.argmax(np.abs(np.fft.rfft(y))) * 16000 / y.size
    assert peak_hz == pytest.approx(1000.0, abs=1.0)


def test_resample_removes_what_the_new_rate_cannot_hold():
    above_nyquist = sine(10_000.0, 48000, 1.0)
    inner = resample(above_nyquist, 48000, 16000)[32:-32]
    assert np.sqrt(np.mean(inner**2)) < 1e-4


def test_resample_same_rate_and_upsampling():
    x = sine(300.0, 16000, 0.5)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)
    up = resample(sine(300.0, 8000, 0.5), 8000, 16000)
    assert np.abs(up[32:-32] - x[32:-32]).max() < 2e-3


def test_resample_refuses_bad_rates():
    with pytest.raises(FeatureError):
        resample(np.zeros(100, np.float32), 0, 16000)
    with pytest.raises(FeatureError):
        resample(np.zeros(1, np.float32), 48000, 16000)


def test_to_mono_takes_what_decode_wav_gives():
    left, right = sine(200.0, 16000, 0.5), sine(300.0, 16000, 0.5)
    stereo, rate = decode_wav(encode_wav(np.stack([left, right], axis=1), 16000, "float32"))
    assert stereo.shape == (8000, 2) and rate == 16000
    np.testing.assert_allclose(to_mono(stereo), (left + right) / 2, atol=1e-7)
    np.testing.assert_array_equal(to_mono(stereo[:, :1]), left)
    np.testing.assert_array_equal(to_mono(left), left)
    with pytest.raises(FeatureError, match="frames, channels"):
        to_mono(np.zeros((2, 3, 4), np.float32))


def test_audio_vectors_of_a_48k_stereo_window():
    stereo = np.stack([sine(500.0, 48000, 1.0)] * 2, axis=1)
    vectors = audio_vectors(stereo, 48000, DEFAULT)
    frames = 1 + 16000 // DEFAULT.hop_length
    assert vectors.shape == (frames - DEFAULT.context_frames + 1, DEFAULT.vector_size)


def test_audio_vectors_refuse_unanalysable_audio():
    with pytest.raises(FeatureError, match="at least 0.128 s"):
        audio_vectors(np.zeros(1000, np.float32), 16000, DEFAULT)
    bad = np.zeros(16000, np.float32)
    bad[5] = np.nan
    with pytest.raises(FeatureError, match="NaN"):
        audio_vectors(bad, 16000, DEFAULT)


def test_mel_params_are_checked():
    with pytest.raises(ValueError, match="fmax"):
        MelParams(fmax=9000.0)
    with pytest.raises(ValueError, match="whole numbers"):
        MelParams(n_fft=1024.5)
    assert DEFAULT.vector_size == 320


# --- vibration -------------------------------------------------------------------------------


def accel_of_velocity(velocity_rms_mm_s: float, hz: float, rate: float, seconds: float,
                      phase: float = 0.0) -> np.ndarray:
    """Acceleration (m/s^2) of a sinusoidal vibration whose velocity RMS is given."""
    t = np.arange(int(round(rate * seconds))) / rate
    peak = velocity_rms_mm_s * 1e-3 * math.sqrt(2)
    return peak * 2 * np.pi * hz * np.cos(2 * np.pi * hz * t + phase)


@pytest.mark.parametrize("hz", [50.0, 47.3, 25.1, 900.0])
def test_velocity_of_a_sine(hz):
    x = accel_of_velocity(2.5, hz, 3200, 1.0)
    xyz = np.stack([x, 0.5 * x, np.full_like(x, 9.81)])  # z: gravity only
    features = vibration_features(xyz, 3200)
    assert features.rms_velocity_mm_s == pytest.approx(2.5, rel=0.02)
    assert features.dominant_hz == pytest.approx(hz, abs=0.5)
    assert features.kurtosis == pytest.approx(1.5, abs=0.02)
    assert features.crest_factor == pytest.approx(math.sqrt(2), rel=0.01)
    assert features.iso_zone == "C"
    rms_accel = math.sqrt(np.var(x) * 1.25)  # x and 0.5 x, each without its mean
    assert features.rms_accel_ms2 == pytest.approx(rms_accel, rel=1e-6)


def test_velocity_band_excludes_5_hz_and_2000_hz():
    rate = 8000
    x = (accel_of_velocity(1.2, 50.0, rate, 2.0) + accel_of_velocity(8.0, 5.0, rate, 2.0)
         + accel_of_velocity(8.0, 2000.0, rate, 2.0))
    features = vibration_features(np.stack([x, 0 * x, 0 * x]), rate)
    assert features.rms_velocity_mm_s == pytest.approx(1.2, rel=0.02)
    assert features.dominant_hz == pytest.approx(50.0, abs=0.5)


def test_velocity_is_the_worst_axis():
    y = accel_of_velocity(3.0, 30.0, 3200, 1.0)
    features = vibration_features(np.stack([0.2 * y, y, 0.5 * y]), 3200)
    assert features.rms_velocity_mm_s == pytest.approx(3.0, rel=0.02)


def test_iso_zone_boundaries():
    cases = {0.0: "A", 0.71: "A", 0.72: "B", 1.8: "B", 1.81: "C", 4.5: "C", 4.51: "D", 30: "D"}
    for velocity, zone in cases.items():
        assert iso_zone(velocity) == zone, velocity


@pytest.mark.parametrize(("iso_class", "bounds"), [
    ("I", (0.71, 1.8, 4.5)), ("II", (1.12, 2.8, 7.1)), ("III", (1.8, 4.5, 11.2)),
    ("IV", (2.8, 7.1, 18.0))])
def test_iso_zone_boundaries_of_each_machine_class(iso_class, bounds):
    """ISO 10816-1's table: a larger machine (or a softer foundation) shakes more at the
    same condition, so its zones end higher."""
    for upper, zone, above in zip(bounds, "ABC", "BCD", strict=True):
        assert iso_zone(upper, iso_class) == zone
        assert iso_zone(upper * 1.01, iso_class) == above


def test_the_machine_class_sets_the_zone_of_a_window():
    x = accel_of_velocity(2.0, 50.0, 3200, 1.0)
    xyz = np.stack([x, 0.5 * x, 0.2 * x])
    assert vibration_features(xyz, 3200).iso_zone == "C"  # class I: a small machine
    assert vibration_features(xyz, 3200, "II").iso_zone == "B"
    assert vibration_features(xyz, 3200, "IV").iso_zone == "A"


def test_kurtosis_of_noise_and_impacts():
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((3, 32000))
    assert vibration_features(noise, 3200).kurtosis == pytest.approx(3.0, abs=0.15)
    impacts = 0.01 * noise
    impacts[0, ::800] += 5.0
    assert vibration_features(impacts, 3200).kurtosis > 50


def test_vibration_features_are_json_ready():
    features = vibration_features(np.zeros((3, 3200)), 3200)
    assert features.as_dict() == {"rms_accel_ms2": 0.0, "rms_velocity_mm_s": 0.0,
                                  "iso_zone": "A", "kurtosis": 0.0, "crest_factor": 0.0,
                                  "dominant_hz": features.dominant_hz}


def test_vibration_features_refuse_unanalysable_windows():
    with pytest.raises(FeatureError, match="0.1 s"):
        vibration_features(np.zeros((3, 100)), 3200)
    with pytest.raises(FeatureError, match="x, y, z"):
        vibration_features(np.zeros((2, 3200)), 3200)
    with pytest.raises(FeatureError, match="finite"):
        vibration_features(np.full((3, 3200), np.inf), 3200)
