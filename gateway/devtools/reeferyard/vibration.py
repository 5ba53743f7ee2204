"""Vibration windows: the tri-axial MEMS accelerometer on the unit frame (x, y radial to the
compressor shaft, z axial), in m/s2 at the unit's vibration sample rate.

Healthy: the scroll's 1x/2x and gas-torque pulsation, motor hum at 2x mains, frame
resonances excited by the running machine, fans, stacked neighbours' compressors through the
corner castings, straddle-carrier passes through the ground and the stack, sensor noise.
"""

from __future__ import annotations

import numpy as np

from . import dsp
from .frame import Frame, make_frame
from .keys import uniform
from .machine import harmonic_amps, unit_phases
from .names import VIBRATION_FAULTS, active_fault
from .unit import Unit
from .vib_faults import VIB_FAULT_FUNCS
from .yard import neighbour_running, pass_envelope, passes

G = 9.80665
AXES = np.array([1.0, 0.8, 0.35])  # radial x, radial y, axial z: the shaft shakes radially


def _compressor(fr: Frame) -> np.ndarray:
    u = fr.unit
    out = np.zeros((3, fr.n))
    if not fr.running:
        return out
    c = 2 * np.pi * fr.shaft
    out[0] += u.shaft_1x * np.cos(c) + 0.4 * u.shaft_1x * np.cos(2 * c + 0.5)
    out[1] += u.shaft_1x * 0.8 * np.sin(c) + 0.3 * u.shaft_1x * np.sin(2 * c + 0.9)
    out[2] += 0.25 * u.shaft_1x * np.cos(c + 1.2)
    amps = harmonic_amps(u, fr.shaft_hz, fr.rate)
    ph = unit_phases(u, len(amps), "vib-pulse-phase")
    tab = dsp.wavetable(list(amps), list(ph), list(range(1, len(amps) + 1)))
    gas = 0.8 * dsp.play(tab, fr.shaft) * fr.head * (0.12 + 0.88 * fr.load)
    f2 = 2.0 * u.mains_hz if u.model.drive != "inverter" else 2.0 * fr.shaft_hz
    hum = 0.08 * np.cos(2 * np.pi * dsp.cycles(f2, fr.t_s, fr.t))
    out += np.outer([0.7, 1.0, 0.5], gas) + np.outer([1.0, 0.6, 0.3], hum)
    return out


def _frame_modes(fr: Frame) -> np.ndarray:
    """Broadband excitation (gas flow, scroll contact, fans, the yard) through the frame's
    structural modes; each axis couples to the modes differently."""
    u = fr.unit
    level = 0.06 * (0.3 + 0.7 * float(np.mean(fr.load))) if fr.running else 0.012
    out = np.empty((3, fr.n))
    rng = fr.rng("frame")
    for a in range(3):
        shape = np.zeros(len(fr.f), complex)
        for i, f0 in enumerate(u.frame_hz):
            g = 0.4 + 0.6 * uniform("frame-gain", u.device_id, u.seed, a, i)
            shape += g * fr.shape(dsp.resonance, f0, 8.0 + 4.0 * i)
        out[a] = np.fft.irfft(dsp.white_spec(rng, fr.n) * shape, fr.n) * level
    return out


def _fans(fr: Frame) -> np.ndarray:
    u = fr.unit
    out = np.zeros((3, fr.n))
    if fr.cond_fan_hz > 0:
        ph = 2 * np.pi * dsp.cycles(fr.cond_fan_hz, fr.t_s, fr.t)
        out[0] += 0.07 * np.cos(ph) + 0.02 * np.cos(u.model.cond_blades * ph)
        out[1] += 0.05 * np.sin(ph)
        out[2] += 0.03 * np.cos(ph + 0.4) + 0.015 * np.cos(u.model.cond_blades * ph + 1.0)
    if fr.evap_fan_hz > 0:
        ph = 2 * np.pi * dsp.cycles(fr.evap_fan_hz, fr.t_s, fr.t)
        out += np.outer([0.015, 0.01, 0.02], np.cos(ph))
    return out


def _yard(fr: Frame) -> np.ndarray:
    """Stacked neighbours through the castings, vehicles through the ground and the stack."""
    out = np.zeros((3, fr.n))
    for nb in fr.unit.neighbours:
        if nb.same_stack and neighbour_running(nb, fr.t_s):
            tone = 0.03 * np.cos(2 * np.pi * dsp.cycles(nb.shaft_hz, fr.t_s, fr.t))
            out += np.outer([0.6, 1.0, 0.8], tone)
    ps = passes(fr.unit, fr.t_s, fr.t_s + fr.n / fr.rate)
    if ps:
        env = sum(pass_envelope(p, fr.t_s + fr.t) for p in ps)
        shape = fr.shape(dsp.band, 3.0, 60.0, 2)
        rumble = np.fft.irfft(dsp.white_spec(fr.rng("rumble"), fr.n) * shape, fr.n)
        out += np.outer([0.5, 0.6, 1.0], 0.05 * env * rumble)
    return out


def _sensor(fr: Frame) -> np.ndarray:
    """MEMS noise (about 150-350 ug/rtHz) and each axis's small zero-g offset."""
    u = fr.unit
    density = (150.0 + 200.0 * uniform("vnoise", u.device_id, u.seed)) * 1e-6 * G
    sigma = density * np.sqrt(fr.rate / 2.0)
    bias = np.array([uniform("bias", u.device_id, u.seed, a) - 0.5 for a in range(3)]) * 0.1
    out: np.ndarray = sigma * fr.rng("sensor").standard_normal((3, fr.n)) + bias[:, None]
    return out


def vibration_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                     running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    """One window of the frame accelerometer, (3, n) in m/s2 at unit.vib_rate."""
    name = active_fault(fault, severity, VIBRATION_FAULTS)
    fr = make_frame(unit, t_s, running, seconds, unit.vib_rate, "vib")
    x = _compressor(fr) + _frame_modes(fr) + _fans(fr) + _yard(fr) + _sensor(fr)
    if name is not None:
        x = x + VIB_FAULT_FUNCS[name](fr, float(severity))
    return x


def vibration_payload(unit: Unit, xyz: np.ndarray, t_s: float) -> dict[str, object]:
    """The sensor box's JSON payload: samples in the unit's own unit, rounded to 6 decimals."""
    data = np.asarray(xyz, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] != 3:
        raise ValueError(f"xyz must have shape (3, n), got {data.shape}")
    if unit.vib_unit == "g":
        data = data / G
    rounded = np.round(data, 6)
    return {"ts": float(t_s), "sample_rate": int(unit.vib_rate), "unit": unit.vib_unit,
            "x": rounded[0].tolist(), "y": rounded[1].tolist(), "z": rounded[2].tolist()}
