"""The brewcellar generator: contract, determinism, schedule, and that each fault is where its
physics puts it (band, rhythm, tone, defect frequency), more at severity 1 than at 0.1."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from functools import cache

import numpy as np
import pytest

from gateway.devtools.brewcellar import (
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
    week,
)
from gateway.devtools.brewcellar.bearing import defect_rates
from gateway.devtools.brewcellar.faults_audio import AUDIO_FAULT_FUNCS
from gateway.devtools.brewcellar.operating import operating_point
from gateway.wav import decode_wav

T0 = 1_760_000_000.0
NIGHT = week.day_start_s(week.local_day(T0) + 1) + 3 * 3600.0  # 03:00 local: only machines
G = 9.80665


def _find(predicate: Callable[[Unit], bool], prefix: str = "bc") -> Unit:
    for i in range(400):
        unit = unit_for(f"{prefix}-{i}")
        if predicate(unit):
            return unit
    raise AssertionError("no unit matches")


@cache
def recip() -> Unit:
    """A single 4-cylinder reciprocating chiller, its box forced to 48 kHz mono for analysis."""
    unit = _find(lambda u: u.compressor == "recip" and u.cylinders == 4 and not u.tandem
                 and u.role != "keg_store")
    return dataclasses.replace(unit, audio_rate=48_000, channels=1, vib_rate=12_800)


@cache
def scroll() -> Unit:
    """A tandem scroll chiller: the partner's beating is part of its normal sound."""
    unit = _find(lambda u: u.compressor == "scroll" and u.tandem and u.role == "chiller_lead")
    return dataclasses.replace(unit, audio_rate=48_000, channels=1, vib_rate=12_800)


# ---------------------------------------------------------------- analysis helpers


def _mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[:, 0] if x.ndim == 2 else x


def _power(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    x = _mono(x)
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    return np.fft.rfftfreq(x.size, 1.0 / rate), spec


def band_db(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    freqs, spec = _power(x, rate)
    return 10.0 * math.log10(float(spec[(freqs >= lo) & (freqs < hi)].sum()) + 1e-30)


def line_db(x: np.ndarray, rate: int, hz: float, width: float = 1.5) -> float:
    freqs, spec = _power(x, rate)
    return 10.0 * math.log10(float(spec[np.abs(freqs - hz) <= width].max()) + 1e-30)


def tonality_db(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    """Strongest line over the median in a band: a tone stands out, noise does not."""
    freqs, spec = _power(x, rate)
    sel = spec[(freqs >= lo) & (freqs < hi)]
    return 10.0 * math.log10(float(sel.max() / np.median(sel)))


def envelope_spectrum(x: np.ndarray, rate: int, lo: float, hi: float) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """Spectrum of the band's Hilbert envelope: where impacts repeat."""
    x = _mono(x)
    spec = np.fft.fft(x)
    freqs = np.fft.fftfreq(x.size, 1.0 / rate)
    keep = (freqs >= lo) & (freqs < hi)
    analytic = np.fft.ifft(np.where(keep, 2.0 * spec, 0.0))
    env = np.abs(analytic)
    env -= env.mean()
    return np.fft.rfftfreq(x.size, 1.0 / rate), np.abs(np.fft.rfft(env * np.hanning(x.size)))


def peak_over_floor_db(freqs: np.ndarray, spec: np.ndarray, hz: float, tol: float = 0.02) -> float:
    near = np.abs(freqs - hz) <= max(tol * hz, 1.0)
    around = (np.abs(freqs - hz) <= 0.3 * hz) & ~near
    return 20.0 * math.log10(float(spec[near].max() / np.median(spec[around])))


def _assert_grows(metric: Callable[[float], float], rise: float) -> None:
    healthy, small, full = metric(0.0), metric(0.1), metric(1.0)
    assert full - healthy > rise, (healthy, small, full)
    assert abs(small - healthy) < abs(full - healthy), (healthy, small, full)


# ---------------------------------------------------------------- contract


def test_fault_names() -> None:
    assert len(AUDIO_FAULTS) == 10 and len(set(AUDIO_FAULTS)) == 10
    assert tuple(AUDIO_FAULT_FUNCS) == AUDIO_FAULTS
    assert VIBRATION_FAULTS == ("bearing_outer", "bearing_inner", "bearing_ball", "imbalance",
                                "misalignment", "looseness")
    assert not set(AUDIO_FAULTS) & set(VIBRATION_FAULTS)


def test_units_are_deterministic_and_varied() -> None:
    assert unit_for("brew-7") == unit_for("brew-7")
    assert unit_for("brew-7") != unit_for("brew-7", seed=1)
    units = [unit_for(f"v-{i}") for i in range(60)]
    assert {u.compressor for u in units} == {"recip", "scroll"}
    assert {u.role for u in units} == {"chiller_lead", "chiller_lag", "keg_store"}
    assert {u.vib_unit for u in units} == {"m/s2", "g"}
    assert len({u.audio_rate for u in units}) >= 3 and len({u.vib_rate for u in units}) >= 3
    assert {u.channels for u in units} == {1, 2}
    assert {u.mains_hz for u in units} == {50.0, 60.0}
    assert len({round(u.housing_hz[0]) for u in units}) > 50
    with pytest.raises(dataclasses.FrozenInstanceError):
        units[0].audio_rate = 8000  # type: ignore[misc]


@pytest.mark.parametrize("channels", [1, 2])
def test_audio_shape_dtype_and_pcm16_grid(channels: int) -> None:
    unit = dataclasses.replace(unit_for("grid"), audio_rate=22_050, channels=channels)
    x = audio_window(unit, T0, "panel_rattle", 1.0, running=True)
    assert x.dtype == np.float32
    assert x.shape == ((22_050,) if channels == 1 else (22_050, 2))
    k = x.astype(np.float64) * 32768.0
    assert np.array_equal(k, np.round(k)) and k.min() >= -32768 and k.max() <= 32767
    if channels == 2:  # two capsules centimetres apart: alike at low frequency, not sample-equal
        assert not np.array_equal(x[:, 0], x[:, 1])
        spec = np.fft.rfft(x.astype(np.float64), axis=0)
        spec[np.fft.rfftfreq(x.shape[0], 1 / 22_050) > 400] = 0
        low = np.fft.irfft(spec, x.shape[0], axis=0)
        assert np.corrcoef(low[:, 0], low[:, 1])[0, 1] > 0.5
    half = audio_window(unit, T0, seconds=0.5)
    assert half.shape[0] == 11_025


def test_audio_is_deterministic() -> None:
    unit = unit_for("det")
    a = audio_window(unit, T0 + 12.5, "undercharge", 0.6)
    assert np.array_equal(a, audio_window(unit, T0 + 12.5, "undercharge", 0.6))
    assert not np.array_equal(a, audio_window(unit, T0 + 13.5, "undercharge", 0.6))
    assert not np.array_equal(audio_window(unit, T0), audio_window(unit_for("det", 3), T0))
    v = vibration_window(unit, T0, "looseness", 0.4, running=True)
    assert np.array_equal(v, vibration_window(unit, T0, "looseness", 0.4, running=True))


def test_faulty_window_shares_the_healthy_parts() -> None:
    unit = recip()
    healthy = audio_window(unit, NIGHT, running=True)
    assert np.array_equal(healthy, audio_window(unit, NIGHT, "oil_starvation", 0.0, running=True))
    assert np.array_equal(healthy, audio_window(unit, NIGHT, "imbalance", 1.0, running=True))
    # A high-band fault leaves the low band sample-for-sample alike: same noise, same machine.
    hiss = audio_window(unit, NIGHT, "expansion_valve_hiss", 1.0, running=True)
    diff = hiss.astype(np.float64) - healthy
    assert band_db(diff, 48_000, 20, 300) < band_db(healthy, 48_000, 20, 300) - 30
    assert band_db(diff, 48_000, 3000, 9000) > band_db(healthy, 48_000, 3000, 9000) - 3
    vib = vibration_window(unit, NIGHT, running=True)
    assert np.array_equal(vib, vibration_window(unit, NIGHT, "bearing_outer", 0.0, running=True))
    assert np.array_equal(vib, vibration_window(unit, NIGHT, "liquid_floodback", 1.0,
                                                running=True))


def test_faults_need_the_compressor_except_the_pump() -> None:
    unit = recip()
    stopped = audio_window(unit, NIGHT, running=False)
    for fault in AUDIO_FAULTS:
        faulty = audio_window(unit, NIGHT, fault, 1.0, running=False)
        assert np.array_equal(faulty, stopped) == (fault != "pump_cavitation"), fault
    still = vibration_window(unit, NIGHT, running=False)
    assert np.array_equal(still, vibration_window(unit, NIGHT, "imbalance", 1.0, running=False))


@pytest.mark.parametrize("call", [audio_window, vibration_window])
def test_bad_arguments_raise(call: Callable[..., np.ndarray]) -> None:
    unit = unit_for("bad")
    for fault, severity in [("burnt_toast", 0.5), ("imbalance", -0.01), ("undercharge", 1.01),
                            ("panel_rattle", float("nan"))]:
        with pytest.raises(ValueError):
            call(unit, T0, fault, severity)


def test_wav_round_trip() -> None:
    unit = dataclasses.replace(unit_for("wav"), audio_rate=16_000, channels=2)
    samples, rate = decode_wav(audio_wav(unit, T0, "contactor_chatter", 0.5, running=True))
    assert rate == 16_000 and samples.shape == (16_000, 2)
    assert np.array_equal(samples, audio_window(unit, T0, "contactor_chatter", 0.5, running=True))


def _dbfs(x: np.ndarray) -> float:
    return 10.0 * math.log10(float(np.mean(np.asarray(x, dtype=np.float64) ** 2)) + 1e-30)


def test_levels_are_those_of_a_mems_microphone() -> None:
    peaks = []
    for i in range(8):
        unit = unit_for(f"lvl-{i}")
        running = _dbfs(audio_window(unit, NIGHT, running=True))
        stopped = _dbfs(audio_window(unit, NIGHT, running=False))
        assert -50.0 < running < -22.0, (unit.device_id, running)
        assert stopped < running - 3.0 and stopped > -85.0
        fault = AUDIO_FAULTS[i % len(AUDIO_FAULTS)]
        peaks.append(float(np.abs(audio_window(unit, NIGHT + i, fault, 1.0, running=True)).max()))
    assert max(peaks) < 0.99


def test_vibration_shape_and_payload() -> None:
    base = unit_for("pay")
    for vib_unit in ("g", "m/s2"):
        unit = dataclasses.replace(base, vib_unit=vib_unit, vib_rate=3_200)
        xyz = vibration_window(unit, T0, "misalignment", 0.5, running=True, seconds=0.5)
        assert xyz.shape == (3, 1_600) and np.all(np.isfinite(xyz))
        payload = vibration_payload(unit, xyz, T0)
        assert set(payload) == {"ts", "sample_rate", "unit", "x", "y", "z"}
        assert payload["unit"] == vib_unit and payload["sample_rate"] == 3_200
        assert payload["ts"] == T0
        scale = G if vib_unit == "g" else 1.0
        for axis, name in enumerate("xyz"):
            values = payload[name]
            assert isinstance(values, list) and len(values) == 1_600
            assert values[7] == round(float(xyz[axis, 7]) / scale, 6)
    with pytest.raises(ValueError):
        vibration_payload(base, np.zeros((2, 10)), T0)


def test_vibration_levels_running_and_stopped() -> None:
    unit = recip()
    running = np.sqrt(np.mean(vibration_window(unit, NIGHT, running=True) ** 2, axis=1))
    stopped = np.sqrt(np.mean(vibration_window(unit, NIGHT, running=False) ** 2, axis=1))
    assert np.all((running > 0.1) & (running < 3.0)), running
    assert np.all(stopped < running / 2.0), (stopped, running)


# ---------------------------------------------------------------- schedule


def _week(unit: Unit, cadence: float = 120.0) -> np.ndarray:
    return np.array([r for _, r in device_week(unit, T0, cadence, 7)])


def test_device_week_grid() -> None:
    unit = unit_for("week")
    rows = device_week(unit, T0, 600.0, 1)
    assert len(rows) == 144
    assert rows[0][0] == T0 and rows[1][0] == T0 + 600.0
    assert all(r == running_at(unit, t) for t, r in rows[:20])
    assert len(device_week(unit, T0, 7 * 86_400.0, 7)) == 1


def test_compressors_cycle_and_duty_follows_the_brewery() -> None:
    leads = [u for u in (unit_for(f"cyc-{i}") for i in range(40)) if u.role == "chiller_lead"]
    cycling = 0
    for unit in leads[:6]:
        runs = _week(unit)
        starts = int(np.sum(runs[1:] & ~runs[:-1]))
        daily = runs.reshape(7, -1).mean(axis=1)
        if starts > 20:
            cycling += 1
        assert 0.05 < runs.mean() <= 1.0
        assert daily.max() - daily.min() > 0.05 or runs.mean() > 0.95, daily
    assert cycling >= 3


def test_some_units_stop_for_hours_and_some_hardly_stop() -> None:
    units = [unit_for(f"dur-{i}") for i in range(60)]
    lag = next(u for u in units if u.role == "chiller_lag")
    runs = _week(lag, 300.0)
    off = np.concatenate(([0], (~runs).astype(int), [0]))
    edges = np.flatnonzero(np.diff(off))
    longest_off_h = max((b - a) for a, b in zip(edges[::2], edges[1::2], strict=True)) * 300 / 3600
    assert longest_off_h > 4.0
    undersized = next(u for u in units if u.role == "chiller_lead" and u.capacity < 0.75)
    assert _week(undersized, 300.0).mean() > 0.8


# ---------------------------------------------------------------- audio faults


def _audio(unit: Unit, fault: str, severity: float, t_s: float = NIGHT,
           running: bool = True) -> np.ndarray:
    return audio_window(unit, t_s, fault if severity > 0 else None, severity, running=running)


def _band_metric(unit: Unit, fault: str, lo: float, hi: float,
                 running: bool = True) -> Callable[[float], float]:
    def metric(sev: float) -> float:
        return float(np.mean([band_db(_audio(unit, fault, sev, NIGHT + dt, running),
                                      unit.audio_rate, lo, hi) for dt in (0.0, 100.0)]))
    return metric


def _shaft_hz(unit: Unit, t_s: float = NIGHT) -> float:
    return operating_point(unit, t_s, True).shaft_hz


@pytest.mark.parametrize("unit", [recip(), scroll()], ids=["recip", "scroll"])
def test_discharge_valve_leak_hisses_once_per_turn(unit: Unit) -> None:
    shaft = _shaft_hz(unit)

    def metric(sev: float) -> float:
        freqs, env = envelope_spectrum(_audio(unit, "discharge_valve_leak", sev), 48_000,
                                       1500, 7000)
        return peak_over_floor_db(freqs, env, shaft, 0.01)

    _assert_grows(metric, 8.0)
    _assert_grows(_band_metric(unit, "discharge_valve_leak", 1500, 7000), 3.0)


def test_liquid_floodback_knocks_in_the_low_shell_band() -> None:
    _assert_grows(_band_metric(recip(), "liquid_floodback", 100, 1000), 5.0)
    _assert_grows(_band_metric(scroll(), "liquid_floodback", 100, 1000), 3.0)


def test_undercharge_hunts_and_bubbles() -> None:
    unit = recip()

    def spread(sev: float) -> float:
        """Swing of the compressor's low-band level over two minutes of windows."""
        levels = [band_db(_audio(unit, "undercharge", sev, NIGHT + dt), 48_000, 60, 400)
                  for dt in range(0, 120, 10)]
        return float(np.std(levels))

    _assert_grows(spread, 0.7)
    freqs_bubbles = _band_metric(unit, "undercharge", 700, 3000)
    assert freqs_bubbles(1.0) > freqs_bubbles(0.0) + 1.0


def test_compressor_bearing_wear_growls_in_the_upper_shell_band() -> None:
    _assert_grows(_band_metric(recip(), "compressor_bearing_wear", 1000, 5000), 2.0)
    _assert_grows(_band_metric(scroll(), "compressor_bearing_wear", 1000, 5000), 2.0)


def _narrow_bands_db(x: np.ndarray, lo: float, hi: float, width: float) -> np.ndarray:
    freqs, spec = _power(x, 48_000)
    edges = np.arange(lo, hi + width, width)
    sums = np.histogram(freqs, bins=edges, weights=spec)[0]
    return 10.0 * np.log10(sums + 1e-30)


def test_condenser_fan_bearing_squeals() -> None:
    """Somewhere in 2-5 kHz a narrow band (a squeal) rises far above the healthy sound there."""
    unit = recip()
    healthy = _narrow_bands_db(_audio(unit, "condenser_fan_bearing", 0.0), 1900, 5100, 40)

    def metric(sev: float) -> float:
        x = _audio(unit, "condenser_fan_bearing", sev)
        return float(np.max(_narrow_bands_db(x, 1900, 5100, 40) - healthy))

    _assert_grows(metric, 10.0)
    assert tonality_db(_audio(unit, "condenser_fan_bearing", 1.0), 48_000, 1900, 5100) > \
        tonality_db(_audio(unit, "condenser_fan_bearing", 0.0), 48_000, 1900, 5100)


def test_pump_cavitation_crackles_with_the_compressor_off() -> None:
    _assert_grows(_band_metric(recip(), "pump_cavitation", 1500, 8000, running=False), 6.0)
    _assert_grows(_band_metric(scroll(), "pump_cavitation", 1500, 8000, running=True), 2.0)


def test_panel_rattle_slaps_the_sheet_metal_band() -> None:
    _assert_grows(_band_metric(recip(), "panel_rattle", 150, 800), 3.0)


def test_contactor_chatter_buzzes_at_twice_mains() -> None:
    unit = recip()

    def metric(sev: float) -> float:
        """Summed lines of the coil's buzz: 2, 4, 6, 8 and 10 x mains."""
        x = _audio(unit, "contactor_chatter", sev)
        return 10.0 * math.log10(sum(10.0 ** (line_db(x, 48_000, k * unit.mains_hz) / 10.0)
                                     for k in (2, 4, 6, 8, 10)))

    _assert_grows(metric, 6.0)


def test_oil_starvation_scrapes_high() -> None:
    _assert_grows(_band_metric(recip(), "oil_starvation", 3000, 9000), 3.0)


def test_expansion_valve_hiss_is_high_and_leaves_the_low_band() -> None:
    unit = scroll()
    _assert_grows(_band_metric(unit, "expansion_valve_hiss", 3000, 9000), 4.0)
    low = _band_metric(unit, "expansion_valve_hiss", 50, 800)
    assert abs(low(1.0) - low(0.0)) < 0.5


def test_every_audio_fault_changes_every_kind_of_box() -> None:
    for i, fault in enumerate(AUDIO_FAULTS):
        unit = unit_for(f"any-{i}")
        healthy = _audio(unit, fault, 0.0, T0 + i)
        assert not np.array_equal(healthy, _audio(unit, fault, 1.0, T0 + i)), fault


# ---------------------------------------------------------------- vibration faults


def _vib(unit: Unit, fault: str, severity: float) -> np.ndarray:
    return vibration_window(unit, NIGHT, fault if severity > 0 else None, severity,
                            running=True, seconds=2.0)


def _axis(unit: Unit, direction: int) -> int:
    """Sensor axis carrying a machine direction (0 vertical, 1 horizontal, 2 axial)."""
    return unit.vib_axes[direction]


@pytest.mark.parametrize(("fault", "rate_of"), [
    ("bearing_outer", lambda r: r.bpfo),
    ("bearing_inner", lambda r: r.bpfi),
    ("bearing_ball", lambda r: 2.0 * r.bsf),
])
@pytest.mark.parametrize("vib_rate", [3_200, 25_600])
def test_bearing_defects_show_in_the_envelope(fault: str, rate_of: Callable[..., float],
                                              vib_rate: int) -> None:
    unit = dataclasses.replace(recip(), vib_rate=vib_rate)
    defect = rate_of(defect_rates(unit, _shaft_hz(unit)))
    lo = 0.5 * min(unit.mount_hz)
    vertical = _axis(unit, 0)

    def metric(sev: float) -> float:
        freqs, env = envelope_spectrum(_vib(unit, fault, sev)[vertical], vib_rate, lo,
                                       0.45 * vib_rate)
        return peak_over_floor_db(freqs, env, defect)

    _assert_grows(metric, 10.0)


def test_inner_race_is_modulated_by_the_shaft() -> None:
    unit = recip()
    shaft = _shaft_hz(unit)
    rates = defect_rates(unit, shaft)
    freqs, env = envelope_spectrum(_vib(unit, "bearing_inner", 1.0)[_axis(unit, 0)], 12_800,
                                   0.5 * min(unit.mount_hz), 5_500)
    sidebands = [peak_over_floor_db(freqs, env, rates.bpfi + s * shaft, 0.005) for s in (-1, 1)]
    assert min(sidebands) > 6.0, sidebands


def _line(unit: Unit, x: np.ndarray, order: float) -> float:
    freqs, spec = _power(x, unit.vib_rate)
    near = np.abs(freqs - order * _shaft_hz(unit)) <= 1.0
    return float(np.sqrt(spec[near].max()))


def test_imbalance_raises_1x_radially() -> None:
    unit = scroll()

    def metric(sev: float) -> float:
        return _line(unit, _vib(unit, "imbalance", sev)[_axis(unit, 0)], 1.0)

    _assert_grows(metric, 0.0)
    assert metric(1.0) > 2.0 * metric(0.0)
    axial = _line(unit, _vib(unit, "imbalance", 1.0)[_axis(unit, 2)], 1.0)
    assert axial < 0.5 * metric(1.0)


def test_misalignment_raises_2x_axially() -> None:
    unit = recip()

    def axial(sev: float) -> float:
        return _line(unit, _vib(unit, "misalignment", sev)[_axis(unit, 2)], 2.0)

    _assert_grows(axial, 0.0)
    assert axial(1.0) > 3.0 * axial(0.0)
    radial = _line(unit, _vib(unit, "misalignment", 1.0)[_axis(unit, 0)], 2.0)
    assert axial(1.0) - axial(0.0) > radial - _line(unit, _vib(unit, "misalignment", 0.0)[
        _axis(unit, 0)], 2.0)


def test_looseness_brings_half_orders_and_harmonics() -> None:
    unit = scroll()

    def metric(sev: float) -> float:
        x = _vib(unit, "looseness", sev)[_axis(unit, 0)]
        return sum(_line(unit, x, order) for order in (0.5, 1.5, 2.5, 4.0, 5.0, 6.0, 7.0))

    _assert_grows(metric, 0.0)
    assert metric(1.0) > 3.0 * metric(0.0)
