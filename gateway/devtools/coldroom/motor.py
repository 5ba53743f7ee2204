"""The induction motor and the mains: synchronous speed from poles and mains frequency, slip
proportional to load torque (below breakdown), the mains' own slow wander, the magnetic hum
(twice mains and its even harmonics, from Maxwell forces and magnetostriction) and the rotor
slot whine (slot passing +- twice mains), and the speed profile of a window that contains a
start (direct-on-line run-up) or a stop (run-down against the gas load)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Motor:
    mains_hz: float  # nominal, 50 or 60
    poles: int
    rated_slip: float  # slip at rated load
    rotor_bars: int
    hum_pa: float  # twice-mains hum at 1 m, Pa amplitude
    slot_pa: float  # rotor slot whine at 1 m
    runup_s: float  # direct-on-line start to full speed
    mains_phase: float  # where this site's mains wander is

    def sync_hz(self, mains_hz: float) -> float:
        return 2.0 * mains_hz / self.poles

    def slip(self, load: float) -> float:
        return self.rated_slip * load

    def shaft_hz(self, load: float, mains_hz: float) -> float:
        return self.sync_hz(mains_hz) * (1.0 - self.slip(load))


def mains_at(motor: Motor, t_s: float) -> float:
    """The grid's frequency wanders by a few hundredths of a hertz over minutes."""
    slow = np.sin(2 * np.pi * t_s / 1800.0 + motor.mains_phase)
    fast = np.sin(2 * np.pi * t_s / 237.0 + 2.1 * motor.mains_phase)
    return motor.mains_hz * (1.0 + 4e-4 * slow + 2e-4 * fast)


def speed_profile(motor: Motor, shaft_hz: float, t: np.ndarray, start_at_s: float | None,
                  stop_at_s: float | None) -> np.ndarray:
    """Shaft speed (Hz) over the window's sample times: steady, or a run-up from rest after
    `start_at_s` (a first-order-looking rise with the torque hump), or a run-down after
    `stop_at_s` (the gas load brakes a compressor to rest within ~0.2-0.5 s)."""
    speed = np.full(t.shape, shaft_hz)
    if start_at_s is not None:
        since = t - start_at_s
        rise = np.clip(since / motor.runup_s, 0.0, 1.0)
        speed *= np.where(since < 0, 0.0, 1.0 - (1.0 - rise) ** 2.5)
    if stop_at_s is not None:
        after = np.clip((t - stop_at_s) / (0.6 * motor.runup_s + 0.15), 0.0, 1.0)
        speed *= 1.0 - after ** 0.7
    return speed


def inrush(motor: Motor, t: np.ndarray, start_at_s: float | None) -> np.ndarray:
    """Extra magnetic hum during a start: the locked-rotor current is ~6x rated, the
    magnetic force ~ current squared, decaying as the motor comes up to speed."""
    if start_at_s is None:
        return np.zeros(t.shape)
    since = t - start_at_s
    return np.where(since < 0, 0.0, 8.0 * np.exp(-np.maximum(since, 0) / (0.5 * motor.runup_s)))


def hum_lines(motor: Motor, mains_hz: float, shaft_hz: float) -> list[tuple[float, float]]:
    """(frequency, amplitude) of the motor's healthy tonal lines."""
    lines = [(2 * mains_hz * h, motor.hum_pa * a) for h, a in ((1, 1.0), (2, 0.35), (3, 0.2),
                                                               (4, 0.08))]
    slot = motor.rotor_bars * shaft_hz
    lines += [(slot - 2 * mains_hz, motor.slot_pa), (slot + 2 * mains_hz, 0.7 * motor.slot_pa),
              (slot, 0.3 * motor.slot_pa)]
    return lines


def draw_motor(rng: np.random.Generator, family: str) -> Motor:
    mains = float(rng.choice([50.0, 60.0], p=[0.65, 0.35]))
    poles = 4 if family == "reciprocating" and rng.random() < 0.8 else 2
    return Motor(mains, poles, float(rng.uniform(0.025, 0.05)), int(rng.choice([28, 32, 34,
                 38, 40, 44])), float(rng.uniform(0.02, 0.08)), float(rng.uniform(0.005, 0.03)),
                 float(rng.uniform(0.25, 0.6)), float(rng.uniform(0, 2 * np.pi)))
