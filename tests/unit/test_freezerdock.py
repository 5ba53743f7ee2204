"""Tests for the freezerdock compressor-site simulator (gateway.devtools.freezerdock).

Few and short windows at modest sample rates keep the whole file well under the suite's time
budget; speed itself is checked outside the suite.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gateway.devtools import freezerdock as fd
from gateway.devtools.freezerdock import audio_faults, bearing, machine, schedule
from gateway.wav import decode_wav

T_DAY = 1_717_200_000.0  # a weekday in June, mid-morning UTC
FLEET = [fd.unit_for(f"fd-{i:02d}", 7) for i in range(40)]


def _unit(**changes: object) -> fd.Unit:
    """A reciprocating unit with convenient rates for quick tests."""
    base = next(u for u in FLEET if u.machine.kind == "recip" and u.mic.channels == 1)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _spectrum(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    window = np.hanning(x.shape[-1])
    return np.fft.rfftfreq(x.shape[-1], 1 / fs), np.abs(np.fft.rfft(x * window, axis=-1))


def _line(freqs: np.ndarray, mags: np.ndarray, hz: float, width: float = 1.5) -> float:
    """Largest magnitude within +/- width Hz of hz (summed over axes if 2-D)."""
    sel = np.abs(freqs - hz) <= width
    mags = np.sqrt((mags**2).sum(axis=0)) if mags.ndim == 2 else mags
    return float(mags[sel].max())


def _shaft_hz(unit: fd.Unit, t: float, fs: float) -> float:
    op = machine.operating(unit, t, 256, fs, True, np.random.default_rng(0))
    return op.shaft_hz


def _envelope_spectrum(x: np.ndarray, fs: float, band: tuple[float, float]
                       ) -> tuple[np.ndarray, np.ndarray]:
    spec = np.fft.fft(x)
    f = np.fft.fftfreq(x.size, 1 / fs)
    spec[(f < band[0]) | (f > band[1])] = 0.0  # analytic signal of the resonance band
    env = np.abs(np.fft.ifft(2 * spec))
    return _spectrum(env - env.mean(), fs)


# --- the public contract -----------------------------------------------------------------


def test_public_names() -> None:
    assert fd.__all__ == ["AUDIO_FAULTS", "VIBRATION_FAULTS", "Unit", "unit_for", "running_at",
                          "device_week", "audio_window", "audio_wav", "vibration_window",
                          "vibration_payload"]
    assert fd.VIBRATION_FAULTS == ("bearing_outer", "bearing_inner", "bearing_ball",
                                   "imbalance", "misalignment", "looseness")
    assert 8 <= len(fd.AUDIO_FAULTS) <= 10
    assert all(name.isidentifier() and name == name.lower() for name in fd.AUDIO_FAULTS)
    assert not set(fd.AUDIO_FAULTS) & set(fd.VIBRATION_FAULTS)


def test_units_are_deterministic_hashable_and_varied() -> None:
    a, b = fd.unit_for("cmp-1", 3), fd.unit_for("cmp-1", 3)
    assert a == b and hash(a) == hash(b) and a.device_id == "cmp-1" and a.seed == 3
    assert fd.unit_for("cmp-2", 3) != a and fd.unit_for("cmp-1", 4) != a
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.audio_rate = 1  # type: ignore[misc]
    assert {u.audio_rate for u in FLEET} <= {16000, 22050, 44100, 48000}
    assert {u.vib_rate for u in FLEET} <= {3200, 5120, 6400, 10240, 12800, 25600}
    assert {u.vib_unit for u in FLEET} == {"m/s2", "g"}
    assert {u.machine.kind for u in FLEET} == {"recip", "scroll"}
    assert {u.mic.channels for u in FLEET} == {1, 2}
    assert len({u.machine.mains_hz for u in FLEET}) == 2 and len({u.audio_rate for u in FLEET}) > 2


@pytest.mark.parametrize("channels", [1, 2])
def test_audio_shape_dtype_and_pcm16_grid(channels: int) -> None:
    unit = next(u for u in FLEET if u.mic.channels == channels)
    unit = dataclasses.replace(unit, audio_rate=16000)
    x = fd.audio_window(unit, T_DAY, seconds=0.25)
    assert x.dtype == np.float32
    assert x.shape == ((4000,) if channels == 1 else (4000, 2))
    codes = x.astype(np.float64) * 32768
    assert np.array_equal(codes, np.round(codes)) and x.min() >= -1.0 and x.max() < 1.0
    assert np.array_equal(x, fd.audio_window(unit, T_DAY, seconds=0.25))
    assert not np.array_equal(x, fd.audio_window(unit, T_DAY + 1, seconds=0.25))
    assert fd.audio_window(unit, T_DAY, seconds=0.3).shape[0] == 4800


def test_wav_round_trip() -> None:
    unit = next(u for u in FLEET if u.mic.channels == 2)
    x = fd.audio_window(unit, T_DAY)
    samples, rate = decode_wav(fd.audio_wav(unit, T_DAY))
    assert rate == unit.audio_rate and samples.shape == (unit.audio_rate, 2)
    assert np.array_equal(samples, x)


def test_argument_errors_name_the_argument() -> None:
    unit = _unit()
    bad = [
        ({"fault": "bearing_outer"}, "fault"), ({"fault": "nope"}, "fault"),
        ({"severity": -0.1}, "severity"), ({"severity": 1.5}, "severity"),
        ({"severity": math.nan}, "severity"), ({"seconds": 0.0}, "seconds"),
        ({"seconds": 61.0}, "seconds"), ({"seconds": math.inf}, "seconds"),
    ]  # fmt: skip
    for kwargs, name in bad:
        with pytest.raises(ValueError, match=name):
            fd.audio_window(unit, T_DAY, **kwargs)  # type: ignore[arg-type]
    for t in (math.nan, math.inf):
        with pytest.raises(ValueError, match="t_s"):
            fd.audio_window(unit, t)
        with pytest.raises(ValueError, match="t_s"):
            fd.vibration_window(unit, t)
        with pytest.raises(ValueError, match="t_s"):
            fd.running_at(unit, t)
    with pytest.raises(ValueError, match="fault"):
        fd.vibration_window(unit, T_DAY, fault=fd.AUDIO_FAULTS[0])
    with pytest.raises(ValueError, match="severity"):
        fd.vibration_window(unit, T_DAY, fault="imbalance", severity=2)


# --- audio faults ---------------------------------------------------------------------------


def test_severity_zero_is_the_healthy_twin() -> None:
    unit = _unit(audio_rate=16000, vib_rate=3200)
    healthy = fd.audio_window(unit, T_DAY, running=True, seconds=0.25)
    for fault in fd.AUDIO_FAULTS:
        twin = fd.audio_window(unit, T_DAY, fault, 0.0, running=True, seconds=0.25)
        assert np.array_equal(twin, healthy), fault
    vib = fd.vibration_window(unit, T_DAY, running=True, seconds=0.25)
    for fault in fd.VIBRATION_FAULTS:
        twin = fd.vibration_window(unit, T_DAY, fault, 0.0, running=True, seconds=0.25)
        assert np.array_equal(twin, vib), fault


@pytest.mark.parametrize("kind", ["recip", "scroll"])
def test_audio_faults_grow_with_severity(kind: str) -> None:
    base = next(u for u in FLEET if u.machine.kind == kind)
    unit = dataclasses.replace(base, audio_rate=22050)
    t = T_DAY + 1800.0
    healthy = fd.audio_window(unit, t, running=True, seconds=0.5).astype(np.float64)
    for fault in fd.AUDIO_FAULTS:
        energy = []
        for sev in (0.2, 0.5, 1.0):
            x = fd.audio_window(unit, t, fault, sev, running=True, seconds=0.5)
            energy.append(float(np.sum((x.astype(np.float64) - healthy) ** 2)))
        assert 0 < energy[0] < energy[1] < energy[2], (fault, energy)


def test_faults_are_silent_while_stopped_unless_their_part_runs_alone() -> None:
    unit = _unit(audio_rate=16000)
    t = next(t for t in np.arange(T_DAY, T_DAY + 86400, 600.0)
             if schedule.state(unit, np.array([t])).evap_fans[0])
    stopped = fd.audio_window(unit, t, running=False, seconds=0.25)
    for fault in fd.AUDIO_FAULTS:
        x = fd.audio_window(unit, t, fault, 1.0, running=False, seconds=0.25)
        if fault in audio_faults.RUN_INDEPENDENT:
            assert not np.array_equal(x, stopped), fault  # a leak hisses, a fan runs on
        else:
            assert np.array_equal(x, stopped), fault
    vib = fd.vibration_window(unit, t, running=False, seconds=0.25)
    for fault in fd.VIBRATION_FAULTS:
        assert np.array_equal(fd.vibration_window(unit, t, fault, 1.0, running=False,
                                                  seconds=0.25), vib)


def test_healthy_levels_are_plausible() -> None:
    levels = []
    for unit in FLEET[:8]:
        x = fd.audio_window(dataclasses.replace(unit, audio_rate=16000), T_DAY, running=True,
                            seconds=0.25).astype(np.float64)
        levels.append(10 * np.log10(np.mean((x - x.mean(axis=0)) ** 2)))
    assert min(levels) > -60 and max(levels) < -5 and max(levels) - min(levels) > 6


# --- vibration ------------------------------------------------------------------------------


def test_vibration_shape_units_and_stopped_quiet() -> None:
    unit = _unit(vib_rate=6400)
    x = fd.vibration_window(unit, T_DAY, running=True, seconds=0.5)
    assert x.shape == (3, 3200) and x.dtype == np.float64
    assert np.array_equal(x, fd.vibration_window(unit, T_DAY, running=True, seconds=0.5))
    still = fd.vibration_window(unit, T_DAY, running=False, seconds=0.5)
    running_rms, still_rms = np.sqrt(np.mean(x**2)), np.sqrt(np.mean(still**2))
    assert 0 < still_rms < 0.3 * running_rms and still_rms < 0.3  # m/s^2


def _bearing_envelope(unit: fd.Unit, fault: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Envelope spectrum of the band around a structural mode well above the defect lines."""
    fs = unit.vib_rate
    shaft = _shaft_hz(unit, T_DAY, fs)
    top = bearing.frequencies(unit, shaft).bpfi
    modes = [f0 for f0, _, _ in unit.accel.resonances if f0 < 0.35 * fs]
    f0 = next((f for f in modes if f > 4 * top), modes[-1])
    x = fd.vibration_window(unit, T_DAY, fault, 1.0, running=True)
    freqs, env = _envelope_spectrum(x[np.argmax(np.abs(x).max(axis=1))], fs,
                                    (0.7 * f0, min(1.4 * f0, 0.45 * fs)))
    return freqs, env, shaft


def _peak_hz(freqs: np.ndarray, mags: np.ndarray, lo: float, hi: float) -> float:
    sel = (freqs >= lo) & (freqs <= hi)
    return float(freqs[sel][np.argmax(mags[sel])])


def test_outer_race_envelope_peaks_at_bpfo() -> None:
    unit = _unit(vib_rate=12800)
    freqs, env, shaft = _bearing_envelope(unit, "bearing_outer")
    bpfo = bearing.frequencies(unit, shaft).bpfo
    assert abs(_peak_hz(freqs, env, 0.5 * shaft, 1.5 * bpfo) - bpfo) < 2.0


def test_inner_race_envelope_peaks_at_bpfi_with_shaft_sidebands() -> None:
    unit = _unit(vib_rate=12800)
    freqs, env, shaft = _bearing_envelope(unit, "bearing_inner")
    bpfi = bearing.frequencies(unit, shaft).bpfi
    assert abs(_peak_hz(freqs, env, 1.5 * shaft, 1.4 * bpfi) - bpfi) < 2.0
    floor = np.median(env[(freqs > 0.5 * bpfi) & (freqs < 1.5 * bpfi)])
    for sideband in (bpfi - shaft, bpfi + shaft):
        assert _line(freqs, env, sideband) > 3 * floor


def test_ball_fault_envelope_shows_spin_and_cage() -> None:
    unit = _unit(vib_rate=12800)
    freqs, env, shaft = _bearing_envelope(unit, "bearing_ball")
    d = bearing.frequencies(unit, shaft)
    floor = np.median(env[(freqs > 0.5 * d.bsf) & (freqs < 3 * d.bsf)])
    assert _line(freqs, env, 2 * d.bsf) > 5 * floor
    assert _line(freqs, env, d.bsf) > 1.5 * floor  # unequal strikes on the two races
    assert _line(freqs, env, 2 * d.bsf - d.ftf) > 2 * floor  # cage modulation sideband


def _machine_frame(unit: fd.Unit, xyz: np.ndarray) -> np.ndarray:
    return np.array(unit.accel.rotation).reshape(3, 3).T @ xyz


def test_imbalance_raises_1x() -> None:
    unit = _unit(vib_rate=3200)
    shaft = _shaft_hz(unit, T_DAY, unit.vib_rate)
    ones = []
    for sev in (0.0, 0.5, 1.0):
        freqs, mags = _spectrum(fd.vibration_window(unit, T_DAY, "imbalance", sev, True), 3200)
        ones.append(_line(freqs, mags, shaft))
    assert ones[0] * 2 < ones[1] < ones[2]


def test_misalignment_raises_2x_and_axial() -> None:
    unit = _unit(vib_rate=3200)
    shaft = _shaft_hz(unit, T_DAY, unit.vib_rate)
    healthy = _machine_frame(unit, fd.vibration_window(unit, T_DAY, running=True))
    faulty = _machine_frame(unit, fd.vibration_window(unit, T_DAY, "misalignment", 1.0, True))
    freqs, h = _spectrum(healthy, 3200)
    _, f = _spectrum(faulty, 3200)
    assert _line(freqs, f[:2], 2 * shaft) > 2 * _line(freqs, h[:2], 2 * shaft)
    assert _line(freqs, f[2], shaft) > 3 * _line(freqs, h[2], shaft)
    assert _line(freqs, f[2], 2 * shaft) > 3 * _line(freqs, h[2], 2 * shaft)


def test_looseness_adds_harmonics_and_half_orders() -> None:
    unit = _unit(vib_rate=3200)
    shaft = _shaft_hz(unit, T_DAY, unit.vib_rate)
    freqs, h = _spectrum(fd.vibration_window(unit, T_DAY, running=True), 3200)
    _, f = _spectrum(fd.vibration_window(unit, T_DAY, "looseness", 1.0, True), 3200)
    for order in (0.5, 1.5, 2.5):
        assert _line(freqs, f, order * shaft) > 3 * _line(freqs, h, order * shaft), order
    raised = sum(_line(freqs, f, k * shaft) > 1.5 * _line(freqs, h, k * shaft)
                 for k in range(1, 11))
    assert raised >= 5


def test_window_can_contain_a_start() -> None:
    unit = _unit(vib_rate=3200)
    week = fd.device_week(unit, T_DAY, 1.0, 1.0)
    start = next(t for (t, on), (_, before) in zip(week[1:], week[:-1], strict=True)
                 if on and not before)
    x = fd.vibration_window(unit, start - 3.0, seconds=10.0)  # the switch is in (start-1, start]
    before, after = x[:, : 2 * 3200], x[:, -2 * 3200 :]
    assert np.sqrt(np.mean(before**2)) < 0.5 * np.sqrt(np.mean(after**2))


# --- schedule -------------------------------------------------------------------------------


def test_schedule_cycles_and_defrosts() -> None:
    for unit in FLEET[:6]:
        times = T_DAY + np.arange(0, 2 * 86400, 30.0)
        st = schedule.state(unit, times)
        starts = np.count_nonzero(st.running[1:] & ~st.running[:-1])
        assert starts >= 4, unit.device_id  # thermostat cycling or defrost restarts
        heats = np.count_nonzero(st.heating[1:] & ~st.heating[:-1])
        assert abs(heats - 2 * unit.plan.defrosts_per_day) <= 1
        if unit.plan.defrost == "electric":
            assert not st.running[st.heating].any()  # pumped down while the heaters run
        if unit.plan.defrost != "off_cycle":
            assert not st.evap_fans[st.heating].any()  # fans stop for the defrost
        assert [fd.running_at(unit, t) for t in times[::97]] == st.running[::97].tolist()


def test_device_week() -> None:
    unit = _unit()
    week = fd.device_week(unit, T_DAY, 600.0, 7.0)
    assert len(week) == 1008 and week[0][0] == T_DAY and week[1][0] == T_DAY + 600.0
    assert all(isinstance(t, float) and isinstance(r, bool) for t, r in week)
    assert all(fd.running_at(unit, t) == r for t, r in week[::50])
    assert 0.1 < np.mean([r for _, r in week]) < 1.0
    assert len(fd.device_week(unit, T_DAY, 7.0, 0.001)) == 13  # 0, 7, ..., 84 < 86.4
    for cadence in (0.0, -5.0):
        with pytest.raises(ValueError, match="cadence_s"):
            fd.device_week(unit, T_DAY, cadence, 1.0)


# --- the box's message ----------------------------------------------------------------------


@pytest.mark.parametrize("box_unit", ["m/s2", "g"])
def test_vibration_payload(box_unit: str) -> None:
    unit = _unit(vib_rate=3200, vib_unit=box_unit)
    xyz = fd.vibration_window(unit, T_DAY, running=True, seconds=0.1)
    msg = fd.vibration_payload(unit, xyz, T_DAY)
    assert set(msg) == {"ts", "sample_rate", "unit", "x", "y", "z"}
    assert msg["ts"] == T_DAY and msg["sample_rate"] == 3200 and msg["unit"] == box_unit
    scale = 9.80665 if box_unit == "g" else 1.0
    for axis, values in zip("xyz", xyz, strict=True):
        got = msg[axis]
        assert isinstance(got, list) and len(got) == 320 and type(got[0]) is float
        assert np.allclose(np.array(got) * scale, values, atol=1e-6 * scale)
        assert got == [round(v, 6) for v in got]
    with pytest.raises(ValueError):
        fd.vibration_payload(unit, xyz[:2], T_DAY)
    bad = xyz.copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError):
        fd.vibration_payload(unit, bad, T_DAY)
