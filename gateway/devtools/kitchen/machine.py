"""The unit's own voice at the microphone, part by part: the compressor's pulsation comb and
valve impacts ringing its shell, gas noise through the shell, the motor's magnetic tones
(or an inverter's PWM whine), the condenser fan's blade-pass and turbulence, refrigerant
flow, the ice machine's water and harvests, the evaporator fan through the cabinet wall,
and the click, growl and thump of a start or a stop.

Levels are sound pressure in Pa at the microphone, from each part's level at 1 m and the
box's distance (spherical spreading, +3 dB of build-up inside a housing).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gateway.devtools.kitchen import pieces as P
from gateway.devtools.kitchen.operation import Moment
from gateway.devtools.kitchen.units import Unit


def distance_gain(unit: Unit, extra_m: float = 0.0) -> float:
    r = max(0.25, unit.distance_m + extra_m)
    return (1.41 if unit.place == "housing" else 1.0) / r


def _cached(unit: Unit, key: tuple, make: Callable[[], np.ndarray], shelf: str = "machine",
            limit: int = 32) -> np.ndarray:
    cache = unit.cache.setdefault(shelf, {})
    if key not in cache:
        if len(cache) >= limit:
            cache.clear()
        cache[key] = make()
    return cache[key]


def shell_response(unit: Unit, fr: P.Frame) -> np.ndarray:
    return _cached(unit, ("shell", fr.n, fr.rate),
                   lambda: P.modal_response(fr.f, unit.shell_modes, fr.rate))


def _compressor_amplitudes(unit: Unit, f0: float, count: int) -> np.ndarray:
    """Harmonic k of the shaft rate: gas pulsation (strongest at the cylinder rate for a
    reciprocating pump), radiated by a small shell that is inefficient below ~300 Hz and
    amplified near its cavity and shell modes."""
    k = np.arange(1, count + 1, dtype=float)
    if unit.compressor == "recip":
        a = k ** -1.0 * np.where(k % unit.cylinders == 0, 3.0, 1.0)
    elif unit.compressor == "rotary":
        a = k ** -1.1 * np.where(k == 1, 2.5, 1.0)
    else:
        a = k ** -1.5
    fk = k * f0
    radiation = (fk / 300.0) ** 2 / (1.0 + (fk / 300.0) ** 2)
    cavity, q, gain = unit.shell_modes[0]
    shell = 1.0 + 3.0 * gain * P.resonance(fk, cavity, q)
    return a * (0.3 + radiation) * shell


COMB_STEP_HZ = 0.5  # speeds sharing one table's harmonic amplitudes


def _comb(unit: Unit, name: str, f0: float, fr: P.Frame, count: int,
          amps: Callable[[int, float], np.ndarray]) -> np.ndarray:
    """A remembered period table of up to `count` harmonics, unit RMS. The amplitudes
    (amps(harmonics, speed)) change slowly with speed, so one table serves a 0.5 Hz step of
    speeds, computed at the step's centre: the same whichever window asks first."""
    step = round(f0 / COMB_STEP_HZ)
    centre = step * COMB_STEP_HZ

    def make() -> np.ndarray:
        n = P.harmonic_limit(centre + COMB_STEP_HZ, fr.rate, count)
        phases = P.rng("phases", unit.device_id, unit.seed, name).uniform(0, 2 * np.pi, count)
        a = amps(n, centre)
        return P.comb_table(a / np.sqrt(np.sum(a * a) / 2), phases[:n]).astype(np.float32)
    return _cached(unit, (name, step, fr.rate), make, "combs", 96)


def shaft_phase(unit: Unit, t_s: float) -> float:
    """Where the crank is at the window's start (in revolutions), shared by every part."""
    return P.uniforms(1, "shaft", unit.device_id, unit.seed, t_s)[0]


def compressor_level(unit: Unit) -> float:
    """The compressor's sound pressure at the box, Pa."""
    return P.spl(unit.level_db) * distance_gain(unit)


def compressor_comb(unit: Unit, f0: float, fr: P.Frame, phase: float) -> np.ndarray:
    """The compressor's tone series at shaft rate f0, unit RMS."""
    table = _comb(unit, "compressor", f0, fr, 60,
                  lambda n, f: _compressor_amplitudes(unit, f, n))
    return P.play_comb(table, f0 * fr.t + phase)


def compressor(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix,
               level: float) -> None:
    p = compressor_level(unit) * level
    f0 = m.shaft_rps
    phase = shaft_phase(unit, fr.t_s)
    mix.time += 0.5 * p * compressor_comb(unit, f0, fr, phase)
    valve_share = 0.5 if unit.compressor == "recip" else 0.2
    mix.spec += valve_impacts(unit, f0, phase, fr, g, valve_share * p)
    gas = _cached(unit, ("gas", fr.n, fr.rate), lambda: (
        np.abs(shell_response(unit, fr)) + 0.15 * fr.pink(200.0)) * fr.band(60, 12_000))
    gas_share = 0.5 if unit.compressor == "scroll" else 0.3
    mix.add_noise(gas, gas_share * p * m.head)


def valve_times(unit: Unit, f0: float, phase: float, duration: float,
                g: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """When each valve strikes (discharge reed on its stop, suction reed closing) in the
    window: once per cylinder per revolution each, with a little scatter."""
    per_rev = [(j / unit.cylinders + off) % 1.0 for j in range(unit.cylinders)
               for off in (0.05, 0.42)] if unit.compressor == "recip" else [0.3]
    revs = np.arange(-1, int(duration * f0) + 2)
    times = ((revs[:, None] + np.array(per_rev)[None, :] - phase) / f0).ravel()
    times = times + g.normal(0, 2e-4, times.size)
    keep = (times >= 0) & (times < duration)
    amps = g.uniform(0.8, 1.2, times.size)
    return times[keep], amps[keep]


def valve_impacts(unit: Unit, f0: float, phase: float, fr: P.Frame, g: np.random.Generator,
                  rms: float) -> np.ndarray:
    times, amps = valve_times(unit, f0, phase, fr.n / fr.rate, g)
    spec = P.ring_spectrum(fr.n, fr.rate, times, amps, shell_response(unit, fr))
    return P.scaled(spec, fr.n, rms)


def motor(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix,
          level: float) -> None:
    """Magnetic forces at twice the line frequency and its harmonics, and the rotor slot
    whine (R x shaft +- line); on an inverter, the PWM carrier and its sidebands."""
    p = P.spl(unit.level_db) * distance_gain(unit) * level
    if unit.inverter:
        fe = 2.0 * m.shaft_rps  # a 4-pole brushless motor
        carrier = float(P.rng("pwm", unit.device_id, unit.seed).uniform(3000, 8000))
        for f, a in ((6 * fe, 0.08), (carrier, 0.05), (carrier - 2 * fe, 0.03),
                     (carrier + 2 * fe, 0.03)):
            if f < 0.45 * fr.rate:
                mix.time += P.tone(f * fr.t + g.random(), a * p * 1.41)
        return
    hum = _comb(unit, "hum", m.mains_hz, fr, 6,
                lambda n, f: np.array([0, 1.0, 0, 0.4, 0, 0.25][:n]))
    mix.time += 0.12 * p * P.play_comb(hum, m.mains_hz * fr.t + g.random())
    for sign in (-1, 1):
        f = unit.rotor_bars * m.shaft_rps + sign * m.mains_hz
        if f < 0.45 * fr.rate:
            mix.time += P.tone(f * fr.t + g.random(), 0.03 * p * 1.41)


def _fan_amplitudes(blades: int, n: int) -> np.ndarray:
    k = np.arange(1, n + 1)
    bpf = np.where(k % blades == 0, (k / blades) ** -1.5, 0.0)
    return bpf + np.where(k == 1, 0.08, 0.02 / k)


def fan_level(unit: Unit) -> float:
    return P.spl(unit.fan_level_db) * distance_gain(unit, 0.2)


def fan_phase(unit: Unit, t_s: float) -> float:
    return P.uniforms(1, "fan", unit.device_id, unit.seed, t_s)[0]


def condenser_fan(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix,
                  level: float) -> None:
    """Blade-pass tones over the shaft's own order, turbulence peaking a few hundred Hz, and
    a shaded-pole motor's loud hum at twice the line."""
    p = fan_level(unit) * level
    b = unit.fan_blades
    table = _comb(unit, "fan", m.fan_rps, fr, 8 * b, lambda n, f: _fan_amplitudes(b, n))
    mix.time += 0.5 * p * P.play_comb(table, m.fan_rps * fr.t + fan_phase(unit, fr.t_s))
    turb = fr.shape(("fan-turbulence",), lambda: fr.resonance(350.0, 0.6) * fr.pink(100.0)
                    + 0.05 * fr.band(50, 8000))
    mix.add_noise(turb, 0.7 * p)
    if unit.fan_motor == "shaded_pole":
        mix.time += P.tone(2 * m.mains_hz * fr.t + g.random(), 0.35 * p * 1.41)
        mix.time += P.tone(4 * m.mains_hz * fr.t + g.random(), 0.1 * p * 1.41)


def evaporator_fan_on(unit: Unit, m: Moment) -> bool:
    if unit.kind in ("walkin_cooler", "walkin_freezer"):
        return not m.defrost  # runs through the off cycles; a freezer's stops to defrost
    return m.running and unit.kind != "ice_machine"


def evaporator_fan(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator,
                   mix: P.Mix) -> None:
    """Heard through the cabinet or cold-room wall: a faint blade-pass hum."""
    if not evaporator_fan_on(unit, m):
        return
    near = unit.place in ("housing", "kitchen")
    p = P.spl(40.0 if near else 30.0)
    f0 = unit.evap_fan_rps * m.mains_hz / unit.mains_hz
    b = unit.evap_blades
    table = _comb(unit, "evap", f0, fr, 4 * b, lambda n, f: _fan_amplitudes(b, n))
    mix.time += 0.5 * p * P.play_comb(table, f0 * fr.t + g.random())
    mix.add_noise(fr.band(150, 2500), 0.5 * p)


def refrigerant_flow(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator,
                     mix: P.Mix) -> None:
    """Liquid and flash gas through the expansion device while running; after a stop, the
    pressures equalising through a capillary for a minute or so."""
    p = P.spl(unit.level_db) * distance_gain(unit)
    hiss = fr.band(2000, 9000)
    if m.running:
        mix.add_noise(hiss, 0.05 * p)
    elif unit.kind in ("undercounter", "reachin", "ice_machine") and m.since_s < 120:
        mix.add_noise(hiss, 0.12 * p * np.exp(-m.since_s / 30.0))
