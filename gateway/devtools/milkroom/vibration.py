"""Tri-axial acceleration on the compressor shell, and the six vibration faults.

Machine frame: radial horizontal, radial vertical, axial. The healthy machine shakes at
its rotation orders (residual imbalance at 1x as a rotating force, compression torque at
the cylinder orders), at twice the mains frequency (magnetic pull), plus valve impacts
ringing the structure. The box sees that through its own axis orientation, its mounting
resonance and anti-alias filter, plus its noise floor. Healthy level: 10-1000 Hz velocity
of the unit's own value (0.7-2 mm/s RMS).

Faults add to the healthy frame signal (same draws): rolling-element impacts ringing the
structure at the bearing's defect frequencies (outer: steady; inner: modulated by the
rotation as the defect passes the load zone; ball: twice the spin frequency, modulated by
the cage), imbalance (a rotating 1x force), misalignment (2x radial and strong axial 1x/2x)
and looseness (a truncated response: many harmonics, half orders, rattling impacts).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from . import dsp
from .bearing import defect_orders
from .compressor_sound import valve_envelope
from .machine import Motion, motion
from .schedule import milking_at
from .seeding import stream, window_key
from .units import Unit

VIBRATION_FAULTS: tuple[str, ...] = ("bearing_outer", "bearing_inner", "bearing_ball",
                                     "imbalance", "misalignment", "looseness")
_ORDERS = 12


@lru_cache(maxsize=512)
def _lines(unit: Unit) -> tuple[np.ndarray, np.ndarray]:
    """Healthy complex line amplitudes, velocity in mm/s (peak), per machine axis:
    rotation orders 1.._ORDERS and mains-hum orders 1..4 (of 2x mains)."""
    r = stream(unit.seed, unit.device_id, "vib-lines")
    c = unit.compressor.cylinders
    rot = np.zeros((3, _ORDERS), complex)
    rot[0, 0], rot[1, 0] = 0.5, -0.5j  # residual imbalance: a rotating force
    for k in range(1, _ORDERS + 1):
        strength = (1.0 / (k / c) ** 1.3) if k % c == 0 else 0.12 / k
        rot[:, k - 1] += strength * r.uniform(0.2, 1.0, 3) * np.exp(2j * np.pi * r.random(3))
    rot[2] *= 0.35  # axial is quieter on a healthy, aligned machine
    hum = 0.25 * r.uniform(0.2, 1.0, (3, 4)) * np.exp(2j * np.pi * r.random((3, 4)))
    hum /= np.arange(1, 5) ** 1.5
    return rot, hum


def _band_velocity(amps: np.ndarray, f0: float) -> float:
    """Mean-square velocity over axes of lines at orders of f0, within 10-1000 Hz."""
    hz = f0 * np.arange(1, amps.shape[1] + 1)
    inside = (hz >= 10) & (hz <= 1000)
    return float(np.sum(np.abs(amps[:, inside]) ** 2) / 2.0 / 3.0)


def _tonal(unit: Unit, m: Motion, tau: np.ndarray, r: np.random.Generator) -> np.ndarray:
    rot, hum = _lines(unit)
    hum_hz = 2.0 * m.mains_hz
    scale = unit.accel.velocity_mm_s / math.sqrt(
        _band_velocity(rot, m.rot_hz) + _band_velocity(hum, hum_hz))
    mains = r.random() + hum_hz * tau
    out = np.empty((3, tau.size))
    for axis in range(3):  # velocity (mm/s) -> acceleration (m/s2): times 2 pi f / 1000
        a_rot = rot[axis] * scale * 2e-3 * np.pi * m.rot_hz * np.arange(1, _ORDERS + 1)
        a_hum = hum[axis] * scale * 2e-3 * np.pi * hum_hz * np.arange(1, 5)
        out[axis] = dsp.lookup(dsp.harmonic_table(a_rot), m.cycles) * m.speed**2
        out[axis] += dsp.lookup(dsp.harmonic_table(a_hum), mains) * (m.speed > 0)
    return out


@lru_cache(maxsize=128)
def _paths(unit: Unit, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(structure ringing, sensor path) on the rfft grid: modes the impacts excite, and
    the mount resonance with the box's anti-alias low-pass."""
    f = dsp.freqs(n, unit.vib_rate)
    acc = unit.accel
    modes = np.zeros(f.size, complex)
    for f0, q, g in acc.modes:
        if f0 < 0.45 * unit.vib_rate:
            modes += g * dsp.decay_response(f, f0, q)
    if not np.any(modes):
        modes += dsp.decay_response(f, 0.3 * unit.vib_rate, 8.0)
    mount = 1.0 / (1.0 - (f / acc.mount_hz) ** 2 + 1j * f / (acc.mount_hz * acc.mount_q))
    alias = 1.0 / np.sqrt(1.0 + (f / (0.42 * unit.vib_rate)) ** 16)
    return modes, mount * alias


def _broadband(unit: Unit, m: Motion, n: int, r: np.random.Generator) -> np.ndarray:
    """Valve impacts and gas flow ringing the shell, gated by the valve events (m/s2)."""
    modes, _ = _paths(unit, n)
    env = valve_envelope(unit)
    env /= dsp.table_rms(env)
    shape = np.abs(modes)
    spec = np.stack([dsp.noise_spectrum(r, shape, 0.4, n) for _ in range(3)])
    return np.asarray(np.fft.irfft(spec, n) * (dsp.lookup(env, m.cycles) * m.speed**2))


def _impacts(unit: Unit, m: Motion, n: int, cycles: np.ndarray, amp_of: np.ndarray,
             r: np.random.Generator) -> np.ndarray:
    """Bearing impacts at each whole number of `cycles` (defect passes), ringing the
    structure; amplitudes from amp_of (sampled at the impact), small timing jitter."""
    idx = dsp.event_indices(cycles, r.random())
    idx = idx + r.integers(-1, 2, idx.size)
    idx = np.clip(idx, 0, n - 1)
    amp = amp_of[idx] * r.uniform(0.8, 1.0, idx.size)
    modes, _ = _paths(unit, n)
    pulse = dsp.ring(n, unit.vib_rate, idx, amp, modes)
    rms = float(np.sqrt(np.mean(pulse**2))) or 1.0
    return pulse / rms


def _bearing(unit: Unit, m: Motion, fault: str, n: int, r: np.random.Generator) -> np.ndarray:
    orders = defect_orders(unit.bearing)
    phase = stream(unit.seed, unit.device_id, "load-zone").random()
    rot = 2 * np.pi * (m.cycles + phase)
    if fault == "bearing_outer":
        pulses = _impacts(unit, m, n, m.cycles * orders.outer, np.ones(n), r)
    elif fault == "bearing_inner":
        pulses = _impacts(unit, m, n, m.cycles * orders.inner, 0.55 + 0.45 * np.cos(rot), r)
    else:
        cage = 0.55 + 0.45 * np.cos(2 * np.pi * (m.cycles * orders.cage + phase))
        spins = m.cycles * orders.spin * 2
        alternate = np.where(np.floor(spins) % 2 == 0, 1.0, 0.7)  # inner race, outer race
        pulses = _impacts(unit, m, n, spins, cage * alternate, r)
    direction = np.array([0.8, 0.55, 0.25])
    return np.asarray(direction[:, None] * pulses[None, :] * 2.5 * m.speed**2)


def _lines_fault(unit: Unit, m: Motion, fault: str, tau: np.ndarray) -> np.ndarray:
    """Imbalance, misalignment and looseness as extra lines (mm/s RMS at severity 1)."""
    w = 2e-3 * np.pi * m.rot_hz * math.sqrt(2)  # mm/s RMS -> m/s2 peak at 1x
    th = 2 * np.pi * m.cycles
    out = np.zeros((3, tau.size))
    if fault == "imbalance":
        out[0], out[1] = 6.0 * w * np.cos(th), 6.0 * w * np.sin(th)
        out[2] = 0.6 * w * np.cos(th + 0.4)
    elif fault == "misalignment":
        out[0] = 3.0 * 2 * w * np.cos(2 * th + 0.3) + 0.8 * w * np.cos(th)
        out[1] = 2.5 * 2 * w * np.cos(2 * th + 1.9)
        out[2] = 4.0 * w * np.cos(th + 0.7) + 3.0 * 2 * w * np.cos(2 * th + 0.2)
        out[2] += 1.0 * 3 * w * np.cos(3 * th + 2.0)
    else:
        out += _looseness(unit, m, w, th)
    return np.asarray(out * m.speed**2)


def _looseness(unit: Unit, m: Motion, w: float, th: np.ndarray) -> np.ndarray:
    """A loose foot or mount: the motion is cut off each time the part hits its stop
    (truncation), and a sub-harmonic rocking adds half orders. The kinks of the cut
    displacement make harmonics whose acceleration (order squared) falls only slowly."""
    x = np.arange(2 * dsp.TABLE) * (4 * np.pi / (2 * dsp.TABLE))  # two revolutions
    displacement = np.minimum(np.cos(x) + 0.45 * np.cos(x / 2 + 0.8), 0.55)
    spec = np.fft.rfft(displacement)
    half_orders = np.arange(spec.size) / 2.0
    spec *= half_orders**2
    spec[min(spec.size, int(0.4 * unit.vib_rate / max(m.rot_hz, 1.0)) * 2) :] = 0.0
    accel = np.fft.irfft(spec, 2 * dsp.TABLE)
    one_x = 2.0 * abs(spec[2]) / (2 * dsp.TABLE)
    accel = np.append(accel, accel[0]) * (4.0 * w / one_x)  # 4 mm/s RMS at 1x
    a = dsp.lookup(accel, th / (4 * np.pi))
    return np.stack([0.35 * a, a, 0.2 * a])


def machine_frame(unit: Unit, m: Motion, t_s: float, fault: str | None, severity: float
                  ) -> np.ndarray:
    n = m.speed.size
    tau = np.arange(n) / unit.vib_rate
    r = stream(unit.seed, unit.device_id, "vib", window_key(t_s))
    frame = np.zeros((3, n))
    if m.turning:
        frame += _tonal(unit, m, tau, r) + _broadband(unit, m, n, r)
    if milking_at(unit, t_s):  # the parlour's vacuum pump shakes the floor a little
        frame += 0.004 * np.sin(2 * np.pi * unit.farm.vacuum_hz * tau)[None, :]
    if fault in VIBRATION_FAULTS and severity > 0 and m.turning:
        fr = stream(unit.seed, unit.device_id, "vib-fault", fault, window_key(t_s))
        if fault.startswith("bearing"):
            frame += severity * _bearing(unit, m, fault, n, fr)
        else:
            frame += severity * _lines_fault(unit, m, fault, tau)
            if fault == "looseness":
                rattle = _impacts(unit, m, n, m.cycles, np.ones(n), fr)
                frame += severity * 0.8 * rattle[None, :] * np.array([[0.3], [1.0], [0.2]])
    return frame


def window(unit: Unit, t_s: float, fault: str | None, severity: float, running: bool | None,
           seconds: float) -> np.ndarray:
    m = motion(unit, t_s, running, seconds, unit.vib_rate)
    frame = machine_frame(unit, m, t_s, fault, severity)
    n = frame.shape[1]
    _, sensor = _paths(unit, n)
    seen = np.fft.irfft(np.fft.rfft(frame, axis=1) * sensor[None, :], n, axis=1)
    axes = np.array(unit.accel.axes).reshape(3, 3)
    noise = stream(unit.seed, unit.device_id, "vib-noise", window_key(t_s)).standard_normal((3, n))
    return axes @ seen + noise * unit.accel.noise
