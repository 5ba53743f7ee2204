"""Refrigeration-compressor faults as they sound at the microphone.

Each fault returns only its contribution, drawn from its own stream, which the window adds to
the healthy sound before the microphone's knee and quantisation; severity 0 is never called
(the window is the healthy twin) and amplitudes scale linearly with severity, so 0.1 sits
about 20 dB under 1.0. Levels are set against the healthy sound in the fault's own band: at
severity 1 a technician standing there would hear it, and some (a small leak, a dry fan
bearing far away in the penthouse) stay quiet even then. Compressor-borne faults go through
the same shell and distance as the healthy sound and vanish when the shaft stops; the two
exceptions physics allows are the leak (the circuit stays pressurised at standstill) and the
unit-cooler fan, which runs on its own schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from . import bearing, compressor_sound, dsp, seeding
from .compressor_sound import effort
from .machine import Operating
from .units import Unit

Fault = Callable[[Unit, Operating, float, np.random.Generator], dsp.Mix]


def _comp(unit: Unit, op: Operating) -> float:
    return unit.machine.level * effort(op)


def _detail(unit: Unit, name: str) -> np.random.Generator:
    """Fixed per-unit particulars of a fault (which cylinder, which resonance)."""
    return seeding.rng(unit.seed, unit.device_id, "fault-detail:" + name)


@lru_cache(maxsize=128)
def _shape(n: int, fs: float, lo: float, hi: float) -> np.ndarray:
    return dsp.band(dsp.freqs(n, fs), lo, hi)


@lru_cache(maxsize=128)
def _modes(n: int, fs: float, spec: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    f = dsp.freqs(n, fs)
    out = np.zeros(f.size, dtype=complex)
    for f0, q, gain in spec:
        if f0 < 0.45 * fs:
            out += gain * dsp.resonance(f, f0, q)
    return out


def _area(peak: np.ndarray, f0: float, q: float) -> np.ndarray:
    return peak * q / (2 * np.pi * f0)


def discharge_valve_leak(unit: Unit, op: Operating, sev: float, g: np.random.Generator
                         ) -> dsp.Mix:
    """A cracked discharge reed: gas blows back into one cylinder while it compresses — a
    hiss pulsing once per revolution — and the lost compression unbalances the gas forces
    (1x and 2x rise)."""
    d = _detail(unit, "valve_leak")
    psi = d.uniform(0, 2 * np.pi, 2)
    pulse = np.maximum(np.cos(op.phi - psi[0]), 0.0) ** 4
    if unit.machine.kind == "scroll":  # the discharge check valve leaks more evenly
        pulse = 0.5 + 0.5 * pulse
    pressure = np.sqrt(op.ratio / 10.0) * op.r**2
    hiss = dsp.noise_from_shape(g, _shape(op.n, op.fs, 2500.0, 9000.0), op.n, 1.0)
    tones = np.cos(op.phi + psi[1]) + 0.5 * np.cos(2 * op.phi + psi[0])
    src = sev * _comp(unit, op) * pressure * (1.6 * hiss * pulse + 0.3 * tones)
    return compressor_sound.at_mic(unit, dsp.Mix(op.n).add(src), op.fs)


def valve_knock(unit: Unit, op: Operating, sev: float, g: np.random.Generator) -> dsp.Mix:
    """A broken valve spring: the reed slams its seat (or the scroll's tip knocks) once per
    revolution, a sharp tick ringing the valve plate, with a little timing scatter."""
    d = _detail(unit, "valve_knock")
    f0 = unit.machine.valve_hz * d.uniform(0.9, 1.2)
    if unit.machine.kind == "scroll":
        f0 *= 0.5
    idx = dsp.crossings(op.phi / (2 * np.pi) + d.random())
    jitter = g.normal(0, 0.01 * op.fs / max(op.shaft_hz, 1.0), idx.size)
    idx = idx + np.rint(jitter).astype(np.int64)
    peak = sev * _comp(unit, op) * 3.0 * op.r[np.clip(idx, 0, op.n - 1)] ** 2
    peak = peak * np.exp(g.normal(0, 0.25, idx.size))
    modes = _modes(op.n, op.fs, ((f0, 20.0, 1.0), (0.55 * f0, 10.0, 0.5)))
    src = dsp.ring_spec(op.n, idx, _area(peak, f0, 20.0), modes, op.fs)
    return compressor_sound.at_mic(unit, dsp.Mix(op.n).add_spec(src), op.fs)


def liquid_floodback(unit: Unit, op: Operating, sev: float, g: np.random.Generator
                     ) -> dsp.Mix:
    """Liquid refrigerant returning to the suction: slugs hammer the cylinders on random
    revolutions (worst just after a defrost) and liquid gurgles in the suction line."""
    after = np.exp(-op.since_drip_s / 900.0) if op.since_drip_s >= 0 else 0.0
    chance = min(1.0, sev * (0.2 + 0.5 * after))
    revs = dsp.crossings(op.phi / (2 * np.pi))
    hits = revs[g.random(revs.size) < chance]
    hard = 1.0 if unit.machine.kind == "recip" else 0.4  # a scroll's compliance gives way
    peak = sev * hard * _comp(unit, op) * 7.0 * op.r[hits] ** 2
    peak = peak * np.exp(g.normal(0, 0.4, hits.size))
    f1 = unit.machine.shell[1][0]
    modes = _modes(op.n, op.fs, ((f1, 8.0, 1.0), (180.0, 3.0, 0.7)))
    knocks = dsp.ring_spec(op.n, hits, _area(peak, f1, 8.0), modes, op.fs)
    burble = dsp.noise_from_shape(g, _shape(op.n, op.fs, 200.0, 1500.0), op.n, 1.0)
    knots = np.abs(g.standard_normal(int(op.n / op.fs * 8) + 2))  # the gurgle swells at ~8 Hz
    swell = np.interp(op.t, np.linspace(0.0, op.n / op.fs, knots.size), knots)
    gurgle = sev * _comp(unit, op) * 0.35 * op.r * burble * swell
    return compressor_sound.at_mic(unit, dsp.Mix(op.n).add(gurgle).add_spec(knocks), op.fs)


def refrigerant_leak(unit: Unit, op: Operating, sev: float, g: np.random.Generator
                     ) -> dsp.Mix:
    """A leak at a flare or braze joint hisses (still, more softly, at standstill pressure),
    and the short charge makes flash gas bubble through the liquid line while running."""
    level = unit.machine.level / unit.mic.distance_m
    pressure = 0.5 + 0.5 * op.r
    hiss = dsp.noise_from_shape(g, _shape(op.n, op.fs, 4000.0, 12000.0), op.n, 1.0)
    bubbles = g.poisson(sev * 40.0 * op.n / op.fs * float(op.r.mean()))
    idx = g.integers(0, op.n, bubbles)
    peaks = sev * level * 0.8 * np.exp(g.normal(0, 0.5, bubbles))
    modes = _modes(op.n, op.fs, ((900.0, 5.0, 1.0),))
    gurgle = dsp.ring_spec(op.n, idx, _area(peaks, 900.0, 5.0), modes, op.fs)
    return dsp.Mix(op.n).add(sev * level * 0.14 * pressure * hiss).add_spec(gurgle)


def bearing_wear(unit: Unit, op: Operating, sev: float, g: np.random.Generator) -> dsp.Mix:
    """A spalled outer race in the motor-end bearing: impacts at BPFO ring the shell's high
    mode, over a rise of high-frequency roughness pulsing with the shaft."""
    orders = bearing.frequencies(unit)
    idx = dsp.crossings(op.phi / (2 * np.pi) * orders.bpfo)
    idx = idx + np.rint(g.normal(0, 0.003 * op.fs / max(op.shaft_hz, 1.0), idx.size)).astype(int)
    f0 = unit.machine.shell[3][0]
    peak = sev * _comp(unit, op) * 1.2 * op.r[np.clip(idx, 0, op.n - 1)] ** 2
    modes = _modes(op.n, op.fs, ((f0, 15.0, 1.0),))
    impacts = dsp.ring_spec(op.n, idx, _area(peak, f0, 15.0), modes, op.fs)
    rough = dsp.noise_from_shape(g, _shape(op.n, op.fs, 2000.0, 8000.0), op.n, 1.0)
    rough *= sev * _comp(unit, op) * 0.09 * op.r**2 * (0.7 + 0.3 * np.cos(op.phi))
    return compressor_sound.at_mic(unit, dsp.Mix(op.n).add(rough).add_spec(impacts), op.fs)


def loose_mounting(unit: Unit, op: Operating, sev: float, g: np.random.Generator
                   ) -> dsp.Mix:
    """Loose hold-down bolts or collapsed mounts: the body rocks and bangs its frame on most
    revolutions, its motion truncated (harmonics and a half-order), and a loose cover buzzes
    with the motor's 2x-line hum."""
    d = _detail(unit, "loose")
    revs = dsp.crossings(op.phi / (2 * np.pi) + d.random())
    hits = revs[g.random(revs.size) < 0.5 + 0.4 * sev]
    f_lo, f_hi = unit.machine.shell[0][0], unit.machine.shell[1][0]
    peak = sev * _comp(unit, op) * 1.5 * op.r[hits] ** 2 * np.exp(g.normal(0, 0.3, hits.size))
    modes = _modes(op.n, op.fs, ((f_lo, 10.0, 1.0), (f_hi, 10.0, 0.6), (1800.0, 15.0, 0.4)))
    bangs = dsp.ring_spec(op.n, hits, _area(peak, f_lo, 10.0), modes, op.fs)
    rock = np.clip(np.cos(op.phi), -1.0, 0.3) + 0.3 * np.maximum(np.cos(op.phi / 2), 0.0) ** 3
    buzz = np.clip(3.0 * np.cos(2 * op.line_phase), -1.0, 1.0) * op.energised
    src = sev * _comp(unit, op) * (0.25 * op.r**2 * rock + 0.06 * buzz)
    return compressor_sound.at_mic(unit, dsp.Mix(op.n).add(src).add_spec(bangs), op.fs)


def stator_winding_fault(unit: Unit, op: Operating, sev: float, g: np.random.Generator
                         ) -> dsp.Mix:
    """Shorted turns / phase imbalance: unbalanced magnetic pull strengthens the 2x-line hum
    and local saturation adds its higher even harmonics; worst during the start inrush."""
    if not op.energised.any():
        return dsp.Mix(op.n)
    lp = op.line_phase
    inrush = op.energised * (1.0 - op.r)
    amp = sev * unit.machine.level * unit.machine.hum * 2.0 * (op.energised + 2.0 * inrush)
    wave = np.cos(2 * lp + 0.3) + 0.5 * np.cos(4 * lp + 1.1) + 0.35 * np.cos(6 * lp + 2.3)
    if 8 * op.line_hz < 0.45 * op.fs:
        wave = wave + 0.25 * np.cos(8 * lp + 0.7) + 0.15 * np.cos(10 * lp + 1.9)
    return compressor_sound.at_mic(unit, dsp.Mix(op.n).add(amp * wave), op.fs)


def broken_rotor_bar(unit: Unit, op: Operating, sev: float, g: np.random.Generator
                     ) -> dsp.Mix:
    """Cracked rotor bars: torque and magnetic pull pulse at the pole-pass frequency
    (2 x slip x supply), so the motor's hum and the shaft sound beat at a few hertz."""
    m = unit.machine
    slip = max(1.0 - op.shaft_hz * (m.poles / 2) / op.line_hz, 0.005)
    pole_pass = 2.0 * slip * op.line_hz
    psi = float(_detail(unit, "rotor").uniform(0, 2 * np.pi))
    beat = np.cos(2 * np.pi * pole_pass * op.t + psi)
    motor = compressor_sound.hum(unit, op) + compressor_sound.mechanical(unit, op)
    return compressor_sound.at_mic(unit, dsp.Mix(op.n).add(sev * 0.6 * beat * motor), op.fs)


def condenser_fan_damage(unit: Unit, op: Operating, sev: float, g: np.random.Generator
                         ) -> dsp.Mix:
    """A bent or cracked condenser-fan blade: the wheel runs out of balance and one blade
    tip rubs the shroud once per turn (a scrape), and the odd blade splits the blade-pass
    tone into (B +/- 1) x fan speed."""
    m = unit.machine
    if not op.fan.any():
        return dsp.Mix(op.n)
    set_speed = op.fan_hz / (m.fan_rpm / 60.0)
    level = sev * m.level * m.fan_level * (set_speed * op.fan) ** 2.5
    psi = float(_detail(unit, "fan").uniform(0, 2 * np.pi))
    scrape = dsp.noise_from_shape(g, _shape(op.n, op.fs, 1500.0, 7000.0), op.n, 1.0)
    scrape *= np.maximum(np.cos(op.fan_phase - psi), 0.0) ** 8
    b = m.fan_blades
    split = np.cos((b - 1) * op.fan_phase + psi) + np.cos((b + 1) * op.fan_phase - psi)
    throb = np.cos(op.fan_phase + psi) + 0.5 * np.cos(2 * op.fan_phase)
    return dsp.Mix(op.n).add(level * (6.0 * scrape + 0.8 * split + 0.8 * throb))


def evaporator_fan_squeal(unit: Unit, op: Operating, sev: float, g: np.random.Generator
                          ) -> dsp.Mix:
    """A dry unit-cooler fan bearing: stick-slip squeal (a narrow tone that wanders and
    flutters, intermittent while mild) over a rumble; it runs whenever the fans do,
    compressor or not, and stops for a defrost."""
    if not op.evap.any():
        return dsp.Mix(op.n)
    d = _detail(unit, "squeal")
    hz, rate, psi = d.uniform(1800, 4500), d.uniform(0.1, 0.4), d.uniform(0, 2 * np.pi)
    t = op.t + (op.t0 % 3600.0)  # keep the wander continuous across windows
    wobble = 0.02 / (2 * np.pi * rate) * np.sin(2 * np.pi * rate * t + psi)
    ph = 2 * np.pi * hz * (t + wobble)
    tone = np.sin(ph) + (0.3 * np.sin(2 * ph) if 2 * hz < 0.45 * op.fs else 0.0)
    gate = (0.5 + 0.5 * np.sin(2 * np.pi * 0.15 * t + psi)) ** (3.0 * (1.0 - sev))
    flutter = 0.7 + 0.3 * np.sin(2 * np.pi * 7.0 * t)
    rumble = dsp.noise_from_shape(g, _shape(op.n, op.fs, 200.0, 800.0), op.n, 1.0)
    level = sev * unit.machine.level * unit.machine.evap_level * op.evap**2
    return dsp.Mix(op.n).add(level * (1.6 * tone * gate * flutter + 0.5 * rumble))


FAULTS: dict[str, Fault] = {
    "discharge_valve_leak": discharge_valve_leak,
    "valve_knock": valve_knock,
    "liquid_floodback": liquid_floodback,
    "refrigerant_leak": refrigerant_leak,
    "bearing_wear": bearing_wear,
    "loose_mounting": loose_mounting,
    "stator_winding_fault": stator_winding_fault,
    "broken_rotor_bar": broken_rotor_bar,
    "condenser_fan_damage": condenser_fan_damage,
    "evaporator_fan_squeal": evaporator_fan_squeal,
}
NAMES: tuple[str, ...] = tuple(FAULTS)
RUN_INDEPENDENT = ("refrigerant_leak", "evaporator_fan_squeal")  # audible at standstill


def contribution(name: str, unit: Unit, op: Operating, sev: float, g: np.random.Generator
                 ) -> dsp.Mix:
    """The fault's sound at the microphone, to be added to the healthy sound."""
    return FAULTS[name](unit, op, sev, g)
