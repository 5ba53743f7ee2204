"""The milk-room generator: determinism, healthy twins, faults where physics puts them,
the milking-driven schedule, and the payload and WAV formats of shared/INTERFACES.md."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from gateway.devtools import milkroom
from gateway.devtools.milkroom import schedule
from gateway.devtools.milkroom.bearing import defect_hz
from gateway.devtools.milkroom.machine import motion
from gateway.wav import decode_wav

T0 = 1_760_000_000.0  # a weekday in November 2025
AUDIO = milkroom.AUDIO_FAULTS
VIB = milkroom.VIBRATION_FAULTS


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def dbfs(x: np.ndarray) -> float:
    return 20.0 * math.log10(rms(x) + 1e-12)


def find_unit(pred, prefix: str = "find") -> milkroom.Unit:
    for i in range(400):
        unit = milkroom.unit_for(f"{prefix}-{i}")
        if pred(unit):
            return unit
    raise AssertionError("no unit matches")


def quiet_time(unit: milkroom.Unit) -> float:
    """03:00 local, after the first day: no parlour, no tractors."""
    day = schedule.local_day(unit, T0) + 1
    return day * 86400.0 - unit.farm.tz_hours * 3600.0 + 3 * 3600.0


def machine_axes(unit: milkroom.Unit, xyz: np.ndarray) -> np.ndarray:
    """Back from the box's axes to radial H, radial V, axial (the mapping is a rotation)."""
    return np.array(unit.accel.axes).reshape(3, 3).T @ xyz


def line(x: np.ndarray, rate: float, hz: float) -> float:
    """Amplitude of the line at hz (Hann window, peak of the three nearest bins)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size))) * 4.0 / x.size
    k = int(round(hz * x.size / rate))
    return float(spec[max(k - 1, 0) : k + 2].max())


def envelope_spectrum(x: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Spectrum of the Hilbert envelope of x high-passed at 500 Hz (above the lines)."""
    n = x.size
    spec = np.fft.fft(x)
    f = np.fft.fftfreq(n, 1.0 / rate)
    spec[(f < 500.0)] = 0.0  # keep positive frequencies above 500 Hz: analytic signal
    env = np.abs(np.fft.ifft(2.0 * spec))
    return np.fft.rfftfreq(n, 1.0 / rate), np.abs(np.fft.rfft(env - env.mean()))


# -- contract -----------------------------------------------------------------------------


def test_public_names_and_fault_lists():
    assert sorted(milkroom.__all__) == sorted([
        "AUDIO_FAULTS", "VIBRATION_FAULTS", "Unit", "unit_for", "running_at", "device_week",
        "audio_window", "audio_wav", "vibration_window", "vibration_payload"])
    assert VIB == ("bearing_outer", "bearing_inner", "bearing_ball", "imbalance",
                   "misalignment", "looseness")
    assert len(AUDIO) == 10 and len(set(AUDIO)) == 10
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", name) for name in AUDIO)
    assert not set(AUDIO) & set(VIB)


def test_units_are_deterministic_and_differ_by_id():
    a, b = milkroom.unit_for("box-7"), milkroom.unit_for("box-7")
    assert a == b and hash(a) == hash(b)
    others = [milkroom.unit_for(f"box-{i}") for i in range(20)]
    assert len({u.compressor for u in others}) == 20
    assert milkroom.unit_for("box-7", seed=1) != a
    for u in others:
        assert u.audio_rate in (16_000, 22_050, 44_100, 48_000)
        assert u.vib_rate in (3_200, 5_120, 6_400, 10_240, 12_800, 25_600)
        assert u.vib_unit in ("m/s2", "g")
    assert {u.compressor.kind for u in others} == {"reciprocating", "scroll"}


# -- audio ----------------------------------------------------------------------------------


def test_audio_is_deterministic_on_the_pcm16_grid_with_the_box_layout():
    for stereo in (False, True):
        unit = find_unit(lambda u, s=stereo: u.mic.stereo == s)
        x = milkroom.audio_window(unit, T0 + 12.3)
        assert x.dtype == np.float32
        assert x.shape == ((unit.audio_rate, 2) if stereo else (unit.audio_rate,))
        assert np.array_equal(x, milkroom.audio_window(unit, T0 + 12.3))
        codes = x.astype(np.float64) * 32768.0
        assert np.array_equal(codes, np.round(codes))
        assert x.min() >= -1.0 and x.max() < 1.0
        assert not np.array_equal(x, milkroom.audio_window(unit, T0 + 13.3))
    half = milkroom.audio_window(unit, T0, seconds=0.5)
    assert half.shape[0] == round(0.5 * unit.audio_rate)


def test_audio_wav_decodes_to_the_window():
    unit = milkroom.unit_for("wav-box")
    samples, rate = decode_wav(milkroom.audio_wav(unit, T0, "phase_imbalance", 0.4, True))
    window = milkroom.audio_window(unit, T0, "phase_imbalance", 0.4, True)
    assert rate == unit.audio_rate
    assert np.array_equal(samples, window.reshape(window.shape[0], -1))


def test_running_compressor_is_loud_and_the_night_is_quiet():
    on, off = [], []
    for i in range(8):
        unit = milkroom.unit_for(f"level-{i}")
        t = quiet_time(unit)
        on.append(dbfs(milkroom.audio_window(unit, t, running=True)))
        off.append(dbfs(milkroom.audio_window(unit, t, running=False)))
    assert all(-32.0 < level < -12.0 for level in on), on
    assert np.median(off) < -45.0, off
    assert all(a - b > 10.0 for a, b in zip(on, off, strict=True))


def test_a_start_is_heard_within_an_off_window():
    unit = find_unit(lambda u: not u.compressor.soft_start and not u.compressor.inverter_hz)
    start = schedule.next_start(unit, quiet_time(unit))
    assert start is not None and not milkroom.running_at(unit, start - 0.5)
    x = milkroom.audio_window(unit, start - 0.5).astype(np.float64)
    tenth = x.shape[0] // 10
    before, after = x[tenth : 4 * tenth], x[6 * tenth : 9 * tenth]
    assert dbfs(after) - dbfs(before) > 8.0  # clack, inrush, then the running compressor


# -- audio faults ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_unit() -> milkroom.Unit:
    return find_unit(lambda u: u.audio_rate == 22_050 and not u.mic.stereo, "faults")


def test_severity_zero_is_the_healthy_twin(fault_unit):
    t = T0 + 101.0
    healthy = milkroom.audio_window(fault_unit, t, running=True)
    for fault in AUDIO + VIB:
        assert np.array_equal(milkroom.audio_window(fault_unit, t, fault, 0.0, True), healthy)
    vib = milkroom.vibration_window(fault_unit, t, running=True)
    for fault in AUDIO + VIB:
        assert np.array_equal(milkroom.vibration_window(fault_unit, t, fault, 0.0, True), vib)


def test_every_audio_fault_adds_a_contribution_that_grows_with_severity(fault_unit):
    t = quiet_time(fault_unit) + 55.0
    healthy = milkroom.audio_window(fault_unit, t, running=True).astype(np.float64)
    for fault in AUDIO:
        sizes = [rms(milkroom.audio_window(fault_unit, t, fault, s, True) - healthy)
                 for s in (0.1, 0.5, 1.0)]
        assert 0.0 < sizes[0] < sizes[1] < sizes[2], (fault, sizes)
        assert 1.6 < sizes[2] / sizes[1] < 3.0, (fault, sizes)  # about linear in severity
        assert sizes[2] > 0.02 * rms(healthy), fault


def test_fan_bearing_is_quiet_and_slugging_loud(fault_unit):
    t = quiet_time(fault_unit) + 5.0
    healthy = milkroom.audio_window(fault_unit, t, running=True).astype(np.float64)
    rel = {f: dbfs(milkroom.audio_window(fault_unit, t, f, 0.5, True) - healthy) - dbfs(healthy)
           for f in ("fan_bearing_wear", "liquid_slugging")}
    assert rel["fan_bearing_wear"] < -20.0 < rel["liquid_slugging"], rel


def test_faults_are_silent_while_stopped_but_the_agitator_turns_on_its_timer(fault_unit):
    t = quiet_time(fault_unit)
    while not schedule.agitator_at(fault_unit, t, False):
        t += 30.0
    healthy = milkroom.audio_window(fault_unit, t, running=False)
    for fault in AUDIO:
        faulty = milkroom.audio_window(fault_unit, t, fault, 1.0, False)
        assert np.array_equal(faulty, healthy) == (fault != "agitator_gearbox_wear"), fault


def test_vibration_names_leave_audio_alone_and_audio_names_leave_vibration_alone(fault_unit):
    t = T0 + 3.0
    audio = milkroom.audio_window(fault_unit, t, running=True)
    vib = milkroom.vibration_window(fault_unit, t, running=True)
    for fault in VIB:
        assert np.array_equal(milkroom.audio_window(fault_unit, t, fault, 1.0, True), audio)
        assert not np.array_equal(milkroom.vibration_window(fault_unit, t, fault, 0.3, True), vib)
    for fault in AUDIO:
        assert np.array_equal(milkroom.vibration_window(fault_unit, t, fault, 1.0, True), vib)


# -- vibration ------------------------------------------------------------------------------


def band_velocity_mm_s(xyz: np.ndarray, rate: float) -> float:
    """10-1000 Hz velocity RMS (quadratic mean over the axes), integrating in frequency."""
    n = xyz.shape[1]
    f = np.fft.rfftfreq(n, 1.0 / rate)
    inside = (f >= 10) & (f <= 1000)
    v = np.fft.rfft(xyz, axis=1)[:, inside] / (2j * np.pi * f[inside])
    per_axis = np.sqrt(2.0 * np.sum(np.abs(v) ** 2, axis=1)) / n
    return float(np.sqrt(np.mean(per_axis**2)) * 1000.0)


def test_vibration_window_levels_and_noise_floor():
    for i in range(6):
        unit = milkroom.unit_for(f"shake-{i}")
        t = quiet_time(unit)
        xyz = milkroom.vibration_window(unit, t, running=True)
        assert xyz.shape == (3, unit.vib_rate)
        assert np.array_equal(xyz, milkroom.vibration_window(unit, t, running=True))
        assert 0.5 <= band_velocity_mm_s(xyz, unit.vib_rate) <= 2.5
        floor = milkroom.vibration_window(unit, t, running=False)
        assert all(0.004 < rms(axis) < 0.025 for axis in floor)


def test_outer_race_defect_is_the_envelope_peak():
    for i in range(3):
        unit = find_unit(lambda u: u.vib_rate >= 5120, f"outer-{i}")
        t = T0 + 17.0 * i
        f_rot = motion(unit, t, True, 1.0, unit.vib_rate).rot_hz
        bpfo = defect_hz(unit.bearing, f_rot)["outer"]
        xyz = milkroom.vibration_window(unit, t, "bearing_outer", 0.6, True)
        f, env = envelope_spectrum(xyz[np.argmax(np.abs(xyz).max(axis=1))], unit.vib_rate)
        band = (f > 5) & (f < 500)
        assert abs(f[band][np.argmax(env[band])] - bpfo) < 2.0


def test_inner_race_at_bpfi_with_rotation_sidebands_and_ball_at_twice_spin_with_cage():
    unit = find_unit(lambda u: u.vib_rate >= 10_240, "inner")
    f_rot = motion(unit, T0, True, 1.0, unit.vib_rate).rot_hz
    hz = defect_hz(unit.bearing, f_rot)
    healthy = milkroom.vibration_window(unit, T0, running=True)
    inner = milkroom.vibration_window(unit, T0, "bearing_inner", 0.8, True) - healthy
    f, env = envelope_spectrum(inner[0], unit.vib_rate)
    at = lambda hz_: float(env[np.argmin(np.abs(f - hz_))])  # noqa: E731
    floor = float(np.median(env[(f > 5) & (f < 1000)]))
    for target in (f_rot, hz["inner"], hz["inner"] - f_rot, hz["inner"] + f_rot):
        assert at(target) > 8.0 * floor, target
    ball = milkroom.vibration_window(unit, T0, "bearing_ball", 0.8, True) - healthy
    f, env = envelope_spectrum(ball[0], unit.vib_rate)
    floor = float(np.median(env[(f > 5) & (f < 1000)]))
    assert at(hz["ball"]) > 8.0 * floor and at(hz["cage"]) > 8.0 * floor


def test_imbalance_misalignment_and_looseness_lines():
    unit = find_unit(lambda u: u.vib_rate >= 5120, "lines")
    rate, t = unit.vib_rate, T0 + 40.0
    f_rot = motion(unit, t, True, 1.0, rate).rot_hz
    healthy = machine_axes(unit, milkroom.vibration_window(unit, t, running=True))
    ones = [line(machine_axes(unit, milkroom.vibration_window(unit, t, "imbalance", s, True)
                              )[0] - healthy[0], rate, f_rot) for s in (0.2, 0.6, 1.0)]
    assert ones[0] < ones[1] < ones[2]
    full = machine_axes(unit, milkroom.vibration_window(unit, t, "imbalance", 1.0, True))
    assert line(full[0], rate, f_rot) > 2.0 * line(healthy[0], rate, f_rot)
    mis = machine_axes(unit, milkroom.vibration_window(unit, t, "misalignment", 1.0, True))
    assert line(mis[2], rate, f_rot) > 3.0 * line(healthy[2], rate, f_rot)  # axial 1x
    assert line(mis[2], rate, 2 * f_rot) > 3.0 * line(healthy[2], rate, 2 * f_rot)
    loose = machine_axes(unit, milkroom.vibration_window(unit, t, "looseness", 1.0, True))
    extra = loose[1] - healthy[1]
    orders = [line(extra, rate, k * f_rot / 2) for k in range(1, 21)]
    assert sum(a > 0.05 * max(orders) for a in orders) >= 12  # many harmonics, half orders
    assert orders[0] > 0.05 * max(orders) and orders[2] > 0.05 * max(orders)  # 0.5x, 1.5x


# -- schedule -------------------------------------------------------------------------------


def test_running_follows_milking_and_stops_for_the_wash():
    washed = 0
    for i in range(6):
        unit = milkroom.unit_for(f"farm-{i}")
        first = schedule.local_day(unit, T0)
        for day in range(first, first + 3):
            plan = schedule.day_plan(unit, day)
            for start, end in plan.milkings:  # milk flows in: a pull-down run through it
                assert all(milkroom.running_at(unit, t) for t in np.arange(start + 900, end, 60))
            for start, end in plan.wash:
                washed += 1
                assert not any(milkroom.running_at(unit, t) for t in np.arange(start, end, 60))
            runs = [b - a for a, b, _ in plan.runs]
            assert max(runs) > 3600  # the pull-down after a milking
            if not unit.farm.ice_bank:  # the thermostat holds 4 C with short cycles
                assert np.median(runs) < 900
    assert washed >= 4


def test_device_week_samples_running_at():
    unit = milkroom.unit_for("week-box")
    week = milkroom.device_week(unit, T0, 300.0, 7)
    assert len(week) == 7 * 86400 // 300
    assert [t for t, _ in week[:3]] == [T0, T0 + 300.0, T0 + 600.0]
    assert all(on == milkroom.running_at(unit, t) for t, on in week[::37])
    duty = np.mean([on for _, on in week])
    assert 0.15 < duty < 0.75
    assert len(milkroom.device_week(unit, T0, 7.0, 0.001)) == math.ceil(86.4 / 7.0)


# -- payload, errors, speed -----------------------------------------------------------------


def test_vibration_payload_follows_interfaces():
    for vib_unit in ("m/s2", "g"):
        unit = find_unit(lambda u, v=vib_unit: u.vib_unit == v, "payload")
        xyz = milkroom.vibration_window(unit, T0, running=True)
        payload = milkroom.vibration_payload(unit, xyz, T0)
        assert set(payload) == {"ts", "sample_rate", "unit", "x", "y", "z"}
        assert payload["ts"] == T0 and payload["sample_rate"] == unit.vib_rate
        assert payload["unit"] == vib_unit
        scale = 9.80665 if vib_unit == "g" else 1.0
        for axis, values in zip(xyz, (payload["x"], payload["y"], payload["z"]), strict=True):
            assert len(values) == unit.vib_rate and all(type(v) is float for v in values)
            assert np.allclose(values, axis / scale, atol=6e-7)
            assert all(round(v, 6) == v for v in values[:50])
        assert json.loads(json.dumps(payload)) == payload


def test_argument_errors():
    unit = milkroom.unit_for("errors")
    for bad in ({"fault": "bearing"}, {"fault": "imbalance", "severity": 1.5},
                {"severity": -0.1}, {"severity": float("nan")}, {"seconds": 0.0}):
        with pytest.raises(ValueError):
            milkroom.audio_window(unit, T0, **bad)
        with pytest.raises(ValueError):
            milkroom.vibration_window(unit, T0, **bad)
    with pytest.raises(ValueError):
        milkroom.audio_wav(unit, T0, "Refrigerant_Leak", 0.5)
    with pytest.raises(ValueError):
        milkroom.vibration_payload(unit, np.zeros((2, 10)), T0)
    with pytest.raises(ValueError):
        milkroom.device_week(unit, T0, 0.0, 1.0)

