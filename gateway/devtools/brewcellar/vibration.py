"""The accelerometer on the compressor body: healthy vibration, faults, and the JSON payload.

Running, the compressor shakes at its shaft harmonics: a reciprocating machine's unbalanced
piston masses at 1x and 2x, gas torque at cylinders x shaft, reed slams ringing the structure;
a scroll mostly at 1x from the orbiting scroll's counterweight residue. The motor adds magnetic
force at twice mains, the flow adds broadband excitation of the structural resonances, and the
condenser fans and the glycol pump reach the sensor faintly through the frame and the floor. A
stopped compressor leaves the pump, the floor (kegs dropped, forklifts) and the sensor noise.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .dsp import (
    band,
    harmonic_table,
    lookup,
    resonance,
    rfft_freqs,
    shape_rms,
    table_index,
    white_spectrum,
)
from .frame import Frame, make_frame
from .keys import rng_for
from .machine import cylinders
from .names import VIBRATION_FAULTS, active_fault
from .plant import fan_hz
from .unit import Unit
from .vib_faults import VIB_FAULT_FUNCS, G, VibContext, ring_impacts

# Peak acceleration (m/s2) per harmonic order and the direction mix (vertical, horizontal, axial)
_RECIP_ORDERS = ((1, 0.35, (1.0, 0.8, 0.25)), (2, 0.2, (0.7, 0.6, 0.4)))
_SCROLL_ORDERS = ((1, 0.45, (1.0, 0.9, 0.2)), (2, 0.12, (0.6, 0.6, 0.3)), (3, 0.06, (0.5, 0.4,
                                                                                     0.3)))
FLOW_RMS = 0.25  # broadband flow excitation while running, m/s2 RMS per axis
FLOOR_RMS = 0.01  # the floor and pipework with the compressor stopped


def _order_coeffs(unit: Unit, harmonics: int) -> np.ndarray:
    """Complex amplitude per harmonic order and machine direction, shape (3, harmonics + 1)."""
    rng = rng_for("vib-orders", unit.device_id, unit.seed)
    coeffs = np.zeros((3, harmonics + 1), dtype=np.complex128)
    orders = list(_RECIP_ORDERS if unit.compressor == "recip" else _SCROLL_ORDERS)
    if unit.compressor == "recip":
        c = unit.cylinders
        orders += [(c, 0.4, (0.8, 1.0, 0.3)), (2 * c, 0.15, (0.6, 0.8, 0.3))]
    for order, peak, mix in orders:
        if order <= harmonics:
            coeffs[:, order] += peak * np.array(mix) * rng.uniform(0.6, 1.4) * np.exp(
                1j * rng.uniform(0, 2 * np.pi, 3))
    low = np.arange(1, min(harmonics, 12) + 1)
    coeffs[:, low] += 0.04 * rng.uniform(0.2, 1.0, (3, low.size)) * np.exp(
        1j * rng.uniform(0, 2 * np.pi, (3, low.size)))
    return coeffs


def _slam_coeffs(unit: Unit, harmonics: int, rate: int) -> np.ndarray:
    """Reed slams ringing the mount resonances, once per stroke (reciprocating only)."""
    k = np.arange(harmonics + 1)
    fk = k * unit.sync_hz * (1.0 - unit.slip)
    crank, strength = cylinders(unit)
    steer = np.exp(-2j * np.pi * np.outer(k, crank)) @ strength
    ring = sum(gain * resonance(fk, f0, 1.0 / (2.0 * zeta))
               for f0, zeta, gain in zip(unit.mount_hz, unit.mount_zeta, (1.0, 0.6, 0.4),
                                         strict=True))
    slam = steer * ring * band(fk, 0, 0.42 * rate, 4) * 0.02
    return np.outer(np.array([1.0, 0.5, 0.4]), slam)


@lru_cache(maxsize=128)
def rev_tables(unit: Unit, rate: int) -> tuple[int, np.ndarray]:
    """One revolution of the healthy compressor per machine direction, band-limited."""
    harmonics = max(4, int(0.42 * rate / (unit.sync_hz * (1.0 - unit.slip))))
    length = max(1024, 1 << math.ceil(math.log2(8 * harmonics)))
    coeffs = _order_coeffs(unit, harmonics)
    if unit.compressor == "recip":
        coeffs = coeffs + _slam_coeffs(unit, harmonics, rate)
    return length, np.stack([harmonic_table(row, length) for row in coeffs])


@lru_cache(maxsize=128)
def flow_shape(unit: Unit, n: int, rate: int) -> np.ndarray:
    """Unit-RMS spectrum of flow excitation: the structure's resonances over a gentle floor."""
    freqs = rfft_freqs(n, rate)
    shape = 0.15 * band(freqs, 10, 0.42 * rate, 4)
    for f0, zeta in zip(unit.mount_hz, unit.mount_zeta, strict=True):
        shape = shape + np.abs(resonance(freqs, f0, 1.0 / (2.0 * zeta)))
    shape *= band(freqs, 0, 0.42 * rate, 4)
    return shape / shape_rms(shape)


def _to_sensor(unit: Unit, machine_xyz: np.ndarray) -> np.ndarray:
    """From machine directions (vertical, horizontal, axial) to the box's x, y, z."""
    sensor = np.empty_like(machine_xyz)
    sensor[list(unit.vib_axes)] = machine_xyz
    return sensor


def _running_parts(frame: Frame, shaft: np.ndarray) -> np.ndarray:
    unit = frame.unit
    length, tables = rev_tables(unit, frame.rate)
    xyz = lookup(tables, table_index(shaft, length)) * (0.85 + 0.3 * frame.op.head)
    mains = 2.0 * np.pi * 2.0 * frame.mains_phase()
    xyz += np.outer(np.array([0.12, 0.1, 0.04]), np.cos(mains))
    for i, speed in enumerate(frame.op.fan_speeds):
        if speed > 0:
            turn = np.cos(2.0 * np.pi * frame.phase(fan_hz(unit, speed, i), f"fan{i}"))
            xyz += np.outer(np.array([0.02, 0.03, 0.01]) * speed**2, turn)
    return xyz


def _background(frame: Frame) -> np.ndarray:
    """Pump, floor, broadband flow (when running) and sensor noise, in machine directions."""
    unit = frame.unit
    key = (unit.device_id, unit.seed, frame.key)
    pump = np.cos(2.0 * np.pi * frame.phase(unit.pump_hz, "pump"))
    pump_level = 0.04 / unit.pump_distance_m
    xyz = np.outer(np.array([1.0, 0.7, 0.4]) * pump_level, pump)
    rms = FLOW_RMS * (0.8 + 0.4 * frame.op.head) if frame.op.running else FLOOR_RMS
    spec = np.stack([white_spectrum(rng_for("vib-flow", axis, *key), frame.n) for axis in
                     range(3)]) * (rms * flow_shape(unit, frame.n, frame.rate))
    xyz += np.fft.irfft(spec, frame.n, axis=1)
    noise = unit.vib_noise_ug * 1e-6 * G * math.sqrt(frame.rate / 2.0)
    xyz += noise * rng_for("vib-sensor", *key).standard_normal((3, frame.n))
    return xyz + _floor_knocks(frame)


def _floor_knocks(frame: Frame) -> np.ndarray:
    """Kegs set down and forklifts passing while people work: rare knocks through the floor."""
    if not frame.op.activity.staffed:
        return np.zeros((3, frame.n))
    rng = rng_for("vib-floor", frame.unit.device_id, frame.unit.seed, frame.key)
    times = rng.uniform(0.0, frame.n / frame.rate, rng.poisson(0.05 * frame.n / frame.rate))
    if times.size == 0:
        return np.zeros((3, frame.n))
    knocks = ring_impacts(frame, times, rng.uniform(0.2, 1.0, times.size))
    return np.outer(np.array([1.0, 0.4, 0.3]), knocks)


def vibration_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                     running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    """(3, n) acceleration in m/s2 at unit.vib_rate, in the sensor's axes."""
    active = active_fault(fault, severity, VIBRATION_FAULTS)
    frame = make_frame(unit, t_s, unit.vib_rate, seconds, running)
    xyz = _background(frame)
    if frame.op.running:
        shaft = frame.shaft_phase()
        xyz += _running_parts(frame, shaft)
        if active is not None:
            xyz += VIB_FAULT_FUNCS[active](VibContext(frame, shaft, float(severity), active))
    return _to_sensor(unit, xyz)


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
