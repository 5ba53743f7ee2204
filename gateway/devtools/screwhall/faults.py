"""The nine audio faults, each the sound it adds at the compressor (pascals at 1 m).

Each fault draws its randomness from its own generator (never the healthy window's), builds a
signature of unit RMS and scales it by `LEVEL * severity ** 1.3`, so severity 0 adds nothing,
0.1 sits some 25 dB under the machine (or near the box's self-noise, for a hiss above the
machine's band), 0.5 is plain to a technician and 1.0 is as loud as the machine. Only the gas
leak sounds while the compressor is stopped: the plant stays under pressure.

- rotor_bearing: a race defect at the discharge-end thrust set (or radial bearing without
  one): impacts at its BPFO ringing the casing's modes, with roughness modulated at the same rate;
- rotor_contact: rotor-to-rotor / rotor-to-housing rubbing: tones at lobe-pass sidebands
  (LP +- 1x, 2x; 2 LP +- 1x) and friction noise once per revolution;
- slide_valve_hunting: the slide valve stepping in and out every few seconds: the rotor
  pulsation stepping with it, a hydraulic knock at each step;
- oil_starvation: the gear pump worn or starved: its whine up with shaft sidebands,
  cavitation crackle, and the rotors' leakage roar and high lobe-pass harmonics up;
- wet_suction: liquid carry-over: irregular knocks of slugs through the port, foaming noise;
- coupling_wear: backlash knocks twice per revolution and the 1x/2x lines up;
- motor_rotor_bar: broken rotor bars: pole-pass sidebands around the magnetic hum and 1x, the
  hum beating at the pole-pass frequency;
- gas_leak: a flange or shaft-seal leak's hiss (3-16 kHz), also with the compressor off;
- loose_guard: a loose coupling guard or pipe support rattling, excited by the rotation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gateway.devtools.screwhall.machine import electrical, oil_pump, rotor_part
from gateway.devtools.screwhall.operation import Moment
from gateway.devtools.screwhall.pieces import (
    band,
    impulses,
    periodic_times,
    resonance,
    ring,
    ringing_response,
    shaped_noise,
    tones,
)
from gateway.devtools.screwhall.units import Unit

LEVEL = 0.8  # Pa RMS at 1 m at severity 1: about the machine's own level
SOUNDS_WHEN_STOPPED = ("gas_leak",)


class Ctx:
    """What a fault's signature needs of the window."""

    def __init__(self, unit: Unit, m: Moment, t_s: float, n: int, rate: int,
                 rng: np.random.Generator, severity: float) -> None:
        self.unit, self.m, self.t_s, self.n, self.rate = unit, m, t_s, n, rate
        self.rng, self.severity = rng, severity
        self.t = np.arange(n) / rate
        self.freqs = np.fft.rfftfreq(n, 1 / rate)
        self.speed = m.speed_hz
        self.cycles = np.mod(m.speed_hz * t_s, 1.0) + m.speed_hz * self.t

    def phase(self, f: float) -> float:
        return 2 * np.pi * float(np.mod(f * self.t_s, 1.0))


def _unit_rms(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x ** 2)))
    return x / rms if rms > 0 else x


def _knocks(c: Ctx, times: np.ndarray, amps: np.ndarray, modes: list[tuple[float, float]]
            ) -> np.ndarray:
    return ring(impulses(times, amps, c.n, c.rate), ringing_response(c.freqs, modes))


def rotor_bearing(c: Ctx) -> np.ndarray:
    # The discharge-end thrust set carries the axial gas force and is the usual one to go;
    # a unit without one wears its radial bearing.
    rate_hz = (c.unit.thrust or c.unit.bearing).bpfo * c.speed
    times = periodic_times(rate_hz, c.n / c.rate, c.rng.random(), 0.01, c.rng)
    hits = _knocks(c, times, c.rng.uniform(0.6, 1.0, times.size), list(c.unit.housing_modes))
    rough = shaped_noise(c.rng, band(c.freqs, 2000.0, 9000.0), c.n)
    rough *= 1 + np.sin(2 * np.pi * rate_hz * c.t)
    return _unit_rms(hits) + 0.5 * _unit_rms(rough) * (0.3 + c.severity)


def rotor_contact(c: Ctx) -> np.ndarray:
    lp = c.unit.male_lobes * c.speed
    f = np.array([lp - c.speed, lp + c.speed, lp - 2 * c.speed, lp + 2 * c.speed,
                  2 * lp - c.speed, 2 * lp + c.speed])
    a = np.array([1.0, 1.0, 0.5, 0.5, 0.6, 0.6])
    p = c.rng.uniform(0, 2 * np.pi, f.size) + np.array([c.phase(x) for x in f])
    rub = shaped_noise(c.rng, band(c.freqs, 1200.0, 10000.0), c.n)
    contact = np.clip(np.sin(2 * np.pi * c.cycles + c.rng.uniform(0, 6.3)), 0, None) ** 4
    return _unit_rms(tones(f, a, p, c.t, c.rate)) + 0.8 * _unit_rms(rub * contact)


def slide_valve_hunting(c: Ctx) -> np.ndarray:
    period = c.rng.uniform(2.0, 6.0)
    steps = np.sign(np.sin(2 * np.pi * (c.t_s + c.t) / period))
    voice = rotor_part(c.unit, c.m, c.cycles, c.speed, c.rate)
    edges = np.flatnonzero(np.diff(steps) != 0) / c.rate
    knock = _knocks(c, edges, np.ones(edges.size), [(180.0, 6.0), (900.0, 10.0)])
    return _unit_rms(steps * voice) + (0.3 * _unit_rms(knock) if edges.size else 0.0)


def oil_starvation(c: Ctx) -> np.ndarray:
    pump = oil_pump(c.unit, c.m, c.t, c.t_s, c.rate, wear=1.0) - \
        oil_pump(c.unit, c.m, c.t, c.t_s, c.rate)
    crackle = _knocks(c, c.rng.uniform(0, c.n / c.rate, int(40 * c.n / c.rate)),
                      c.rng.exponential(1.0, int(40 * c.n / c.rate)), [(3500.0, 4.0)])
    leak = shaped_noise(c.rng, band(c.freqs, 1500.0, 8000.0), c.n)
    leak *= 1 + 0.8 * np.sin(2 * np.pi * c.unit.male_lobes * c.cycles)
    return _unit_rms(pump) + 0.4 * _unit_rms(crackle) + 0.8 * _unit_rms(leak)


def wet_suction(c: Ctx) -> np.ndarray:
    count = c.rng.poisson((3 + 12 * c.severity) * c.n / c.rate)
    times = c.rng.uniform(0, c.n / c.rate, count)
    knocks = _knocks(c, times, c.rng.uniform(0.3, 1.0, count), [(260.0, 5.0), (700.0, 7.0)])
    foam = shaped_noise(c.rng, band(c.freqs, 400.0, 5000.0), c.n)
    bubbles = np.abs(shaped_noise(c.rng, band(c.freqs, 5.0, 40.0), c.n))
    out = 0.7 * _unit_rms(foam * bubbles)
    return out + (_unit_rms(knocks) if count else 0.0)


def coupling_wear(c: Ctx) -> np.ndarray:
    phase = c.rng.random()
    times = np.sort(np.concatenate([periodic_times(c.speed, c.n / c.rate, phase, 0.02, c.rng),
                                    periodic_times(c.speed, c.n / c.rate, phase + 0.5, 0.02,
                                                   c.rng)]))
    amps = c.rng.uniform(0.4, 1.0, times.size)
    knocks = _knocks(c, times, amps, [(1100.0, 8.0), (1900.0, 10.0)])
    f = np.array([c.speed, 2 * c.speed])
    lines = tones(f, np.array([0.6, 1.0]), np.array([c.phase(x) for x in f]), c.t, c.rate)
    return _unit_rms(knocks) + 0.5 * _unit_rms(lines)


def motor_rotor_bar(c: Ctx) -> np.ndarray:
    e = electrical(c.unit, c.m)
    pole_pass = 2 * e.slip * e.line_hz
    f2 = 2 * e.line_hz
    f = np.array([f2 - pole_pass, f2 + pole_pass, c.speed - pole_pass, c.speed + pole_pass,
                  2 * f2 - pole_pass, 2 * f2 + pole_pass])
    a = np.array([1.0, 1.0, 0.5, 0.5, 0.4, 0.4])
    side = tones(f, a, np.array([c.phase(x) for x in f]) + 0.4, c.t, c.rate)
    beat = np.sin(2 * np.pi * f2 * c.t + c.phase(f2)) * np.sin(np.pi * pole_pass * c.t)
    return _unit_rms(side) + 0.5 * _unit_rms(beat)


def gas_leak(c: Ctx) -> np.ndarray:
    shape = band(c.freqs, 3000.0, 16000.0, 2.0) * (1 + resonance(c.freqs, 7000.0, 2.0))
    hiss = shaped_noise(c.rng, shape, c.n)
    flutter = 1 + 0.15 * shaped_noise(c.rng, band(c.freqs, 2.0, 20.0), c.n) * 5
    out = _unit_rms(hiss * flutter)  # a severe leak screams as loud as the machine
    return out if c.m.running else 0.7 * out


def loose_guard(c: Ctx) -> np.ndarray:
    rev_times = periodic_times(c.speed, c.n / c.rate, c.rng.random(), 0.05, c.rng)
    hit = c.rng.random(rev_times.size) < 0.3 + 0.6 * c.severity
    modes = [(float(c.rng.uniform(300, 600)), 15.0), (float(c.rng.uniform(1200, 2400)), 25.0),
             (float(c.rng.uniform(2600, 3400)), 30.0)]
    rattle = _knocks(c, rev_times[hit], c.rng.uniform(0.3, 1.0, int(hit.sum())), modes)
    return _unit_rms(rattle) if hit.any() else np.zeros(c.n)


FAULTS: dict[str, Callable[[Ctx], np.ndarray]] = {
    "rotor_bearing": rotor_bearing, "rotor_contact": rotor_contact,
    "slide_valve_hunting": slide_valve_hunting, "oil_starvation": oil_starvation,
    "wet_suction": wet_suction, "coupling_wear": coupling_wear,
    "motor_rotor_bar": motor_rotor_bar, "gas_leak": gas_leak, "loose_guard": loose_guard,
}
AUDIO_FAULTS = tuple(FAULTS)


def fault_sound(fault: str, ctx: Ctx) -> np.ndarray:
    """The fault's added sound (Pa at 1 m), nothing for a fault that is silent off-load."""
    if fault not in FAULTS:
        raise ValueError(f"unknown audio fault {fault!r}; expected one of {AUDIO_FAULTS}")
    if not ctx.m.running and fault not in SOUNDS_WHEN_STOPPED:
        return np.zeros(ctx.n)
    return FAULTS[fault](ctx) * LEVEL * ctx.severity ** 1.3
