"""Condition-monitoring features on analytic signals: each says what it claims to measure."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.inference.audio_features import audio_condition
from gateway.inference.features import MelParams, log_mel, vibration_features
from gateway.inference.vibration_features import Kinematics, bearing_orders, vibration_condition

PARAMS = MelParams()
RATE = PARAMS.sample_rate
T = np.arange(RATE) / RATE


def features(y):
    y = np.asarray(y, np.float32)
    condition = audio_condition(y, log_mel(y, PARAMS), PARAMS)
    return dict(zip(condition.names, condition.values, strict=True)), condition


def noise(seed=0, level=0.01):
    return level * np.random.default_rng(seed).standard_normal(RATE)


def test_the_rotation_speed_and_its_lines_are_found():
    lines = sum(0.02 * 0.6**k * np.sin(2 * np.pi * (k + 1) * 24.3 * T) for k in range(8))
    values, condition = features(lines + noise(level=0.001))
    assert condition.context["rotation_hz"] == pytest.approx(24.3, abs=1.0)
    assert values["rotation 1x line"] > values["rotation 2x line"] > values["rotation 3x line"]
    stronger, _ = features(3 * lines + noise(level=0.001))
    assert stronger["rotation 1x line"] - values["rotation 1x line"] == pytest.approx(
        20 * np.log10(3), abs=0.3)


def test_mains_hum_shows_in_its_family_only():
    quiet, _ = features(noise())
    hum, _ = features(noise() + 0.01 * np.sin(2 * np.pi * 100 * T))
    assert hum["100 Hz hum"] - quiet["100 Hz hum"] > 20
    assert abs(hum["120 Hz hum"] - quiet["120 Hz hum"]) < 3


def test_impacts_raise_impulsiveness_and_impact_peaks_but_steady_noise_does_not():
    steady, _ = features(noise(1))
    impacts = np.zeros(RATE)
    ring = np.exp(-np.arange(80) / 15.0) * np.sin(2 * np.pi * 1500 * np.arange(80) / RATE)
    for start in np.random.default_rng(2).integers(0, RATE - 80, 10):
        impacts[start:start + 80] += 0.3 * ring
    knocked, _ = features(noise(1) + impacts)
    assert knocked["impulsiveness 0.5-2 kHz"] > steady["impulsiveness 0.5-2 kHz"] + 1.0
    assert knocked["impact peaks 0.5-2 kHz"] > steady["impact peaks 0.5-2 kHz"] + 6
    assert steady["impulsiveness 0.5-2 kHz"] == pytest.approx(np.log(3), abs=0.3)


def _knocks(starts, level=0.3):
    impacts = np.zeros(RATE)
    ring = np.exp(-np.arange(80) / 15.0) * np.sin(2 * np.pi * 1500 * np.arange(80) / RATE)
    for start in starts:
        impacts[start:start + 80] += level * ring
    return impacts


def test_one_room_event_is_discounted_but_impacts_that_recur_are_not():
    steady, _ = features(noise(1))
    # a door: one loud knock in one eighth of the second
    door, _ = features(noise(1) + _knocks([RATE // 3], level=1.0))
    # a loose part: knocks in five of the eight eighths
    rattle, _ = features(noise(1) + _knocks(np.arange(5) * RATE // 8 + 700))
    for band in ("0.5-2 kHz",):
        assert door[f"impulsiveness {band}"] < steady[f"impulsiveness {band}"] + 0.3
        assert door[f"envelope {band} modulation"] < steady[f"envelope {band} modulation"] + 2
        assert rattle[f"impulsiveness {band}"] > steady[f"impulsiveness {band}"] + 1.0
        assert rattle[f"envelope {band} modulation"] > steady[f"envelope {band} modulation"] + 6
    # the loudest frame keeps a single knock: a loose part's few knocks are all it has
    assert door["impact peaks 0.5-2 kHz"] > steady["impact peaks 0.5-2 kHz"] + 6
    levels = [k for k in steady if k.startswith("band ") and k.endswith(" level")]
    assert max(abs(door[k] - steady[k]) for k in levels) < 1.0


def test_the_speed_is_the_fundamental_between_bins_when_the_2x_line_is_as_strong():
    for speed in (24.3, 24.5, 28.64):
        lines = sum(0.02 * a * np.sin(2 * np.pi * (k + 1) * speed * T)
                    for k, a in enumerate((0.9, 1.0, 0.5, 0.3, 0.2, 0.1, 0.1, 0.05)))
        values, condition = features(lines + noise(level=0.001))
        assert condition.context["rotation_hz"] == pytest.approx(speed, abs=0.1)
    # the 8th line is found where it is: its level does not depend on where the speed falls
    # between two bins
    eighth = [features(0.02 * np.sin(2 * np.pi * s * T) + 0.004 * np.sin(2 * np.pi * 8 * s * T)
                       + noise(level=0.001))[0]["rotation 4-8x lines"] for s in (24.0, 24.5)]
    assert abs(eighth[0] - eighth[1]) < 1.5


def test_an_impact_train_gives_an_envelope_line_at_its_rate():
    hiss = np.random.default_rng(3).standard_normal(RATE)
    high = np.fft.irfft(np.fft.rfft(hiss) * (np.fft.rfftfreq(RATE, 1 / RATE) > 3000), RATE)
    modulated = high * (1 + 0.8 * np.sin(2 * np.pi * 87.0 * T)) * 0.01
    values, condition = features(modulated)
    plain, _ = features(high * 0.01)
    assert condition.context["envelope_peak_hz"][1] == pytest.approx(87.0, abs=1.0)
    assert values["envelope 2-8 kHz peak"] > plain["envelope 2-8 kHz peak"] + 10


def test_a_band_level_moves_with_that_band_only():
    base, _ = features(noise(4))
    tone, _ = features(noise(4) + 0.05 * np.sin(2 * np.pi * 5000 * T))
    moved = {k: tone[k] - base[k] for k in base if k.endswith("level") and k.startswith("band")}
    loudest = max(moved, key=moved.get)
    assert loudest.startswith("band 4.") and moved[loudest] > 10
    assert sorted(moved.values())[-2] < 3


def test_knocks_in_a_fifth_of_the_frames_lift_the_loud_frames_not_the_median_level():
    steady, _ = features(noise(5))
    burst = np.zeros(RATE)
    for start in (2000, 7000, 12000):  # three short 300 Hz knocks: 6 of 32 frames hear them
        burst[start:start + 400] += 0.3 * np.exp(-np.arange(400) / 60.0) * np.sin(
            2 * np.pi * 300 * np.arange(400) / RATE)
    knocked, _ = features(noise(5) + burst)
    band = next(k for k in steady if k.startswith("band 0.2-") and k.endswith(" level"))
    loud = band.replace(" level", " loud frames")
    assert knocked[loud] - steady[loud] > 10
    assert knocked[band] - steady[band] < 3  # the median frame hardly hears them
    assert steady[loud] > steady[band]  # the 90th percentile frame is above the median one


def test_silence_gives_finite_features():
    values, condition = features(np.zeros(RATE))
    assert np.isfinite(condition.values).all() and condition.level_db < -150


def vib(xyz, rate=3200):
    severity = vibration_features(xyz, rate)
    condition = vibration_condition(xyz, rate, severity)
    return dict(zip(condition.names, condition.values, strict=True)), condition


def test_vibration_bearing_impacts_show_in_kurtosis_and_the_envelope_at_their_rate():
    rate, t = 3200, np.arange(3200) / 3200
    healthy = np.stack([0.05 * np.sin(2 * np.pi * 25 * t)] * 3) + 0.005 * np.random.default_rng(
        5).standard_normal((3, 3200))
    impacts = np.exp(-np.mod(t * 110.0, 1.0) / 110.0 / 0.0015) * np.sin(2 * np.pi * 1100 * t)
    plain, _ = vib(healthy, rate)
    faulty, condition = vib(healthy + np.stack([0.5 * impacts] * 3), rate)
    assert faulty["kurtosis"] > plain["kurtosis"] + 0.5
    assert faulty["high-frequency acceleration"] > plain["high-frequency acceleration"] + 20
    assert condition.context["envelope_peak_hz"][0] == pytest.approx(110.0, abs=1.5)
    assert condition.context["rotation_hz"] == pytest.approx(25.0, abs=1.0)


def test_vibration_imbalance_raises_the_1x_line():
    rate, t = 3200, np.arange(3200) / 3200
    base = np.stack([0.05 * np.sin(2 * np.pi * 25 * t)] * 3)
    plain, _ = vib(base, rate)
    shaken, _ = vib(3 * base, rate)
    assert shaken["rotation 1x velocity"] - plain["rotation 1x velocity"] == pytest.approx(
        20 * np.log10(3), abs=0.2)


def test_huge_vibration_samples_give_finite_features():
    rate, t = 3200, np.arange(3200) / 3200
    xyz = np.stack([1e200 * np.sin(2 * np.pi * 25 * t)] * 3)
    values, condition = vib(xyz, rate)
    assert np.isfinite(condition.values).all()
    small, _ = vib(xyz / 1e200, rate)
    assert values["acceleration level"] - small["acceleration level"] == pytest.approx(4000)


def test_with_a_configured_bearing_the_envelope_at_each_defect_order_is_measured():
    rate, t = 3200, np.arange(3 * 3200) / 3200
    shaft, orders = 24.6, bearing_orders(9, 7.94, 39.04)
    bpfo = dict(orders)["outer race"] * 24.0  # at the speed it really runs
    healthy = np.stack([0.05 * np.sin(2 * np.pi * 24.0 * t)] * 3) + 0.005 * \
        np.random.default_rng(6).standard_normal((3, t.size))
    impacts = np.exp(-np.mod(t * bpfo, 1.0) / bpfo / 0.0015) * np.sin(2 * np.pi * 1100 * t)
    kinematics = Kinematics(shaft, orders)

    def measured(xyz):
        condition = vibration_condition(xyz, rate, vibration_features(xyz, rate), kinematics)
        return dict(zip(condition.names, condition.values, strict=True)), condition

    plain, condition = measured(healthy)
    assert condition.names[-3:] == ("envelope at outer race 3.58x", "envelope at inner race 5.42x",
                                    "envelope at ball 4.71x")
    # the speed is searched near the configured one (24.0 Hz is 2.4 % of slip below it)
    assert condition.context["rotation_hz"] == pytest.approx(24.0, abs=0.4)
    assert condition.context["defect_hz"][0] == pytest.approx(3.585 * 24.0, abs=1.0)
    faulty, _ = measured(healthy + np.stack([0.3 * impacts] * 3))
    rise = {k: faulty[k] - plain[k] for k in plain if k.startswith("envelope at")}
    assert max(rise, key=rise.get) == "envelope at outer race 3.58x" and rise[max(rise)] > 10
    # without the configuration: the broadband features, as before
    assert vib(healthy, rate)[1].names == condition.names[:-3]
