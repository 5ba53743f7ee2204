"""What the audio faults are built from: timing along the shaft, rung impacts, band noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dsp import add_at, band, rfft_freqs, shaped_noise, struck_modes
from .frame import Frame
from .keys import rng_for


@dataclass(frozen=True)
class FaultSound:
    """A fault's effect on one window: sound added at the machine, and a gain on the healthy
    sound of the monitored compressor (a dropped contactor, a starved compressor pumping less)."""

    sound: np.ndarray
    machine_gain: np.ndarray | float = 1.0


@dataclass(frozen=True)
class FaultContext:
    frame: Frame
    shaft_phase: np.ndarray  # cycles of the monitored compressor's shaft
    severity: float
    name: str

    def rng(self, part: str) -> np.random.Generator:
        unit = self.frame.unit
        return rng_for("fault", self.name, part, unit.device_id, unit.seed, self.frame.key)

    @property
    def near(self) -> float:
        """Distance law from the compressor to the microphone."""
        return 1.0 / max(self.frame.unit.mic_distance_m, 0.3)

    def noise(self, part: str, lo: float, hi: float, order: int = 2) -> np.ndarray:
        """Unit-RMS band noise of its own seed (never the healthy window's)."""
        shape = band(rfft_freqs(self.frame.n, self.frame.rate), lo, hi, order)
        return shaped_noise(self.rng(part), self.frame.n, shape, 1.0)

    def shaft_times(self, at_rev: float, per_rev: int = 1) -> np.ndarray:
        """Seconds from the window start at which the shaft passes `at_rev` (+ m / per_rev),
        including a few before the window so ringing carries over."""
        hz = self.frame.op.shaft_hz * per_rev
        first = (self.shaft_phase[0] - at_rev) * per_rev
        ks = np.arange(np.floor(first) - 2, np.ceil(first + hz * self.frame.n / self.frame.rate)
                       + 1)
        return (ks - first) / hz


def rev_window(phase: np.ndarray, start: float, stop: float, edge: float = 0.03) -> np.ndarray:
    """A smooth 0..1 gate open between two shaft angles (in revolutions) on every turn."""
    x = (phase - start) % 1.0
    width = (stop - start) % 1.0
    rise = np.clip(x / edge, 0.0, 1.0)
    fall = np.clip((width - x) / edge, 0.0, 1.0)
    return np.minimum(rise, fall)


def rung_impacts(ctx: FaultContext, times: np.ndarray, amps: np.ndarray,
                 modes: tuple[float, ...], decays: tuple[float, ...]) -> np.ndarray:
    """Impacts at the given times, each ringing the given modes; amplitudes per impact."""
    rate = ctx.frame.rate
    out = np.zeros(ctx.frame.n)
    rng = ctx.rng("modes")
    ring = struck_modes(rate, modes, decays, tuple(float(a) for a in rng.uniform(0.5, 1.0,
                                                                                 len(modes))),
                        min(5.0 * max(decays), 0.5))
    for at, amp in zip(times, amps, strict=True):
        if amp != 0.0:
            add_at(out, int(round(at * rate)), amp * ring)
    return out


def dip(phase: np.ndarray, at_rev: float, width_rev: float) -> np.ndarray:
    """A bump of height 1 at one shaft angle each turn (for a missing or changed stroke)."""
    dist = (phase - at_rev + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (dist / width_rev) ** 2)
