"""The accelerometer's window: rotation orders, pistons, broadband, and the bearing defects,
imbalance and misalignment."""

from __future__ import annotations

import json

import numpy as np

from gateway.devtools.compressor_rig.signals import (
    Scene,
    check,
    modes,
    noise,
    ringing,
    scene,
    spectral,
    streams,
    tones,
    train,
    unit_rms,
)
from gateway.devtools.compressor_rig.units import (
    GRAVITY,
    VIBRATION_FAULTS,
    Unit,
    drift_at,
    running_at,
)


def _bearing_impacts(sc: Scene, fault: str, rng: np.random.Generator) -> np.ndarray:
    """A rolling-element defect: an impact each time it meets the other surface, ringing the
    structure's resonance. Outer race: fixed in the load zone, steady impacts at BPFO; inner
    race: turns with the shaft, so its impacts swell and fade once per turn (BPFI with 1x
    sidebands); ball: strikes both races once per spin (2x BSF), carried round by the cage
    (modulated at FTF)."""
    orders = sc.unit.bearing.orders()
    order = {"bearing_outer": orders["bpfo"], "bearing_inner": orders["bpfi"],
             "bearing_ball": 2 * orders["bsf"]}[fault]
    duration = sc.t.size / sc.rate
    times = train(order * sc.fr, duration, rng, jitter=0.01)
    if fault == "bearing_inner":
        load = 0.1 + 0.9 * (1 + np.cos(2 * np.pi * sc.fr * times + sc.theta)) / 2
    elif fault == "bearing_ball":
        load = 0.55 + 0.45 * np.cos(2 * np.pi * orders["ftf"] * sc.fr * times
                                    + rng.uniform(0, 6.3))
    else:
        load = np.ones(times.size)
    amps = load * rng.lognormal(0, 0.15, times.size)
    return unit_rms(ringing(sc.t.size, sc.rate, times, amps,
                              sc.unit.vib_res_hz * sc.mode_factor, 0.002))


def _vibration_fault(sc: Scene, fault: str, a1: float,
                     rng: np.random.Generator) -> np.ndarray:
    """(3, n) acceleration the fault adds at severity 1."""
    t, w = sc.t, 2 * np.pi * sc.fr
    if fault.startswith("bearing_"):
        # an advanced defect: its impacts carry about three times the healthy acceleration
        # RMS (which is near a1), as in published test-rig records of spalled races
        impacts = 3.0 * _bearing_impacts(sc, fault, rng)
        return a1 * np.stack([impacts, 0.8 * impacts, 0.4 * impacts])
    if fault == "imbalance":  # a rotating force: 1x on both radial axes, 90 degrees apart
        return 2.0 * a1 * np.stack([np.sin(w * t + sc.theta), np.cos(w * t + sc.theta),
                                    0.2 * np.sin(w * t + sc.theta)])
    if fault == "misalignment":  # 2x radial, strong 1x and 2x along the shaft (axial, z)
        two = np.sin(2 * w * t + 2 * sc.theta + 0.7)
        return a1 * np.stack([1.5 * two, 1.2 * np.cos(2 * w * t + 2 * sc.theta),
                              1.2 * np.sin(w * t + sc.theta + 1.1) + 1.5 * two])
    raise ValueError(f"unknown vibration fault {fault!r}; expected one of {VIBRATION_FAULTS}")


def _vibration_machine(sc: Scene, a1: float, rng: np.random.Generator) -> np.ndarray:
    """(3, n) healthy running acceleration: rotation orders, pistons, 2x mains, broadband."""
    u, t, n = sc.unit, sc.t, sc.t.size
    out = np.zeros((3, n))
    ratios = np.minimum(np.array(u.harmonics) / u.harmonics[0], 1.0)
    for axis, offset in enumerate((0.0, np.pi / 2, 0.5)):
        k = np.arange(1, 9)
        amps = a1 * np.concatenate([[1.0 if axis < 2 else 0.3], 0.5 * ratios[1:8]])
        out[axis] = tones(t, k * sc.fr, amps, k * (sc.theta + offset), sc.rate)
        out[axis] += 0.1 * a1 * np.sin(2 * np.pi * 2 * u.mains_hz * t + axis)
    structure = modes([(u.vib_res_hz * sc.mode_factor * 0.6, 6, 1.0),
                        (u.vib_res_hz * sc.mode_factor, 10, 0.7)])
    if u.compressor == "reciprocating":
        times = train(sc.fr * u.cylinders, n / sc.rate, rng, jitter=0.01)
        impulses = np.zeros(n)
        np.add.at(impulses, (times * sc.rate).astype(int) % n, 1.0)
        out += 0.3 * a1 * unit_rms(spectral(impulses, sc.rate, structure))
    for axis in range(3):
        out[axis] += 0.15 * a1 * unit_rms(spectral(noise(rng, n, sc.rate, 0.5), sc.rate,
                                                     structure))
    return out * np.array(u.vib_axis_gain)[:, None]


def vibration_window(unit: Unit, t_s: float, *, sample_rate: int | None = None,
                     duration_s: float = 1.0, fault: str | None = None, severity: float = 0.0,
                     running: bool | None = None,
                     rng: np.random.Generator | None = None) -> np.ndarray:
    """(3, n) acceleration in m/s² (x, y radial; z axial, with gravity) of the unit's
    accelerometer from time t_s; like audio_window otherwise."""
    check(fault, severity, VIBRATION_FAULTS)
    rate = sample_rate or unit.vib_rate
    r_machine, r_fault, r_room, r_sensor = streams(unit, t_s, rng, 2)
    sc = scene(unit, t_s, rate, duration_s, r_machine)
    running = running_at(unit, t_s) if running is None else running
    a1 = unit.vib_1x * 10 ** (drift_at(unit, t_s)[0] / 20)
    n = sc.t.size
    xyz = 0.004 * r_sensor.standard_normal((3, n))  # the sensor's own noise, m/s2
    if running:
        xyz += _vibration_machine(sc, a1, r_machine)
        if fault is not None and severity > 0:
            xyz += severity * _vibration_fault(sc, fault, a1, r_fault)
    elif unit.fan_when_off:
        xyz += 0.03 * a1 * np.stack([noise(r_room, n, rate, 1.0) for _ in range(3)])
    xyz[2] += GRAVITY
    return xyz


def vibration_payload(xyz: np.ndarray, sample_rate: int, ts_s: float) -> str:
    """The JSON a sensor box publishes on `<prefix>/<device>/vibration` (m/s², 5 decimals)."""
    axes = {name: [round(float(v), 5) for v in row] for name, row in zip("xyz", xyz, strict=True)}
    return json.dumps({"ts": round(ts_s, 3), "sample_rate": sample_rate, "unit": "m/s2", **axes})
