"""gateway.devtools.rackhall, the fifth compressor generator (a compressor rack's machine
room): its physics where physics puts it (rotation comb at the inverter's speed, the PWM
whine, bearing defect lines in the envelope at the current speed, 1x / 2x / axial lines for
shaft faults, velocity in ISO 10816 zone A/B), faults that grow from exactly healthy, and
the rack's staging over a week."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gateway.devtools import rackhall
from gateway.devtools.rackhall import motor
from gateway.devtools.rackhall.operation import moment_at
from gateway.wav import decode_wav

T0 = 1_767_225_600.0 + 10 * 3600  # 10:00 UTC, shop hours
SEVERITIES = (0.1, 0.25, 0.5, 1.0)


@pytest.fixture(scope="module")
def units():
    return [rackhall.unit_for(f"rackhall-{i:02d}", seed=11) for i in range(10)]


def lead(units):
    return next(u for u in units if u.stage == 0)


def fixed_stage(units):
    return next(u for u in units if u.stage != 0)


def running_time(unit, t_s=T0):
    while not rackhall.running_at(unit, t_s):
        t_s += 60
    return t_s


def mono(x):
    return x if x.ndim == 1 else x.mean(axis=1)


def spectrum(x, rate):
    x = np.asarray(x, dtype=float)
    mags = np.abs(np.fft.rfft(x * np.hanning(len(x)))) / len(x)
    return np.fft.rfftfreq(len(x), 1 / rate), mags


def level_at(f, mags, hz, width=1.5):
    return mags[np.abs(f - hz) <= width].max()


def floor_near(f, mags, hz, lo=4.0, hi=15.0):
    near = (np.abs(f - hz) >= lo) & (np.abs(f - hz) <= hi)
    return np.median(mags[near])


def envelope_spectrum(x, rate, centre, half_band):
    """|spectrum| of the band's envelope (band-pass by FFT mask, analytic signal)."""
    n = len(x)
    spec = np.fft.fft(x)
    f = np.fft.fftfreq(n, 1 / rate)
    spec[(f < centre - half_band) | (f > centre + half_band)] = 0
    envelope = np.abs(np.fft.ifft(2 * spec))
    return spectrum(envelope - envelope.mean(), rate)


def velocity_rms(xyz, rate, lo=10.0, hi=1000.0):
    """Per-axis velocity RMS in mm/s over lo..hi Hz, integrated in the frequency domain."""
    n = xyz.shape[1]
    f = np.fft.rfftfreq(n, 1 / rate)
    spec = np.fft.rfft(xyz, axis=1)
    inside = (f >= lo) & (f <= hi)
    v = spec[:, inside] / (2j * np.pi * f[inside])
    return np.sqrt(2 * np.sum(np.abs(v) ** 2, axis=1)) / n * 1000


def highpass(x, rate, hz=2000.0):
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(len(x), 1 / rate) < hz] = 0
    return np.fft.irfft(spec, len(x))


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def kurtosis(x):
    x = x - x.mean()
    return float(np.mean(x ** 4) / np.mean(x ** 2) ** 2)


def test_same_id_and_seed_give_the_same_windows_other_ids_and_seeds_do_not(units):
    a, b = rackhall.unit_for("rackhall-03", 5), rackhall.unit_for("rackhall-03", 5)
    assert np.array_equal(rackhall.audio_window(a, T0, "bearing", 0.5),
                          rackhall.audio_window(b, T0, "bearing", 0.5))
    assert np.array_equal(rackhall.vibration_window(a, T0), rackhall.vibration_window(b, T0))
    other = rackhall.unit_for("rackhall-03", 6)
    assert (other.kind, other.audio_rate, other.vib_target_mm_s) != \
        (a.kind, a.audio_rate, a.vib_target_mm_s)
    assert {u.kind for u in units} == {"recip", "scroll"}
    assert len({u.audio_rate for u in units}) >= 3 and {u.channels for u in units} == {1, 2}
    assert len({u.vib_rate for u in units}) >= 3
    assert len({round(u.bearing.orders()["bpfo"], 3) for u in units}) == len(units)
    assert {u.stage == 0 for u in units} == {True, False}


def test_the_lead_runs_its_comb_at_the_inverter_speed_and_the_speed_follows_load(units):
    unit = lead(units)
    speeds = {round(moment_at(unit, T0 + h * 3600).shaft_hz, 1) for h in range(0, 24, 2)}
    assert len(speeds) >= 3 and min(speeds) >= 25 and max(speeds) <= 70
    t = running_time(unit)
    hz = moment_at(unit, t).shaft_hz
    x = mono(rackhall.audio_window(unit, t, running=True, seconds=4.0))
    f, mags = spectrum(x, unit.audio_rate)
    standing = [level_at(f, mags, k * hz, 0.6) > 4 * floor_near(f, mags, k * hz)
                for k in range(1, 13)]
    assert sum(standing) >= 9, standing


def test_the_inverter_whines_at_its_carrier_sidebands(units):
    unit = next(u for u in units if u.stage == 0 and u.carrier_hz < 0.4 * u.audio_rate)
    t = running_time(unit)
    fe = motor.electrical_hz(unit, moment_at(unit, t).shaft_hz)
    f, mags = spectrum(mono(rackhall.audio_window(unit, t, running=True, seconds=2.0)),
                       unit.audio_rate)
    for hz in (unit.carrier_hz - 2 * fe, unit.carrier_hz + 2 * fe):
        assert level_at(f, mags, hz, 1.0) > 10 * floor_near(f, mags, hz)
    assert level_at(f, mags, unit.carrier_hz, 1.0) < 3 * floor_near(f, mags, unit.carrier_hz)


def test_windows_with_the_compressor_off_are_quieter(units):
    for unit in units:
        on = rms(rackhall.audio_window(unit, T0, running=True))
        off = rms(rackhall.audio_window(unit, T0, running=False))
        assert on > 1.6 * off, unit.device_id
        assert rms(rackhall.vibration_window(unit, T0, running=True)) > \
            3 * rms(rackhall.vibration_window(unit, T0, running=False))


@pytest.mark.parametrize("fault", rackhall.AUDIO_FAULTS)
def test_audio_severity_zero_is_healthy_and_the_fault_grows(units, fault):
    for unit in units[:3]:
        healthy = rackhall.audio_window(unit, T0, running=True)
        assert np.array_equal(rackhall.audio_window(unit, T0, fault, 0.0, running=True), healthy)
        added = [rms(rackhall.audio_window(unit, T0, fault, s, running=True) - healthy)
                 for s in SEVERITIES]
        assert all(b > a for a, b in zip(added, added[1:], strict=False)), added
        assert added[0] < 0.15 * rms(healthy) < added[-1] * 3  # 0.1 subtle, 1.0 not


@pytest.mark.parametrize("fault", rackhall.VIBRATION_FAULTS)
def test_vibration_severity_zero_is_healthy_and_the_fault_grows(units, fault):
    for unit in units[:3]:
        healthy = rackhall.vibration_window(unit, T0, running=True)
        assert np.array_equal(rackhall.vibration_window(unit, T0, fault, 0.0, running=True),
                              healthy)
        added = [rms(rackhall.vibration_window(unit, T0, fault, s, running=True) - healthy)
                 for s in SEVERITIES]
        assert all(b > a for a, b in zip(added, added[1:], strict=False)), added


def test_an_audio_bearing_defect_beats_at_bpfo_of_the_current_speed(units):
    for unit in units[:3]:
        t = running_time(unit)
        bpfo = unit.bearing.orders()["bpfo"] * moment_at(unit, t).shaft_hz
        centre = min(unit.bearing_res_hz, 0.42 * unit.audio_rate)
        lines = []
        for severity in (0.0, 1.0):
            x = mono(rackhall.audio_window(unit, t, "bearing", severity, running=True,
                                           seconds=2.0))
            f, env = envelope_spectrum(x, unit.audio_rate, centre, 800)
            lines.append(level_at(f, env, bpfo, 2.0) / floor_near(f, env, bpfo, 5, 30))
        assert lines[1] > 4 and lines[1] > 2 * lines[0], (unit.device_id, lines)


@pytest.mark.parametrize("fault,line", [("bearing_outer", "bpfo"), ("bearing_inner", "bpfi"),
                                        ("bearing_ball", "2bsf")])
def test_vibration_bearing_defects_show_their_envelope_line(units, fault, line):
    for unit in units[:4]:
        t = running_time(unit)
        shaft = moment_at(unit, t).shaft_hz
        orders = unit.bearing.orders()
        hz = shaft * (2 * orders["bsf"] if line == "2bsf" else orders[line])
        peaks = []
        for severity in (0.0, 0.5):
            xyz = rackhall.vibration_window(unit, t, fault, severity, running=True, seconds=2.0)
            f, env = envelope_spectrum(xyz[1], unit.vib_rate, unit.vib_res_hz,
                                       0.25 * unit.vib_res_hz)
            peaks.append(level_at(f, env, hz, 1.5))
        assert peaks[1] > 4 * peaks[0], (unit.device_id, fault, peaks)
        if fault == "bearing_inner":  # the load zone: sidebands at BPFI +/- 1x
            assert level_at(f, env, hz + shaft, 1.5) > 3 * floor_near(f, env, hz + shaft, 3, 8)


def _line(xyz, rate, axis, hz):
    f, mags = spectrum(xyz[axis], rate)
    return level_at(f, mags, hz, 1.5)


def test_shaft_faults_put_their_lines_where_they_belong(units):
    for unit in units[:4]:
        t = running_time(unit)
        hz, rate = moment_at(unit, t).shaft_hz, unit.vib_rate

        def window(fault, s, unit=unit, t=t):
            return rackhall.vibration_window(unit, t, fault, s, running=True, seconds=2.0)

        healthy = window(None, 0.0)
        gain = {f: [_line(window(f, 1.0), rate, a, h) / _line(healthy, rate, a, h)
                    for a, h in ((1, hz), (2, hz), (1, 2 * hz), (1, 0.5 * hz))]
                for f in ("imbalance", "misalignment", "looseness")}
        radial_1x, axial_1x, radial_2x, half = zip(*gain.values(), strict=True)
        assert radial_1x[0] > 2.5 and radial_1x[0] > axial_1x[0]  # imbalance: radial 1x
        assert axial_1x[1] > 2 * radial_1x[1] and radial_2x[1] > 2  # misalignment: axial
        assert half[2] > 5 and half[2] > half[0]  # looseness: half orders


def test_healthy_vibration_is_in_iso_zone_a_or_b_and_a_small_defect_hides(units):
    for unit in units:
        for hours in (0, 7, 13, 30, 100):
            t = running_time(unit, T0 + hours * 3600)
            worst = velocity_rms(rackhall.vibration_window(unit, t, running=True),
                                 unit.vib_rate).max()
            assert 0.3 <= worst <= 1.8, (unit.device_id, hours, worst)  # A/B, class I
        healthy = rackhall.vibration_window(unit, T0, running=True)
        small = rackhall.vibration_window(unit, T0, "bearing_outer", 0.1, running=True)
        assert rms(small) < 1.2 * rms(healthy)
        assert velocity_rms(rackhall.vibration_window(unit, T0, "imbalance", 1.0, running=True),
                            unit.vib_rate).max() > 1.8  # a gross unbalance leaves zone B


def test_neighbours_shake_the_frame_when_the_monitored_compressor_is_off(units):
    unit = next(u for u in units if moment_at(u, T0).neighbours_on)
    m = moment_at(unit, T0, running=False)
    other, hz = m.neighbours_on[0]
    xyz = rackhall.vibration_window(unit, T0, running=False, seconds=2.0)
    f, mags = spectrum(xyz[0], unit.vib_rate)
    assert level_at(f, mags, hz, 1.0) > 10 * floor_near(f, mags, hz)


def test_each_audio_fault_where_physics_puts_it(units):
    unit = next(u for u in units if u.audio_rate >= 32_000)
    t = running_time(unit)
    hz, rate = moment_at(unit, t).shaft_hz, unit.audio_rate

    def window(fault, s):
        return mono(rackhall.audio_window(unit, t, fault, s, running=True, seconds=2.0))

    def band(x, lo, hi):
        f, mags = spectrum(x, rate)
        return float(np.sum(mags[(f >= lo) & (f < hi)] ** 2))

    healthy = window(None, 0.0)
    leak = window("leak", 1.0)
    assert band(leak, 6000, 15_000) > 3 * band(healthy, 6000, 15_000)
    assert band(leak, 50, 1000) < 1.05 * band(healthy, 50, 1000)
    for fault in ("rattle", "slugging"):  # impacts: impulsive above the tonal part
        assert kurtosis(highpass(window(fault, 1.0), rate)) > \
            1.5 * kurtosis(highpass(healthy, rate)), fault
    fe = motor.electrical_hz(unit, hz)
    f, mags = spectrum(window("electrical", 1.0), rate)
    _, base = spectrum(healthy, rate)
    centre = unit.carrier_hz if unit.stage == 0 else unit.rotor_slots * hz
    step = 1 if unit.stage == 0 else 4  # a failing leg: fc +/- fe; shorted turns: slots +/- 4fe
    for side in (centre - step * fe, centre + step * fe):
        assert level_at(f, mags, side, 1.0) > 5 * level_at(f, base, side, 1.0)
    f, mags = spectrum(window("imbalance", 1.0), rate)
    assert level_at(f, mags, hz, 1.0) > 2 * level_at(f, base, hz, 1.0)
    f, env = envelope_spectrum(window("valve_leak", 1.0), rate, 5000, 3000)
    _, env_h = envelope_spectrum(healthy, rate, 5000, 3000)
    assert level_at(f, env, hz, 1.0) > 3 * level_at(f, env_h, hz, 1.0)  # gated once a rev
    assert band(window("oil_starvation", 1.0), 3000, 12_000) > 1.5 * band(healthy, 3000, 12_000)


def test_device_week_stages_compressors_in_and_out_and_covers_the_days(units):
    start = T0 - 10 * 3600
    for unit in (lead(units), fixed_stage(units)):
        week = rackhall.device_week(unit, start, 120.0, 7)
        times = np.array([t for t, _ in week])
        running = np.array([r for _, r in week])
        assert times[0] == start and times[-1] >= start + 7 * 86_400 - 240
        assert np.all(np.diff(times) == 120.0)
        assert running.any() and not running.all()
        starts = int(np.sum(np.diff(running.astype(int)) == 1))
        assert starts >= 7, (unit.stage, starts)  # at least one cycle a day
        assert all(r == rackhall.running_at(unit, t) for t, r in week[::97])


def test_payloads_carry_the_window_in_the_box_units():
    for index in range(6):
        unit = rackhall.unit_for(f"rackvib-{index:02d}", 11)
        xyz = rackhall.vibration_window(unit, T0)
        doc = json.loads(json.dumps(rackhall.vibration_payload(unit, xyz, T0)))
        assert doc["sample_rate"] == unit.vib_rate and doc["unit"] == unit.vib_unit
        scale = 9.80665 if unit.vib_unit == "g" else 1.0
        assert np.allclose(np.array(doc["x"]) * scale, xyz[0], atol=1e-4)
        samples, rate = decode_wav(rackhall.audio_wav(unit, T0))
        assert rate == unit.audio_rate and samples.shape[0] == unit.audio_rate
