"""A long vibration window is analysed in Welch segments (issue 12.7): memory is bounded by a
segment, the figures describe the same machine as a whole-window analysis would, and every
window up to SEGMENTED_AXIS samples per axis (the boxes send 1 s: 25,600) keeps its figures."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from gateway.inference import segments
from gateway.inference.features import vibration_features, window_dtype
from gateway.inference.vibration_features import (
    Kinematics,
    bearing_orders,
    vibration_analysis,
    vibration_condition,
)

RATE = 25_600
KINEMATICS = Kinematics(24.5, bearing_orders(9, 7.9, 38.5))


def machine(samples: int, seed: int = 4, rate: int = RATE) -> np.ndarray:
    """Gravity, a 24.5 Hz imbalance line with its 2x, noise and 1.6 kHz bearing rings at the
    outer race rate: stationary, so any long enough stretch of it describes it."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    rings = np.zeros(samples)
    ring = np.exp(-np.arange(200) / 30.0) * np.sin(2 * np.pi * 1600 * np.arange(200) / rate)
    period = rate / (24.5 * KINEMATICS.orders[0][1])
    for start in np.arange(0, samples - 200, period).astype(int):
        rings[start:start + 200] += 2.0 * ring
    base = np.sin(2 * np.pi * 24.5 * t) + 0.3 * np.sin(2 * np.pi * 49 * t) + rings
    return 9.81 + np.stack([base * (1 + 0.3 * a) + rng.normal(0, 0.2, samples)
                            for a in range(3)])


def analysis(xyz: np.ndarray, rate: int = RATE):
    severity = vibration_features(xyz, rate)
    return severity, vibration_condition(xyz, rate, severity, KINEMATICS)


@pytest.mark.parametrize("samples", [3_200, RATE, 2 * RATE, segments.SEGMENTED_AXIS])
def test_a_window_up_to_the_segmented_length_is_analysed_whole(monkeypatch, samples):
    """The whole-window code (bit for bit the figures before segments) is the only one run."""
    xyz = machine(samples)
    before = analysis(xyz)

    def refuse(*args, **kwargs):
        raise AssertionError("a window of normal length went into segments")

    for name in ("mean_power", "mean_of_powers", "mean_square_sum", "max_abs", "segments"):
        for module in ("features", "vibration_features"):
            target = f"gateway.inference.{module}.{name}"
            monkeypatch.setattr(target, refuse, raising=False)
    severity, condition = analysis(xyz)
    assert severity == before[0] and np.array_equal(condition.values, before[1].values)
    severity, condition = vibration_analysis(xyz.copy(), RATE, KINEMATICS)
    assert severity == before[0] and np.array_equal(condition.values, before[1].values)


def test_a_one_second_window_keeps_the_figures_it_had_before_segments():
    """Figures of a box's normal window as the analysis gave them before this change (to
    round-off, which may differ on another CPU's FFT kernels): detection must not move."""
    severity, condition = analysis(machine(RATE, seed=9))
    figures = severity.as_dict()
    assert figures.pop("iso_zone") == "D"
    assert figures == pytest.approx({
        "rms_accel_ms2": 1.8727873982268706, "rms_velocity_mm_s": 7.432014884407132,
        "kurtosis": 2.42730598651361, "crest_factor": 3.799846100566041,
        "dominant_hz": 24.4735759895241}, rel=1e-9)
    assert condition.values == pytest.approx(GOLDEN_CONDITION, rel=1e-9, abs=1e-9)


GOLDEN_CONDITION = [5.449769567605774, -2.275796492368828, 0.8867819948229354,
                    1.3349605660611572, 0.6819454076815412, 40.299606603339896,
                    20.37031629116114, 3.2349937036146468, 17.422131415323683,
                    37.71626890184378, 28.023936310039588, 5.533394081155958]


def test_segments_cover_the_window_overlapping_by_at_least_half():
    for samples in (segments.SEGMENT + 1, segments.SEGMENTED_AXIS + 1, 691_200, 699_007):
        starts = segments.segment_starts(samples)
        assert starts[0] == 0 and starts[-1] + segments.SEGMENT == samples
        assert (np.diff(starts) <= segments.SEGMENT // 2).all() and (np.diff(starts) > 0).all()


def test_a_long_window_describes_the_machine_as_a_whole_window_does():
    """Averaged spectra estimate the same powers: levels, velocity, speed and the bearing's
    envelope line agree with the analysis of a stretch short enough to be taken whole."""
    xyz = machine(600_000)
    long_severity, long_condition = analysis(xyz)
    short_severity, short_condition = analysis(xyz[:, : segments.SEGMENTED_AXIS])
    assert long_severity.iso_zone == short_severity.iso_zone
    assert long_severity.rms_velocity_mm_s == pytest.approx(
        short_severity.rms_velocity_mm_s, rel=0.02)
    assert long_severity.dominant_hz == pytest.approx(24.5, abs=0.1)
    assert long_severity.kurtosis == pytest.approx(short_severity.kurtosis, rel=0.02)
    long_values = dict(zip(long_condition.names, long_condition.values, strict=True))
    short_values = dict(zip(short_condition.names, short_condition.values, strict=True))
    for name in ("acceleration level", "high-frequency acceleration", "rotation 1x velocity",
                 "velocity 10-1000 Hz"):
        assert long_values[name] == pytest.approx(short_values[name], abs=0.5), name
    # the 2x line is read at twice the speed's bin: segments' bins are twice as wide (0.2 Hz),
    # so that bin lies up to a bin off the line and catches a little less of it
    assert long_values["rotation 2x velocity"] == pytest.approx(
        short_values["rotation 2x velocity"], abs=1.0)
    assert long_condition.context["rotation_hz"] == pytest.approx(24.5, abs=0.2)
    outer = next(n for n in long_values if n.startswith("envelope at outer race"))
    ball = next(n for n in long_values if n.startswith("envelope at ball"))
    assert long_values[outer] > long_values[ball] + 20  # the defect's line stands out


def test_a_long_window_held_as_float32_gives_the_figures_of_float64():
    """The decoded largest window is float32 (features.window_dtype), its figures computed in
    float64 a segment at a time: they match the float64 window's to far below any alert."""
    xyz = machine(699_007)
    assert window_dtype(xyz.shape[1]) == np.float32 and window_dtype(RATE) == np.float64
    wide = vibration_analysis(xyz.copy(), RATE, KINEMATICS)
    narrow = vibration_analysis(xyz.astype(np.float32), RATE, KINEMATICS)
    figures = narrow[0].as_dict()
    assert figures.pop("iso_zone") == wide[0].iso_zone
    assert figures == pytest.approx(
        {k: v for k, v in wide[0].as_dict().items() if k != "iso_zone"}, rel=1e-6)
    assert narrow[1].values == pytest.approx(wide[1].values, abs=1e-4)  # dB and logs


def test_a_long_window_is_analysed_in_memory_bounded_by_a_segment():
    """699,007 samples per axis (the most a 4 MiB message holds): beside the window itself
    (17 MB, centred in place), the whole analysis holds a segment's worth. Whole-window
    spectra per axis needed 37 MB."""
    xyz = machine(699_007)
    tracemalloc.start()
    try:
        severity, condition = vibration_analysis(xyz, RATE, KINEMATICS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / 1e6 < 15, f"peak {peak / 1e6:.1f} MB"
    assert np.isfinite(condition.values).all() and severity.iso_zone in "ABCD"
