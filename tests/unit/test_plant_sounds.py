"""The plant_sounds generator's physics and payloads: lines where the machine puts them,
bearing defect frequencies from the geometry, the inner race's modulation, severity 0 is
healthy, a seed gives the same windows, a stopped machine is quieter, and what it sends is
what the gateway's own parser accepts."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from gateway.config import IntakeSection
from gateway.devtools import plant_sounds as plant
from gateway.devtools.plant_sounds import machine, operation
from gateway.devtools.plant_sounds.machine import Bearing
from gateway.intake.payloads import Inbound, parse_message
from gateway.records import Rejection, Window

T0 = 1_767_225_600.0


def unit_of(family: str, rate: int | None = None) -> plant.Unit:
    """The first test unit of a family (and microphone rate)."""
    for i in range(200):
        unit = plant.unit_for(f"test-{i}", seed=5)
        if unit.machine.family == family and rate in (None, unit.audio_rate):
            return unit
    raise AssertionError(f"no {family} unit among 200")


def running_time(unit: plant.Unit, t_s: float = T0, running: bool = True) -> float:
    """An instant a few minutes into a run (or a stop), away from starts and stops."""
    while True:
        p = operation.point(unit.duty, t_s)
        steady = p.since_start_s > 300 and p.until_stop_s > 10 and p.defrost is None
        if (p.running and steady) if running else (not p.running and p.until_start_s > 10):
            return t_s
        t_s += 30


def spectrum(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    return np.fft.rfftfreq(len(x), 1 / rate), power


def peak_near(x: np.ndarray, rate: int, f0: float, half_width: float) -> float:
    f, p = spectrum(x, rate)
    inside = (f > f0 - half_width) & (f < f0 + half_width)
    return float(f[inside][np.argmax(p[inside])])


def envelope(x: np.ndarray) -> np.ndarray:
    """|analytic signal| of the high-passed signal, mean removed: what impacts modulate."""
    spec = np.fft.rfft(x)
    spec[: len(spec) // 10] = 0  # keep the ringing, drop the shaft's own lines
    analytic = np.fft.irfft(spec, len(x)) + 1j * np.fft.irfft(-1j * spec, len(x))
    env = np.abs(analytic)
    return env - env.mean()


def steady_kinematics(m: machine.Machine, load: float, seconds: float = 4.0, rate: int = 8000):
    n = int(seconds * rate)
    motion = (np.ones(n), np.ones(n, bool))
    return machine.kinematics(m, n, rate, load, motion, np.random.default_rng(1))


# --- the machine's lines ----------------------------------------------------------------------


@pytest.mark.parametrize("family", machine.FAMILIES)
def test_the_shaft_turns_at_synchronous_speed_less_a_slip_growing_with_load(family):
    m = unit_of(family).machine
    light, heavy = steady_kinematics(m, 0.3), steady_kinematics(m, 1.0)
    for kin, load in ((light, 0.3), (heavy, 1.0)):
        expected = m.sync_hz * (1 - m.rated_slip * load)
        assert abs(np.mean(kin.speed) - expected) < 0.02 * m.sync_hz * m.rated_slip + 0.05
        parts = machine.parts(m, kin, load, 0.0, np.random.default_rng(2))
        assert abs(peak_near(parts["structure"], 8000, expected, 3.0) - expected) < 0.5
    assert np.mean(heavy.speed) < np.mean(light.speed) - 0.5 * m.sync_hz * m.rated_slip


def test_a_reciprocating_machine_pulses_at_cylinders_times_speed_and_hums_at_twice_mains():
    unit = next(u for u in (plant.unit_for(f"test-{i}", seed=5) for i in range(200))
                if u.machine.family == "reciprocating" and u.machine.cylinders >= 2)
    m = unit.machine
    kin = steady_kinematics(m, 0.7)
    speed = float(np.mean(kin.speed))
    pulse = machine.pulsation(m, kin)
    assert abs(peak_near(pulse, 8000, m.cylinders * speed, 0.4 * speed)
               - m.cylinders * speed) < 0.5
    hum = machine.hum(m, kin)
    assert peak_near(hum, 8000, 2 * m.mains_hz, 20) == pytest.approx(2 * m.mains_hz, abs=0.3)


def test_a_screw_machine_has_its_lobe_pass_line_and_the_mains_hum_is_in_the_window():
    unit = unit_of("screw")
    m, t_s = unit.machine, running_time(unit_of("screw"))
    kin = steady_kinematics(m, 0.7)
    lobe_pass = m.cylinders * float(np.mean(kin.speed))
    assert peak_near(machine.pulsation(m, kin), 8000, lobe_pass, 10) == pytest.approx(
        lobe_pass, abs=0.5)
    x = plant.audio_window(unit, t_s)
    f, p = spectrum(x, unit.audio_rate)
    line = np.argmin(np.abs(f - 2 * m.mains_hz))
    around = p[line - 12: line + 13]
    assert p[line - 1: line + 2].max() > 10 * np.median(around)  # a line, 10 dB over its floor


# --- bearings ---------------------------------------------------------------------------------


def test_bearing_defect_orders_follow_from_the_geometry():
    # a 6205 deep-groove ball bearing: 9 balls of 7.94 mm on a 39.04 mm pitch circle
    orders = Bearing(balls=9, ball_mm=7.94, pitch_mm=39.04, contact_deg=0.0).orders()
    assert orders["bpfo"] == pytest.approx(3.585, abs=0.002)
    assert orders["bpfi"] == pytest.approx(5.415, abs=0.002)
    assert orders["bsf"] == pytest.approx(2.357, abs=0.002)
    assert orders["ftf"] == pytest.approx(0.398, abs=0.001)
    angled = Bearing(balls=9, ball_mm=7.94, pitch_mm=39.04, contact_deg=25.0).orders()
    assert angled["bpfo"] > orders["bpfo"] and angled["bpfi"] < orders["bpfi"]


def long_vibration(unit: plant.Unit) -> plant.Unit:
    acc = dataclasses.replace(unit.accelerometer, window_s=2.0)
    return dataclasses.replace(unit, accelerometer=acc)


@pytest.mark.parametrize(("kind", "order"), [("bearing_outer", "bpfo"),
                                             ("bearing_inner", "bpfi")])
def test_the_envelope_of_a_bearing_fault_peaks_at_its_defect_frequency(kind, order):
    unit = long_vibration(unit_of("scroll"))
    t_s = running_time(unit)
    p = operation.point(unit.duty, t_s)
    speed = unit.machine.sync_hz * (1 - unit.machine.rated_slip * p.load)
    expected = unit.machine.bearing.orders()[order] * speed
    x = plant.vibration_window(unit, t_s, kind, 1.0)[0]
    found = peak_near(envelope(x), unit.vib_rate, expected, 0.3 * speed)
    assert found == pytest.approx(expected, rel=0.03)


def shaft_line_in_envelope(unit: plant.Unit, t_s: float, kind: str) -> float:
    """The envelope's power at 1x, relative to its power at the defect frequency."""
    p = operation.point(unit.duty, t_s)
    speed = unit.machine.sync_hz * (1 - unit.machine.rated_slip * p.load)
    x = plant.vibration_window(unit, t_s, kind, 1.0)[0]
    f, power = spectrum(envelope(x), unit.vib_rate)
    at = lambda hz: power[np.abs(f - hz) < 0.05 * speed].max()  # noqa: E731
    defect = unit.machine.bearing.orders()["bpfi" if kind == "bearing_inner" else "bpfo"]
    return at(speed) / at(defect * speed)


def test_an_inner_race_defect_is_modulated_by_the_shaft_and_an_outer_race_one_is_not():
    unit = long_vibration(unit_of("reciprocating"))
    t_s = running_time(unit)
    inner = shaft_line_in_envelope(unit, t_s, "bearing_inner")
    outer = shaft_line_in_envelope(unit, t_s, "bearing_outer")
    assert inner > 4 * outer


def test_the_audio_inner_race_fault_has_shaft_sidebands_in_its_envelope():
    unit = unit_of("scroll", rate=16_000)
    t_s = running_time(unit)
    healthy = plant.audio_window(unit, t_s)
    fault = plant.audio_window(unit, t_s, "bearing_inner", 1.0)
    p = operation.point(unit.duty, t_s)
    speed = unit.machine.sync_hz * (1 - unit.machine.rated_slip * p.load)
    f, power = spectrum(envelope(fault - healthy), unit.audio_rate)
    near_1x = power[np.abs(f - speed) < 2].max()
    assert near_1x > 10 * np.median(power[(f > 5) & (f < 400)])


# --- severity, seeds, duty --------------------------------------------------------------------


def test_severity_zero_is_exactly_the_healthy_window():
    unit = unit_of("reciprocating")
    t_s = running_time(unit)
    healthy = plant.audio_window(unit, t_s)
    for kind in plant.AUDIO_FAULTS:
        assert np.array_equal(plant.audio_window(unit, t_s, kind, 0.0), healthy), kind
        assert not np.array_equal(plant.audio_window(unit, t_s, kind, 0.25), healthy), kind
    still = plant.vibration_window(unit, t_s)
    for kind in plant.VIBRATION_FAULTS:
        assert np.array_equal(plant.vibration_window(unit, t_s, kind, 0.0), still), kind
        assert not np.array_equal(plant.vibration_window(unit, t_s, kind, 0.25), still), kind


def test_a_fault_grows_with_its_severity():
    unit = unit_of("screw")
    t_s = running_time(unit)
    healthy = plant.audio_window(unit, t_s)
    for kind in plant.AUDIO_FAULTS:
        added = [np.std(plant.audio_window(unit, t_s, kind, s) - healthy) for s in (0.1, 0.5, 1)]
        assert added[0] < added[1] < added[2], kind


def test_the_same_id_and_seed_give_the_same_windows_and_another_seed_another_unit():
    a, b = plant.unit_for("plant-03", seed=11), plant.unit_for("plant-03", seed=11)
    assert a == b
    t_s = running_time(a)
    assert plant.audio_wav(a, t_s, "rattle", 0.5) == plant.audio_wav(b, t_s, "rattle", 0.5)
    assert plant.vibration_payload(a, plant.vibration_window(a, t_s), t_s) == \
        plant.vibration_payload(b, plant.vibration_window(b, t_s), t_s)
    others = [plant.unit_for("plant-03", seed=s) for s in range(12, 20)]
    assert any(o.machine != a.machine for o in others)
    assert not np.array_equal(plant.audio_window(a, t_s), plant.audio_window(a, t_s + 60))


def level(unit: plant.Unit, t_s: float) -> float:
    return float(np.sqrt(np.mean(plant.audio_window(unit, t_s) ** 2)))


def test_a_stopped_machine_is_quieter_than_a_running_one():
    quieter = []
    for i in range(8):
        unit = plant.unit_for(f"duty-{i}", seed=2)
        on, off = running_time(unit), running_time(unit, running=False)
        assert not plant.running_at(unit, off)
        quieter.append(20 * np.log10(level(unit, on) / level(unit, off)))
    assert min(quieter) > 3 and np.median(quieter) > 8


def test_a_day_has_on_and_off_cycles_and_a_week_follows_the_cadence():
    unit = plant.unit_for("duty-0", seed=2)
    day = [plant.running_at(unit, T0 + i * 60) for i in range(1440)]
    starts = sum(1 for a, b in zip(day, day[1:], strict=False) if b and not a)
    assert 0.3 < np.mean(day) < 0.95 and starts >= 10
    week = list(plant.device_week(unit, T0, cadence_s=600, days=7))
    assert len(week) == 7 * 144 and {r for _, r in week} == {True, False}
    assert [t for t, _ in week[:2]] == [T0, T0 + 600]


def test_a_start_draws_inrush_and_ramps_the_speed():
    unit = unit_of("reciprocating")
    p = operation.point(unit.duty, running_time(unit))
    start = dataclasses.replace(p, since_start_s=0.0)
    share, powered = operation.motion(start, 16000, 8000, unit.spin_up_s, unit.run_down_s)
    assert share[0] == 0 and share[-1] == 1 and powered.all()  # spin-up takes at most 1.2 s
    kin = machine.kinematics(unit.machine, 16000, 8000, p.load, (share, powered),
                             np.random.default_rng(0))
    assert kin.current[10] > 4 * kin.current[-1]


# --- what the boxes send ----------------------------------------------------------------------


def parse(topic: str, payload: bytes, ts_ms: str | None = None):
    return parse_message(Inbound(topic, payload, int(T0 * 1000), ts_ms), "sensors",
                         IntakeSection())


def test_every_units_wav_is_accepted_by_the_gateways_parser():
    seen = set()
    for i in range(12):
        unit = plant.unit_for(f"wav-{i}", seed=4)
        t_s = running_time(unit)
        record = parse(f"sensors/plant-{i}/audio", plant.audio_wav(unit, t_s, "slugging", 1.0),
                       str(int(t_s * 1000)))
        assert isinstance(record, Window), getattr(record, "detail", record)
        assert record.sample_rate == unit.audio_rate and record.channels == 1
        assert record.duration_s == pytest.approx(unit.mic.window_s)
        assert record.captured_at_ms == int(t_s * 1000)
        seen.add((record.encoding, unit.audio_rate))
    assert len({rate for _, rate in seen}) >= 2 and len({enc for enc, _ in seen}) >= 2


def test_vibration_payloads_in_both_units_are_accepted_by_the_gateways_parser():
    units = set()
    for i in range(12):
        unit = plant.unit_for(f"vib-{i}", seed=4)
        t_s = running_time(unit)
        xyz = plant.vibration_window(unit, t_s, "bearing_outer", 1.0)
        payload = plant.vibration_payload(unit, xyz, t_s)
        record = parse(f"sensors/plantvib-{i}/vibration", payload)
        assert isinstance(record, Window), getattr(record, "detail", record)
        assert record.sample_rate == unit.vib_rate and record.channels == 3
        assert record.captured_at_ms == int(t_s * 1000)
        doc = json.loads(payload)
        scale = 9.80665 if doc["unit"] == "g" else 1.0
        assert np.allclose(np.array(doc["x"]) * scale, xyz[0], atol=1e-4 * scale)
        units.add(doc["unit"])
    assert units == {"m/s2", "g"}
    assert isinstance(parse("sensors/x/vibration", b'{"sample_rate": 1}'), Rejection)
