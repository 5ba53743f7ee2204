"""A rolling-element bearing's defect frequencies and the impacts a defect makes.

For a ball bearing with n balls of diameter d on pitch diameter D at contact angle a, turning
at fr with a stationary outer ring (kinematics, no slip):
  BPFO = n/2 fr (1 - d/D cos a)        a ball passes a spot on the outer race
  BPFI = n/2 fr (1 + d/D cos a)        a spot on the inner race passes a ball
  BSF  = D/(2d) fr (1 - (d/D cos a)^2) a ball spins; a spot on it hits a race twice a spin
  FTF  = fr/2 (1 - d/D cos a)          the cage turns
Each impact rings the structure between bearing and accelerometer; what the sensor sees is
that resonance, amplitude-modulated at the defect rate (and, for defects that move through the
load zone, at 1x or the cage rate). Real bearings slip 1-2 %, so impacts are not exactly
periodic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spectral import bin_freqs, cycles_at, impact_response, impulse_train, ringing
from .units import Unit


@dataclass(frozen=True)
class DefectFrequencies:
    bpfo: float
    bpfi: float
    bsf: float
    ftf: float


def defect_frequencies(unit: Unit, shaft_hz: float) -> DefectFrequencies:
    balls, d, pitch, angle = unit.bearing
    ratio = d / pitch * np.cos(np.radians(angle))
    return DefectFrequencies(
        bpfo=balls / 2 * shaft_hz * (1 - ratio),
        bpfi=balls / 2 * shaft_hz * (1 + ratio),
        bsf=pitch / (2 * d) * shaft_hz * (1 - ratio**2),
        ftf=shaft_hz / 2 * (1 - ratio),
    )


def ring_hz(unit: Unit, rate: int) -> float:
    """The structural resonance the impacts excite, kept well under the Nyquist frequency."""
    return min(unit.mount_resonance_hz, 0.38 * rate)


def defect_vibration(unit: Unit, kind: str, shaft_hz: float, t_s: float, frames: int,
                     rate: int, rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Acceleration (m/s2, at severity 1, one axis) of a bearing defect: impacts at the
    defect rate through the mount resonance. kind: "outer", "inner" or "ball"."""
    f = defect_frequencies(unit, shaft_hz)
    if kind == "outer":  # fixed in the load zone: every ball hits it equally hard
        train = impulse_train(rng, frames, rate, f.bpfo, 0.006, t_s)
    elif kind == "inner":  # turns with the shaft, through the load zone once per turn
        train = impulse_train(rng, frames, rate, f.bpfi, 0.006, t_s)
        zone = cycles_at(t_s, frames, rate, shaft_hz)
        train *= 0.25 + 0.75 * (0.5 + 0.5 * np.cos(2 * np.pi * zone))
    else:  # the ball's spot strikes inner and outer race each spin, carried round by the cage
        train = impulse_train(rng, frames, rate, 2 * f.bsf, 0.008, t_s)
        cage = cycles_at(t_s, frames, rate, f.ftf)
        train *= 0.3 + 0.7 * (0.5 + 0.5 * np.cos(2 * np.pi * cage))
    train *= rng.uniform(0.7, 1.0, frames)
    centre = ring_hz(unit, rate)
    q = 15.0
    gain = impact_response(ringing(bin_freqs(frames, rate), centre, q), frames)
    return np.fft.irfft(np.fft.rfft(train) * gain, n=frames) * 1.5  # 1.5 m/s2 peak impacts
