"""The condensing unit's own voice at the microphone: the compressor (rotation and
compression harmonics, valve or discharge impacts, gas noise through the shell), its motor
(mains hum or the inverter's magnetic tones and PWM whine), the condenser fans (blade-pass
series and turbulence, loudness rising with speed^5 in power), refrigerant flow and the
cabinet panels ringing with all of it; start-up and pump-down change it.

Each part comes back separately (`Voice.parts`), with the shaft's and the fans' running
phase, so that faults can act on the part they belong to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.rooftop.operation import PUMP_DOWN_S, Moment
from gateway.devtools.rooftop.pieces import (
    band,
    comb,
    filtered,
    freqs,
    harmonics_below,
    impulses,
    modes_response,
    periodic_times,
    rng,
    running_phase,
    shaped_noise,
    times,
    tone,
)
from gateway.devtools.rooftop.units import Unit

COMPRESSOR_RMS = 0.05  # at the microphone, before its gain
FAN_RMS = 0.03  # at full speed


@dataclass
class Voice:
    parts: dict[str, np.ndarray]
    turns: np.ndarray  # shaft turns over the window (zeros when stopped)
    fan_turns: list[np.ndarray]
    n: int
    rate: int


def compression_amps(unit: Unit, count: int) -> np.ndarray:
    """Harmonic levels of the shaft's pressure and torque pulsation, per family."""
    k = np.arange(1, count + 1, dtype=float)
    if unit.kind.startswith("recip"):  # a pulse per cylinder stroke: rich, strong at N x
        amps = 0.5 / k ** 0.7
        amps[(k % unit.cylinders) == 0] *= 2.5
    elif unit.kind == "scroll":  # continuous compression: smooth, falls fast
        amps = 1.0 / k ** 1.4
    else:  # rolling piston: a large torque swing once (twin: twice) a turn
        amps = 0.8 / k ** 1.1
        amps[(k % unit.cylinders) == 0] *= 1.8
    return amps


def _speed_profile(unit: Unit, moment: Moment, n: int, rate: int,
                   g: np.random.Generator) -> np.ndarray:
    """Per-sample shaft speed: the torque pulsation's small wander, an inverter's ramp."""
    t = times(n, rate)
    wander = 1 + 0.002 * np.sin(2 * np.pi * float(g.uniform(0.3, 1.2)) * t + g.uniform(0, 6.3))
    hz = moment.shaft_hz * wander
    if unit.pwm_hz and moment.since_start_s < 25.0:
        hz = hz * (1 + 0.04 * t / max(1.0, 25.0 - moment.since_start_s))
    return hz


def compressor(unit: Unit, moment: Moment, n: int, rate: int, turns: np.ndarray,
               g: np.random.Generator) -> np.ndarray:
    f = freqs(n, rate)
    count = harmonics_below(moment.shaft_hz, rate / 2, 60)
    amps = compression_amps(unit, count)
    # Normalised by the family's own series (not by the window), so that the pressure
    # ratio's (head's) and an inverter's speed's effect on the level stays in.
    reference = float(np.sqrt(np.sum(amps ** 2) / 2)) or 1.0
    loudness = (0.6 + 0.4 * moment.head) * _speed_loudness(unit, moment)
    tonal = comb(turns, amps * (loudness / reference), g.uniform(0, 2 * np.pi, count))
    per_turn = unit.cylinders
    at = periodic_times(moment.shaft_hz * per_turn, n / rate, float(turns[0]) * per_turn,
                        0.01, g)
    strength = 1.0 if unit.kind.startswith("recip") else 0.35
    kicks = impulses(n, rate, at, strength * g.uniform(0.8, 1.2, at.size))
    valves = filtered(kicks, modes_response(f, unit.valve_modes))
    gas_shape = band(f, 200, 7000, 1.0) * (0.3 + modes_response(f, unit.shell_modes))
    gas = shaped_noise(g, n, rate, gas_shape)
    gas *= 1 + 0.35 * np.cos(2 * np.pi * per_turn * turns)
    gas_level = 0.6 * (0.5 + 0.5 * moment.load) * _speed_loudness(unit, moment)
    if moment.to_stop_s < PUMP_DOWN_S:  # suction pulled down: less gas, a thinner sound
        gas_level *= 0.55
    out = tonal + 0.5 * _norm(valves) + gas_level * gas
    return COMPRESSOR_RMS * out * _start_boost(moment, n, rate)


def _speed_loudness(unit: Unit, moment: Moment) -> float:
    """An inverter unit is quiet at minimum speed and loud flat out (fixed speed: 1)."""
    return (moment.shaft_hz / 60.0) ** 0.7 if unit.pwm_hz else 1.0


def _start_boost(moment: Moment, n: int, rate: int) -> np.ndarray:
    """The first seconds of a run: inrush and the oil foaming with dissolved refrigerant."""
    if moment.since_start_s > 60.0:
        return np.ones(1)
    t = moment.since_start_s + times(n, rate)
    return 1 + 1.2 * np.exp(-t / 4.0)


def motor(unit: Unit, moment: Moment, n: int, rate: int, turns: np.ndarray,
          g: np.random.Generator) -> np.ndarray:
    if not unit.pwm_hz:  # magnetostriction and the rotor's pull: 2x mains and harmonics
        hum = 2 * unit.mains_hz
        lines = [(hum, 1.0), (2 * hum, 0.35), (3 * hum, 0.15)]
        inrush = 1 + 3 * np.exp(-(moment.since_start_s + times(n, rate)) / 0.4)
    else:
        elec = moment.shaft_hz * unit.poles / 2
        lines = [(2 * elec, 0.5), (6 * elec, 0.3), (unit.pwm_hz, 0.25),
                 (unit.pwm_hz - 2 * elec, 0.3), (unit.pwm_hz + 2 * elec, 0.3),
                 (2 * unit.pwm_hz, 0.1)]
        inrush = np.ones(1)
    out = np.zeros(n)
    for hz, amp in lines:
        if hz < 0.45 * rate:
            out += amp * tone(hz, n, rate, float(g.uniform(0, 2 * np.pi)))
    return 0.012 * out * (0.7 + 0.3 * moment.load) * inrush


def fan(unit: Unit, index: int, moment: Moment, n: int, rate: int, turns: np.ndarray,
        g: np.random.Generator) -> np.ndarray:
    spec = unit.fans[index]
    rps = moment.fan_rps[index]
    if rps <= 0:
        return np.zeros(n)
    count = harmonics_below(rps, rate / 2, spec.blades * 6)
    k = np.arange(1, count + 1)
    amps = np.where(k % spec.blades == 0, 1.0 / (k / spec.blades) ** 1.2, 0.02)
    tonal = comb(turns, amps, g.uniform(0, 2 * np.pi, count))
    f = freqs(n, rate)
    turbulence = shaped_noise(g, n, rate, band(f, 60, 1500, 0.8) / np.sqrt(1 + f / 400))
    speed = (rps / spec.rps_max) ** 2.5
    return FAN_RMS * spec.level * speed * (0.8 * _norm(tonal) + turbulence)


def flow(unit: Unit, moment: Moment, n: int, rate: int, g: np.random.Generator) -> np.ndarray:
    """Gas and liquid through the discharge line, receiver and liquid line: a soft hiss."""
    f = freqs(n, rate)
    level = 0.006 * (0.4 + moment.load) * (moment.shaft_hz / 50.0) ** 0.5
    return shaped_noise(g, n, rate, band(f, 800, 9000, 1.0), level)


def voice(unit: Unit, moment: Moment, n: int, rate: int, t_s: float) -> Voice:
    if not moment.running:
        zero = np.zeros(n)
        return Voice({}, zero, [zero for _ in unit.fans], n, rate)
    g = rng("voice", unit.device_id, unit.seed, t_s)
    hz = _speed_profile(unit, moment, n, rate, g)
    turns = running_phase(float(g.random()), hz, n, rate)
    fan_turns = [running_phase(float(g.random()), rps, n, rate) for rps in moment.fan_rps]
    parts = {"compressor": compressor(unit, moment, n, rate, turns, g),
             "motor": motor(unit, moment, n, rate, turns, g),
             "flow": flow(unit, moment, n, rate, g)}
    for i in range(len(unit.fans)):
        parts[f"fan{i}"] = fan(unit, i, moment, n, rate, fan_turns[i], g)
    drive = parts["compressor"] + parts["motor"]
    parts["panels"] = 0.8 * filtered(drive, modes_response(freqs(n, rate), unit.panel_modes))
    return Voice(parts, turns, fan_turns, n, rate)


def _norm(x: np.ndarray) -> np.ndarray:
    level = float(np.sqrt(np.mean(x * x)))
    return x / level if level > 0 else x
