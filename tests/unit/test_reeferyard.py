"""The reeferyard generator: contract, determinism, schedule, and that each fault is where its
mechanism puts it (band, rhythm, defect frequency)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from gateway.devtools.reeferyard import (
    AUDIO_FAULTS,
    VIBRATION_FAULTS,
    Unit,
    audio_wav,
    audio_window,
    device_week,
    running_at,
    unit_for,
    vibration_payload,
    vibration_window,
)
from gateway.devtools.reeferyard import schedule as sch
from gateway.devtools.reeferyard.frame import Frame, make_frame
from gateway.devtools.reeferyard.vib_faults import bearing_resonance, defect_rate, site
from gateway.devtools.reeferyard.yard import neighbour_running
from gateway.wav import decode_wav

T0 = 1_760_000_000.0


def find(pred: Callable[[Unit], bool], start: int = 0) -> Unit:
    """The first unit (by device id) with a property a test needs."""
    for i in range(start, start + 500):
        u = unit_for(f"yard-{i:04d}", 7)
        if pred(u):
            return u
    raise AssertionError("no unit with the property")


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, float) ** 2)))


def aw(u: Unit, t: float, fault: str | None = None, sev: float = 0.0,
       running: bool | None = None) -> np.ndarray:
    """The first channel of an audio window, as float64."""
    x = audio_window(u, t, fault, sev, running).astype(float)
    return x[:, 0] if x.ndim == 2 else x


def delta(u: Unit, fault: str, sev: float, t: float = T0, running: bool | None = True
          ) -> np.ndarray:
    return aw(u, t, fault, sev, running) - aw(u, t, None, 0.0, running)


def band_energy(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1.0 / rate)
    return float(spec[(f >= lo) & (f < hi)].sum())


def envelope_spectrum(x: np.ndarray, rate: int, lo: float, hi: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Band-pass (lo, hi), square-law envelope, its spectrum: where impacts repeat."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / rate)
    spec[(f < lo) | (f > hi)] = 0
    env = np.fft.irfft(spec, len(x)) ** 2
    env -= env.mean()
    return np.fft.rfftfreq(len(env), 1.0 / rate), np.abs(np.fft.rfft(env * np.hanning(len(env))))


def peak_near(freqs: np.ndarray, mag: np.ndarray, target: float, lo: float, hi: float,
              tol: float) -> bool:
    """Whether the envelope spectrum's strongest line in [lo, hi] sits at target (or, for an
    impact train, whether target stands well above the band's median)."""
    sel = (freqs >= lo) & (freqs <= hi)
    near = sel & (np.abs(freqs - target) <= tol)
    return bool(mag[near].max() >= 0.999 * mag[sel].max()
                or mag[near].max() > 8 * np.median(mag[sel]))


# --- contract ---------------------------------------------------------------------------------

def test_names_and_unit_fields() -> None:
    assert VIBRATION_FAULTS == ("bearing_outer", "bearing_inner", "bearing_ball", "imbalance",
                                "misalignment", "looseness")
    assert len(AUDIO_FAULTS) >= 7 and len(set(AUDIO_FAULTS)) == len(AUDIO_FAULTS)
    assert not set(AUDIO_FAULTS) & set(VIBRATION_FAULTS)
    names = [f.name for f in dataclasses.fields(Unit)][:5]
    assert names == ["device_id", "seed", "audio_rate", "vib_rate", "vib_unit"]


def test_units_deterministic_and_varied() -> None:
    assert unit_for("reefer-1", 3) == unit_for("reefer-1", 3)
    assert unit_for("reefer-1", 3) != unit_for("reefer-1", 4)
    units = [unit_for(f"reefer-{i}") for i in range(80)]
    assert {u.audio_rate for u in units} == {16000, 22050, 44100, 48000}
    assert {u.vib_unit for u in units} == {"g", "m/s2"}
    assert {u.channels for u in units} == {1, 2}
    assert {u.model.drive for u in units} == {"digital", "inverter", "fixed"}
    assert {u.cargo for u in units} == {"frozen", "chilled"}
    assert {u.mains_hz for u in units} == {50.0, 60.0}
    assert all(1600 <= u.vib_rate <= 6400 for u in units)


@pytest.mark.parametrize("stereo", [False, True])
def test_audio_window_contract(stereo: bool) -> None:
    u = find(lambda u: (u.channels == 2) == stereo)
    x = audio_window(u, T0)
    assert x.dtype == np.float32
    assert x.shape == ((u.audio_rate, 2) if stereo else (u.audio_rate,))
    assert np.all(np.abs(x) <= 1.0)
    assert np.array_equal(x * 32768.0, np.rint(x * 32768.0))
    assert np.array_equal(x, audio_window(u, T0))
    assert not np.array_equal(x, audio_window(u, T0 + 1.0))
    half = audio_window(u, T0, seconds=0.5)
    assert half.shape[0] == u.audio_rate // 2
    if stereo:
        assert not np.array_equal(x[:, 0], x[:, 1])


def test_audio_wav_round_trips() -> None:
    u = find(lambda u: u.audio_rate == 22050)
    samples, rate = decode_wav(audio_wav(u, T0, "undercharge", 0.5))
    assert rate == 22050
    assert np.array_equal(samples[:, 0], audio_window(u, T0, "undercharge", 0.5))


def test_vibration_window_contract() -> None:
    u = unit_for("reefer-9")
    v = vibration_window(u, T0)
    assert v.shape == (3, u.vib_rate) and np.isfinite(v).all()
    assert np.array_equal(v, vibration_window(u, T0))
    assert vibration_window(u, T0, seconds=2.0).shape == (3, 2 * u.vib_rate)


def test_errors() -> None:
    u = unit_for("reefer-2")
    with pytest.raises(ValueError):
        audio_window(u, T0, "no_such_fault", 0.5)
    with pytest.raises(ValueError):
        vibration_window(u, T0, "no_such_fault", 0.5)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError):
            vibration_window(u, T0, "imbalance", bad)
        with pytest.raises(ValueError):
            audio_window(u, T0, "undercharge", bad)
    with pytest.raises(ValueError):
        device_week(u, T0, 0.0, 1.0)
    with pytest.raises(ValueError):
        device_week(u, T0, -5.0, 1.0)


def test_severity_zero_and_other_kind_are_the_healthy_window() -> None:
    u = find(lambda u: u.model.drive == "digital")
    h = audio_window(u, T0, running=True)
    hv = vibration_window(u, T0, running=True)
    for f in AUDIO_FAULTS + VIBRATION_FAULTS:
        assert np.array_equal(audio_window(u, T0, f, 0.0, running=True), h), f
        assert np.array_equal(vibration_window(u, T0, f, 0.0, running=True), hv), f
    for f in VIBRATION_FAULTS:
        assert np.array_equal(audio_window(u, T0, f, 1.0, running=True), h), f
    for f in AUDIO_FAULTS:
        assert np.array_equal(vibration_window(u, T0, f, 1.0, running=True), hv), f


def test_payload_units() -> None:
    ug = find(lambda u: u.vib_unit == "g")
    um = find(lambda u: u.vib_unit == "m/s2")
    for u in (ug, um):
        xyz = vibration_window(u, T0)
        p = vibration_payload(u, xyz, T0)
        assert set(p) == {"ts", "sample_rate", "unit", "x", "y", "z"}
        assert p["unit"] == u.vib_unit and p["sample_rate"] == u.vib_rate and p["ts"] == T0
        div = 9.80665 if u is ug else 1.0
        for axis, name in enumerate("xyz"):
            vals = p[name]
            assert isinstance(vals, list) and len(vals) == u.vib_rate
            assert np.allclose(vals, xyz[axis] / div, atol=6e-7)
            assert vals == [round(v, 6) for v in vals]


# --- schedule ---------------------------------------------------------------------------------

def test_device_week_matches_running_at() -> None:
    u = unit_for("reefer-5")
    week = device_week(u, T0, 900.0, 7.0)
    assert len(week) == 7 * 96
    assert [t for t, _ in week] == [T0 + i * 900.0 for i in range(len(week))]
    assert all(r == running_at(u, t) for t, r in week)


def test_duty_cycles_chilled_cycle_frozen_run_defrost_stops() -> None:
    chilled = [find(lambda u: u.cargo == "chilled", s) for s in (0, 50, 100)]
    frozen = [find(lambda u: u.cargo == "frozen", s) for s in (0, 50, 100)]
    for u in chilled:
        runs = [r for _, r in device_week(u, T0, 120.0, 3.0)]
        switches = sum(a != b for a, b in zip(runs, runs[1:], strict=False))
        assert 0.15 < np.mean(runs) < 0.9 and switches > 40
    for u in frozen:
        runs = [r for _, r in device_week(u, T0, 120.0, 3.0)]
        assert np.mean(runs) > 0.8
    for u in chilled + frozen:
        times = T0 + np.arange(0, 2 * 86400, 60.0)
        defrost = [t for t in times if sch.in_defrost(u, t)]
        assert defrost and not any(running_at(u, t) for t in defrost)


def test_digital_scroll_modulates_on_its_pwm_period() -> None:
    u = find(lambda u: u.model.drive == "digital" and u.cargo == "chilled")
    step = 0.5
    times = T0 + np.arange(0, 2.5 * u.pwm_period_s, step)
    loads = np.array([sch.load_envelope(u, t, t + np.linspace(0, 1, 50)).mean() for t in times])
    shaft = sch.shaft_hz(u, T0)  # the orbit's 1x stays when unloaded: compare gas orders
    levels = np.array([band_energy(vibration_window(u, t, running=True)[0], u.vib_rate,
                                   2.5 * shaft, 0.45 * u.vib_rate) for t in times])
    assert levels[loads > 0.95].mean() > 1.3 * levels[loads < 0.05].mean()
    lag = int(round(u.pwm_period_s / step))
    corr = np.corrcoef(loads[:-lag], loads[lag:])[0, 1]
    assert corr > 0.8  # the same pattern one PWM period later
    a = [rms(aw(u, t, running=True)) for t, ld in zip(times, loads, strict=True)
         if ld > 0.95][:3]
    b = [rms(aw(u, t, running=True)) for t, ld in zip(times, loads, strict=True)
         if ld < 0.05][:3]
    assert np.mean(a) > 1.3 * np.mean(b)


def _quiet_time(u: Unit, pred: Callable[[float], bool]) -> float:
    for t in T0 + np.arange(0, 3 * 86400, 97.0):
        if pred(float(t)):
            return float(t)
    raise AssertionError("no such time")


def test_evaporator_fans_run_with_compressor_off_on_chilled_units() -> None:
    u = find(lambda u: u.cargo == "chilled" and u.audio_rate == 16000)
    t_off = _quiet_time(u, lambda t: not running_at(u, t) and not sch.in_defrost(u, t))
    fr = make_frame(u, t_off, None, 1.0, u.audio_rate, "audio")
    assert not fr.running and fr.evap_fan_hz > 0
    x = aw(u, t_off).astype(float)
    bpf = u.model.evap_blades * fr.evap_fan_hz
    spec = np.abs(np.fft.rfft(x))
    f = np.fft.rfftfreq(len(x), 1.0 / u.audio_rate)
    near = spec[np.abs(f - bpf) < 2.5].max()
    assert near > 4 * np.median(spec[(f > 60) & (f < 600)])
    t_def = _quiet_time(u, lambda t: sch.in_defrost(u, t))
    assert make_frame(u, t_def, None, 1.0, u.audio_rate, "audio").evap_fan_hz == 0
    fz = find(lambda u: u.cargo == "frozen")
    assert make_frame(fz, T0, False, 1.0, fz.audio_rate, "audio").evap_fan_hz == 0


def test_neighbours_audible() -> None:
    u = find(lambda u: u.audio_rate == 16000 and u.channels == 1)
    t = _quiet_time(u, lambda t: sch.in_defrost(u, t)
                    and any(neighbour_running(nb, t) for nb in u.neighbours))
    alone = dataclasses.replace(u, neighbours=())
    x, y = aw(u, t).astype(float), aw(alone, t).astype(float)
    nb = next(nb for nb in u.neighbours if neighbour_running(nb, t))
    lo, hi = nb.shaft_hz * 0.97, nb.shaft_hz * 3.03
    assert band_energy(x, u.audio_rate, lo, hi) > 3 * band_energy(y, u.audio_rate, lo, hi)
    assert rms(x) > rms(y)


# --- audio faults -----------------------------------------------------------------------------

@pytest.mark.parametrize("fault", AUDIO_FAULTS)
def test_audio_fault_grows_with_severity(fault: str) -> None:
    for start in (0, 40):
        u = find(lambda u: u.cargo == "chilled", start)
        weak = rms(delta(u, fault, 0.1))
        strong = rms(delta(u, fault, 1.0))
        healthy = rms(aw(u, T0, running=True))
        assert strong > weak and strong > 0.01 * healthy, (fault, u.device_id)
        if fault != "phase_loss":  # a motor losing a phase hums loudly: physics, not a bug
            assert rms(delta(u, fault, 0.5)) < healthy, (fault, u.device_id)


def _fr(u: Unit, t: float = T0, running: bool | None = True) -> Frame:
    return make_frame(u, t, running, 1.0, u.audio_rate, "audio")


def test_tip_seal_leak_is_a_jet_pulsing_once_per_orbit() -> None:
    u = find(lambda u: u.audio_rate >= 44100 and u.model.drive != "digital")
    d = delta(u, "tip_seal_leak", 1.0)
    f, mag = envelope_spectrum(d, u.audio_rate, 2500.0, 9000.0)
    assert peak_near(f, mag, _fr(u).shaft_hz, 20.0, 400.0, 2.0)
    # character, not loudness: the overall level moves by less than 2 dB
    h, x = aw(u, T0, running=True), aw(u, T0, "tip_seal_leak", 1.0, True)
    assert abs(20 * np.log10(rms(x) / rms(h))) < 2.0


def test_bearing_wear_repeats_at_the_compressor_bpfo() -> None:
    u = find(lambda u: u.audio_rate >= 44100)
    d = delta(u, "bearing_wear", 1.0)
    shell = u.housing_hz[-1]
    f, mag = envelope_spectrum(d, u.audio_rate, 0.8 * shell, 1.8 * shell)
    bpfo = u.comp_bearing.orders()["bpfo"] * _fr(u).shaft_hz
    assert peak_near(f, mag, bpfo, 30.0, 800.0, 0.03 * bpfo)


def test_liquid_slugging_knocks_are_impulsive_low_and_shaft_locked() -> None:
    u = find(lambda u: u.model.drive == "fixed")
    d = delta(u, "liquid_slugging", 1.0)
    kurt = np.mean(d ** 4) / np.mean(d ** 2) ** 2
    assert kurt > 6
    assert band_energy(d, u.audio_rate, 0, 3000) > 0.7 * band_energy(d, u.audio_rate, 0, 1e5)
    f, mag = envelope_spectrum(d, u.audio_rate, 150.0, 3000.0)
    shaft = _fr(u).shaft_hz
    sel = (f > 0.9 * shaft) & (f < 1.1 * shaft)
    assert mag[sel].max() > 3 * np.median(mag[(f > 5) & (f < 400)])


def test_undercharge_hisses_above_1500_hz() -> None:
    u = find(lambda u: u.audio_rate >= 22050)
    h = aw(u, T0, running=True)
    x = aw(u, T0, "undercharge", 1.0, True)
    d = x - h
    top = 0.45 * u.audio_rate
    assert band_energy(d, u.audio_rate, 1500, top) > 0.6 * band_energy(d, u.audio_rate, 0, 1e5)
    assert band_energy(x, u.audio_rate, 1500, top) > 1.1 * band_energy(h, u.audio_rate, 1500, top)
    assert rms(x) < 1.5 * rms(h)


def test_unloader_stick_breaks_the_pwm_and_buzzes() -> None:
    u = find(lambda u: u.model.drive == "digital" and u.audio_rate == 16000)
    d = delta(u, "unloader_stick", 1.0)
    f = np.fft.rfftfreq(len(d), 1.0 / u.audio_rate)
    spec = np.abs(np.fft.rfft(d))
    buzz = spec[np.abs(f - 2 * u.mains_hz) < 1.5].max()
    assert buzz > 5 * np.median(spec[(f > 50) & (f < 1000)])
    frames = np.sqrt(np.mean(d[: len(d) // 400 * 400].reshape(-1, 400) ** 2, axis=1))
    assert frames.std() > 0.2 * frames.mean()  # irregular: stuck segments come and go


def test_condenser_fan_bearing_repeats_at_the_fan_bpfo() -> None:
    u = find(lambda u: u.audio_rate >= 44100)
    d = delta(u, "condenser_fan_bearing", 1.0)
    fr = _fr(u)
    bpfo = u.fan_bearing.orders()["bpfo"] * fr.cond_fan_hz
    f, mag = envelope_spectrum(d, u.audio_rate, 2000.0, 0.45 * u.audio_rate)
    assert peak_near(f, mag, bpfo, 20.0, 400.0, 0.04 * bpfo)


def test_evap_fan_ice_ticks_once_per_fan_turn_with_the_compressor_off() -> None:
    u = find(lambda u: u.cargo == "chilled" and u.audio_rate >= 22050)
    t = _quiet_time(u, lambda t: not running_at(u, t) and not sch.in_defrost(u, t))
    d = delta(u, "evap_fan_ice", 1.0, t, None)
    assert rms(d) > 0
    f, mag = envelope_spectrum(d, u.audio_rate, 700.0, 2500.0)
    assert peak_near(f, mag, _fr(u, t, None).evap_fan_hz, 5.0, 200.0, 1.5)


def test_panel_rattle_rings_low_and_follows_the_shaft() -> None:
    u = find(lambda u: u.model.drive != "digital")
    d = delta(u, "panel_rattle", 1.0)
    assert band_energy(d, u.audio_rate, 0, 2000) > 0.8 * band_energy(d, u.audio_rate, 0, 1e5)
    f, mag = envelope_spectrum(d, u.audio_rate, 100.0, 2000.0)
    shaft = _fr(u).shaft_hz
    assert peak_near(f, mag, shaft, 20.0, 400.0, 2.0) or peak_near(f, mag, 2 * shaft, 20.0,
                                                                   400.0, 3.0)


def test_contactor_chatter_stutters_at_twice_mains() -> None:
    u = find(lambda u: u.model.drive == "fixed" and u.audio_rate >= 22050)
    d = delta(u, "contactor_chatter", 1.0)
    f, mag = envelope_spectrum(d, u.audio_rate, 20.0, 0.45 * u.audio_rate)
    assert peak_near(f, mag, 2 * u.mains_hz, 30.0, 500.0, 2.0)


def test_phase_loss_hums_at_twice_mains_and_slows_the_motor() -> None:
    u = find(lambda u: u.model.drive == "fixed")
    h = aw(u, T0, running=True).astype(float)
    x = aw(u, T0, "phase_loss", 1.0, True).astype(float)
    f2 = 2 * u.mains_hz
    assert band_energy(x, u.audio_rate, f2 - 2, f2 + 2) > 3 * band_energy(h, u.audio_rate,
                                                                         f2 - 2, f2 + 2)
    mild = aw(u, T0, "phase_loss", 0.1, True).astype(float)
    assert band_energy(mild, u.audio_rate, f2 - 2, f2 + 2) < band_energy(x, u.audio_rate,
                                                                         f2 - 2, f2 + 2)


# --- vibration faults -------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["bearing_outer", "bearing_inner", "bearing_ball"])
def test_bearing_defect_frequency_in_envelope_spectrum(fault: str) -> None:
    for start in (0, 30, 60, 90):
        u = find(lambda u: u.vib_rate >= 2000, start)
        fr = make_frame(u, T0, True, 1.0, u.vib_rate, "vib")
        rate = defect_rate(fr, fault)
        f0 = bearing_resonance(fr)
        x = vibration_window(u, T0, fault, 1.0, running=True)[0]
        f, mag = envelope_spectrum(x, u.vib_rate, 0.6 * f0, min(1.8 * f0, 0.49 * u.vib_rate))
        targets = [rate, 2 * rate] if fault == "bearing_ball" else [rate]
        hit = any(peak_near(f, mag, r, 10.0, 0.3 * u.vib_rate, max(0.03 * r, 1.5))
                  for r in targets)
        assert hit, (fault, u.device_id, u.bearing_site, rate)


def _order_amp(x: np.ndarray, rate: int, hz: float) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    f = np.fft.rfftfreq(len(x), 1.0 / rate)
    return float(spec[np.abs(f - hz) < 1.5].max())


def test_imbalance_raises_1x_misalignment_axial_looseness_half_orders() -> None:
    for start in (0, 25, 50):
        u = find(lambda u: True, start)
        fr = make_frame(u, T0, True, 1.0, u.vib_rate, "vib")
        hz, _, _ = site(fr, "shaft")
        h = vibration_window(u, T0, running=True)
        weak = vibration_window(u, T0, "imbalance", 0.2, running=True)
        strong = vibration_window(u, T0, "imbalance", 1.0, running=True)
        a0, a1, a2 = (_order_amp(v[0], u.vib_rate, hz) for v in (h, weak, strong))
        assert a2 > a1 > a0 and a2 > 2 * a0
        mis = vibration_window(u, T0, "misalignment", 1.0, running=True)
        assert _order_amp(mis[2], u.vib_rate, 2 * hz) > 3 * _order_amp(h[2], u.vib_rate, 2 * hz)
        loose = vibration_window(u, T0, "looseness", 1.0, running=True)
        assert _order_amp(loose[0], u.vib_rate, 0.5 * hz) > 2.5 * _order_amp(h[0], u.vib_rate,
                                                                          0.5 * hz)


def test_vibration_faults_silent_when_stopped_and_grow() -> None:
    u = unit_for("reefer-3")
    h = vibration_window(u, T0, running=False)
    for f in VIBRATION_FAULTS:
        assert np.allclose(vibration_window(u, T0, f, 1.0, running=False), h)
        hr = vibration_window(u, T0, running=True)
        d1 = rms(vibration_window(u, T0, f, 0.1, running=True) - hr)
        d2 = rms(vibration_window(u, T0, f, 1.0, running=True) - hr)
        assert d2 > 3 * d1 > 0, f
