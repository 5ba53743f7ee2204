"""The machines of a cold room's condensing unit: the compressor (four families), its bearing
kinematics and the fans, as frozen descriptions drawn per unit, plus the compressor's gas
pulsation as a series of shaft orders.

Families (what makes each one sound like itself):
- reciprocating (semi-hermetic, 2/4/6 cylinders, usually a 4-pole motor): one gas pulse per
  cylinder per revolution, suction and discharge reed valves slamming shut and open, so
  impacts ring the valve plate several times a revolution;
- rotary (rolling piston, 2-pole): one compression per revolution, a strong 1x gas torque,
  a single discharge valve, the vane sliding in its slot;
- scroll (2-pole): a nearly sinusoidal compression (continuous pockets), weak tip contact,
  mostly low orders;
- screw (twin rotor, 2-pole): one discharge per male lobe, a strong lobe-pass tone and its
  harmonics, little impact."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.coldroom.pieces import Mode

FAMILIES = ("reciprocating", "rotary", "scroll", "screw")


@dataclass(frozen=True)
class Bearing:
    """A rolling-element bearing on the motor/compressor shaft (the non-drive end)."""
    balls: int
    ball_mm: float
    pitch_mm: float
    contact_deg: float

    def orders(self) -> dict[str, float]:
        """Defect frequencies as multiples of shaft speed (outer race fixed, inner turning)."""
        r = self.ball_mm / self.pitch_mm * np.cos(np.radians(self.contact_deg))
        return {"bpfo": self.balls / 2 * (1 - r), "bpfi": self.balls / 2 * (1 + r),
                "bsf": self.pitch_mm / (2 * self.ball_mm) * (1 - r * r),
                "ftf": 0.5 * (1 - r)}


@dataclass(frozen=True)
class Fan:
    """An axial fan: its own induction motor's speed, blade count, uneven blade spacing (real
    fans space blades unevenly to spread the blade-pass tone) and levels (Pa at 1 m)."""
    blades: int
    hz: float
    tone_pa: float
    broadband_pa: float
    pitch_jitter: tuple[float, ...]  # each blade's angular offset, fraction of a blade pitch

    def orders(self, count: int) -> np.ndarray:
        """Complex amplitudes of the fan's rotation orders: a pulse per blade passing."""
        k = np.arange(count)
        angles = (np.arange(self.blades) + np.array(self.pitch_jitter)) / self.blades
        pulses = np.exp(-2j * np.pi * np.outer(k, angles)).sum(axis=1) / self.blades
        envelope = 1.0 / (1.0 + (k / (3.0 * self.blades)) ** 2)  # blade pulse width
        out = pulses * envelope * self.tone_pa
        out[0] = 0
        return out


@dataclass(frozen=True)
class Machine:
    family: str
    events: int  # compressions per shaft revolution
    event_angles: tuple[float, ...]  # where each one discharges, fraction of a revolution
    event_weights: tuple[float, ...]  # cylinder-to-cylinder unevenness
    pulse_width: float  # width of a gas pulse, fraction of a revolution
    level_pa: float  # the compressor's airborne level at 1 m, RMS
    impact_pa: float  # peak of one valve/contact impact at 1 m
    valve_ring: tuple[float, float]  # (Hz, Q) of the valve plate / contact ring
    shell_modes: tuple[Mode, ...]  # the housing's radiating modes
    pipe_modes: tuple[Mode, ...]  # discharge and suction line acoustic resonances
    flow_pa: float  # broadband gas-flow noise, Pa/sqrt(Hz) at 1 kHz at full load
    bearing: Bearing

    def gas_orders(self, count: int, weights: np.ndarray | None = None) -> np.ndarray:
        """Gas pulsation as complex shaft-order amplitudes, normalised to unit RMS for the
        healthy cylinder weights (other `weights`: one cylinder pumping less, same scale)."""
        healthy = self._pulses(count, np.array(self.event_weights))
        norm = np.sqrt(0.5 * np.sum(np.abs(healthy) ** 2))
        return (healthy if weights is None else self._pulses(count, weights)) / norm

    def _pulses(self, count: int, weights: np.ndarray) -> np.ndarray:
        k = np.arange(count)
        phasors = (weights * np.exp(-2j * np.pi * np.outer(k, self.event_angles))).sum(axis=1)
        out = phasors * np.exp(-0.5 * (k * self.pulse_width * 2.0) ** 2)  # Gaussian pulses
        out[0] = 0
        return out

    def impact_angles(self) -> np.ndarray:
        """Where valves (or contacts) hit in a revolution; reciprocating: discharge and
        suction valves of each cylinder, half a revolution apart."""
        angles = np.array(self.event_angles)
        if self.family == "reciprocating":
            return np.concatenate([angles + 0.02, angles + 0.52]) % 1.0
        return angles % 1.0


def draw_bearing(rng: np.random.Generator) -> Bearing:
    balls = int(rng.integers(7, 13))
    ball = float(rng.uniform(7.0, 14.0))
    return Bearing(balls, ball, float(ball * rng.uniform(3.3, 5.5)), float(rng.choice([0, 0,
                   rng.uniform(10, 25)])))


def draw_fan(rng: np.random.Generator, poles: int, mains_hz: float, scale: float) -> Fan:
    blades = int(rng.choice([3, 4, 5, 5, 6, 7]))
    slip = rng.uniform(0.04, 0.12)  # small shaded-pole / PSC fan motors slip a lot
    return Fan(blades, float(2 * mains_hz / poles * (1 - slip)),
               float(scale * rng.uniform(0.05, 0.25)), float(scale * rng.uniform(2e-4, 8e-4)),
               tuple(float(j) for j in rng.uniform(-0.12, 0.12, blades)))


def _modes(rng, count: int, lo: float, hi: float, q: tuple[float, float],
           gain: tuple[float, float]) -> tuple[Mode, ...]:
    centres = np.sort(np.exp(rng.uniform(np.log(lo), np.log(hi), count)))
    return tuple((float(c), float(rng.uniform(*q)), float(rng.uniform(*gain))) for c in centres)


def draw_machine(rng: np.random.Generator) -> Machine:
    family = str(rng.choice(FAMILIES, p=[0.4, 0.2, 0.25, 0.15]))
    if family == "reciprocating":
        events = int(rng.choice([2, 4, 4, 6]))
        angles = np.arange(events) / events
        width, impact, ring = rng.uniform(0.05, 0.09), rng.uniform(0.25, 0.6), (
            rng.uniform(1500, 4200), rng.uniform(12, 30))
    elif family == "rotary":
        events, angles = 1, np.zeros(1)
        width, impact, ring = rng.uniform(0.12, 0.2), rng.uniform(0.08, 0.2), (
            rng.uniform(2500, 6000), rng.uniform(15, 35))
    elif family == "scroll":
        events, angles = 1, np.zeros(1)
        width, impact, ring = rng.uniform(0.25, 0.4), rng.uniform(0.01, 0.04), (
            rng.uniform(1800, 5000), rng.uniform(10, 25))
    else:
        events = int(rng.choice([4, 5]))
        angles = np.arange(events) / events
        width, impact, ring = rng.uniform(0.02, 0.04), rng.uniform(0.01, 0.03), (
            rng.uniform(2000, 5000), rng.uniform(10, 20))
    level = rng.uniform(0.15, 0.6)
    return Machine(
        family, events, tuple(float(a) for a in angles + rng.uniform(-0.01, 0.01, events)),
        tuple(float(w) for w in 1 + rng.uniform(-0.08, 0.08, events)), float(width),
        float(level), float(level * impact), (float(ring[0]), float(ring[1])),
        _modes(rng, int(rng.integers(4, 8)), 180, 6000, (4, 25), (0.5, 3.0)),
        _modes(rng, int(rng.integers(2, 4)), 60, 900, (8, 30), (0.3, 1.5)),
        float(level * rng.uniform(1.5e-3, 4e-3)), draw_bearing(rng))


def blade_orders(fan: Fan, count: int, blade: int) -> np.ndarray:
    """One blade's share of Fan.orders: what changes when that blade is damaged."""
    k = np.arange(count)
    angle = (blade + fan.pitch_jitter[blade]) / fan.blades
    envelope = 1.0 / (1.0 + (k / (3.0 * fan.blades)) ** 2)
    out = np.exp(-2j * np.pi * k * angle) / fan.blades * envelope * fan.tone_pa
    out[0] = 0
    return out
