"""gateway.devtools.coldroom, the fourth compressor generator: its physics where physics says
it is (shaft speed with slip, blade pass, bearing defect lines, slip sidebands, velocity in
ISO 10816 zone A/B), faults that grow with severity from exactly healthy, duty cycles, and the
payloads a box sends. Every figure is computed here with numpy, not by the generator."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gateway.devtools import coldroom
from gateway.devtools.coldroom.moment import moment_for
from gateway.wav import decode_wav

T0 = 1_767_225_600.0 + 10 * 3600  # a weekday morning
SEVERITIES = (0.1, 0.25, 0.5, 1.0)


@pytest.fixture(scope="module")
def units():
    return [coldroom.unit_for(f"coldroom-{i:02d}", seed=11) for i in range(8)]


def mono(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 1 else x.mean(axis=1)


def spectrum(x: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    x = mono(x)
    return np.fft.rfftfreq(x.size, 1 / rate), np.abs(np.fft.rfft((x - x.mean())
                                                                   * np.hanning(x.size)))


def level_at(freqs, mags, f: float, tol: float) -> float:
    near = np.abs(freqs - f) <= tol
    return float(mags[near].max())


def envelope_spectrum(x, rate, lo, hi):
    """Band-pass (FFT mask), analytic-signal envelope, its spectrum."""
    x = mono(x)
    spec = np.fft.fft(x)
    f = np.fft.fftfreq(x.size, 1 / rate)
    spec[(f < lo) | (f > hi)] = 0  # keeps positive frequencies only: analytic signal
    env = np.abs(np.fft.ifft(2 * spec))
    return np.fft.rfftfreq(x.size, 1 / rate), np.abs(np.fft.rfft(env - env.mean()))


def kurtosis(x) -> float:
    x = x - x.mean()
    return float(np.mean(x ** 4) / np.mean(x ** 2) ** 2)


def band_energy(x, rate, lo, hi) -> float:
    f, mags = spectrum(x, rate)
    return float(np.sum(mags[(f >= lo) & (f < hi)] ** 2))


def velocity_rms_mm_s(axis: np.ndarray, rate: float) -> float:
    """ISO 10816: RMS velocity 10-1000 Hz, integrating the acceleration in the frequency
    domain (Parseval on the rfft)."""
    spec = np.fft.rfft(axis - axis.mean())
    f = np.fft.rfftfreq(axis.size, 1 / rate)
    band = (f >= 10) & (f <= 1000)
    velocity = spec[band] / (2j * np.pi * f[band])
    return float(np.sqrt(2 * np.sum(np.abs(velocity) ** 2)) / axis.size * 1000)


# --- units --------------------------------------------------------------------------------


def test_a_unit_and_its_windows_are_fixed_by_id_and_seed():
    a, b = coldroom.unit_for("coldroom-03", 5), coldroom.unit_for("coldroom-03", 5)
    assert a == b
    assert np.array_equal(coldroom.audio_window(a, T0, "bearing", 0.5),
                          coldroom.audio_window(b, T0, "bearing", 0.5))
    assert np.array_equal(coldroom.vibration_window(a, T0), coldroom.vibration_window(b, T0))
    other = coldroom.unit_for("coldroom-03", 6)
    assert other != a


def test_units_differ_from_each_other(units):
    assert len({u.machine.family for u in units}) >= 2
    assert len({u.audio_rate for u in units}) >= 3
    assert len({u.vib_rate for u in units}) >= 2
    speeds = [moment_for(u, T0, u.audio_rate, 1.0, True).shaft_hz for u in units]
    assert len({round(s, 2) for s in speeds}) >= len(units) - 2  # slips and loads differ
    shapes = []
    for u in units:
        f, mags = spectrum(coldroom.audio_window(u, T0, running=True), u.audio_rate)
        edges = np.geomspace(50, 7000, 25)
        shapes.append([np.log(np.mean(mags[(f >= lo) & (f < hi)] ** 2) + 1e-30)
                       for lo, hi in zip(edges[:-1], edges[1:], strict=True)])
    corr = np.corrcoef(np.array(shapes))
    assert corr[np.triu_indices(len(units), 1)].max() < 0.995


# --- healthy sound ------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(6))
def test_healthy_sound_turns_at_the_slipped_shaft_speed(units, index):
    unit = units[index]
    m = moment_for(unit, T0, unit.audio_rate, 4.0, True)
    f, mags = spectrum(coldroom.audio_window(unit, T0, running=True, seconds=4.0),
                       unit.audio_rate)
    sync = 2 * m.mains_hz / unit.motor.poles
    log = np.log(mags + 1e-12)
    candidates = np.arange(0.9 * sync, 1.0 * sync, 0.01)
    bins = np.round(np.outer(candidates, np.arange(1, 31)) / (f[1] - f[0])).astype(int)
    comb = mags[np.minimum(bins, log.size - 1)].sum(axis=1)  # harmonic sum over 30 orders
    found = candidates[np.argmax(comb)]
    assert found == pytest.approx(m.shaft_hz, rel=0.002)
    assert sync - found > 0.4 * unit.motor.rated_slip * sync * 0.5  # slip is there


@pytest.mark.parametrize("index", range(6))
def test_healthy_sound_has_the_condenser_fan_blade_pass(units, index):
    unit = units[index]
    fan = unit.fan
    x = coldroom.audio_window(unit, T0, running=True, seconds=4.0)
    with_fan = spectrum(x, unit.audio_rate)
    bpf = fan.blades * fan.hz
    assert level_at(*with_fan, bpf, 0.3) > 3 * np.median(
        with_fan[1][np.abs(with_fan[0] - bpf) < 15])


def test_off_windows_are_much_quieter(units):
    for unit in units:
        for k in range(3):
            t = T0 + 3600 * k
            on = np.sqrt(np.mean(coldroom.audio_window(unit, t, running=True) ** 2))
            off = np.sqrt(np.mean(coldroom.audio_window(unit, t, running=False) ** 2))
            assert off < 0.5 * on, unit.device_id


# --- audio faults -------------------------------------------------------------------------


@pytest.mark.parametrize("fault", coldroom.AUDIO_FAULTS)
def test_an_audio_fault_starts_at_healthy_and_grows_with_severity(units, fault):
    for unit in units[:4]:
        healthy = coldroom.audio_window(unit, T0, running=True)
        assert np.array_equal(coldroom.audio_window(unit, T0, fault, 0.0, running=True),
                              healthy)
        added = [np.sqrt(np.mean((coldroom.audio_window(unit, T0, fault, s, running=True)
                                  - healthy) ** 2)) for s in SEVERITIES]
        assert all(b > a for a, b in zip(added, added[1:], strict=False)), (unit.device_id,
                                                                            added)
        assert added[0] > 0


def test_bearing_defect_shows_in_the_envelope_spectrum_at_its_defect_frequency(units):
    for unit in units[:6]:
        m = moment_for(unit, T0, unit.audio_rate, 4.0, True)
        orders = unit.machine.bearing.orders()
        defect = m.shaft_hz * orders["bpfo" if unit.traits.bearing_race == "outer" else "bpfi"]
        ring = unit.traits.bearing_ring[0]
        lo, hi = 0.8 * ring, min(1.2 * ring, 0.45 * unit.audio_rate)
        peaks = []
        for severity in (0.0, 1.0):
            x = coldroom.audio_window(unit, T0, "bearing", severity, running=True, seconds=4.0)
            f, env = envelope_spectrum(x, unit.audio_rate, lo, hi)
            peaks.append(level_at(f, env, defect, 0.6) / np.median(env[(f > 5) & (f < 600)]))
        assert peaks[1] > 6 and peaks[1] > 3 * peaks[0], (unit.device_id, peaks)


def test_electrical_fault_puts_sidebands_at_twice_slip_frequency(units):
    """Above the twice-mains hum: below it, 2f(1 - s) is also an order of the shaft (4x of
    a 4-pole motor, 2x of a 2-pole one), so the upper sideband is the one to look at."""
    for unit in units[:6]:
        m = moment_for(unit, T0, unit.audio_rate, 4.0, True)
        beat = 2 * m.slip * m.mains_hz
        levels = []
        for severity in (0.0, 1.0):
            f, mags = spectrum(coldroom.audio_window(unit, T0, "electrical", severity,
                                                     running=True, seconds=4.0),
                               unit.audio_rate)
            levels.append(level_at(f, mags, 2 * m.mains_hz + beat, 0.15))
        assert levels[1] > 3 * levels[0], unit.device_id


def test_leak_raises_the_high_band_with_its_flow(units):
    """On every unit the hiss band rises with the flow (summed over three windows, so that
    the hiss's chance alignment with the machine's own noise averages out); on a loud
    reciprocating machine whose valves ring up there a full leak adds less than 2 dB, so the
    clear rise is asked of most."""
    clear = 0
    for unit in units[:6]:
        hi = 0.45 * unit.audio_rate
        energy = [sum(band_energy(coldroom.audio_window(unit, T0 + 60 * k, "leak", s,
                                                        running=True), unit.audio_rate, 4000, hi)
                      for k in range(3)) for s in (0.0, 0.25, 0.5, 1.0)]
        assert all(b > a for a, b in zip(energy, energy[1:], strict=False)), unit.device_id
        clear += energy[-1] > 1.5 * energy[0]
    assert clear >= 5


def test_a_leak_is_heard_while_the_compressor_is_off(units):
    unit = units[0]
    off = coldroom.audio_window(unit, T0, running=False)
    leaking = coldroom.audio_window(unit, T0, "leak", 1.0, running=False)
    assert band_energy(leaking, unit.audio_rate, 4000, 0.45 * unit.audio_rate) > 2 * \
        band_energy(off, unit.audio_rate, 4000, 0.45 * unit.audio_rate)


def _high_passed(x, rate, lo=400.0):
    spec = np.fft.rfft(mono(x))
    spec[np.fft.rfftfreq(mono(x).size, 1 / rate) < lo] = 0
    return np.fft.irfft(spec, mono(x).size)


def _band_passed(x, rate, lo, hi):
    spec = np.fft.rfft(mono(x))
    f = np.fft.rfftfreq(mono(x).size, 1 / rate)
    spec[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(spec, mono(x).size)


def test_rattle_makes_the_panels_band_impulsive(units):
    """The panel's band gets louder on every unit, and spikier: most at the severities where
    contacts are sparse (kurtosis falls again as they become frequent), and not on a machine
    whose valve impacts already ring the panel's band."""
    spikier = 0
    for unit in units:
        panel = unit.traits.rattle_modes[0][0]
        bands = [_band_passed(coldroom.audio_window(unit, T0, "rattle", s, running=True),
                              unit.audio_rate, 0.85 * panel, 1.15 * panel)
                 for s in (0.0, 0.25, 0.5, 1.0)]
        assert np.mean(bands[3] ** 2) > 1.3 * np.mean(bands[0] ** 2), unit.device_id
        spikier += max(kurtosis(b) for b in bands[1:]) > kurtosis(bands[0]) + 1
    assert spikier >= 7


def test_imbalance_raises_the_once_per_turn_line(units):
    for unit in units[:6]:
        m = moment_for(unit, T0, unit.audio_rate, 4.0, True)
        ones = []
        for severity in (0.0, 0.5, 1.0):
            f, mags = spectrum(coldroom.audio_window(unit, T0, "imbalance", severity,
                                                     running=True, seconds=4.0),
                               unit.audio_rate)
            ones.append(level_at(f, mags, m.shaft_hz, 0.3))
        assert ones[2] > ones[1] > ones[0] and ones[2] > 2 * ones[0], unit.device_id


def test_the_new_faults_are_where_their_physics_says(units):
    for unit in units[:6]:
        rate = unit.audio_rate
        reed = unit.traits.reed_hz

        def energy(fault, severity, lo, hi, unit=unit, rate=rate):
            return band_energy(coldroom.audio_window(unit, T0, fault, severity, running=True),
                               rate, lo, hi)
        assert energy("valve_reed", 1.0, 0.8 * reed, 1.2 * reed) > \
            energy("valve_reed", 0.0, 0.8 * reed, 1.2 * reed)
        assert energy("oil_starvation", 1.0, 3000, 0.45 * rate) > \
            1.3 * energy("oil_starvation", 0.0, 3000, 0.45 * rate)
        fan = unit.fan
        m = moment_for(unit, T0, rate, 4.0, True)
        levels = [level_at(*spectrum(coldroom.audio_window(unit, T0, "fan_damage", s,
                                                           running=True, seconds=4.0), rate),
                           2 * fan.hz, 0.3) for s in (0.0, 1.0)]
        assert levels[1] > 1.5 * levels[0], unit.device_id
        shell = unit.machine.shell_modes[0][0]  # liquid knocks ring the shell's lowest modes
        knocks = [energy("floodback", s, 0.85 * shell, 1.15 * shell) for s in (0.0, 1.0)]
        assert knocks[1] > 2 * knocks[0], unit.device_id
        assert m.running


# --- vibration ----------------------------------------------------------------------------


def test_healthy_vibration_is_in_iso_10816_zone_a_or_b(units):
    for unit in units:
        for k in range(3):
            xyz = coldroom.vibration_window(unit, T0 + 5000 * k, running=True)
            assert xyz.shape == (3, int(unit.vib_rate * unit.accel.seconds))
            worst = max(velocity_rms_mm_s(axis, unit.vib_rate) for axis in xyz)
            assert 0.3 <= worst <= 1.8, (unit.device_id, worst)


def test_vibration_off_is_only_the_floor(units):
    for unit in units:
        on = coldroom.vibration_window(unit, T0, running=True)
        off = coldroom.vibration_window(unit, T0, running=False)
        assert velocity_rms_mm_s(off[0], unit.vib_rate) < 0.3 * velocity_rms_mm_s(
            on[0], unit.vib_rate)


@pytest.mark.parametrize("fault,order", [("bearing_outer", "bpfo"), ("bearing_inner", "bpfi"),
                                         ("bearing_ball", "bsf")])
def test_a_bearing_defect_is_a_line_in_the_envelope_spectrum(units, fault, order):
    for unit in units:
        rate = unit.vib_rate
        m = moment_for(unit, T0, rate, unit.accel.seconds, True)
        defect = m.shaft_hz * unit.machine.bearing.orders()[order] * (2 if order == "bsf" else 1)
        modes = [f for f, _, _ in unit.accel.modes if f < 0.38 * rate]
        ring = modes[-1]
        tol = 1.5 / unit.accel.seconds
        ratio = []
        for severity in (0.0, 1.0):
            xyz = coldroom.vibration_window(unit, T0, fault, severity, running=True)
            f, env = envelope_spectrum(xyz[0], rate, 0.75 * ring, min(1.25 * ring, 0.42 * rate))
            ratio.append(level_at(f, env, defect, tol) / np.median(env[(f > 5) & (f < 1000)]))
        assert ratio[1] > 4 and ratio[1] > 2 * ratio[0], (unit.device_id, fault, ratio)


@pytest.mark.parametrize("fault", coldroom.VIBRATION_FAULTS)
def test_a_vibration_fault_starts_at_healthy_grows_and_is_hard_to_see_at_01(units, fault):
    for unit in units[:5]:
        healthy = coldroom.vibration_window(unit, T0, running=True)
        assert np.array_equal(coldroom.vibration_window(unit, T0, fault, 0.0, running=True),
                              healthy)
        windows = [coldroom.vibration_window(unit, T0, fault, s, running=True)
                   for s in SEVERITIES]
        added = [np.sqrt(np.mean((w - healthy) ** 2)) for w in windows]
        assert all(b > a for a, b in zip(added, added[1:], strict=False)), added
        v0 = velocity_rms_mm_s(healthy[0], unit.vib_rate)
        v01 = velocity_rms_mm_s(windows[0][0], unit.vib_rate)
        assert abs(v01 - v0) < 0.25 * v0  # severity 0.1: not an ISO zone change
        assert kurtosis(windows[0][0]) < kurtosis(healthy[0]) + 1.5


def test_shaft_faults_grow_their_own_orders(units):
    for unit in units[:5]:
        rate = unit.vib_rate
        m = moment_for(unit, T0, rate, unit.accel.seconds, True)
        tol = 1.2 / unit.accel.seconds

        def order_level(fault, severity, k, axis=0, unit=unit, m=m, tol=tol, rate=rate):
            xyz = coldroom.vibration_window(unit, T0, fault, severity, running=True)
            return level_at(*spectrum(xyz[axis], rate), k * m.shaft_hz, tol)
        assert order_level("imbalance", 1.0, 1) > 2 * order_level("imbalance", 0.0, 1)
        assert order_level("misalignment", 1.0, 2) > 2 * order_level("misalignment", 0.0, 2)
        assert order_level("misalignment", 1.0, 1, axis=2) > order_level("misalignment", 0.0,
                                                                         1, axis=2)
        # every other landing weaker: half orders, which a healthy machine does not have
        assert order_level("looseness", 1.0, 1.5, axis=1) > 2 * order_level(
            "looseness", 0.0, 1.5, axis=1)


# --- operation and payloads ---------------------------------------------------------------


def test_a_device_week_covers_its_days_with_on_off_cycles_and_defrosts(units):
    unit = units[0]
    week = coldroom.device_week(unit, T0, cadence_s=60, days=7)
    assert len(week) == 7 * 1440
    assert week[-1][0] - week[0][0] == pytest.approx(7 * 86_400 - 60)
    states = np.array([running for _, running in week])
    starts = np.flatnonzero(states[1:] & ~states[:-1])
    assert 7 * 10 <= starts.size <= 7 * 120  # thermostat cycles, every day
    assert 0.3 < states.mean() < 0.95
    stretches = np.diff(np.flatnonzero(np.diff(states.astype(int)) != 0))
    assert stretches.max() >= 15  # a defrost (or a long pull-down) is longer than a cycle
    per_day = states.reshape(7, 1440).mean(axis=1)
    assert (per_day > 0.2).all()


def test_running_follows_the_duty_cycle_with_starts_inside_windows(units):
    unit = units[1]
    week = coldroom.device_week(unit, T0, cadence_s=1, days=0.1)
    states = np.array([r for _, r in week])
    start = float(week[int(np.flatnonzero(states[1:] & ~states[:-1])[0])][0])
    x = coldroom.audio_window(unit, start)  # the start falls inside this window
    half = x.shape[0] // 10
    assert np.sqrt(np.mean(mono(x)[-half:] ** 2)) > 2 * np.sqrt(np.mean(mono(x)[:half] ** 2))


def test_payloads_are_what_a_box_sends(units):
    for unit in units:
        xyz = coldroom.vibration_window(unit, T0)
        doc = json.loads(json.dumps(coldroom.vibration_payload(unit, xyz, T0)))
        assert set(doc) == {"ts", "sample_rate", "unit", "x", "y", "z"}
        assert doc["sample_rate"] == unit.vib_rate and len(doc["x"]) == xyz.shape[1]
        scale = 9.80665 if doc["unit"] == "g" else 1.0
        assert np.allclose(np.array(doc["y"]) * scale, xyz[1], rtol=1e-4, atol=1e-6)
        assert len(json.dumps(doc)) < 4 * 1024 * 1024
        samples, rate = decode_wav(coldroom.audio_wav(unit, T0))
        assert rate == unit.audio_rate and samples.shape[1] == unit.mic.channels
        assert samples.shape[0] == unit.audio_rate
