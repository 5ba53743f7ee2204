"""The seventh generator (gateway/devtools/screwhall): physics checks, not snapshots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gateway.config import IntakeSection
from gateway.devtools import screwhall as sh
from gateway.devtools.screwhall.operation import SLIDE_MIN, moment
from gateway.devtools.screwhall.site import neighbour_running
from gateway.intake.payloads import Inbound, parse_message
from gateway.records import Window
from gateway.wav import inspect_wav

T0 = 1.7e9
IDS = [f"screw-{i:02d}" for i in range(24)]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def mono(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 1 else x[:, 0]


def first_run(unit: sh.Unit, t: float = T0, settled_s: float = 1200.0) -> float:
    """A time well into a run (slide valve loaded, no start, no idling before the stop)."""
    while True:
        m = moment(unit, t)
        if m.running and m.since_start_s > settled_s and m.until_stop_s > 600:
            return t
        t += 300.0


def find_unit(pred, seed: int = 1) -> sh.Unit:
    for device in IDS * 4:
        unit = sh.unit_for(device, seed)
        if pred(unit):
            return unit
        seed += 1
    raise AssertionError("no unit of that kind in the sample")


def amplitude_at(x: np.ndarray, rate: int, f: float, width_hz: float = 1.5) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    return float(spectrum[np.abs(freqs - f) <= width_hz].max())


def envelope_spectrum(x: np.ndarray, rate: int, lo: float) -> tuple[np.ndarray, np.ndarray]:
    spec = np.fft.fft(x)
    freqs = np.fft.fftfreq(x.size, 1 / rate)
    analytic = np.where((freqs >= lo) & (freqs < 0.45 * rate), 2 * spec, 0)
    env = np.abs(np.fft.ifft(analytic))
    env -= env.mean()
    return np.fft.rfftfreq(x.size, 1 / rate), np.abs(np.fft.rfft(env * np.hanning(x.size)))


def velocity_rms_mm_s(accel: np.ndarray, rate: int) -> float:
    """ISO 10816 / 20816 broadband velocity: 10-1000 Hz, integrated in the frequency domain."""
    spec = np.fft.rfft(accel)
    freqs = np.fft.rfftfreq(accel.size, 1 / rate)
    keep = (freqs >= 10) & (freqs <= 1000)
    vel = np.zeros_like(spec)
    vel[keep] = spec[keep] / (2j * np.pi * freqs[keep])
    return rms(np.fft.irfft(vel, accel.size)) * 1e3


@pytest.fixture(scope="module")
def unit() -> sh.Unit:
    return sh.unit_for("screw-07", 3)


@pytest.fixture(scope="module")
def t_run(unit: sh.Unit) -> float:
    return first_run(unit)


# --- the contract -------------------------------------------------------------------------

def test_the_fault_lists_are_the_contract():
    assert sh.VIBRATION_FAULTS == ("bearing_outer", "bearing_inner", "bearing_ball",
                                   "imbalance", "misalignment", "looseness")
    assert 7 <= len(sh.AUDIO_FAULTS) <= 9 and len(set(sh.AUDIO_FAULTS)) == len(sh.AUDIO_FAULTS)


def test_a_unit_is_deterministic_in_its_id_and_seed(unit, t_run):
    again = sh.unit_for("screw-07", 3)
    assert again == unit
    assert np.array_equal(sh.audio_window(again, t_run), sh.audio_window(unit, t_run))
    assert np.array_equal(sh.vibration_window(again, t_run), sh.vibration_window(unit, t_run))
    assert sh.audio_wav(again, t_run) == sh.audio_wav(unit, t_run)


def test_another_seed_is_another_unit(unit):
    others = [sh.unit_for("screw-07", seed) for seed in range(4, 10)]
    assert all(other != unit for other in others)
    t = T0 + 86_400
    assert not np.array_equal(sh.audio_window(others[0], t, running=True)[:1000],
                              sh.audio_window(unit, t, running=True)[:1000])


def test_units_differ_in_drive_speed_rotors_rates_and_room():
    units = [sh.unit_for(device, 1) for device in IDS]
    assert {u.drive for u in units} == {"star_delta", "soft_start", "vfd"}
    assert {u.mains_hz for u in units} == {50.0, 60.0}
    assert len({round(u.speed_max_hz, 2) for u in units}) > 10
    assert {u.male_lobes for u in units} == {4, 5}
    assert all(u.female_lobes > u.male_lobes for u in units)
    assert len({u.audio_rate for u in units}) >= 3 and len({u.vib_rate for u in units}) >= 3
    assert {u.channels for u in units} == {1, 2} and {u.vib_unit for u in units} == {"m/s2", "g"}
    assert len({u.motor_fan_blades for u in units}) > 2
    assert len({u.condenser_blades for u in units}) > 2
    assert all(0.5 <= u.mic_distance_m <= 2.0 for u in units)


def test_fixed_speed_motors_are_two_pole_and_vfds_span_their_range():
    for u in (sh.unit_for(device, 2) for device in IDS):
        if u.fixed_speed:
            assert 0.98 * u.mains_hz < u.speed_max_hz < u.mains_hz  # 2950 / 3550 rpm class
        else:
            assert 25 <= u.speed_min_hz < u.speed_max_hz <= 75  # 1500-4500 rpm


def test_audio_is_float32_on_pcm16_steps_within_full_scale(unit, t_run):
    for running in (True, False):
        x = sh.audio_window(unit, t_run, running=running, seconds=0.5)
        assert x.dtype == np.float32
        assert x.shape[0] == round(0.5 * unit.audio_rate)
        assert x.ndim == 1 if unit.channels == 1 else x.shape[1] == 2
        assert np.all(np.abs(x) <= 1.0)
        codes = x.astype(np.float64) * 32768
        assert np.array_equal(codes, np.round(codes))


def test_stereo_units_give_two_related_but_different_channels():
    u = find_unit(lambda u: u.channels == 2)
    x = sh.audio_window(u, first_run(u))
    assert x.shape == (u.audio_rate, 2)
    corr = np.corrcoef(x[:, 0], x[:, 1])[0, 1]
    assert 0.2 < corr < 0.999


def test_the_wav_is_what_intake_accepts(unit, t_run):
    payload = sh.audio_wav(unit, t_run)
    info = inspect_wav(payload)
    assert (info.sample_rate, info.channels, info.encoding) == (unit.audio_rate, unit.channels,
                                                               "pcm16")
    record = parse_message(Inbound(f"sensors/{unit.device_id}/audio", payload, 1_700_000_000_000),
                           "sensors", IntakeSection())
    assert isinstance(record, Window) and record.stream == "audio"


@pytest.mark.parametrize("vib_unit", ["m/s2", "g"])
def test_the_vibration_payload_is_what_intake_accepts(vib_unit):
    u = find_unit(lambda u: u.vib_unit == vib_unit)
    t = first_run(u)
    xyz = sh.vibration_window(u, t, "bearing_outer", 1.0)
    doc = sh.vibration_payload(u, xyz, t)
    record = parse_message(Inbound(f"sensors/{u.device_id}/vibration", json.dumps(doc).encode(),
                                   1_700_000_000_000), "sensors", IntakeSection())
    assert isinstance(record, Window), record
    assert record.frames == u.vib_rate and record.sample_rate == u.vib_rate
    scale = 9.80665 if vib_unit == "g" else 1.0
    assert np.allclose(np.array(doc["x"]) * scale, xyz[0], atol=1e-4)


def test_vibration_is_three_axes_at_the_vibration_rate(unit, t_run):
    v = sh.vibration_window(unit, t_run, seconds=0.5)
    assert v.shape == (3, round(0.5 * unit.vib_rate)) and np.isfinite(v).all()


def test_unknown_faults_are_refused(unit, t_run):
    with pytest.raises(ValueError):
        sh.audio_window(unit, t_run, "bearing_outer", 0.5)
    with pytest.raises(ValueError):
        sh.vibration_window(unit, t_run, "gas_leak", 0.5)


# --- severity -----------------------------------------------------------------------------

@pytest.mark.parametrize("fault", sh.AUDIO_FAULTS)
def test_audio_severity_zero_is_healthy_and_energy_grows(unit, t_run, fault):
    healthy = sh.audio_window(unit, t_run).astype(np.float64)
    assert np.array_equal(sh.audio_window(unit, t_run, fault, 0.0), healthy)
    added = [rms(sh.audio_window(unit, t_run, fault, s) - healthy) for s in (0.1, 0.25, 0.5, 1.0)]
    assert added[0] > 0 and all(b > a for a, b in zip(added, added[1:], strict=False))
    assert added[-1] > 0.2 * rms(healthy)  # severe is plain, not a whisper
    assert added[0] < 0.2 * rms(healthy)  # subtle is subtle


@pytest.mark.parametrize("fault", sh.VIBRATION_FAULTS)
def test_vibration_severity_zero_is_healthy_and_energy_grows(unit, t_run, fault):
    healthy = sh.vibration_window(unit, t_run)
    assert np.array_equal(sh.vibration_window(unit, t_run, fault, 0.0), healthy)
    added = [rms(sh.vibration_window(unit, t_run, fault, s) - healthy)
             for s in (0.1, 0.25, 0.5, 1.0)]
    assert added[0] > 0 and all(b > a for a, b in zip(added, added[1:], strict=False))


def test_only_a_leak_sounds_while_the_compressor_is_stopped(unit, t_run):
    off = sh.audio_window(unit, t_run, running=False)
    for fault in sh.AUDIO_FAULTS:
        faulty = sh.audio_window(unit, t_run, fault, 1.0, running=False)
        assert np.array_equal(faulty, off) == (fault != "gas_leak"), fault
    for fault in sh.VIBRATION_FAULTS:
        assert np.array_equal(sh.vibration_window(unit, t_run, fault, 1.0, running=False),
                              sh.vibration_window(unit, t_run, running=False))


def test_a_leak_hisses_above_the_machine_band_near_the_self_noise_when_subtle():
    u = find_unit(lambda u: u.audio_rate >= 44_100)
    t = first_run(u)
    healthy = mono(sh.audio_window(u, t)).astype(np.float64)
    added = mono(sh.audio_window(u, t, "gas_leak", 0.1)) - healthy
    freqs = np.fft.rfftfreq(added.size, 1 / u.audio_rate)
    power = np.abs(np.fft.rfft(added)) ** 2
    assert power[freqs > 3000].sum() > 0.8 * power.sum()
    assert rms(added) < 10 * u.self_noise  # a subtle hiss sits near the box's own floor


# --- the machine's voice ------------------------------------------------------------------

def test_the_lobe_pass_line_is_at_lobes_times_male_speed_and_goes_with_the_unit():
    u = find_unit(lambda u: u.fixed_speed)
    t = first_run(u)
    m = moment(u, t)
    lobe_pass = u.male_lobes * m.speed_hz
    on = mono(sh.audio_window(u, t, seconds=2.0))
    off = mono(sh.audio_window(u, t, running=False, seconds=2.0))
    line = amplitude_at(on, u.audio_rate, lobe_pass)
    spectrum = np.abs(np.fft.rfft(on * np.hanning(on.size)))
    freqs = np.fft.rfftfreq(on.size, 1 / u.audio_rate)
    around = spectrum[(np.abs(freqs - lobe_pass) > 5) & (np.abs(freqs - lobe_pass) < 40)]
    assert line > 5 * np.median(around)  # a tone, 14 dB over its surroundings
    # Stopped, its own lines drop (a neighbour on the same mains with the same rotors may
    # sit within a hertz of one of them, so the first four harmonics are taken together).
    own = sum(amplitude_at(on, u.audio_rate, k * lobe_pass, 0.75) for k in range(1, 5))
    rest = sum(amplitude_at(off, u.audio_rate, k * lobe_pass, 0.75) for k in range(1, 5))
    assert own > 4 * rest  # quieter stopped...
    assert rms(off) > 20 * u.self_noise  # ...but the engine room is not silent


def test_a_vfd_unit_moves_its_lobe_pass_with_speed():
    u = find_unit(lambda u: not u.fixed_speed)
    speeds = [moment(u, T0 + h * 1800.0, running=True).speed_hz for h in range(48)]
    assert len({round(s, 1) for s in speeds}) > 5
    assert u.speed_min_hz - 1e-9 <= min(speeds) < max(speeds) <= u.speed_max_hz + 1e-9
    times = [T0 + h * 1800.0 for h in range(48)]
    slow, fast = min(times, key=lambda t: speeds[times.index(t)]), \
        max(times, key=lambda t: speeds[times.index(t)])
    for t in (slow, fast):
        lobe_pass = u.male_lobes * moment(u, t, running=True).speed_hz
        on = mono(sh.audio_window(u, t, running=True, seconds=2.0))
        off = mono(sh.audio_window(u, t, running=False, seconds=2.0))
        own = sum(amplitude_at(on, u.audio_rate, k * lobe_pass, 0.75) for k in range(1, 5))
        rest = sum(amplitude_at(off, u.audio_rate, k * lobe_pass, 0.75) for k in range(1, 5))
        assert own > 3 * rest, (t, lobe_pass)


def test_the_sound_follows_the_slide_valve_not_only_on_and_off():
    u = find_unit(lambda u: u.fixed_speed)
    t = first_run(u)
    runs = [t + k * 300.0 for k in range(40) if moment(u, t + k * 300.0).running]
    slides = {moment(u, x).slide for x in runs}
    assert len(slides) >= 4
    low = min(runs, key=lambda x: moment(u, x).slide)
    high = max(runs, key=lambda x: moment(u, x).slide)
    assert moment(u, high).slide - moment(u, low).slide > 0.2
    assert not np.isclose(rms(sh.audio_window(u, low)), rms(sh.audio_window(u, high)), rtol=0.05)


def test_a_start_is_loud_in_the_motor_hum():
    u = find_unit(lambda u: u.drive == "star_delta")
    t = first_run(u)
    start = t - moment(u, t).since_start_s
    hum = 2 * u.mains_hz
    early = amplitude_at(mono(sh.audio_window(u, start + 1.0)), u.audio_rate, hum)
    settled = amplitude_at(mono(sh.audio_window(u, t)), u.audio_rate, hum)
    assert early > 2 * settled
    assert moment(u, start + 10.0).slide == SLIDE_MIN  # it starts unloaded


# --- operation ----------------------------------------------------------------------------

def _runs_and_stops(week: list[tuple[float, bool]]) -> tuple[list[float], list[float], int]:
    runs, stops, starts = [], [], 0
    since = week[0][0]
    for (_, a), (t1, b) in zip(week, week[1:], strict=False):
        if a != b:
            (runs if a else stops).append(t1 - since)
            starts += b
            since = t1
    return runs[1:], stops[1:], starts  # the first segment is cut by the week's start


def test_a_fixed_speed_week_cycles_several_times_a_day_with_minimum_times():
    u = find_unit(lambda u: u.fixed_speed)
    week = sh.device_week(u, T0, 60.0, 7)
    assert len(week) == 7 * 1440 and week[0][0] == T0 and week[1][0] == T0 + 60
    assert all(sh.running_at(u, t) == on for t, on in week[::97])
    runs, stops, starts = _runs_and_stops(week)
    assert starts / 7 >= 2.5
    assert min(runs) >= u.min_run_s - 60 and min(stops) >= u.min_off_s - 60
    assert 0.3 < np.mean([on for _, on in week]) < 0.95


def test_a_vfd_unit_runs_long_and_still_stops():
    u = find_unit(lambda u: not u.fixed_speed)
    runs, _, starts = _runs_and_stops(sh.device_week(u, T0, 120.0, 7))
    assert 3 <= starts <= 2.5 * 7 and np.median(runs) > 4 * 3600


def test_the_slide_valve_idles_unloaded_before_a_stop():
    u = find_unit(lambda u: u.fixed_speed)
    t = first_run(u)
    stop = t + moment(u, t).until_stop_s
    assert moment(u, stop - 60.0).running and moment(u, stop - 60.0).slide == SLIDE_MIN
    assert not moment(u, stop + 1.0).running


def test_the_room_goes_on_while_this_unit_is_off():
    u = sh.unit_for("screw-03", 1)
    offs = [t for t, on in sh.device_week(u, T0, 900.0, 3) if not on]
    assert offs
    others = np.mean([any(neighbour_running(u, nb, t) for nb in u.neighbours) for t in offs])
    assert others > 0.7


def test_the_week_drifts_slowly():
    u = sh.unit_for("screw-05", 1)
    gains = [moment(u, T0 + d * 8 * 3600.0).mic_gain for d in range(21)]
    drifts = [moment(u, T0 + d * 8 * 3600.0).drift for d in range(21)]
    assert 0.85 < min(gains) < max(gains) < 1.15
    assert max(drifts) - min(drifts) > 0.5


# --- vibration physics --------------------------------------------------------------------

def test_healthy_vibration_is_iso_zone_a_or_b():
    for device in IDS[:10]:
        u = sh.unit_for(device, 4)
        v = sh.vibration_window(u, first_run(u))
        radial = max(velocity_rms_mm_s(v[axis], u.vib_rate) for axis in (0, 1))
        assert 0.3 < radial < 4.5, (device, radial)  # ISO 10816-3 zone B/C edge: 4.5 mm/s


def test_imbalance_raises_1x_into_zone_c():
    u = find_unit(lambda u: u.fixed_speed)
    t = first_run(u)
    healthy = sh.vibration_window(u, t, seconds=2.0)
    faulty = sh.vibration_window(u, t, "imbalance", 1.0, seconds=2.0)
    f = moment(u, t).speed_hz
    assert amplitude_at(faulty[0], u.vib_rate, f) > 3 * amplitude_at(healthy[0], u.vib_rate, f)
    assert velocity_rms_mm_s(faulty[0], u.vib_rate) > 4.5


def test_the_rotation_line_is_at_the_male_rotor_speed(unit, t_run):
    v = sh.vibration_window(unit, t_run, seconds=2.0)
    f = moment(unit, t_run).speed_hz
    assert amplitude_at(v[0], unit.vib_rate, f) > 5 * amplitude_at(v[0], unit.vib_rate, f * 0.8)
    off = sh.vibration_window(unit, t_run, running=False, seconds=2.0)
    assert rms(off) < 0.1 * rms(v)


@pytest.mark.parametrize("fault", ["bearing_outer", "bearing_inner", "bearing_ball"])
def test_the_envelope_spectrum_shows_the_bearing_defect_frequency(fault):
    def order(u: sh.Unit) -> float:
        b = u.bearing
        return {"bearing_outer": b.bpfo, "bearing_inner": b.bpfi, "bearing_ball": 2 * b.bsf}[fault]

    # The healthy envelope carries the rotation's own orders (the lobe-pass pulsation rings
    # the housing too): take a bearing whose defect order is clear of any whole order.
    u = find_unit(lambda u: u.vib_rate >= 10_240 and abs(order(u) - round(order(u))) > 0.15)
    t = first_run(u)
    f = moment(u, t).speed_hz
    defect = order(u)
    lo = 1000.0
    freqs, healthy = envelope_spectrum(sh.vibration_window(u, t, seconds=2.0)[0], u.vib_rate, lo)
    _, faulty = envelope_spectrum(sh.vibration_window(u, t, fault, 0.5, seconds=2.0)[0],
                                  u.vib_rate, lo)
    near = np.abs(freqs - defect * f) <= 0.02 * defect * f
    band = (freqs > 0.3 * defect * f) & (freqs < 1.7 * defect * f)
    assert faulty[near].max() > 4 * np.median(faulty[band])
    assert faulty[near].max() > 4 * healthy[near].max()


def test_bearing_defect_orders_follow_the_geometry():
    for u in (sh.unit_for(device, 1) for device in IDS):
        b = u.bearing
        assert b.bpfo < b.rollers / 2 < b.bpfi and abs(b.bpfo + b.bpfi - b.rollers) < 1e-9
        assert 0.35 < b.ftf < 0.5 and 1.5 < b.bsf < 4.0
