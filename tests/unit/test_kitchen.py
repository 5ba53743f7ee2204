"""The kitchen generator (gateway.devtools.kitchen) checked against physics, not snapshots:
determinism, severity, rotation and blade-pass lines, bearing defect frequencies in the
envelope, ISO 10816 levels, thermostat cycles, and payloads the gateway's parsers accept."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from gateway.devtools import kitchen as K
from gateway.devtools.kitchen import pieces
from gateway.devtools.kitchen.faults import SOUNDS_WHILE_STOPPED
from gateway.devtools.kitchen.microphone import SELF_NOISE_DB
from gateway.devtools.kitchen.operation import kitchen_activity, local_clock, moment
from gateway.devtools.kitchen.units import Unit
from gateway.devtools.kitchen.vibration import velocity_rms_mm_s
from gateway.intake.payloads import Inbound, vibration_window
from gateway.wav import decode_wav

T0 = 1_700_000_000.0  # a Tuesday, 22:13 UTC
SEVERITIES = (0.1, 0.25, 0.5, 1.0)


def find_unit(test: Callable[[Unit], bool], seed: int = 7) -> Unit:
    for i in range(400):
        unit = K.unit_for(f"kit-{i}", seed)
        if test(unit):
            return unit
    raise AssertionError("no unit drawn fits the test")


def at_local(unit: Unit, hour: float, day: int = 0) -> float:
    """Epoch seconds of `hour` local time on a day after T0, at the unit's site."""
    lt0 = T0 + unit.utc_offset_h * 3600
    midnight = lt0 - lt0 % 86_400 + (day + 1) * 86_400
    return midnight + hour * 3600 - unit.utc_offset_h * 3600


def mono(x: np.ndarray) -> np.ndarray:
    return (x[:, 0] if x.ndim == 2 else x).astype(np.float64)


def spectrum(x: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    return np.fft.rfftfreq(x.size, 1 / rate), np.abs(np.fft.rfft(x * np.hanning(x.size)))


def energy(x: np.ndarray) -> float:
    return float(np.sum(np.asarray(x, np.float64) ** 2))


def level_near(f: np.ndarray, s: np.ndarray, target: float, width: float = 1.0) -> float:
    return float(s[np.abs(f - target) <= width].max())


FIXED = find_unit(lambda u: not u.inverter and u.compressor == "recip")
WALKIN = find_unit(lambda u: u.kind == "walkin_cooler" and not u.inverter)


# --- the contract ------------------------------------------------------------------------

def test_fault_lists_are_the_contract():
    assert 7 <= len(K.AUDIO_FAULTS) <= 9 and len(set(K.AUDIO_FAULTS)) == len(K.AUDIO_FAULTS)
    assert K.VIBRATION_FAULTS == ("bearing_outer", "bearing_inner", "bearing_ball",
                                  "imbalance", "misalignment", "looseness")


def test_same_id_and_seed_give_the_same_unit_and_samples():
    a, b = K.unit_for("box-1", 3), K.unit_for("box-1", 3)
    t = at_local(a, 12.5)
    assert np.array_equal(K.audio_window(a, t), K.audio_window(b, t))
    assert np.array_equal(K.vibration_window(a, t), K.vibration_window(b, t))
    assert np.array_equal(K.audio_window(a, t, "valve_reed_wear", 0.5),
                          K.audio_window(b, t, "valve_reed_wear", 0.5))


def test_a_window_does_not_depend_on_the_windows_made_before_it():
    """Per-unit caches must not leak one window's speed into another's samples."""
    times = [at_local(FIXED, 3.0) + 97.0 * i for i in range(12)]  # speeds a hair apart
    for device in (FIXED.device_id, find_unit(lambda u: u.inverter).device_id):
        forward, backward = K.unit_for(device, 7), K.unit_for(device, 7)
        ahead = [K.audio_window(forward, t, running=True) for t in times]
        behind = [K.audio_window(backward, t, running=True) for t in reversed(times)][::-1]
        assert all(np.array_equal(a, b) for a, b in zip(ahead, behind, strict=True))


def test_running_none_is_the_thermostats_state():
    unit = FIXED
    for t in np.arange(at_local(unit, 3.0), at_local(unit, 4.0), 600.0):
        state = K.running_at(unit, t)
        assert np.array_equal(K.audio_window(unit, t), K.audio_window(unit, t, running=state))
        assert np.array_equal(K.vibration_window(unit, t),
                              K.vibration_window(unit, t, running=state))


def test_another_seed_or_id_is_another_unit():
    base = K.unit_for("box-1", 3)
    for other in (K.unit_for("box-1", 4), K.unit_for("box-2", 3)):
        fields = ("kind", "compressor", "mains_hz", "slip_rated", "fan_rps", "audio_rate",
                  "level_db", "tau_s")
        assert any(getattr(base, k) != getattr(other, k) for k in fields)


def test_units_differ_in_speed_rates_fans_and_machines():
    units = [K.unit_for(f"many-{i}", 1) for i in range(40)]
    assert len({u.kind for u in units}) >= 4
    assert {u.compressor for u in units} == {"recip", "rotary", "scroll"}
    assert len({u.audio_rate for u in units}) >= 3 and len({u.vib_rate for u in units}) >= 3
    assert len({u.fan_blades for u in units}) >= 2 and {u.channels for u in units} == {1, 2}
    assert len({round(u.mains_hz * (1 - u.slip_rated), 2) for u in units}) >= 20
    assert any(u.inverter for u in units) and any(not u.inverter for u in units)


def test_audio_is_float32_on_pcm16_steps_with_the_units_shape():
    for i in range(6):
        unit = K.unit_for(f"fmt-{i}", 2)
        x = K.audio_window(unit, at_local(unit, 19.5), seconds=0.5)
        frames = round(0.5 * unit.audio_rate)
        assert x.shape == ((frames,) if unit.channels == 1 else (frames, 2))
        assert x.dtype == np.float32 and np.abs(x).max() <= 1.0
        codes = x.astype(np.float64) * 32768
        assert np.array_equal(codes, np.rint(codes))


def test_audio_wav_decodes_to_the_window():
    unit = find_unit(lambda u: u.channels == 2)
    t = at_local(unit, 13.0)
    samples, rate = decode_wav(K.audio_wav(unit, t))
    assert rate == unit.audio_rate
    assert np.array_equal(samples, K.audio_window(unit, t).reshape(samples.shape))


def test_vibration_payload_passes_the_gateways_parser_in_both_units():
    for want in ("m/s2", "g"):
        unit = find_unit(lambda u, w=want: u.vib_unit == w)
        t = at_local(unit, 3.0)
        xyz = K.vibration_window(unit, t, running=True)
        doc = K.vibration_payload(unit, xyz, t)
        msg = Inbound(f"sensors/{unit.device_id}/vibration", json.dumps(doc).encode(), 0)
        window = vibration_window(unit.device_id, msg)
        assert window.sample_rate == unit.vib_rate and window.frames == xyz.shape[1]
        scale = 9.80665 if want == "g" else 1.0
        assert np.allclose(np.array(doc["x"]) * scale, xyz[0], atol=1e-5 * scale)


def test_a_comb_plays_every_phase_including_a_hair_under_a_whole_turn():
    table = pieces.comb_table(np.array([1.0, 0.5]), np.zeros(2))
    cycles = np.array([0.0, 0.25, 1 - 1e-9, 7 - 1e-12, -1e-9, 3.5])
    played = pieces.play_comb(table, cycles)
    exact = np.sin(2 * np.pi * cycles) + 0.5 * np.sin(4 * np.pi * cycles)
    assert np.allclose(played, exact, atol=1e-3)


# --- severity ----------------------------------------------------------------------------

@pytest.mark.parametrize("fault", K.AUDIO_FAULTS)
def test_audio_severity_zero_is_healthy_and_energy_grows(fault):
    unit = WALKIN
    t = at_local(unit, 3.2)
    healthy = K.audio_window(unit, t, running=True).astype(np.float64)
    assert np.array_equal(K.audio_window(unit, t, fault, 0.0, running=True), healthy)
    added = [energy(K.audio_window(unit, t, fault, s, running=True) - healthy)
             for s in SEVERITIES]
    assert added[0] > 0 and all(b > a for a, b in zip(added, added[1:], strict=False)), added


@pytest.mark.parametrize("fault", K.VIBRATION_FAULTS)
def test_vibration_severity_zero_is_healthy_and_energy_grows(fault):
    unit = FIXED
    t = at_local(unit, 3.2)
    healthy = K.vibration_window(unit, t, running=True)
    assert np.array_equal(K.vibration_window(unit, t, fault, 0.0, running=True), healthy)
    added = [energy(K.vibration_window(unit, t, fault, s, running=True) - healthy)
             for s in SEVERITIES]
    assert added[0] > 0 and all(b > a for a, b in zip(added, added[1:], strict=False)), added


def test_a_stopped_compressor_makes_no_fault_sound_except_a_leak_or_ice():
    unit = WALKIN
    t = at_local(unit, 3.2)
    quiet = K.audio_window(unit, t, running=False)
    for fault in K.AUDIO_FAULTS:
        same = np.array_equal(K.audio_window(unit, t, fault, 1.0, running=False), quiet)
        assert same == (fault not in SOUNDS_WHILE_STOPPED), fault
    still = K.vibration_window(unit, t, running=False)
    for fault in K.VIBRATION_FAULTS:
        assert np.array_equal(K.vibration_window(unit, t, fault, 1.0, running=False), still)


def test_unknown_faults_are_refused():
    with pytest.raises(ValueError):
        K.audio_window(FIXED, T0, "gremlins", 0.5)
    with pytest.raises(ValueError):
        K.vibration_window(FIXED, T0, "gremlins", 0.5)


# --- the sound's physics -----------------------------------------------------------------

def test_a_stopped_unit_is_quieter_at_its_own_lines_but_the_site_is_not_silent():
    for unit in (FIXED, WALKIN):
        t = at_local(unit, 3.0)
        on = mono(K.audio_window(unit, t, running=True, seconds=2.0))
        off = mono(K.audio_window(unit, t, running=False, seconds=2.0))
        f, s_on = spectrum(on, unit.audio_rate)
        _, s_off = spectrum(off, unit.audio_rate)
        m = moment(unit, t, True)
        comb = [k * m.shaft_rps for k in range(1, 11)] + [m.fan_rps * unit.fan_blades]
        lines_on = sum(level_near(f, s_on, line, 0.3) ** 2 for line in comb)
        lines_off = sum(level_near(f, s_off, line, 0.3) ** 2 for line in comb)
        assert lines_on > 10 * lines_off
        self_noise = pieces.spl(SELF_NOISE_DB) / pieces.spl(unit.full_scale_db)
        assert off.std() > 2 * self_noise  # the room and the neighbours, not just the capsule


def test_the_rotation_line_sits_at_line_frequency_less_slip():
    unit = FIXED
    t = at_local(unit, 3.0)
    m = moment(unit, t, True)
    assert 0.94 * unit.mains_hz < m.shaft_rps < 0.99 * unit.mains_hz
    on = mono(K.audio_window(unit, t, running=True, seconds=4.0))
    f, s = spectrum(on, unit.audio_rate)
    _, s_off = spectrum(mono(K.audio_window(unit, t, running=False, seconds=4.0)),
                        unit.audio_rate)
    lo, hi = 0.9 * unit.mains_hz, 0.995 * unit.mains_hz  # clear of the mains' own lines
    band = (f > lo) & (f < hi)
    own = s[band] / (s_off[band] + 1e-9)  # a neighbour's compressor may sit nearby
    assert abs(f[band][np.argmax(own)] - m.shaft_rps) < 0.3
    cyl = m.shaft_rps * unit.cylinders
    assert level_near(f, s, cyl, 0.3) > 10 * np.median(s[(f > cyl - 15) & (f < cyl + 15)])


def test_the_condenser_fans_blade_pass_is_where_its_blades_and_speed_put_it():
    unit = find_unit(lambda u: u.place == "housing" and not u.inverter)
    t = at_local(unit, 3.0)
    m = moment(unit, t, True)
    bpf = m.fan_rps * unit.fan_blades
    f, s = spectrum(mono(K.audio_window(unit, t, running=True, seconds=4.0)), unit.audio_rate)
    around = (np.abs(f - bpf) < 12) & (np.abs(f - bpf) > 1)
    assert level_near(f, s, bpf, 0.3) > 10 * np.median(s[around])


def test_high_head_pressure_slows_a_fixed_speed_motor():
    unit = FIXED
    t = at_local(unit, 3.0)
    m = moment(unit, t, True)
    healthy = mono(K.audio_window(unit, t, running=True, seconds=4.0))
    laboured = mono(K.audio_window(unit, t, "high_head_pressure", 1.0, running=True,
                                   seconds=4.0))
    f, added = spectrum(laboured - healthy, unit.audio_rate)
    band = (f > 0.9 * unit.mains_hz) & (f < 0.995 * unit.mains_hz)
    assert f[band][np.argmax(added[band])] < m.shaft_rps - 0.2


# --- vibration ---------------------------------------------------------------------------

def envelope_peak(x: np.ndarray, rate: float, centre: float, lo: float, hi: float) -> float:
    """Peak of the envelope spectrum of x band-passed around `centre`, in [lo, hi] Hz."""
    f = np.fft.rfftfreq(x.size, 1 / rate)
    spec = np.fft.rfft(x)
    spec[(f < 0.6 * centre) | (f > 1.4 * centre)] = 0
    analytic = np.fft.ifft(np.concatenate([spec, np.zeros(x.size - spec.size)]) * 2)
    env = np.abs(analytic) - np.abs(analytic).mean()
    fe, se = spectrum(env, rate)
    band = (fe >= lo) & (fe <= hi)
    return float(fe[band][np.argmax(se[band])])


@pytest.mark.parametrize("fault", ["bearing_outer", "bearing_inner", "bearing_ball"])
def test_bearing_faults_show_their_defect_frequency_in_the_envelope(fault):
    for unit in (FIXED, find_unit(lambda u: u.vib_rate == 5120)):
        t = at_local(unit, 3.0)
        m = moment(unit, t, True)
        orders = {"bearing_outer": unit.bearing.bpfo, "bearing_inner": unit.bearing.bpfi,
                  "bearing_ball": 2 * unit.bearing.bsf}
        defect = orders[fault] * m.shaft_rps
        xyz = K.vibration_window(unit, t, fault, 0.5, running=True, seconds=2.0)
        centre = min(unit.bearing_res_hz, 0.38 * unit.vib_rate)
        peak = envelope_peak(xyz[0], unit.vib_rate, centre, 0.7 * defect, 1.3 * defect)
        assert peak == pytest.approx(defect, rel=0.02), (fault, unit.vib_rate)


def test_healthy_vibration_is_in_iso_zone_a_or_b_and_severe_faults_beyond():
    for i in range(8):
        unit = K.unit_for(f"iso-{i}", 5)
        t = at_local(unit, 2.5)
        xyz = K.vibration_window(unit, t, running=True, seconds=2.0)
        v = velocity_rms_mm_s(xyz[0], unit.vib_rate)
        assert 0.2 < v < 1.8, v  # small machines: zone B ends at 1.8 mm/s
        for fault in ("imbalance", "misalignment", "looseness"):
            bad = K.vibration_window(unit, t, fault, 1.0, running=True, seconds=2.0)
            worst = max(velocity_rms_mm_s(bad[a], unit.vib_rate) for a in range(3))
            assert worst > 2.8, (fault, worst)  # zone C and beyond


def test_a_stopped_compressor_leaves_only_the_floor_and_the_sensor():
    unit = FIXED
    t = at_local(unit, 3.0)
    on = K.vibration_window(unit, t, running=True)
    off = K.vibration_window(unit, t, running=False)
    assert off.std() < 0.3 * on.std() and off.std() > 0


def test_imbalance_is_radial_and_misalignment_is_strong_axially():
    unit = FIXED
    t = at_local(unit, 3.0)
    healthy = K.vibration_window(unit, t, running=True, seconds=2.0)
    imb = K.vibration_window(unit, t, "imbalance", 1.0, running=True, seconds=2.0) - healthy
    mis = K.vibration_window(unit, t, "misalignment", 1.0, running=True, seconds=2.0) - healthy
    assert energy(imb[2]) < 0.1 * energy(imb[0])
    assert energy(mis[2]) > energy(mis[0])


# --- operation ---------------------------------------------------------------------------

def runs_of(week: list[tuple[float, bool]]) -> list[tuple[bool, int]]:
    runs: list[tuple[bool, int]] = []
    for _, state in week:
        if runs and runs[-1][0] == state:
            runs[-1] = (state, runs[-1][1] + 1)
        else:
            runs.append((state, 1))
    return runs


@pytest.mark.parametrize("kind", ["undercounter", "reachin", "walkin_cooler", "walkin_freezer"])
def test_a_fixed_speed_week_cycles_several_times_a_day_with_a_minimum_run(kind):
    unit = find_unit(lambda u: u.kind == kind and not u.inverter)
    cadence = 30.0
    week = K.device_week(unit, at_local(unit, 0.0), cadence, 7)
    assert len(week) == 7 * 2880 and week[0][1] == K.running_at(unit, week[0][0])
    runs = runs_of(week)
    starts = sum(1 for state, _ in runs if state)
    assert starts >= 7 * 3
    inner_on = [n for state, n in runs[1:-1] if state]
    assert min(inner_on) * cadence >= unit.min_run_s - cadence
    duty = sum(state for _, state in week) / len(week)
    assert 0.1 < duty < 0.95


def test_a_freezer_defrosts_on_its_schedule():
    unit = find_unit(lambda u: u.kind == "walkin_freezer" and not u.inverter)
    week = K.device_week(unit, at_local(unit, 0.0), 60.0, 2)
    long_offs = [n for state, n in runs_of(week) if not state and n * 60 >= 0.8 * unit.defrost_s]
    per_day = 24 / unit.defrost_every_h
    assert len(long_offs) >= 2 * per_day - 1


def test_service_lengthens_the_runs_over_the_night():
    unit = find_unit(lambda u: u.kind == "undercounter" and not u.inverter
                     and u.site == "restaurant" and u.closed_weekday == -1)
    duty = {}
    for name, hour in (("night", 3.0), ("service", 19.0)):
        week = [(t, K.running_at(unit, t)) for day in range(7) for t in
                np.arange(at_local(unit, hour, day), at_local(unit, hour + 2.0, day), 20.0)]
        duty[name] = sum(s for _, s in week) / len(week)
    assert duty["service"] > duty["night"] + 0.1


def test_the_kitchen_is_busy_at_service_and_quiet_at_night_and_on_closed_days():
    unit = find_unit(lambda u: u.site == "restaurant" and u.closed_weekday >= 0)
    busy = [kitchen_activity(unit, at_local(unit, 20.0, d))[0] for d in range(7)]
    night = [kitchen_activity(unit, at_local(unit, 3.0, d))[0] for d in range(7)]
    closed = [local_clock(unit, at_local(unit, 20.0, d))[2] == unit.closed_weekday
              for d in range(7)]
    assert all(n == 0 for n in night)
    assert all((b == 0) == c for b, c in zip(busy, closed, strict=True))
    t_night, t_service = at_local(unit, 3.0, 1), at_local(unit, 20.0, 1)
    if not closed[1]:
        site_night = K.audio_window(unit, t_night, running=False)
        site_service = K.audio_window(unit, t_service, running=False)
        assert site_service.std() > 2 * site_night.std()


def test_an_inverter_unit_slows_down_at_night_and_runs_long_at_service():
    unit = find_unit(lambda u: u.inverter and u.kind.startswith("walkin"))
    night, service = moment(unit, at_local(unit, 3.0), True), moment(unit, at_local(unit, 20.0),
                                                                      True)
    assert 25 <= night.shaft_rps <= service.shaft_rps <= 100
