"""The sixth generator (devtools/rooftop): physics checks, not snapshots.

Determinism, the units' spread, severity 0 == healthy and fault energy growing with
severity, a stopped unit quieter at its own lines while the site goes on, the rotation,
blade-pass and bearing-defect lines where the geometry puts them, ISO 10816 levels, duty
cycles with their minimum run and off times, and the gateway's own parsers accepting what
the boxes would send."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gateway.config import IntakeSection
from gateway.devtools import rooftop
from gateway.devtools.rooftop.operation import (
    ambient_c,
    fouling_at,
    moment_at,
)
from gateway.devtools.rooftop.units import KINDS
from gateway.devtools.rooftop.vibration import ring_resonance
from gateway.intake.payloads import Inbound, parse_message
from gateway.records import Window
from gateway.wav import decode_wav, inspect_wav

T0 = 1_700_000_000.0
DAY = 86_400.0


def find_unit(pred, seed: int = 11) -> rooftop.Unit:
    for i in range(400):
        unit = rooftop.unit_for(f"roof-{i}", seed)
        if pred(unit):
            return unit
    raise AssertionError("no unit in the fleet matches")


def fixed_speed(unit: rooftop.Unit) -> bool:
    return not unit.pwm_hz


def spectrum(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    x = x if x.ndim == 1 else x[:, 0]
    window = np.hanning(x.size)
    return np.fft.rfftfreq(x.size, 1 / rate), np.abs(np.fft.rfft(x * window)) ** 2


def line_prominence_db(f: np.ndarray, power: np.ndarray, hz: float) -> float:
    """Power within 1.5 Hz of hz over the median power 5-30 Hz away, in dB."""
    near = np.abs(f - hz) <= 1.5
    around = (np.abs(f - hz) > 5) & (np.abs(f - hz) < 30)
    return 10 * np.log10(power[near].max() / np.median(power[around]))


def velocity_rms_mm_s(xyz: np.ndarray, rate: int) -> np.ndarray:
    """ISO 10816 velocity: acceleration integrated in the 10-1000 Hz band, RMS per axis."""
    n = xyz.shape[1]
    f = np.fft.rfftfreq(n, 1 / rate)
    spec = np.fft.rfft(xyz, axis=1)
    band = (f >= 10) & (f <= 1000)
    vel = np.zeros_like(spec)
    vel[:, band] = spec[:, band] / (2j * np.pi * f[band])
    return np.sqrt(np.mean(np.fft.irfft(vel, n, axis=1) ** 2, axis=1)) * 1000


def envelope_spectrum(x: np.ndarray, rate: int, centre: float) -> tuple[np.ndarray, np.ndarray]:
    """Band-pass around the ringing resonance, the analytic signal's magnitude, its spectrum."""
    n = x.size
    f = np.fft.fftfreq(n, 1 / rate)
    spec = np.fft.fft(x)
    keep = (f > 0.6 * centre) & (f < 1.4 * centre)
    analytic = np.fft.ifft(np.where(keep, 2 * spec, 0))
    env = np.abs(analytic)
    env -= env.mean()
    return np.fft.rfftfreq(n, 1 / rate), np.abs(np.fft.rfft(env * np.hanning(n)))


# --- the contract and determinism ---------------------------------------------------------

def test_the_fault_names_are_the_contract():
    assert rooftop.VIBRATION_FAULTS == ("bearing_outer", "bearing_inner", "bearing_ball",
                                        "imbalance", "misalignment", "looseness")
    assert 7 <= len(rooftop.AUDIO_FAULTS) <= 9
    assert len(set(rooftop.AUDIO_FAULTS)) == len(rooftop.AUDIO_FAULTS)


def test_the_same_id_and_seed_give_the_same_unit_and_samples():
    a, b = rooftop.unit_for("roof-7", 3), rooftop.unit_for("roof-7", 3)
    assert a == b
    assert np.array_equal(rooftop.audio_window(a, T0), rooftop.audio_window(b, T0))
    assert np.array_equal(rooftop.vibration_window(a, T0, "imbalance", 0.3, True),
                          rooftop.vibration_window(b, T0, "imbalance", 0.3, True))


def test_another_seed_or_id_gives_another_unit():
    base = rooftop.unit_for("roof-7", 3)
    for other in (rooftop.unit_for("roof-7", 4), rooftop.unit_for("roof-8", 3)):
        assert other != base
        assert other.period_s != base.period_s and other.bearing != base.bearing


def test_another_time_gives_other_samples():
    unit = find_unit(fixed_speed)
    a = rooftop.audio_window(unit, T0, running=True)
    b = rooftop.audio_window(unit, T0 + 1.0, running=True)
    assert not np.array_equal(a, b)


def test_the_fleet_mixes_compressors_fans_rates_and_boxes():
    fleet = [rooftop.unit_for(f"roof-{i}", 5) for i in range(40)]
    assert {u.kind for u in fleet} == set(KINDS)
    assert len({u.audio_rate for u in fleet}) >= 4 and len({u.vib_rate for u in fleet}) >= 3
    assert {u.channels for u in fleet} == {1, 2} and {u.vib_unit for u in fleet} == {"g", "m/s2"}
    assert {len(u.fans) for u in fleet} == {1, 2} and {u.fans[0].ec for u in fleet} == {True,
                                                                                         False}
    speeds = {round(moment_at(u, T0, True).shaft_hz, 1) for u in fleet}
    assert len(speeds) >= 15


# --- audio format and the gateway's parsers -----------------------------------------------

@pytest.mark.parametrize("channels", [1, 2])
def test_audio_is_float32_on_pcm16_steps_in_range(channels):
    unit = find_unit(lambda u: u.channels == channels)
    x = rooftop.audio_window(unit, T0, "floodback", 1.0, running=True)
    assert x.dtype == np.float32
    assert x.shape == ((unit.audio_rate,) if channels == 1 else (unit.audio_rate, 2))
    assert np.all(np.abs(x) <= 1.0)
    codes = x.astype(np.float64) * 32768
    assert np.array_equal(codes, np.round(codes))


def test_the_wav_is_what_the_gateway_accepts_and_decodes_to_the_window():
    for unit in (find_unit(lambda u: u.channels == 2), find_unit(lambda u: u.channels == 1)):
        payload = rooftop.audio_wav(unit, T0 + 60)
        info = inspect_wav(payload)
        samples, rate = decode_wav(payload)
        assert (rate, info.channels, info.encoding) == (unit.audio_rate, unit.channels, "pcm16")
        window = rooftop.audio_window(unit, T0 + 60)
        assert np.array_equal(samples.reshape(window.shape), window)


@pytest.mark.parametrize("unit_name", ["g", "m/s2"])
def test_the_vibration_payload_passes_intake(unit_name):
    unit = find_unit(lambda u: u.vib_unit == unit_name)
    xyz = rooftop.vibration_window(unit, T0, "looseness", 0.7, running=True)
    assert xyz.shape == (3, unit.vib_rate)
    doc = rooftop.vibration_payload(unit, xyz, T0)
    payload = json.dumps(doc).encode()
    record = parse_message(Inbound(f"sensors/{unit.device_id}/vibration", payload,
                                   int(T0 * 1000)), "sensors", IntakeSection())
    assert isinstance(record, Window), record
    assert (record.frames, record.sample_rate) == (unit.vib_rate, unit.vib_rate)
    scale = 9.80665 if unit_name == "g" else 1.0
    assert np.allclose(np.array(doc["x"]) * scale, xyz[0], atol=1e-5 * scale)


def test_unknown_faults_and_severities_are_refused():
    unit = rooftop.unit_for("roof-1", 1)
    with pytest.raises(ValueError):
        rooftop.audio_window(unit, T0, "bearing_outer", 0.5)  # a vibration fault's name
    with pytest.raises(ValueError):
        rooftop.vibration_window(unit, T0, "imbalance", 1.5)


# --- severity -----------------------------------------------------------------------------

def _audio_unit(fault: str) -> rooftop.Unit:
    if fault == "compression_wear":  # each family has its own wear: take a reciprocator
        return find_unit(lambda u: u.kind.startswith("recip"))
    return find_unit(lambda u: u.audio_rate >= 32_000)


@pytest.mark.parametrize("fault", rooftop.AUDIO_FAULTS)
def test_audio_severity_zero_is_the_healthy_window(fault):
    unit = _audio_unit(fault)
    healthy = rooftop.audio_window(unit, T0, running=True)
    assert np.array_equal(rooftop.audio_window(unit, T0, fault, 0.0, running=True), healthy)


@pytest.mark.parametrize("fault", rooftop.AUDIO_FAULTS)
def test_audio_fault_energy_grows_with_severity(fault):
    unit = _audio_unit(fault)
    healthy = rooftop.audio_window(unit, T0, running=True).astype(np.float64)
    added = [np.mean((rooftop.audio_window(unit, T0, fault, s, running=True) - healthy) ** 2)
             for s in (0.1, 0.25, 0.5, 1.0)]
    assert added[0] > 0 and all(b > a for a, b in zip(added, added[1:], strict=False))
    assert added[-1] > 0.05 * np.mean(healthy ** 2)  # severe is not a whisper


@pytest.mark.parametrize("kind", ["scroll", "rotary_inverter"])
def test_compression_wear_sounds_on_every_family(kind):
    unit = find_unit(lambda u: u.kind == kind)
    healthy = rooftop.audio_window(unit, T0, running=True)
    assert not np.array_equal(rooftop.audio_window(unit, T0, "compression_wear", 0.5, True),
                              healthy)


@pytest.mark.parametrize("fault", rooftop.VIBRATION_FAULTS)
def test_vibration_severity_zero_is_healthy_and_energy_grows(fault):
    unit = find_unit(fixed_speed)
    healthy = rooftop.vibration_window(unit, T0, running=True)
    assert np.array_equal(rooftop.vibration_window(unit, T0, fault, 0.0, True), healthy)
    added = [np.mean((rooftop.vibration_window(unit, T0, fault, s, True) - healthy) ** 2)
             for s in (0.1, 0.25, 0.5, 1.0)]
    assert added[0] > 0 and all(b > a for a, b in zip(added, added[1:], strict=False))


def test_a_stopped_compressor_only_hisses_with_a_leak():
    unit = find_unit(fixed_speed)
    quiet = rooftop.audio_window(unit, T0, running=False)
    for fault in rooftop.AUDIO_FAULTS:
        faulty = rooftop.audio_window(unit, T0, fault, 1.0, running=False)
        assert np.array_equal(faulty, quiet) == (fault != "refrigerant_leak"), fault
    still = rooftop.vibration_window(unit, T0, running=False)
    for fault in rooftop.VIBRATION_FAULTS:
        assert np.array_equal(rooftop.vibration_window(unit, T0, fault, 1.0, False), still)


# --- running, stopped and the site --------------------------------------------------------

def test_a_stopped_unit_is_quieter_at_its_own_lines_but_the_site_is_not_silent():
    for unit in (find_unit(fixed_speed), find_unit(lambda u: bool(u.pwm_hz))):
        shaft = moment_at(unit, T0, True).shaft_hz
        on = rooftop.audio_window(unit, T0, running=True)
        off = rooftop.audio_window(unit, T0, running=False)
        f, p_on = spectrum(on, unit.audio_rate)
        _, p_off = spectrum(off, unit.audio_rate)
        lines = np.zeros(f.size, bool)
        for k in range(1, 6):
            lines |= np.abs(f - k * shaft) <= 1.5
        assert 10 * np.log10(p_on[lines].sum() / p_off[lines].sum()) > 10
        assert np.sqrt(np.mean(off.astype(np.float64) ** 2)) > 20 / 32768  # 20 PCM steps


def test_the_site_keeps_changing_while_the_unit_is_off():
    unit = find_unit(fixed_speed)
    levels = {round(float(np.sqrt(np.mean(rooftop.audio_window(unit, T0 + h * 3600,
                                                                 running=False) ** 2))), 5)
              for h in range(0, 24, 3)}
    assert len(levels) >= 6


def test_the_rotation_line_is_at_the_shaft_speed_in_the_vibration():
    for unit in (find_unit(fixed_speed), find_unit(lambda u: bool(u.pwm_hz))):
        shaft = moment_at(unit, T0, True).shaft_hz
        xyz = rooftop.vibration_window(unit, T0, running=True, seconds=2.0)
        f, power = spectrum(xyz[0], unit.vib_rate)
        assert line_prominence_db(f, power, shaft) > 20
        low = (f > 5) & (f < 0.9 * shaft)
        assert power[low].max() < power[np.abs(f - shaft) <= 1].max()


def test_the_compressor_is_heard_at_its_rotation_and_the_fan_at_its_blade_pass():
    unit = find_unit(lambda u: u.fans[0].ec and u.audio_rate >= 22_050)
    m = moment_at(unit, T0, True)
    f, power = spectrum(rooftop.audio_window(unit, T0, running=True, seconds=2.0),
                        unit.audio_rate)
    assert line_prominence_db(f, power, m.shaft_hz * unit.cylinders) > 10
    blade_pass = m.fan_rps[0] * unit.fans[0].blades
    assert line_prominence_db(f, power, blade_pass) > 10


def test_inverter_speed_follows_the_load_and_ec_fans_the_head_pressure():
    unit = find_unit(lambda u: bool(u.pwm_hz) and u.fans[0].ec)
    moments = [moment_at(unit, T0 + h * 3600, True) for h in range(0, 7 * 24, 2)]
    speeds = np.array([m.shaft_hz for m in moments])
    loads = np.array([m.load for m in moments])
    assert np.all(speeds >= 0.8 * unit.speed_min) and np.all(speeds <= unit.speed_max)
    assert np.corrcoef(speeds, loads)[0, 1] > 0.8
    fans = np.array([m.fan_rps[0] for m in moments])
    heads = np.array([m.head for m in moments])
    assert np.corrcoef(fans, heads)[0, 1] > 0.9 and fans.max() > 1.5 * fans.min()
    psc = find_unit(lambda u: not u.fans[0].ec)
    assert len({moment_at(psc, T0 + h * 3600, True).fan_rps[0] for h in range(24)}) == 1


# --- vibration physics --------------------------------------------------------------------

def _defect_hz(unit: rooftop.Unit, fault: str) -> float:
    shaft = moment_at(unit, T0, True).shaft_hz
    b = unit.bearing
    return shaft * {"bearing_outer": b.bpfo, "bearing_inner": b.bpfi,
                    "bearing_ball": b.bsf}[fault]


def _envelope_line(unit: rooftop.Unit, xyz: np.ndarray, hz: float) -> float:
    f, env = envelope_spectrum(xyz[0], unit.vib_rate, ring_resonance(unit))
    near = np.abs(f - hz) <= 2.0
    floor = np.median(env[(f > 5) & (f < 1.5 * hz)])
    return float(env[near].max() / floor)


@pytest.mark.parametrize("fault", ["bearing_outer", "bearing_inner", "bearing_ball"])
def test_the_envelope_spectrum_shows_the_bearing_defect_frequency(fault):
    for unit in (find_unit(fixed_speed), find_unit(lambda u: bool(u.pwm_hz))):
        hz = _defect_hz(unit, fault)
        faulty = rooftop.vibration_window(unit, T0, fault, 0.5, True, seconds=2.0)
        healthy = rooftop.vibration_window(unit, T0, None, 0.0, True, seconds=2.0)
        line = _envelope_line(unit, faulty, hz)
        # A healthy compressor's valve knocks have lines of their own: one may fall near
        # a defect frequency, so the fault must stand well above the healthy envelope there.
        assert line > 8 and line > 3 * _envelope_line(unit, healthy, hz), (unit.kind, hz)


def test_the_defect_frequencies_follow_the_geometry():
    unit = rooftop.unit_for("roof-3", 2)
    b = unit.bearing
    assert b.bpfo + b.bpfi == pytest.approx(b.balls)  # n/2 (1 - r) + n/2 (1 + r)
    assert b.bpfo < b.balls / 2 < b.bpfi and 0.35 < b.ftf < 0.5
    assert b.bpfo == pytest.approx(b.balls * b.ftf)  # the outer race meets each ball at FTF


def test_healthy_vibration_is_iso_10816_zone_a_or_b():
    fleet = [rooftop.unit_for(f"roof-{i}", 9) for i in range(12)]
    for unit in fleet:
        v = velocity_rms_mm_s(rooftop.vibration_window(unit, T0 + 777, running=True),
                              unit.vib_rate)
        overall = float(np.sqrt(np.sum(v ** 2) / 3))
        assert 0.3 < overall < 1.8, (unit.device_id, v)  # class I: zone A/B ends at 1.8 mm/s


def test_severe_imbalance_reaches_zone_c_or_d_mostly_radially():
    unit = find_unit(fixed_speed)
    v = velocity_rms_mm_s(rooftop.vibration_window(unit, T0, "imbalance", 1.0, True),
                          unit.vib_rate)
    assert max(v[0], v[1]) > 4.5 and v[2] < 0.5 * min(v[0], v[1])


def test_misalignment_raises_2x_and_the_axial_direction():
    unit = find_unit(fixed_speed)
    shaft = moment_at(unit, T0, True).shaft_hz
    healthy = rooftop.vibration_window(unit, T0, running=True, seconds=2.0)
    faulty = rooftop.vibration_window(unit, T0, "misalignment", 0.5, True, seconds=2.0)
    f, p_h = spectrum(healthy[0], unit.vib_rate)
    _, p_f = spectrum(faulty[0], unit.vib_rate)
    at2 = np.abs(f - 2 * shaft) <= 1.0
    assert p_f[at2].max() > 4 * p_h[at2].max()
    v_h = velocity_rms_mm_s(healthy, unit.vib_rate)
    v_f = velocity_rms_mm_s(faulty, unit.vib_rate)
    assert v_f[2] / v_h[2] > v_f[0] / v_h[0]  # the axial grows most


def test_looseness_brings_half_orders():
    unit = find_unit(fixed_speed)
    shaft = moment_at(unit, T0, True).shaft_hz
    f, p_h = spectrum(rooftop.vibration_window(unit, T0, running=True, seconds=2.0)[2],
                      unit.vib_rate)
    _, p_f = spectrum(rooftop.vibration_window(unit, T0, "looseness", 0.5, True,
                                               seconds=2.0)[2], unit.vib_rate)
    for order in (1.5, 2.5):
        near = np.abs(f - order * shaft) <= 1.0
        assert p_f[near].max() > 10 * p_h[near].max()


def test_a_stopped_unit_still_feels_its_neighbours_but_not_its_shaft():
    unit = find_unit(fixed_speed)
    shaft = moment_at(unit, T0, True).shaft_hz
    on = rooftop.vibration_window(unit, T0, running=True, seconds=2.0)
    off = rooftop.vibration_window(unit, T0, running=False, seconds=2.0)
    f, p_on = spectrum(on[0], unit.vib_rate)
    _, p_off = spectrum(off[0], unit.vib_rate)
    at1 = np.abs(f - shaft) <= 1.0
    assert p_on[at1].max() > 100 * p_off[at1].max()
    assert np.std(off) > 0.005


# --- operation over a week ----------------------------------------------------------------

def _runs(week: list[tuple[float, bool]]) -> tuple[list[int], list[int]]:
    """Lengths (samples) of the complete runs and pauses (the cut ones at the ends dropped)."""
    states = [on for _, on in week]
    edges = [i for i in range(1, len(states)) if states[i] != states[i - 1]]
    runs: list[int] = []
    pauses: list[int] = []
    for a, b in zip(edges, edges[1:], strict=False):
        (runs if states[a] else pauses).append(b - a)
    return runs, pauses


def test_a_fixed_speed_unit_cycles_several_times_a_day_and_keeps_its_minimum_times():
    for seed in (1, 2, 3):
        unit = find_unit(fixed_speed, seed)
        cadence = 30.0
        week = rooftop.device_week(unit, T0, cadence, 7)
        assert len(week) == 7 * 2880
        assert all(on == rooftop.running_at(unit, t) for t, on in week[::97])
        runs, pauses = _runs(week)
        for day in range(7):
            today = week[day * 2880:(day + 1) * 2880]
            assert sum(1 for a, b in zip(today, today[1:], strict=False)
                       if b[1] and not a[1]) >= 3
        assert min(runs) * cadence >= unit.min_run_s - cadence
        assert min(pauses) * cadence >= unit.min_off_s - cadence


def test_an_inverter_unit_modulates_for_long_runs_and_still_stops_at_low_load():
    unit = find_unit(lambda u: bool(u.pwm_hz) and u.climate_c < 20)
    runs, pauses = _runs(rooftop.device_week(unit, T0, 60.0, 7))
    assert pauses, "never stopped in a week"
    assert max(runs) * 60.0 > 3 * unit.period_s  # modulating through several cycle lengths


def test_the_first_seconds_of_a_run_are_louder():
    unit = find_unit(fixed_speed)
    week = rooftop.device_week(unit, T0, 1.0, 0.1)
    start = next(t for (t, on), (_, before) in zip(week[1:], week, strict=False)
                 if on and not before)
    first = rooftop.audio_window(unit, start + 0.5)
    settled = rooftop.audio_window(unit, start + 120.0)
    assert rooftop.running_at(unit, start + 120.0)
    assert np.mean(first.astype(float) ** 2) > 1.5 * np.mean(settled.astype(float) ** 2)


def test_afternoons_are_warmer_than_nights_and_the_coil_fouls_over_a_week():
    unit = rooftop.unit_for("roof-4", 4)
    local = -unit.utc_offset_h * 3600
    day0 = (T0 // DAY) * DAY + local
    for d in range(7):
        assert ambient_c(unit, day0 + d * DAY + 15 * 3600) > ambient_c(unit, day0 + d * DAY
                                                                       + 4 * 3600)
    rises = [fouling_at(unit, T0 + (d + 1) * DAY) > fouling_at(unit, T0 + d * DAY)
             for d in range(7)]
    assert sum(rises) >= 6  # at most one cleaning in a week


def test_the_windows_follow_the_schedule_when_running_is_not_given():
    unit = find_unit(fixed_speed)
    week = rooftop.device_week(unit, T0, 300.0, 1)
    t_on = next(t for t, on in week if on)
    t_off = next(t for t, on in week if not on)
    assert np.array_equal(rooftop.audio_window(unit, t_on),
                          rooftop.audio_window(unit, t_on, running=True))
    assert np.array_equal(rooftop.vibration_window(unit, t_off),
                          rooftop.vibration_window(unit, t_off, running=False))


def test_a_stereo_box_hears_two_mixes_of_the_same_scene():
    unit = find_unit(lambda u: u.channels == 2)
    x = rooftop.audio_window(unit, T0, running=True).astype(np.float64)
    assert not np.array_equal(x[:, 0], x[:, 1])
    assert np.corrcoef(x[:, 0], x[:, 1])[0, 1] > 0.5
