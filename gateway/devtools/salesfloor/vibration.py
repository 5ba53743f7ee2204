"""The accelerometer on the compressor's mounting: three axes, x and y radial, z along the
(vertical) shaft, in m/s2.

Running, a hermetic compressor shakes its feet at the shaft speed and its harmonics: a piston's
primary and secondary inertia forces (1x, 2x) and the gas torque's pulsation, through rubber
grommets that pass only part of it; an induction motor adds its 2x mains magnetic pull. Always
present: the floor's own vibration (neighbouring units, trolleys, the scrubber at night) and
the sensor's noise. Faults add: bearing defect impacts (bearing.py), imbalance (a rotating 1x
force, radial, in quadrature on x and y), misalignment (2x radial and 1x axial), looseness
(a clipped, rattling response rich in harmonics and half orders).
"""

from __future__ import annotations

import numpy as np

from . import bearing, store_day, thermostat
from .audio_faults import AUDIO_FAULTS
from .seeding import stream, time_key
from .spectral import (
    band,
    bin_freqs,
    coloured_noise,
    cycles_at,
    impact_response,
    impulse_train,
    ringing,
)
from .units import Unit, neighbour

G = 9.80665
VIBRATION_FAULTS: tuple[str, ...] = ("bearing_outer", "bearing_inner", "bearing_ball",
                                     "imbalance", "misalignment", "looseness")  # fmt: skip
SENSOR_NOISE = 0.004  # m/s2 rms per axis, a MEMS accelerometer's floor over its band
AXIS_GAIN = np.array([[1.0], [0.8], [0.45]])  # the mount is stiffer vertically


def _rotation(t_s: float, frames: int, rate: int, hz: float, order: float) -> np.ndarray:
    return 2 * np.pi * cycles_at(t_s, frames, rate, hz * order)


def _healthy_running(unit: Unit, t_s: float, shaft: float, frames: int, rate: int,
                     rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """The running compressor's vibration at the mount, (3, frames)."""
    piston = unit.compressor == "reciprocating"
    orders = (1.0, 0.5 if piston else 0.25), (2.0, 0.35 if piston else 0.15), (3.0, 0.1)
    xyz = np.zeros((3, frames))
    for order, amp in orders:
        angle = _rotation(t_s, frames, rate, shaft, order)
        xyz[0] += amp * np.cos(angle)
        xyz[1] += amp * 0.8 * np.sin(angle)
        xyz[2] += amp * 0.3 * np.cos(angle + 0.7)
    if not unit.inverter:
        xyz += 0.08 * np.sin(_rotation(t_s, frames, rate, 2.0 * unit.mains_hz, 1.0))
    flow = band(bin_freqs(frames, rate), 20.0, 0.4 * rate, order=1)
    xyz += np.stack([coloured_noise(rng, frames, flow) for _ in range(3)]) * 0.08
    xyz += AXIS_GAIN * _valve_slaps(unit, t_s, shaft, frames, rate, rng)
    return xyz * unit.grommet_transmission


def _valve_slaps(unit: Unit, t_s: float, shaft: float, frames: int, rate: int,
                 rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Reed valves slamming shut ring the mount's resonance too, once per revolution each:
    the healthy machine's own impacts, at whole orders of the shaft speed."""
    slaps = impulse_train(rng, frames, rate, shaft, 0.003, t_s)
    if unit.compressor == "reciprocating":
        slaps += 0.7 * impulse_train(rng, frames, rate, shaft, 0.003, t_s + 0.45 / shaft)
    centre = bearing.ring_hz(unit, rate)
    ring = impact_response(ringing(bin_freqs(frames, rate), centre, 10.0), frames)
    peak = 0.4 if unit.compressor == "reciprocating" else 0.15
    return np.fft.irfft(np.fft.rfft(slaps) * ring, n=frames) * peak


def _background(unit: Unit, t_s: float, frames: int, rate: int,
                rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Floor vibration and sensor noise, present whether the compressor runs or not."""
    xyz = rng.standard_normal((3, frames)) * SENSOR_NOISE
    for index in range(len(unit.neighbour_distances_m)):
        other = neighbour(unit, index)
        if thermostat.running_at(other, t_s):
            hz = thermostat.shaft_hz(other, t_s)
            xyz += (
                0.03 / other.mic_distance_m * np.sin(_rotation(t_s, frames, rate, hz, 1.0) + index)
            )
    nearness = store_day.scrubber_nearness(unit, t_s)
    crowd = store_day.crowd(unit, t_s)
    if nearness > 0 or crowd > 0:
        low = band(bin_freqs(frames, rate), 5.0, 60.0, order=2)
        xyz[2] += coloured_noise(rng, frames, low) * (0.08 * nearness + 0.02 * crowd)
    return xyz


def _fault(unit: Unit, fault: str, severity: float, t_s: float, shaft: float, frames: int,
           rate: int, rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """The fault's added vibration, (3, frames), at this severity."""
    xyz = np.zeros((3, frames))
    if fault.startswith("bearing_"):
        kind = fault.removeprefix("bearing_")
        impacts = bearing.defect_vibration(unit, kind, shaft, t_s, frames, rate, rng)
        return AXIS_GAIN * impacts * severity
    one = _rotation(t_s, frames, rate, shaft, 1.0)
    severity *= unit.grommet_transmission  # shaft forces reach the mount through the feet
    if fault == "imbalance":  # a rotating force: equal and in quadrature on x and y
        # Placed near the residual unbalance's angle, so the 1x line grows with severity.
        xyz[0], xyz[1] = np.cos(one + 0.3), np.sin(one + 0.3)
        xyz[2] = 0.15 * np.cos(one + 0.3)
        return xyz * 1.5 * severity
    if fault == "misalignment":  # bending at 2x, the coupling working axially at 1x
        two = _rotation(t_s, frames, rate, shaft, 2.0)
        three = _rotation(t_s, frames, rate, shaft, 3.0)
        xyz[0] = 1.6 * np.cos(two + 0.3) + 0.4 * np.cos(three)
        xyz[1] = 1.3 * np.sin(two + 0.3) + 0.3 * np.sin(three)
        xyz[2] = 1.5 * np.cos(one + 1.1) + 0.6 * np.cos(two)
        return xyz * severity
    return _looseness(unit, t_s, shaft, frames, rate, rng, severity)


def _looseness(unit: Unit, t_s: float, shaft: float, frames: int, rate: int,
               rng: np.random.Generator, severity: float) -> np.ndarray:  # fmt: skip
    """A loose foot lifts once a turn when the shaking force beats its preload and slams
    back: a one-sided (rectified) motion and a thud every turn, harder on alternate turns as
    the body rocks (half orders), both rich in harmonics of 1x; now and then a random knock."""
    one = _rotation(t_s, frames, rate, shaft, 1.0)
    half = _rotation(t_s, frames, rate, shaft, 0.5)
    lifted = np.maximum(np.cos(one) - 0.3, 0.0) + 0.5 * np.maximum(np.cos(half) - 0.6, 0.0)
    lifted -= lifted.mean()
    freqs = bin_freqs(frames, rate)
    slams = impulse_train(rng, frames, rate, shaft, 0.002, t_s)
    slams += 0.6 * impulse_train(rng, frames, rate, 0.5 * shaft, 0.002, t_s)
    slams += (rng.random(frames) < 0.3 * shaft / rate) * rng.normal(0.0, 1.0, frames)
    thud = impact_response(band(freqs, 10.0, min(600.0, 0.3 * rate), order=2), frames)
    hits = np.fft.irfft(np.fft.rfft(slams) * thud, n=frames) * 2.5
    xyz = np.stack([lifted * 2.0 + hits, lifted * 1.5 + 0.7 * hits, lifted * 1.0 + 0.4 * hits])
    return xyz * severity


def vibration_window(
    unit: Unit,
    t_s: float,
    fault: str | None = None,
    severity: float = 0.0,
    running: bool | None = None,
    seconds: float = 1.0,
) -> np.ndarray:
    """Acceleration (3, n) in m/s2 at unit.vib_rate: x, y radial, z axial."""
    if fault is not None and fault not in VIBRATION_FAULTS and fault not in AUDIO_FAULTS:
        raise ValueError(f"unknown fault {fault!r}; vibration faults: {VIBRATION_FAULTS}")
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity must be in [0, 1], got {severity!r}")
    if running is None:
        running = thermostat.running_at(unit, t_s)
    key = time_key(t_s)
    rate = unit.vib_rate
    frames = max(1, int(round(seconds * rate)))
    xyz = _background(unit, t_s, frames, rate, stream("vib-floor", unit.device_id, unit.seed, key))
    if running:
        shaft = thermostat.shaft_hz(unit, t_s)
        rng = stream("vib-run", unit.device_id, unit.seed, key)
        xyz += _healthy_running(unit, t_s, shaft, frames, rate, rng)
        if fault in VIBRATION_FAULTS and severity > 0:
            rng = stream("vib-fault", fault, unit.device_id, unit.seed, key)
            xyz += _fault(unit, fault, severity, t_s, shaft, frames, rate, rng)
    return xyz


def vibration_payload(unit: Unit, xyz: np.ndarray, t_s: float) -> dict[str, object]:
    """The box's JSON message for one window, in the unit it is configured for."""
    data = np.asarray(xyz, dtype=np.float64)
    if unit.vib_unit == "g":
        data = data / G
    data = np.round(data, 6)
    return {"ts": t_s, "sample_rate": unit.vib_rate, "unit": unit.vib_unit,
            "x": data[0].tolist(), "y": data[1].tolist(), "z": data[2].tolist()}  # fmt: skip
