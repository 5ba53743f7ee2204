"""The synthetic compressor: reproducible, per-device, every fault audible, plausible values."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from gateway.devtools import synth
from gateway.inference.features import MelParams, log_mel, vibration_features

PARAMS = MelParams()
IDS = [f"synth-test-{i}" for i in range(8)]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_same_seed_same_data():
    profile = synth.profile_for("box-1")
    for make in (synth.audio_window, synth.vibration_window):
        first = make(profile, fault="rattle", severity=0.7, rng=rng(3))
        again = make(profile, fault="rattle", severity=0.7, rng=rng(3))
        other = make(profile, fault="rattle", severity=0.7, rng=rng(4))
        np.testing.assert_array_equal(first, again)
        assert not np.array_equal(first, other)
    assert (synth.telemetry(profile, ts_s=1.0, rng=rng(3))
            == synth.telemetry(profile, ts_s=1.0, rng=rng(3)))


def test_profile_is_stable_per_id_and_differs_between_ids():
    assert synth.profile_for("box-1") == synth.profile_for("box-1")
    assert synth.profile_for("box-1") != synth.profile_for("box-1", seed=1)
    profiles = [synth.profile_for(i) for i in IDS]
    assert len({p.rotation_hz for p in profiles}) == len(IDS)
    # Python salts str hashes per process: another process must still agree.
    code = "from gateway.devtools import synth; print(repr(synth.profile_for('box-1')))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "123"})
    assert other.stdout.strip() == repr(synth.profile_for("box-1"))


def test_profiles_are_plausible_compressors():
    for profile in map(synth.profile_for, IDS):
        assert profile.mains_hz in (50.0, 60.0)
        assert 0.94 * profile.mains_hz / 2 <= profile.rotation_hz < profile.mains_hz / 2
        assert 23.5 <= profile.rotation_hz <= 30.0  # 1410-1800 rpm


def test_audio_window_shape_and_range():
    profile = synth.profile_for("box-2")
    for rate in (16000, 44100, 48000):
        audio = synth.audio_window(profile, duration_s=0.5, sample_rate=rate, rng=rng())
        assert audio.dtype == np.float32 and audio.shape == (rate // 2,)
        assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
        assert 0.005 < np.sqrt(np.mean(audio**2)) < 0.3


def test_compressor_off_is_quiet():
    profile = synth.profile_for("box-3")
    on = synth.audio_window(profile, rng=rng())
    off = synth.audio_window(profile, running=False, fault="leak", severity=1.0, rng=rng())
    assert np.sqrt(np.mean(off**2)) < 0.2 * np.sqrt(np.mean(on**2))


def mean_log_mel(profile, **kwargs) -> np.ndarray:
    windows = [synth.audio_window(profile, rng=rng(seed), **kwargs) for seed in range(3)]
    return np.mean([log_mel(w, PARAMS).mean(axis=0) for w in windows], axis=0)


@pytest.mark.parametrize("fault", synth.FAULT_KINDS)
def test_each_fault_changes_the_sound(fault):
    profile = synth.profile_for("box-4")
    healthy = mean_log_mel(profile)
    faulty = mean_log_mel(profile, fault=fault, severity=1.0)
    assert (faulty - healthy).max() > 1.0  # dB, in the fault's own bands
    np.testing.assert_array_equal(
        synth.audio_window(profile, fault=fault, severity=0.0, rng=rng()),
        synth.audio_window(profile, rng=rng()))


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        synth.audio_window(synth.profile_for("box-5"), fault="smoke", severity=1.0, rng=rng())


def test_healthy_vibration_is_iso_zone_a_or_b():
    for profile in map(synth.profile_for, IDS):
        xyz = synth.vibration_window(profile, rng=rng())
        assert xyz.shape == (3, 3200)
        assert np.mean(xyz[2]) == pytest.approx(synth.GRAVITY, abs=0.01)
        features = vibration_features(xyz, 3200)
        assert 0.4 <= features.rms_velocity_mm_s <= 1.5
        assert features.iso_zone in ("A", "B")
        assert features.dominant_hz == pytest.approx(profile.rotation_hz, abs=1.0)


def test_vibration_faults_show_in_the_vibration_features():
    profile = synth.profile_for("box-6")
    healthy = vibration_features(synth.vibration_window(profile, rng=rng()), 3200)

    def with_fault(fault: str):
        return vibration_features(
            synth.vibration_window(profile, fault=fault, severity=1.0, rng=rng()), 3200)

    assert with_fault("imbalance").iso_zone == "D"
    assert with_fault("bearing").kurtosis > 2 * healthy.kurtosis
    assert with_fault("rattle").crest_factor > 2 * healthy.crest_factor
    assert with_fault("hum").dominant_hz == pytest.approx(2 * profile.mains_hz, abs=1.0)
    assert with_fault("leak").rms_accel_ms2 > healthy.rms_accel_ms2


def test_telemetry_has_the_boxes_format():
    profile = synth.profile_for("test-device-7")
    message = synth.telemetry(profile, ts_s=1732350000.123, rng=rng())
    assert json.loads(json.dumps(message)) == message
    assert set(message) == {"device_id", "timestamp", "temperature", "vibration",
                            "power_consumption", "audio_level", "sensor_quality"}
    assert message["device_id"] == "test-device-7"
    assert message["timestamp"] == 1732350000.123
    assert set(message["vibration"]) == {"x", "y", "z"}
    assert all(0.0 < v < 2.0 for v in message["vibration"].values())
    assert isinstance(message["audio_level"], int) and 0 <= message["audio_level"] <= 255
    assert 0.9 <= message["sensor_quality"] <= 1.0
    assert -25.0 < message["temperature"] < 10.0


def test_telemetry_reflects_a_leak_and_a_stopped_compressor():
    profile = synth.profile_for("box-7")
    normal = synth.telemetry(profile, ts_s=0.0, rng=rng())
    leak = synth.telemetry(profile, ts_s=0.0, fault="leak", severity=1.0, rng=rng())
    off = synth.telemetry(profile, ts_s=0.0, running=False, rng=rng())
    assert leak["temperature"] > normal["temperature"] + 4
    assert off["power_consumption"] < 0.2 * normal["power_consumption"]
