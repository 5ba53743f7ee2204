"""The compressor's own voice at the microphone, part by part, in pascals (1 Pa = 94 dB SPL).

- the rotors: lobe-pass pulsation from the discharge port (male lobes x male speed and its
  harmonics, stronger when the slide valve is unloaded far from the built-in volume ratio),
  weak 1x/2x and female-rotor lines, and the gas flow roar through the casing and the
  discharge line (its acoustic modes), partly modulated at lobe pass;
- the motor: 2x line magnetic hum, rotor-slot harmonics, the shaft fan's blade pass, and on a
  VFD the PWM carrier whine with its sidebands; the start (star-delta's run-up and change-over
  surge, a soft-start's ramp, a VFD's slow ramp);
- the oil pump's gear-mesh whine, the economiser port's hiss at high load.

`voice` returns the tonal / modulated part in the time domain and the stationary roar as an
amplitude spectrum, which the microphone model turns into noise without a forward FFT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.screwhall.operation import Moment
from gateway.devtools.screwhall.pieces import band, comb, resonance, rng_for, tones
from gateway.devtools.screwhall.units import Unit

HARMONICS = 160  # of the male rotor's rotation in the rotor comb
VFD_SLIP = 0.012


@dataclass(frozen=True)
class Electrical:
    line_hz: float  # the motor's supply frequency (mains, or the VFD's output)
    slip: float


def electrical(unit: Unit, m: Moment) -> Electrical:
    if unit.fixed_speed:
        return Electrical(unit.mains_hz, max(1e-4, 1 - m.speed_hz / unit.mains_hz))
    return Electrical(m.speed_hz / (1 - VFD_SLIP), VFD_SLIP)


def _rotor_profile(unit: Unit) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit relative amplitudes and phases of the rotation harmonics (fixed by the
    rotor profile and port shape)."""
    key = "rotor_profile"
    if key not in unit.cache:
        rng = rng_for("screwhall-rotor", unit.device_id, unit.seed)
        k = np.arange(1, HARMONICS + 1)
        lobe = k % unit.male_lobes == 0
        order = k / unit.male_lobes
        amps = np.where(lobe, order ** -0.9 * rng.uniform(0.5, 1.5, k.size),
                        0.04 * k ** -0.7 * rng.uniform(0.3, 1.2, k.size))
        amps[0], amps[1] = 0.06, 0.04  # residual unbalance and coupling: 1x, 2x
        unit.cache[key] = (amps, rng.uniform(0, 2 * np.pi, k.size))
    return unit.cache[key]


def speed_profile(unit: Unit, m: Moment, n: int, rate: int) -> np.ndarray:
    """Male rotor speed (Hz) for each sample: flat in a run, a ramp during the start."""
    since = m.since_start_s + np.arange(n) / rate
    ramp_s = {"star_delta": 3.0, "soft_start": 12.0, "vfd": 25.0}[unit.drive]
    if m.since_start_s > ramp_s:
        return np.full(n, m.speed_hz)
    floor = 0.0 if unit.fixed_speed else 0.3
    frac = np.clip(since / ramp_s, 0.0, 1.0)
    return m.speed_hz * (floor + (1 - floor) * np.sqrt(frac))


def start_surge(unit: Unit, m: Moment, n: int, rate: int) -> np.ndarray:
    """How much louder the motor's magnetic noise is (its forces go with the current
    squared): about twice full-load current in star, the change-over surge to delta a few
    seconds in, a soft-start's current limit at ~3x; a VFD starts at low current."""
    since = m.since_start_s + np.arange(n) / rate
    if unit.drive == "star_delta":
        return 1 + 4.0 * (since < 3.0) + 8.0 * np.exp(-np.maximum(since - 6.0, 0) / 0.4) * \
            (since >= 6.0)
    if unit.drive == "soft_start":
        return 1 + 6.0 * np.clip(1 - since / 12.0, 0, 1)
    return np.ones(n)


def rotor_part(unit: Unit, m: Moment, cycles: np.ndarray, speed: float, rate: int
                ) -> np.ndarray:
    amps, phases = _rotor_profile(unit)
    load = m.slide
    mismatch = max(0.0, 0.6 - load)  # over-compression at part load: a harsher pulsation
    scale = 0.6 * (0.55 + 0.45 * load) * (1 + 1.2 * mismatch) * (speed / 50.0) ** 1.5
    shaped = amps.copy()
    lobe = np.arange(1, HARMONICS + 1) % unit.male_lobes == 0
    shaped[lobe] *= 1 + 2.0 * mismatch * np.linspace(0, 1, lobe.sum())  # spikier pulses
    shaped *= scale
    fan = unit.motor_fan_blades  # the motor's shaft fan: its blade pass is a rotation harmonic
    shaped[fan - 1] += 0.15 * (speed / 50.0) ** 2
    shaped[2 * fan - 1] += 0.05 * (speed / 50.0) ** 2
    return comb(shaped, phases, cycles, speed, rate)


def _magnetic(unit: Unit, m: Moment, t: np.ndarray, t_s: float, rate: int) -> np.ndarray:
    e = electrical(unit, m)
    rng = rng_for("screwhall-motor", unit.device_id, unit.seed)
    f2 = 2 * e.line_hz
    slot = unit.rotor_slots * m.speed_hz
    freqs = np.array([f2, 2 * f2, 3 * f2, slot - 2 * e.line_hz, slot + 2 * e.line_hz])
    amps = np.array([0.2, 0.07, 0.03, 0.04, 0.05]) * rng.uniform(0.6, 1.4, 5)
    phases = rng.uniform(0, 2 * np.pi, 5) + 2 * np.pi * np.mod(freqs * t_s, 1.0)
    out = tones(freqs, amps, phases, t, rate)
    if unit.pwm_hz:
        c = unit.pwm_hz
        pf = np.array([c - 2 * e.line_hz, c + 2 * e.line_hz, 2 * c - e.line_hz, 2 * c + e.line_hz])
        pa = np.array([0.02, 0.02, 0.008, 0.008]) * (0.5 + m.speed_hz / unit.speed_max_hz)
        out += tones(pf, pa, rng.uniform(0, 2 * np.pi, 4) + 2 * np.pi * np.mod(pf * t_s, 1), t,
                     rate)
    return out


def oil_pump(unit: Unit, m: Moment, t: np.ndarray, t_s: float, rate: int,
             wear: float = 0.0) -> np.ndarray:
    """Gear-mesh whine (teeth x pump speed, 3 harmonics); older oil, a clogged filter and
    wear (a fault's share) raise it and bring shaft-rate sidebands."""
    mesh = unit.pump_teeth * unit.pump_hz
    level = 0.04 * (1 + 0.25 * m.drift + 2.5 * wear)
    freqs = np.array([mesh, 2 * mesh, 3 * mesh, mesh - unit.pump_hz, mesh + unit.pump_hz])
    amps = level * np.array([1.0, 0.5, 0.2, 0.05 + 0.6 * wear, 0.05 + 0.6 * wear])
    phases = 2 * np.pi * np.mod(freqs * t_s, 1.0) + np.array([0.3, 1.1, 2.0, 0.7, 2.9])
    return tones(freqs, amps, phases, t, rate)


def voice(unit: Unit, m: Moment, t_s: float, n: int, rate: int,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(time-domain tones and modulated parts, amplitude spectrum of the steady roar) at
    1 m; nothing at all while the compressor is stopped."""
    freqs = np.fft.rfftfreq(n, 1 / rate)
    if not m.running:
        return np.zeros(n), np.zeros(freqs.size)
    t = np.arange(n) / rate
    # The gas torque ripples and the supply wanders: the shaft speed breathes by ~0.05 %,
    # which gives high lobe-pass harmonics their width.
    wander = 1 + 5e-4 * np.sin(2 * np.pi * rng.uniform(0.2, 0.8) * t + rng.uniform(0, 6.3))
    speed = speed_profile(unit, m, n, rate) * wander
    cycles = np.mod(m.speed_hz * t_s, 1.0) + np.cumsum(speed) / rate
    out = rotor_part(unit, m, cycles, float(speed.mean()), rate) * gas_factor(unit)
    out += _magnetic(unit, m, t, t_s, rate) * start_surge(unit, m, n, rate)
    out += oil_pump(unit, m, t, t_s, rate)
    lobe_pass = unit.male_lobes * float(speed.mean())
    roar_t = np.fft.irfft(_roar_shape(unit, freqs) * (rng.standard_normal(freqs.size) +
                                                     1j * rng.standard_normal(freqs.size)), n)
    roar_t *= 0.3 * _roar_level(unit, m) * n / np.sqrt(2 * freqs.size)
    # The first seconds churn the oil flooding the rotors while the separator builds
    # pressure: louder broadband than the run that follows.
    churn = 1 + 2.0 * np.exp(-np.maximum(m.since_start_s + np.arange(n) / rate, 0) / 4.0)
    out += roar_t * churn * (1 + 0.6 * np.sin(2 * np.pi * np.mod(lobe_pass * t_s, 1) +
                                      2 * np.pi * lobe_pass * t))
    return out, _roar_level(unit, m) * 0.5 * _steady_shape(unit, m, freqs)


def gas_factor(unit: Unit) -> float:
    """A CO2 stage of a cascade works far denser gas than an ammonia stage: its pulsation
    and flow noise are stronger for the same swept volume."""
    return 1.3 if unit.refrigerant == "CO2/NH3" else 1.0


def _roar_level(unit: Unit, m: Moment) -> float:
    # Mass flow: the slide valve, the speed, and the suction pressure (up while a defrost's
    # warm gas returns, down in the pull-down after it); aged oil seals the rotors worse.
    flow = (0.25 + 0.75 * m.slide ** 0.6) * (1 + 0.15 * m.suction)
    return flow * (m.speed_hz / 50.0) ** 2 * (1 + 0.15 * m.drift) * gas_factor(unit)


def _roar_shape(unit: Unit, freqs: np.ndarray) -> np.ndarray:
    key = ("roar", freqs.size, float(freqs[-1]))
    if key not in unit.cache:
        shape = band(freqs, 250.0, 5000.0, 1.5) / np.sqrt(np.maximum(freqs, 50.0) / 250.0)
        for f0, q in unit.housing_modes:
            shape = shape * (1 + 3.0 * resonance(freqs, f0, q))
        unit.cache[key] = shape / np.sqrt(np.mean(shape ** 2))
    return unit.cache[key]


def _steady_shape(unit: Unit, m: Moment, freqs: np.ndarray) -> np.ndarray:
    """The roar's steady part: casing modes, the discharge line's acoustic modes, and the
    economiser port's hiss when it is open (high load)."""
    key = ("steady", freqs.size, float(freqs[-1]))
    if key not in unit.cache:
        shape = band(freqs, 60.0, 8000.0, 1.2) / np.sqrt(np.maximum(freqs, 60.0) / 200.0)
        for f0 in unit.pipe_modes:
            shape = shape * (1 + 4.0 * resonance(freqs, f0, 12.0))
        shape = shape / np.sqrt(np.mean(shape ** 2))
        eco = band(freqs, 900.0, 6000.0, 2.0)
        unit.cache[key] = (shape, eco / np.sqrt(np.mean(eco ** 2)))
    shape, eco = unit.cache[key]
    if unit.economiser and m.slide > 0.7:
        return shape + 0.3 * (m.slide - 0.7) / 0.3 * eco
    return shape
