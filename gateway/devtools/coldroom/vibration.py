"""The tri-axial accelerometer on the compressor's bearing end (x, y radial, z axial), m/s².

Healthy, calibrated as velocity: the unit's velocity RMS 10-1000 Hz (accel.velocity_mm_s,
ISO 10816 zone A/B) is shared between the residual unbalance (1x, elliptical: the two radial
stiffnesses differ), the gas forces (compression orders), the twice-mains magnetic force and
low-frequency structure noise. Above that, flow and valve impacts ring the structure's modes
(accel.broadband, m/s² RMS), the neighbouring machine comes through the floor, and the sensor
adds its own noise; its anti-alias filter cuts at 0.42 x the sample rate.

Faults, severity 0..1 as a physical quantity:
- bearing_outer / bearing_inner / bearing_ball: a spall of width severity x 3 mm (less the
  0.15 mm the contact bridges) on the outer race (impacts at BPFO, steady: the load zone is
  fixed), the inner race (BPFI, modulated once a turn by the load zone) or a ball (2 x BSF,
  both races, modulated at the cage speed FTF); 12 m/s² peak at 2.85 mm, ringing the
  structure; 1 % rolling-element slip jitter. Geometry from the unit's bearing.
- imbalance: added unbalance; severity 1 alone gives 2.5 mm/s RMS at 1x, at up to +-57 deg
  from the residual's phase.
- misalignment: shaft/bearing offset; severity 1 = 0.4 mm, giving 2 mm/s at 2x radial, 1.2
  mm/s at 1x axial and some 3x.
- looseness: a foot's lost bolt preload (severity = share lost): the foot lifts and lands once
  a turn, every other landing weaker as the looseness grows (half orders), ringing the lowest
  structural mode (8 m/s² peak at severity 1), with 2x-8x harmonics of the 1x motion
  (1.5 mm/s / k at severity 1) and half orders 0.5x-2.5x (0.6 s^2 mm/s / (k + 1))."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.coldroom.moment import Moment, response
from gateway.devtools.coldroom.pieces import (
    band,
    impulse_spectrum,
    modal_gain,
    noise_spectrum,
    order_wave,
    pink,
    rng_for,
    smooth_gains,
)

VIBRATION_FAULTS = ("bearing_outer", "bearing_inner", "bearing_ball", "imbalance",
                    "misalignment", "looseness")
SHARES = {"1x": 0.35, "gas": 0.35, "hum": 0.1, "structure": 0.2}  # of velocity², healthy


def tone_accel(velocity_mm_s: float, freq: float) -> float:
    """Acceleration amplitude (m/s²) of a tone of the given velocity RMS."""
    return np.sqrt(2.0) * velocity_mm_s * 1e-3 * 2 * np.pi * freq


def _orders(unit, m: Moment, count: int) -> np.ndarray:
    """Healthy radial acceleration orders: residual 1x and gas forces."""
    accel, machine = unit.accel, unit.machine
    v = accel.velocity_mm_s * np.sqrt(m.state.wear)
    k = np.arange(count)
    gas = machine.gas_orders(count) * (k * m.shaft_hz <= 1000)
    velocity = np.abs(gas) / np.sqrt(2) / (2 * np.pi * np.maximum(k, 1) * m.shaft_hz)
    scale = v * 1e-3 * np.sqrt(SHARES["gas"]) / max(np.sqrt(np.sum(velocity ** 2)), 1e-12)
    orders = gas * scale * (0.6 + 0.4 * m.state.load)
    residual = rng_for(unit.device_id, "vib-1x").uniform(0, 2 * np.pi)
    wobble = 1 + 0.08 * np.sin(m.t_s / 97.0)  # thermal bow, load: the 1x moves a little
    orders[1] += tone_accel(v * np.sqrt(SHARES["1x"]) * wobble, m.shaft_hz) * np.exp(
        1j * residual)
    return orders


def _axes(orders: np.ndarray, gains, m: Moment) -> list[np.ndarray]:
    """The same force orders seen on each axis: y lags x by a quarter turn (elliptical orbit),
    z (axial) weaker."""
    k = np.arange(orders.size)
    return [order_wave(m.revs, orders * gains[0]),
            order_wave(m.revs, orders * gains[1] * np.exp(-0.5j * np.pi * k)),
            order_wave(m.revs, orders * gains[2] * np.exp(0.3j * np.pi * k))]


def _healthy_spectrum(unit, m: Moment, rng) -> np.ndarray:
    """Broadband: low-frequency structure noise (its share of velocity) and high-frequency
    flow noise ringing the structure's modes, for one axis (rfft)."""
    accel = unit.accel
    v = accel.velocity_mm_s * 1e-3 * np.sqrt(SHARES["structure"])
    low = noise_spectrum(rng, m.n, m.rate, response(unit, m, "low", lambda: _low_shape(m)) * v)
    high = noise_spectrum(rng, m.n, m.rate, response(unit, m, "high", lambda: _high_shape(
        unit, m)) * (0.6 * accel.broadband))
    return (low + high * m.state.load) * m.state.wear


def _low_shape(m: Moment) -> np.ndarray:
    """Flat acceleration, scaled to 1 m/s velocity RMS over 10-1000 Hz."""
    f = m.freqs
    shape = band(f, 8.0, 1000.0, 1)
    velocity = np.sqrt(np.sum((shape / (2 * np.pi * np.maximum(f, 1.0))) ** 2 * (
        (f >= 10) & (f <= 1000))) * (f[1] - f[0]))
    return shape / velocity


def _high_shape(unit, m: Moment) -> np.ndarray:
    """Flow noise through the structure's modes, scaled to 1 m/s² RMS."""
    f = m.freqs
    shape = np.abs(modal_gain(f, unit.accel.modes)) * band(f, 300, 20_000, 1)
    return shape / max(np.sqrt(np.sum(shape ** 2) * (f[1] - f[0])), 1e-12)


def _valve_spectrum(unit, m: Moment, rng) -> np.ndarray:
    machine = unit.machine
    first, last = m.rev_span()
    targets = (np.arange(first, last)[:, None] + machine.impact_angles()[None, :]).ravel()
    times = m.times_at_revs(targets + 0.003 * rng.standard_normal(targets.size))
    peak = unit.accel.broadband * machine.impact_pa / machine.level_pa * 3.0
    ring_hz, q, _ = unit.accel.modes[1]
    spec = impulse_spectrum(m.n, m.rate, times, peak * smooth_gains(rng, times.size, 0.3),
                            ring_hz, q)
    return spec * response(unit, m, "modes", lambda: modal_gain(m.freqs, unit.accel.modes))


@dataclass
class Parts:
    """A window's vibration while it is assembled: faults add to it."""
    radial: np.ndarray  # force orders seen on x (y, z follow with their gains and phases)
    axial: np.ndarray  # orders seen on z only
    spectra: list[np.ndarray]  # per axis: noise and impacts (rfft), scaled by speed
    fixed: list[np.ndarray]  # per axis: added as they are


def healthy_parts(unit, m: Moment, rng) -> Parts:
    count = int(min(1024, 0.45 * m.rate / max(m.shaft_hz, 1.0)))
    orders = _orders(unit, m, count)
    gains = unit.accel.axis_gains
    valves = _valve_spectrum(unit, m, rng)
    spectra = [_healthy_spectrum(unit, m, rng) * g + valves * g for g in gains]
    zeros = np.zeros(m.freqs.size, complex)
    return Parts(orders, np.zeros(count, complex), spectra, [zeros] * 3)


def magnetic(unit, m: Moment) -> np.ndarray:
    """Twice-mains force on the stator, its share of the velocity."""
    f = 2 * m.mains_hz
    v = unit.accel.velocity_mm_s * np.sqrt(SHARES["hum"])
    return tone_accel(v, f) * np.cos(2 * np.pi * f * m.t + 0.7) * float(m.running)


def floor(unit, m: Moment, rng) -> np.ndarray:
    """What is there with the compressor off: the neighbour through the floor and the
    sensor's own noise (per axis, m/s²)."""
    mate = unit.room.neighbour
    out = noise_spectrum(rng, m.n, m.rate, unit.accel.noise * np.ones(m.freqs.size))
    out += noise_spectrum(rng, m.n, m.rate, response(unit, m, "floor", lambda: 2e-3 * pink(
        m.freqs, 30.0, -6.0)))
    if mate is not None and mate.running(m.t_s):
        out += np.fft.rfft(tone_accel(0.08, mate.shaft_hz) * np.cos(
            2 * np.pi * mate.shaft_hz * (m.t_s % 1000 + m.t)))
    return out


def render(unit, m: Moment, parts: Parts, rng) -> np.ndarray:
    """(3, n) m/s²: machine parts scaled by the speed during a start or stop, plus floor,
    through the sensor's anti-alias filter."""
    speed = (m.speed / max(m.shaft_hz, 1e-9)) ** 2
    if m.running:
        waves = _axes(parts.radial, unit.accel.axis_gains, m)
        waves[2] = waves[2] + order_wave(m.revs, parts.axial)
    else:
        waves = [np.zeros(m.n)] * 3
    hum = magnetic(unit, m)
    alias = response(unit, m, "alias", lambda: band(m.freqs, 0.5, 0.42 * m.rate, 4))
    out = np.empty((3, m.n))
    for axis in range(3):
        machine = (waves[axis] + np.fft.irfft(parts.spectra[axis], m.n)) * speed
        spectrum = np.fft.rfft(machine + hum * (1.0, 0.8, 0.3)[axis]) + parts.fixed[axis]
        out[axis] = np.fft.irfft((spectrum + floor(unit, m, rng)) * alias, m.n)
    return out
