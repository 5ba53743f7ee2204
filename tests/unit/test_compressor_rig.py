"""The independent compressor rig does the physics it claims (gateway/devtools/compressor_rig/).

Most checks take the difference between a faulty window and the healthy window drawn with the
same randomness: since the fault has a random stream of its own, that difference is the fault's
sound alone (through the microphone), and its spectrum or envelope can be checked directly.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from gateway.config import IntakeSection
from gateway.devtools import compressor_rig as rig
from gateway.devtools.compressor_rig.audio import rattle_times
from gateway.devtools.compressor_rig.signals import scene
from gateway.intake.payloads import Inbound, parse_message
from gateway.records import Window
from gateway.wav import decode_wav

T0 = 1_700_000_000.0
UNITS = [rig.unit_for(f"rig-{i:02d}") for i in range(8)]


def spectrum(x: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed magnitude spectrum."""
    return (np.fft.rfftfreq(x.size, 1 / rate),
            np.abs(np.fft.rfft((x - x.mean()) * np.hanning(x.size))))


def peak_hz(x: np.ndarray, rate: float, lo: float, hi: float) -> float:
    freqs, mag = spectrum(x, rate)
    band = (freqs >= lo) & (freqs <= hi)
    return float(freqs[band][np.argmax(mag[band])])


def envelope(x: np.ndarray) -> np.ndarray:
    """Hilbert envelope, via the analytic signal."""
    spec = np.fft.fft(x)
    gain = np.zeros(x.size)
    gain[0], gain[1:(x.size + 1) // 2] = 1, 2
    if x.size % 2 == 0:
        gain[x.size // 2] = 1
    return np.abs(np.fft.ifft(spec * gain))


def shaft_now(unit: rig.Unit, t_s: float) -> float:
    return unit.shaft_hz * rig.drift_at(unit, t_s)[1]


def fault_only(unit, fault, severity=1.0, stream="audio", t_s=T0, **kw) -> np.ndarray:
    make = rig.audio_window if stream == "audio" else rig.vibration_window
    healthy = make(unit, t_s, running=True, **kw)
    faulty = make(unit, t_s, running=True, fault=fault, severity=severity, **kw)
    return np.asarray(faulty, dtype=float) - np.asarray(healthy, dtype=float)


# --- units and determinism ---------------------------------------------------------------------


def test_same_seed_same_samples_and_other_ids_other_machines():
    a = rig.audio_window(rig.unit_for("box-1"), T0, fault="rattle", severity=0.5)
    b = rig.audio_window(rig.unit_for("box-1"), T0, fault="rattle", severity=0.5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, rig.audio_window(rig.unit_for("box-2"), T0))
    assert rig.unit_for("box-1", seed=1) != rig.unit_for("box-1", seed=0)
    assert np.array_equal(rig.vibration_window(UNITS[0], T0), rig.vibration_window(UNITS[0], T0))
    rng = [np.random.default_rng(5), np.random.default_rng(5)]
    given = rig.audio_window(UNITS[1], T0, rng=rng[0])
    assert np.array_equal(given, rig.audio_window(UNITS[1], T0, rng=rng[1]))
    assert not np.array_equal(given, rig.audio_window(UNITS[1], T0))


def test_units_differ_in_their_physics():
    speeds = {round(u.shaft_hz, 2) for u in UNITS}
    assert len(speeds) == len(UNITS)
    assert {u.compressor for u in UNITS} == {"reciprocating", "scroll"}
    for u in UNITS:
        sync = u.mains_hz * 2 / u.poles
        assert u.mains_hz in (50.0, 60.0) and u.poles in (2, 4)
        assert 0.95 * sync <= u.shaft_hz <= 0.99 * sync  # 1-5 % slip
        assert u.audio_rate in rig.AUDIO_RATES and u.vib_rate in rig.VIBRATION_RATES


@pytest.mark.parametrize("fault", rig.AUDIO_FAULTS)
def test_severity_zero_is_healthy(fault):
    unit = UNITS[2]
    assert np.array_equal(rig.audio_window(unit, T0, fault=fault, severity=0.0, running=True),
                          rig.audio_window(unit, T0, running=True))


@pytest.mark.parametrize("fault", rig.VIBRATION_FAULTS)
def test_vibration_severity_zero_is_healthy(fault):
    unit = UNITS[3]
    assert np.array_equal(rig.vibration_window(unit, T0, fault=fault, severity=0.0),
                          rig.vibration_window(unit, T0))


def test_bad_fault_or_severity_is_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        rig.audio_window(UNITS[0], T0, fault="bearing_outer")
    with pytest.raises(ValueError, match="outside"):
        rig.vibration_window(UNITS[0], T0, fault="imbalance", severity=1.5)


@pytest.mark.parametrize("rate", rig.AUDIO_RATES)
def test_audio_window_shape_and_range(rate):
    x = rig.audio_window(UNITS[4], T0, sample_rate=rate, fault="leak", severity=1.0)
    assert x.dtype == np.float32 and x.shape == (rate,)
    assert np.all(np.abs(x) <= 1.0) and 1e-3 < np.sqrt(np.mean(x.astype(float) ** 2)) < 0.3


# --- healthy physics ---------------------------------------------------------------------------


def test_rotation_lines_sit_where_the_speed_puts_them():
    for unit in UNITS:
        x = rig.audio_window(unit, T0, running=True, transients=False, duration_s=4.0)
        fr = shaft_now(unit, T0)
        freqs, mag = spectrum(x.astype(float), unit.audio_rate)
        on = [mag[np.abs(freqs - k * fr) < 0.5].max() for k in range(1, 9)]
        off = [mag[np.abs(freqs - (k + 0.5) * fr) < 0.5].max() for k in range(1, 9)]
        above = np.array(on) / np.array(off)  # each order against the half-order after it
        assert above[:3].max() > 7 and np.median(above[:4]) > 3, unit.device_id
        if unit.compressor == "reciprocating":  # pistons: a long, rich series
            assert np.median(above) > 5, unit.device_id


def test_vibration_1x_at_the_shaft_speed_with_gravity_on_z():
    for unit in UNITS:
        xyz = rig.vibration_window(unit, T0, running=True, duration_s=4.0)
        assert abs(peak_hz(xyz[0], unit.vib_rate, 5, 1.5 * unit.shaft_hz)
                   - shaft_now(unit, T0)) <= 0.5
        assert abs(xyz[2].mean() - rig.GRAVITY) < 0.05 and abs(xyz[0].mean()) < 0.05


def test_duty_cycle_runs_and_stops_and_off_is_quieter():
    unit = UNITS[5]
    on_s, off_s, _ = unit.duty
    states = [rig.running_at(unit, T0 + m * 60) for m in range(7 * 24 * 60)]
    share = np.mean(states)
    assert 0.8 * on_s / (on_s + off_s) < share < 1.2 * on_s / (on_s + off_s) + 0.05
    assert 7 * 24 * 3600 / (on_s + off_s) * 0.9 < sum(
        a and not b for a, b in zip(states, states[1:], strict=False)) + 1
    rms = {}
    for running in (True, False):
        x = rig.audio_window(unit, T0, running=running, transients=False).astype(float)
        rms[running] = np.sqrt(np.mean(x ** 2))
    assert rms[True] > 2 * rms[False]


def test_drift_wanders_a_little_over_days_and_follows_into_the_sound():
    unit = UNITS[6]
    days = np.arange(0, 14, 0.05) * rig.DAY_S
    level, speed, modes = np.array([rig.drift_at(unit, T0 + d) for d in days]).T
    assert 0.3 < level.max() - level.min() < 3.6  # dB
    assert np.abs(speed - 1).max() < 0.005 and speed.max() - speed.min() > 5e-4
    assert np.abs(modes - 1).max() < 0.016
    loud, quiet = T0 + days[np.argmax(level)], T0 + days[np.argmin(level)]
    gap_db = 20 * np.log10(np.std(rig.vibration_window(unit, loud, running=True)[0])
                           / np.std(rig.vibration_window(unit, quiet, running=True)[0]))
    assert gap_db == pytest.approx(level.max() - level.min(), abs=1.0)


def test_room_transients_happen_now_and_then_and_can_be_turned_off():
    unit = UNITS[0]
    with_events = sum(not np.array_equal(rig.audio_window(unit, T0 + i, running=True),
                                         rig.audio_window(unit, T0 + i, running=True,
                                                          transients=False))
                      for i in range(300))
    assert 0.2 * unit.transient_rate * 300 <= with_events <= 2.5 * unit.transient_rate * 300 + 3


# --- audio faults ------------------------------------------------------------------------------


def test_bearing_impacts_repeat_at_a_non_integer_order_and_ring_a_resonance():
    for unit in UNITS[:4]:
        d = fault_only(unit, "bearing", duration_s=2.0)
        rate, fr = unit.audio_rate, shaft_now(unit, T0)
        bpfo = unit.bearing.orders()["bpfo"] * fr
        assert abs(unit.bearing.orders()["bpfo"] % 1 - 0.5) < 0.499  # not a rotation harmonic
        assert abs(peak_hz(envelope(d), rate, 0.6 * bpfo, 1.4 * bpfo) - bpfo) <= 1.0
        assert peak_hz(d, rate, 1000, 7000) == pytest.approx(unit.bearing_res_hz, rel=0.08)


def test_leak_is_hiss_in_its_band():
    for unit in UNITS[:4]:
        d = fault_only(unit, "leak")
        freqs, mag = spectrum(d, unit.audio_rate)
        lo, hi = unit.leak_band
        inside = (mag[(freqs > 0.8 * lo) & (freqs < 1.2 * hi)] ** 2).sum()
        assert inside > 0.9 * (mag ** 2).sum()
        flatness = np.exp(np.mean(np.log(mag[(freqs > lo) & (freqs < hi)] ** 2))) / np.mean(
            mag[(freqs > lo) & (freqs < hi)] ** 2)
        assert flatness > 0.3  # noise, not lines


def test_rattle_is_irregular_impacts_more_of_them_when_looser():
    unit = UNITS[1]
    d = fault_only(unit, "rattle", duration_s=2.0)
    kurtosis = np.mean(d ** 4) / np.mean(d ** 2) ** 2
    assert kurtosis > 6  # impulsive, where steady sound is about 3 or less
    sc_rng = np.random.default_rng(0)
    window = scene(unit, T0, 16000, 10.0, sc_rng)
    counts = [rattle_times(window, s, np.random.default_rng(1)).size for s in (0.25, 1.0)]
    assert counts[1] > 2 * counts[0]
    gaps = np.diff(rattle_times(window, 1.0, np.random.default_rng(2)))
    assert np.std(gaps) > 0.3 * np.mean(gaps)  # not periodic


def test_imbalance_raises_the_1x_line():
    for unit in UNITS[:4]:
        d = fault_only(unit, "imbalance", duration_s=2.0)
        fr = shaft_now(unit, T0)
        assert abs(peak_hz(d, unit.audio_rate, 10, 8000) - fr) <= 0.5


def test_electrical_fault_is_hum_at_twice_the_mains_and_its_harmonics():
    for unit in UNITS[:4]:
        d = fault_only(unit, "electrical")
        rate, f1 = unit.audio_rate, unit.mains_hz
        assert peak_hz(d, rate, 20, 8000) == pytest.approx(2 * f1, abs=1.0)
        freqs, mag = spectrum(d, rate)
        floor = np.median(mag)
        for k in (4, 6):
            assert mag[np.abs(freqs - k * f1) < 1.5].max() > 100 * floor


@pytest.mark.parametrize("fault", rig.AUDIO_FAULTS)
def test_a_fault_grows_with_severity(fault):
    unit = UNITS[7]
    levels = [np.sqrt(np.mean(fault_only(unit, fault, s) ** 2)) for s in (0.1, 0.5, 1.0)]
    assert levels[0] < levels[1] < levels[2]
    if fault != "rattle":  # its impacts are drawn anew at each severity
        assert levels[1] / levels[2] == pytest.approx(0.5, rel=0.05)


def test_faults_are_silent_while_the_compressor_is_off():
    unit = UNITS[3]
    assert np.array_equal(rig.audio_window(unit, T0, running=False, fault="bearing", severity=1),
                          rig.audio_window(unit, T0, running=False))


# --- vibration faults --------------------------------------------------------------------------


@pytest.mark.parametrize("fault,order", [("bearing_outer", "bpfo"), ("bearing_inner", "bpfi"),
                                         ("bearing_ball", "bsf")])
def test_bearing_defects_impact_at_their_kinematic_frequency(fault, order):
    for unit in UNITS[:4]:
        d = fault_only(unit, fault, stream="vibration", duration_s=4.0)[0]
        fr = shaft_now(unit, T0)
        defect = unit.bearing.orders()[order] * fr * (2 if order == "bsf" else 1)
        env = envelope(d)
        assert abs(peak_hz(env, unit.vib_rate, 0.7 * defect, 1.3 * defect) - defect) <= 0.5
        assert peak_hz(d, unit.vib_rate, 100, unit.vib_rate / 2) == pytest.approx(
            unit.vib_res_hz, rel=0.1)


def test_inner_race_impacts_are_modulated_at_the_shaft_speed():
    unit = UNITS[0]
    env = envelope(fault_only(unit, "bearing_inner", stream="vibration", duration_s=4.0)[0])
    fr = shaft_now(unit, T0)
    freqs, mag = spectrum(env, unit.vib_rate)
    at_1x = mag[np.abs(freqs - fr) < 0.5].max()
    outer = envelope(fault_only(unit, "bearing_outer", stream="vibration", duration_s=4.0)[0])
    freqs_o, mag_o = spectrum(outer, unit.vib_rate)
    assert at_1x > 5 * mag_o[np.abs(freqs_o - fr) < 0.5].max() * mag.max() / mag_o.max()


def test_imbalance_is_1x_radial_and_misalignment_2x_and_axial():
    unit = UNITS[1]
    fr = shaft_now(unit, T0)
    imbalance = fault_only(unit, "imbalance", stream="vibration", duration_s=4.0)
    for axis in (0, 1):
        assert abs(peak_hz(imbalance[axis], unit.vib_rate, 5, 500) - fr) <= 0.5
    assert np.std(imbalance[2]) < 0.3 * np.std(imbalance[0])
    misalignment = fault_only(unit, "misalignment", stream="vibration", duration_s=4.0)
    assert abs(peak_hz(misalignment[0], unit.vib_rate, 5, 500) - 2 * fr) <= 0.5
    freqs, mag = spectrum(misalignment[2], unit.vib_rate)
    assert mag[np.abs(freqs - fr) < 0.5].max() > 0.3 * mag.max()
    assert np.std(misalignment[2]) > np.std(imbalance[2])


# --- what goes on the wire ---------------------------------------------------------------------


def test_payloads_are_what_the_gateway_accepts():
    unit = UNITS[2]
    samples = rig.audio_window(unit, T0)
    decoded, rate = decode_wav(rig.wav_payload(samples, unit.audio_rate))
    assert rate == unit.audio_rate and np.allclose(decoded[:, 0], samples, atol=1 / 32767)
    xyz = rig.vibration_window(unit, T0)
    payload = rig.vibration_payload(xyz, unit.vib_rate, T0).encode()
    record = parse_message(Inbound("sensors/rig-02/vibration", payload,
                                   int(time.time() * 1000)), "sensors", IntakeSection())
    assert isinstance(record, Window)
    assert json.loads(payload)["sample_rate"] == unit.vib_rate
