"""Each unit's physics, drawn once from its id and a seed, and its slow behaviour: the duty
cycle and the healthy drift over days."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

AUDIO_FAULTS = ("bearing", "leak", "rattle", "imbalance", "electrical")
VIBRATION_FAULTS = ("bearing_outer", "bearing_inner", "bearing_ball", "imbalance",
                    "misalignment")
AUDIO_RATES = (16_000, 44_100, 48_000)
VIBRATION_RATES = (3_200, 6_400)
DAY_S = 86_400.0
GRAVITY = 9.80665


@dataclass(frozen=True)
class Bearing:
    balls: int
    ratio: float  # ball diameter / pitch diameter, contact angle 0

    def orders(self) -> dict[str, float]:
        """Defect frequencies as multiples of the shaft speed (standard kinematics)."""
        r = self.ratio
        return {"bpfo": self.balls / 2 * (1 - r), "bpfi": self.balls / 2 * (1 + r),
                "bsf": (1 - r * r) / (2 * r), "ftf": (1 - r) / 2}


@dataclass(frozen=True)
class Unit:
    device_id: str
    seed: int
    mains_hz: float
    poles: int
    slip: float
    compressor: str  # "reciprocating" | "scroll"
    cylinders: int
    harmonics: tuple[float, ...]  # relative amplitude of shaft order 1, 2, ...
    harmonic_phases: tuple[float, ...]
    levels: dict  # RMS of each healthy part relative to the machine level
    flow_beta: float
    modes: tuple[tuple[float, float, float], ...]  # housing (Hz, Q, gain)
    fan_hz: float
    fan_blades: int
    fan_when_off: bool
    rotor_bars: int
    room_beta: float
    gain: float  # machine RMS at the microphone, full scale = 1
    audio_rate: int
    duty: tuple[float, float, float]  # on s, off s, phase s
    drift: tuple[tuple[float, float, float], ...]  # (amplitude, period s, phase) x 3 per quantity
    bearing: Bearing
    bearing_res_hz: float  # what bearing impacts ring at the microphone
    leak_band: tuple[float, float]
    rattle_modes: tuple[float, float]
    transient_rate: float  # chance a window holds a room transient
    vib_rate: int
    vib_axis_gain: tuple[float, float, float]
    vib_1x: float  # 1x acceleration amplitude, m/s2
    vib_res_hz: float  # bearing/structure resonance seen by the accelerometer

    @property
    def shaft_hz(self) -> float:
        """Nominal shaft speed: synchronous speed less the slip."""
        return self.mains_hz * 2 / self.poles * (1 - self.slip)


def device_rng(device_id: str, seed: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(device_id.encode()), *more])


def unit_for(device_id: str, seed: int = 0) -> Unit:
    """The physics of one unit, fixed by its id and the seed."""
    rng = device_rng(device_id, seed)
    recip = bool(rng.random() < 0.6)
    count = 24 if recip else 10
    slope = rng.uniform(0.5, 1.1) if recip else rng.uniform(1.4, 2.4)
    harmonics = rng.lognormal(0, 0.5, count) * np.arange(1, count + 1) ** -slope
    cylinders = int(rng.integers(1, 5)) if recip else 1
    if recip:
        harmonics[cylinders - 1] *= 2.5  # valve/piston pass: the strongest line
    levels = {"tonal": rng.uniform(0.4, 0.7) if recip else rng.uniform(0.25, 0.45),
              "impacts": rng.uniform(0.25, 0.45) if recip else 0.0,
              "flow": rng.uniform(0.25, 0.4) if recip else rng.uniform(0.4, 0.6),
              "fan": rng.uniform(0.08, 0.35), "hum": rng.uniform(0.01, 0.05),
              "room": rng.uniform(0.04, 0.2)}
    modes = tuple((float(f), float(rng.uniform(8, 40)), float(rng.uniform(0.4, 1.0)))
                  for f in np.sort(rng.uniform(250, 4500, int(rng.integers(2, 5)))))
    balls = int(rng.integers(7, 13))
    leak_lo = rng.uniform(2500, 5000)
    return Unit(
        device_id=device_id, seed=seed, mains_hz=float(rng.choice([50.0, 60.0])),
        poles=int(rng.choice([2, 4], p=[0.3, 0.7])), slip=float(rng.uniform(0.01, 0.05)),
        compressor="reciprocating" if recip else "scroll", cylinders=cylinders,
        harmonics=tuple(float(h) for h in harmonics / np.sqrt(np.sum(harmonics ** 2))),
        harmonic_phases=tuple(float(p) for p in rng.uniform(0, 2 * np.pi, count)),
        levels=levels, flow_beta=float(rng.uniform(0.3, 1.2)), modes=modes,
        fan_hz=float(rng.uniform(14, 24)), fan_blades=int(rng.integers(3, 8)),
        fan_when_off=bool(rng.random() < 0.4), rotor_bars=int(rng.integers(26, 47)),
        room_beta=float(rng.uniform(0.8, 1.6)), gain=float(10 ** (rng.uniform(-32, -20) / 20)),
        audio_rate=int(rng.choice(AUDIO_RATES)),
        duty=(float(rng.uniform(480, 1500)), float(rng.uniform(240, 1200)),
              float(rng.uniform(0, 3000))),
        drift=tuple((float(a), float(rng.uniform(1.2, 6.5) * DAY_S if i else DAY_S),
                     float(rng.uniform(0, 2 * np.pi)))
                    for a in (0.6, 0.15e-2, 0.5e-2) for i in range(3)),
        bearing=Bearing(balls, float(rng.uniform(0.15, 0.3))),
        bearing_res_hz=float(rng.uniform(2500, 6500)),
        leak_band=(float(leak_lo), float(min(leak_lo * rng.uniform(1.6, 2.4), 7600))),
        rattle_modes=(float(rng.uniform(900, 2500)), float(rng.uniform(2500, 5000))),
        transient_rate=float(rng.uniform(0.02, 0.08)),
        vib_rate=int(rng.choice(VIBRATION_RATES)),
        vib_axis_gain=_three(float(g) for g in rng.uniform(0.5, 1.2, 3)),
        vib_1x=float(rng.uniform(0.5, 1.5) * 2 * np.pi * 25 * 1e-3),  # 0.5-1.5 mm/s at 25 Hz
        vib_res_hz=float(rng.uniform(600, 1300)),
    )


# --- slow behaviour: duty cycle and drift ---------------------------------------------------


def _three(values: Iterable[float]) -> tuple[float, float, float]:
    a, b, c = values
    return a, b, c


def running_at(unit: Unit, t_s: float) -> bool:
    """Whether the compressor runs at time t_s: fixed period, each cycle's on time jittered."""
    on_s, off_s, phase = unit.duty
    cycle, position = divmod(t_s + phase, on_s + off_s)
    jitter = 0.8 + 0.4 * (zlib.crc32(f"{unit.device_id}/{unit.seed}/{int(cycle)}".encode())
                          / 2 ** 32)
    return bool(position < min(on_s * jitter, (on_s + off_s) * 0.95))


def drift_at(unit: Unit, t_s: float) -> tuple[float, float, float]:
    """(level dB, speed factor, resonance factor) of healthy drift at t_s: sums of slow sines
    (one daily, two of 1-6.5 days), so they wander a little and return."""
    values = [sum(a * np.sin(2 * np.pi * t_s / period + phase)
                  for a, period, phase in unit.drift[3 * q:3 * q + 3]) for q in range(3)]
    return float(values[0]), 1.0 + float(values[1]), 1.0 + float(values[2])
