"""The tri-axial accelerometer on the motor end of the housing (x, y radial, z axial), in m/s².

Healthy: the shaft's harmonics (1x radial as an orbit, 2x mostly axial), the compression's
pulsation forces, the motor's magnetic pull at twice the mains frequency, the frame's modes
under broadband excitation, the floor carrying a neighbouring machine's rotation, and the
sensor's noise. Faults: rolling-bearing defects at the frequencies of the bearing's geometry,
each impact ringing the bearing housing's resonance (outer race steady; inner race modulated
by the load zone once a turn; a ball's defect at twice the spin frequency, modulated at the
cage rate as the ball turns in and out of contact), imbalance (1x), misalignment (2x axial),
and looseness (a harmonic series with truncation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.plant_sounds import signals as sg
from gateway.devtools.plant_sounds.machine import Kinematics, Machine

VIBRATION_FAULTS = ("bearing_outer", "bearing_inner", "bearing_ball", "imbalance",
                    "misalignment", "looseness")
STANDARD_GRAVITY = 9.80665


@dataclass(frozen=True)
class Accelerometer:
    rate: int
    window_s: float
    unit: str                 # what the box sends: "m/s2" or "g"
    resonance_hz: float       # the bearing housing's mode the impacts ring
    frame_modes: tuple        # (f0, q, gain)
    axis_gains: tuple         # how the housing carries force to x, y, z
    noise_ms2: float
    neighbour_hz: float       # the adjacent machine's rotation, carried by the floor
    neighbour_ms2: float


def draw(rng: np.random.Generator) -> Accelerometer:
    rate = int(rng.choice([5_120, 8_192, 10_240, 12_800]))
    return Accelerometer(
        rate=rate, window_s=float(rng.choice([0.5, 1.0])),
        unit=str(rng.choice(["m/s2", "g"])),
        resonance_hz=float(rng.uniform(0.12, 0.3) * rate),
        frame_modes=tuple((float(f), float(rng.uniform(5, 20)), float(rng.uniform(2, 8)))
                          for f in rng.uniform(150, 0.35 * rate, 3)),
        axis_gains=tuple(float(g) for g in rng.uniform(0.5, 1.2, 3)),
        noise_ms2=float(rng.uniform(0.005, 0.03)), neighbour_hz=float(rng.uniform(14, 60)),
        neighbour_ms2=float(rng.uniform(0.02, 0.15)))


def healthy(m: Machine, a: Accelerometer, k: Kinematics, load: float, rng) -> np.ndarray:
    """(3, n) acceleration of the running (or still) machine, m/s²."""
    n, th = len(k.theta), k.theta
    share = k.speed / m.sync_hz
    one = _once_per_turn(m, share)
    xyz = np.stack([one * np.cos(th), 0.8 * one * np.sin(th), 0.3 * one * np.cos(th + 1)])
    xyz[2] += 0.4 * one * np.cos(2 * th + 0.3)
    pulse = 0.25 * (0.5 + load) * share * sg.tone_series(
        th, m.cylinders * np.arange(1, 4), (1.0, 0.5, 0.25), (0.0, 0.7, 1.9))
    t = np.arange(n) / a.rate
    magnetic = 0.08 * (k.current > 0) * np.cos(2 * np.pi * 2 * m.mains_hz * t)
    f = sg.freqs(n, a.rate)
    frame = np.ones_like(f)
    for f0, q, gain in a.frame_modes:
        frame *= sg.peak_gain(f, f0, q, gain)
    for axis in range(3):
        xyz[axis] += pulse + magnetic
        xyz[axis] += 0.05 * share * sg.shaped_noise(rng, n, frame * sg.highpass(f, 20))
    return xyz * np.array(a.axis_gains)[:, None] + floor(a, n, rng)


def _once_per_turn(m: Machine, share: np.ndarray) -> np.ndarray:
    """A healthy residual imbalance: 5 µm of orbit at full speed (about 1 mm/s), in m/s²."""
    return 5e-6 * (2 * np.pi * m.sync_hz * share) ** 2


def floor(a: Accelerometer, n: int, rng) -> np.ndarray:
    """What is there when the machine is off: the neighbour through the floor, sensor noise."""
    t = np.arange(n) / a.rate
    near = a.neighbour_ms2 * np.cos(2 * np.pi * a.neighbour_hz * t + rng.uniform(0, 6))
    noise = a.noise_ms2 * rng.standard_normal((3, n))
    return noise + np.array([1.0, 0.7, 0.3])[:, None] * near


def fault(kind: str, severity: float, m: Machine, a: Accelerometer, k: Kinematics,
          rng) -> np.ndarray:
    """(3, n) acceleration the fault adds."""
    th = k.theta
    share = k.speed / m.sync_hz
    if kind.startswith("bearing_"):
        return severity * _bearing(kind, m, a, k, rng)
    one = _once_per_turn(m, share)
    if kind == "imbalance":
        return severity * 4 * one * np.stack([np.cos(th), 0.8 * np.sin(th), 0.1 * np.cos(th)])
    if kind == "misalignment":
        two = np.cos(2 * th + 0.5)
        return severity * 3 * one * np.stack([0.5 * two, 0.4 * two, 1.5 * two])
    # looseness: the foot lifts, the response is clipped once a turn, a series of harmonics
    lift = np.maximum(np.cos(th) - (1 - 0.6 * severity), 0.0)
    return severity * 6 * one * np.stack([lift, 0.5 * lift, 0.2 * lift])


def _bearing(kind: str, m: Machine, a: Accelerometer, k: Kinematics, rng) -> np.ndarray:
    orders = m.bearing.orders()
    n, th = len(k.theta), k.theta
    key, per = {"bearing_outer": ("bpfo", 1.0), "bearing_inner": ("bpfi", 1.0),
                "bearing_ball": ("bsf", 2.0)}[kind]
    slide = np.cumsum(rng.normal(0, 0.003, n // 64 + 2))
    angle = th * orders[key] * per + 2 * np.pi * np.interp(np.arange(n),
                                                           np.arange(len(slide)) * 64, slide)
    at = sg.event_times(angle, 1.0)
    share = k.speed / m.sync_hz
    amps = rng.lognormal(0, 0.2, len(at)) * share[at] ** 2
    if kind == "bearing_inner":
        amps *= 0.15 + 0.85 * np.maximum(np.cos(th[at] - 0.5), 0.0) ** 1.5
    if kind == "bearing_ball":  # the defect rolls in and out of the load zone with the cage
        amps *= 0.2 + 0.8 * np.maximum(np.cos(orders["ftf"] * th[at]), 0.0)
    kernel = sg.ring_kernel(a.rate, [(a.resonance_hz, 0.03, 1.0),
                                     (1.7 * a.resonance_hz, 0.02, 0.5)], 0.02)
    ring = sg.impacts(n, at, 25.0 * amps, kernel)
    return np.stack([ring, 0.7 * ring, 0.35 * ring]) * np.array(a.axis_gains)[:, None]
