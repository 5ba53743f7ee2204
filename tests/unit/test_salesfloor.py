"""The sales-floor generator's physics: what must hold in its sound, vibration and schedule.

Windows are compared with the same unit and time, so a fault's effect is measured against the
identical healthy window it was added to (each part of a window has its own random stream).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from gateway.devtools import salesfloor as sf
from gateway.devtools.salesfloor import bearing, store_day, thermostat
from gateway.devtools.salesfloor.audio_faults import squeal_hz
from gateway.devtools.salesfloor.machine_sound import condenser_fan_hz, own_compressor
from gateway.devtools.salesfloor.mix import Mix
from gateway.wav import decode_wav

DAY = 86400.0
MONDAY = 1_700_438_400.0  # 2023-11-20 00:00 UTC, a Monday


def _unit_where(test: Callable[[sf.Unit], bool], prefix: str = "shopT") -> sf.Unit:
    for i in range(500):
        unit = sf.unit_for(f"{prefix}{i % 7}-case{i}")
        if test(unit):
            return unit
    raise AssertionError("no unit matches")


def _at_local(unit: sf.Unit, hour: float, day: int = 1) -> float:
    """Epoch time of the given local hour on MONDAY + day (day 1: a Tuesday)."""
    return MONDAY + day * DAY + (hour - unit.utc_offset_h) * 3600.0


def _mono(samples: np.ndarray) -> np.ndarray:
    return (samples if samples.ndim == 1 else samples[:, 0]).astype(np.float64)


def _spectrum(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    return np.fft.rfftfreq(x.size, 1.0 / rate), np.abs(np.fft.rfft(x * np.hanning(x.size)))


def _line(x: np.ndarray, rate: int, hz: float) -> float:
    """Amplitude of the spectral line nearest hz (the largest of three bins)."""
    f, s = _spectrum(x, rate)
    i = int(np.argmin(np.abs(f - hz)))
    return float(s[i - 1 : i + 2].max())


def _line_over_floor(x: np.ndarray, rate: int, hz: float) -> float:
    f, s = _spectrum(x, rate)
    i = int(np.argmin(np.abs(f - hz)))
    return float(s[i - 1 : i + 2].max() / np.median(s[max(0, i - 40) : i + 40]))


def _band(x: np.ndarray, rate: int, low: float, high: float) -> np.ndarray:
    f = np.fft.rfftfreq(x.size, 1.0 / rate)
    spectrum = np.fft.rfft(x)
    spectrum[(f < low) | (f > high)] = 0
    return np.fft.irfft(spectrum, n=x.size)


def _band_energy(x: np.ndarray, rate: int, low: float, high: float) -> float:
    return float(np.sum(_band(x, rate, low, high) ** 2))


def _between_lines(x: np.ndarray, rate: int, low: float, high: float, shaft: float) -> float:
    """Energy in a band away from the shaft's harmonics (more than 3 Hz off every k x shaft)."""
    f, s = _spectrum(x, rate)
    off_line = np.abs(f / shaft - np.round(f / shaft)) * shaft > 3.0
    keep = (f >= low) & (f < high) & off_line
    return float(np.sum(s[keep] ** 2))


def _crest(x: np.ndarray) -> float:
    return float(np.max(np.abs(x)) / np.std(x))


def _kurtosis(x: np.ndarray) -> float:
    x = x - x.mean()
    return float(np.mean(x**4) / np.mean(x**2) ** 2)


MONO_16K = _unit_where(lambda u: u.audio_rate == 16000 and u.channels == 1)
STEREO_48K = _unit_where(lambda u: u.audio_rate == 48000 and u.channels == 2)
FIXED_SPEED = _unit_where(lambda u: not u.inverter and u.audio_rate == 44100)
INVERTER = _unit_where(lambda u: u.inverter)


# --- interface -------------------------------------------------------------------------------


def test_fault_names() -> None:
    assert sf.VIBRATION_FAULTS == (
        "bearing_outer", "bearing_inner", "bearing_ball", "imbalance", "misalignment",
        "looseness",
    )  # fmt: skip
    assert 7 <= len(sf.AUDIO_FAULTS) <= 10
    assert len(set(sf.AUDIO_FAULTS)) == len(sf.AUDIO_FAULTS)


def test_unit_is_frozen_and_deterministic() -> None:
    unit = sf.unit_for("store9-case4", seed=3)
    assert unit == sf.unit_for("store9-case4", seed=3)
    assert unit != sf.unit_for("store9-case4", seed=4)
    assert unit.device_id == "store9-case4" and unit.seed == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        unit.audio_rate = 8000  # type: ignore[misc]


def test_units_differ_across_a_store() -> None:
    units = [sf.unit_for(f"mart-case{i}") for i in range(60)]
    assert {u.audio_rate for u in units} == {16000, 22050, 44100, 48000}
    assert all(2000 <= u.vib_rate <= 25600 for u in units)
    assert {u.vib_unit for u in units} == {"m/s2", "g"}
    assert {u.compressor for u in units} == {"reciprocating", "rotary"}
    assert {u.mains_hz for u in units} == {50.0, 60.0}
    assert {u.inverter for u in units} == {True, False}
    assert len({u.cond_fan_blades for u in units}) >= 3
    assert len({round(u.shell_modes[0][0]) for u in units}) > 50
    assert len({u.store_kind for u in units}) == 1  # one store: one kind, one time zone


# --- format ----------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", [MONO_16K, STEREO_48K], ids=["mono16k", "stereo48k"])
def test_window_format_and_determinism(unit: sf.Unit) -> None:
    t = _at_local(unit, 11.0) + 0.25
    window = sf.audio_window(unit, t)
    assert window.dtype == np.float32
    assert window.shape == ((unit.audio_rate,) if unit.channels == 1 else (unit.audio_rate, 2))
    codes = window.astype(np.float64) * 32768.0
    assert np.array_equal(codes, np.round(codes))
    assert window.min() >= -1.0 and window.max() < 1.0
    assert np.array_equal(window, sf.audio_window(unit, t))
    assert not np.array_equal(window, sf.audio_window(unit, t + 1.0))
    half = sf.audio_window(unit, t, seconds=0.5)
    assert half.shape[0] == unit.audio_rate // 2


def test_wav_decodes_to_the_window() -> None:
    t = _at_local(STEREO_48K, 15.0)
    samples, rate = decode_wav(sf.audio_wav(STEREO_48K, t, "valve_leak", 0.5))
    assert rate == 48000
    assert np.array_equal(samples, sf.audio_window(STEREO_48K, t, "valve_leak", 0.5))


def test_no_clipping_at_full_severity() -> None:
    for unit in (MONO_16K, STEREO_48K, FIXED_SPEED):
        t = _at_local(unit, 17.8, day=5)  # Saturday's after-work peak
        for fault in sf.AUDIO_FAULTS:
            window = sf.audio_window(unit, t, fault, 1.0, running=True)
            assert np.max(np.abs(window)) < 0.99, (unit.device_id, fault)


def test_unknown_fault_and_bad_severity_are_rejected() -> None:
    with pytest.raises(ValueError):
        sf.audio_window(MONO_16K, MONDAY, "gremlins", 0.5)
    with pytest.raises(ValueError):
        sf.audio_window(MONO_16K, MONDAY, "valve_leak", 1.5)
    with pytest.raises(ValueError):
        sf.vibration_window(MONO_16K, MONDAY, "gremlins", 0.5)


# --- the compressor in the spectrum ----------------------------------------------------------


@pytest.mark.parametrize("unit", [FIXED_SPEED, INVERTER], ids=["fixed", "inverter"])
def test_rotation_harmonics_when_running_and_gone_when_stopped(unit: sf.Unit) -> None:
    t = _at_local(unit, 10.0)
    shaft = thermostat.shaft_hz(unit, t)
    running = _mono(sf.audio_window(unit, t, running=True))
    stopped = _mono(sf.audio_window(unit, t, running=False))
    for k in (1, 2, 3):
        assert _line_over_floor(running, unit.audio_rate, k * shaft) > 10.0, k
    on = sum(_line(running, unit.audio_rate, k * shaft) for k in (1, 2, 3, 4))
    off = sum(_line(stopped, unit.audio_rate, k * shaft) for k in (1, 2, 3, 4))
    assert on > 2.5 * off  # what is left is the neighbours' compressors, farther away


def test_fixed_speed_runs_under_mains_with_slip_and_inverter_in_its_range() -> None:
    units = [sf.unit_for(f"grocer-case{i}") for i in range(30)]
    for unit in units:
        for hour in (3.0, 12.0, 18.0):
            shaft = thermostat.shaft_hz(unit, _at_local(unit, hour))
            if unit.inverter:
                lo, hi = unit.speed_range_hz
                assert lo - 0.5 <= shaft <= hi + 0.5
            else:
                assert 0.93 * unit.mains_hz < shaft < unit.mains_hz


# --- the day ---------------------------------------------------------------------------------


def _share(unit: sf.Unit, start: float, hours: float) -> float:
    times = start + np.arange(0.0, hours * 3600.0, 30.0)
    return float(np.mean([sf.running_at(unit, float(t)) for t in times]))


def test_duty_cycles_are_minutes_long_and_plausible() -> None:
    unit = _unit_where(lambda u: not u.inverter and u.case_kind == "bottle_cooler")
    week = sf.device_week(unit, MONDAY, 30.0, 2)
    states = np.array([running for _, running in week])
    assert 0.25 < states.mean() < 0.95
    edges = np.flatnonzero(np.diff(states.astype(int)) != 0)
    runs = np.diff(edges) * 30.0 / 60.0  # minutes between switchings
    assert len(edges) > 2 * 24  # dozens of thermostat cycles a day
    assert 2.0 < float(np.median(runs)) < 40.0


def test_night_blinds_lower_the_duty() -> None:
    unit = _unit_where(lambda u: u.case_kind == "multideck" and not u.inverter
                       and u.store_kind == "supermarket")  # fmt: skip
    day = np.mean([_share(unit, _at_local(unit, 16.0, d), 3.0) for d in range(1, 4)])
    night = np.mean([_share(unit, _at_local(unit, 0.5, d), 3.0) for d in range(1, 4)])
    assert store_day.blinds_down(unit, _at_local(unit, 1.0))
    assert day > night + 0.1


def test_defrost_stops_the_compressor_and_pull_down_runs_it() -> None:
    unit = sf.unit_for("mart-case7")
    times = MONDAY + np.arange(0.0, DAY, 60.0)
    states = [thermostat.defrost_state(unit, float(t)) for t in times]
    assert 0 < states.count("defrost") < 0.2 * len(states)
    for t, state in zip(times, states, strict=True):
        if state == "defrost":
            assert not sf.running_at(unit, float(t))
        elif state == "pull_down":
            assert sf.running_at(unit, float(t))


def test_condenser_fouling_drifts_the_duty_up_over_weeks() -> None:
    unit = _unit_where(lambda u: not u.inverter and u.store_kind == "convenience")
    hour = 14.0
    loads = [thermostat.heat_load(unit, _at_local(unit, hour, d)) for d in range(0, 120, 7)]
    fouled = [thermostat.fouling(unit, _at_local(unit, hour, d)) for d in range(0, 120, 7)]
    assert np.corrcoef(loads, fouled)[0, 1] > 0.5
    assert max(fouled) - min(fouled) > 0.5  # builds up, then the coil is cleaned


def _rms(unit: sf.Unit, t: float) -> float:
    return float(np.sqrt(np.mean(_mono(sf.audio_window(unit, t, running=False)) ** 2)))


def test_opening_hours_louder_than_night() -> None:
    unit = _unit_where(lambda u: u.store_kind == "supermarket")
    busy = np.mean([_rms(unit, _at_local(unit, 17.8) + 97.0 * i) for i in range(4)])
    night = np.mean([_rms(unit, _at_local(unit, 2.5) + 97.0 * i) for i in range(4)])
    assert busy > 1.5 * night


def test_scrubber_is_heard_after_closing() -> None:
    unit = _unit_where(lambda u: u.store_kind == "supermarket")
    clean = _at_local(unit, 22.0)
    times = clean + np.arange(0.0, 420.0, 10.0)
    nearest = float(times[np.argmax([store_day.scrubber_nearness(unit, t) for t in times])])
    quiet = _at_local(unit, 2.5)
    assert _rms(unit, nearest) > 3.0 * _rms(unit, quiet)


def test_device_week_length_and_cadence() -> None:
    unit = sf.unit_for("mart-case2")
    week = sf.device_week(unit, MONDAY + 13.0, 600.0, 7)
    assert len(week) == 7 * 144
    times = np.array([t for t, _ in week])
    assert times[0] == MONDAY + 13.0 and np.allclose(np.diff(times), 600.0)
    assert all(running == sf.running_at(unit, t) for t, running in week[:50])
    weekday = np.mean([r for t, r in week if store_day.local_time(unit, t).weekday < 5])
    assert 0.2 < weekday < 0.98


# --- audio faults ----------------------------------------------------------------------------

FAULT_UNITS = [MONO_16K, FIXED_SPEED]


def _signature(unit: sf.Unit, fault: str, t: float, x: np.ndarray) -> float:
    """The physical measure each fault must raise."""
    rate = unit.audio_rate
    shaft = thermostat.shaft_hz(unit, t)
    top = 0.45 * rate
    if fault == "compressor_bearing_wear":
        return _band_energy(x, rate, 1500.0, min(6000.0, top))
    if fault == "valve_leak":
        return _band_energy(x, rate, min(4000.0, 0.4 * rate), min(10000.0, top))
    if fault == "refrigerant_undercharge":
        return _band_energy(x, rate, 1300.0, 2400.0)
    if fault == "liquid_floodback":  # knocks on random revolutions fill in between the lines
        return _between_lines(x, rate, 150.0, 1500.0, shaft)
    if fault == "loose_mounting":
        return _line(x, rate, 0.5 * shaft)
    if fault == "condenser_fan_blade":
        return _line(x, rate, condenser_fan_hz(unit, t))
    if fault == "evaporator_fan_bearing":
        squeal = squeal_hz(unit, rate)
        return _band_energy(x, rate, 0.96 * squeal, 1.04 * squeal)
    assert fault == "contactor_chatter"
    return _line(x, rate, 6.0 * unit.mains_hz)  # 3rd harmonic of the 2x mains buzz


@pytest.mark.parametrize("fault", sf.AUDIO_FAULTS)
def test_audio_fault_signature_grows_with_severity(fault: str) -> None:
    for unit in FAULT_UNITS:
        t = _at_local(unit, 12.5) + 3.0
        values = [
            _signature(unit, fault, t, _mono(sf.audio_window(unit, t, fault, s, running=True)))
            for s in (0.0, 0.3, 1.0)
        ]
        assert values[0] < values[1] < values[2], (unit.device_id, values)
        assert values[2] > 1.3 * values[0], (unit.device_id, values)


@pytest.mark.parametrize("fault", sf.AUDIO_FAULTS)
def test_severity_zero_is_healthy(fault: str) -> None:
    t = _at_local(STEREO_48K, 9.0)
    healthy = sf.audio_window(STEREO_48K, t, running=True)
    assert np.array_equal(sf.audio_window(STEREO_48K, t, fault, 0.0, running=True), healthy)
    assert not np.array_equal(sf.audio_window(STEREO_48K, t, fault, 0.1, running=True), healthy)


def test_bearing_wear_is_impulsive_grinding() -> None:
    unit = FIXED_SPEED
    t = _at_local(unit, 3.0)
    rate = unit.audio_rate
    healthy = _band(_mono(sf.audio_window(unit, t, running=True)), rate, 1500.0, 6000.0)
    worn = _band(_mono(sf.audio_window(unit, t, "compressor_bearing_wear", 1.0, running=True)),
                 rate, 1500.0, 6000.0)  # fmt: skip
    assert _kurtosis(worn) > _kurtosis(healthy) + 1.0


def test_floodback_knocks() -> None:
    unit = FIXED_SPEED
    t = _at_local(unit, 3.0)
    rate = unit.audio_rate
    healthy = _band(_mono(sf.audio_window(unit, t, running=True)), rate, 150.0, 1500.0)
    flooded = _band(_mono(sf.audio_window(unit, t, "liquid_floodback", 1.0, running=True)),
                    rate, 150.0, 1500.0)  # fmt: skip
    assert _crest(flooded) > 1.25 * _crest(healthy)


def test_compressor_faults_are_silent_when_it_stops_but_fan_faults_are_not() -> None:
    unit = FIXED_SPEED
    t = _at_local(unit, 11.0)
    healthy = sf.audio_window(unit, t, running=False)
    for fault in ("compressor_bearing_wear", "valve_leak", "liquid_floodback",
                  "loose_mounting", "contactor_chatter", "refrigerant_undercharge"):  # fmt: skip
        assert np.array_equal(sf.audio_window(unit, t, fault, 1.0, running=False), healthy)
    squeal = sf.audio_window(unit, t, "evaporator_fan_bearing", 1.0, running=False)
    assert not np.array_equal(squeal, healthy)  # the evaporator fan keeps running
    fan_off = _unit_where(lambda u: not u.cond_fan_continuous)
    t2 = _at_local(fan_off, 11.0)
    assert np.array_equal(
        sf.audio_window(fan_off, t2, "condenser_fan_blade", 1.0, running=False),
        sf.audio_window(fan_off, t2, running=False),
    )


# --- vibration -------------------------------------------------------------------------------


def _envelope_spectrum(x: np.ndarray, rate: int, centre: float) -> tuple[np.ndarray, np.ndarray]:
    """Band-pass around the ringing resonance, Hilbert envelope, its spectrum."""
    n = x.size
    freqs = np.fft.fftfreq(n, 1.0 / rate)
    spectrum = np.fft.fft(x)
    spectrum[(np.abs(freqs) < 0.6 * centre) | (np.abs(freqs) > 1.4 * centre)] = 0
    analytic = np.zeros(n)
    analytic[0] = 1.0
    analytic[1 : (n + 1) // 2] = 2.0
    envelope = np.abs(np.fft.ifft(spectrum * analytic))
    envelope -= envelope.mean()
    return np.fft.rfftfreq(n, 1.0 / rate), np.abs(np.fft.rfft(envelope * np.hanning(n)))


def _envelope_peak(f: np.ndarray, s: np.ndarray, hz: float) -> float:
    i = int(np.argmin(np.abs(f - hz)))
    return float(s[i - 2 : i + 3].max() / np.median(s[(f > 5.0) & (f < 600.0)]))


BEARING_UNITS = [
    _unit_where(lambda u: u.vib_rate == 2000),
    _unit_where(lambda u: u.vib_rate >= 12800 and u.inverter),
]


@pytest.mark.parametrize("fault", ["bearing_outer", "bearing_inner", "bearing_ball"])
def test_bearing_defect_frequency_in_envelope_spectrum(fault: str) -> None:
    for unit in BEARING_UNITS:
        t = _at_local(unit, 14.0)
        freqs = bearing.defect_frequencies(unit, thermostat.shaft_hz(unit, t))
        expected = {"bearing_outer": freqs.bpfo, "bearing_inner": freqs.bpfi,
                    "bearing_ball": 2 * freqs.bsf}  # fmt: skip
        centre = bearing.ring_hz(unit, unit.vib_rate)
        ratios = {}
        for severity in (0.0, 0.3, 1.0):
            x = sf.vibration_window(unit, t, fault, severity, running=True, seconds=2.0)[0]
            f, s = _envelope_spectrum(x, unit.vib_rate, centre)
            ratios[severity] = {k: _envelope_peak(f, s, hz) for k, hz in expected.items()}
        assert ratios[0.0][fault] < 5.0
        assert ratios[0.3][fault] > 10.0 and ratios[1.0][fault] > ratios[0.3][fault]
        others = [v for k, v in ratios[1.0].items() if k != fault]
        assert ratios[1.0][fault] > max(others), (unit.device_id, ratios[1.0])


@pytest.mark.parametrize("fault", sf.VIBRATION_FAULTS)
def test_vibration_severity_zero_is_healthy(fault: str) -> None:
    unit = BEARING_UNITS[1]
    t = _at_local(unit, 13.0)
    healthy = sf.vibration_window(unit, t, running=True)
    assert np.array_equal(sf.vibration_window(unit, t, fault, 0.0, running=True), healthy)
    faulty = sf.vibration_window(unit, t, fault, 0.1, running=True)
    assert 0 < np.std(faulty - healthy) < np.std(healthy)  # at 0.1 a trace, not a takeover


def test_ageing_roughens_the_compressor_over_years() -> None:
    unit = FIXED_SPEED
    t = _at_local(unit, 3.0)
    later = t + 6 * 365.25 * DAY
    assert thermostat.age_years(unit, later) == pytest.approx(
        thermostat.age_years(unit, t) + 6.0, abs=0.01)

    def shell_noise(at: float) -> float:
        mix = Mix(unit.audio_rate, unit.audio_rate)
        own_compressor(unit, mix, at, np.random.default_rng(0))
        fouled = 1.0 + 0.3 * thermostat.fouling(unit, at)  # the coil's share, taken out
        return float(np.sum(mix.near_noise_power)) / fouled**2

    assert shell_noise(later) > 1.3 * shell_noise(t)


def test_bearing_geometry_is_kinematic() -> None:
    unit = sf.unit_for("mart-case3")
    f = bearing.defect_frequencies(unit, 50.0)
    balls = unit.bearing[0]
    assert f.bpfo + f.bpfi == pytest.approx(balls * 50.0)
    assert f.ftf == pytest.approx(f.bpfo / balls)
    assert 0.35 * 50.0 < f.ftf < 0.5 * 50.0


def _order(xyz: np.ndarray, rate: int, hz: float, axis: int) -> float:
    return _line(xyz[axis], rate, hz)


def test_shaft_faults_raise_their_orders() -> None:
    unit = _unit_where(lambda u: u.vib_rate >= 4000)
    t = _at_local(unit, 10.0)
    rate = unit.vib_rate
    shaft = thermostat.shaft_hz(unit, t)
    def window(fault: str | None, s: float) -> np.ndarray:
        return sf.vibration_window(unit, t, fault, s, running=True)
    healthy = window(None, 0.0)
    assert np.array_equal(window("imbalance", 0.0), healthy)
    ones = [_order(window("imbalance", s), rate, shaft, 0) for s in (0.0, 0.3, 1.0)]
    assert ones[0] < ones[1] < ones[2] and ones[2] > 2.0 * ones[0]
    misaligned = window("misalignment", 1.0)
    assert _order(misaligned, rate, 2 * shaft, 0) > 2.0 * _order(healthy, rate, 2 * shaft, 0)
    assert _order(misaligned, rate, shaft, 2) > 2.0 * _order(healthy, rate, shaft, 2)
    loose = window("looseness", 1.0)
    assert _order(loose, rate, 0.5 * shaft, 0) > 10.0 * _order(healthy, rate, 0.5 * shaft, 0)
    def harmonics(xyz: np.ndarray) -> float:
        return sum(_order(xyz, rate, k * shaft, 0) for k in range(3, 9))

    assert harmonics(loose) > 2.0 * harmonics(healthy)


def test_stopped_vibration_is_background_only() -> None:
    unit = sf.unit_for("mart-case5")
    t = _at_local(unit, 11.0)
    stopped = sf.vibration_window(unit, t, "imbalance", 1.0, running=False)
    running = sf.vibration_window(unit, t, running=True)
    assert stopped.shape == (3, unit.vib_rate)
    assert np.array_equal(stopped, sf.vibration_window(unit, t, running=False))
    assert np.std(stopped) < 0.3 * np.std(running)
    assert np.array_equal(running, sf.vibration_window(unit, t, running=True))


def test_payload_converts_to_g() -> None:
    unit = _unit_where(lambda u: u.vib_unit == "g")
    t = _at_local(unit, 12.0)
    xyz = sf.vibration_window(unit, t, "looseness", 0.5, running=True)
    payload = sf.vibration_payload(unit, xyz, t)
    assert payload["ts"] == t and payload["unit"] == "g"
    assert payload["sample_rate"] == unit.vib_rate
    for axis, name in enumerate("xyz"):
        values = np.array(payload[name])
        assert values.size == xyz.shape[1]
        assert np.allclose(values, xyz[axis] / 9.80665, atol=6e-7)
    metric = dataclasses.replace(unit, vib_unit="m/s2")
    assert np.allclose(sf.vibration_payload(metric, xyz, t)["x"], xyz[0], atol=6e-7)
