"""A monitored compressor on a rack, drawn from its device id and a seed: the machine, its
motor and drive, its bearing, the rack around it, the room and the sensors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gateway.devtools.rackhall.pieces import rng_for

AUDIO_RATES = (16_000, 22_050, 32_000, 44_100, 48_000)
VIB_RATES = (5_120, 10_240, 12_800, 20_480, 25_600)


@dataclass(frozen=True)
class Bearing:
    """Rolling-element bearing (motor end): balls, ball/pitch diameter ratio, contact angle."""
    balls: int
    ratio: float  # d / D
    contact_deg: float

    def orders(self) -> dict[str, float]:
        """Defect frequencies in orders of shaft speed (outer race fixed)."""
        c = self.ratio * np.cos(np.radians(self.contact_deg))
        return {"bpfo": self.balls / 2 * (1 - c), "bpfi": self.balls / 2 * (1 + c),
                "bsf": (1 - c * c) / (2 * self.ratio), "ftf": (1 - c) / 2}


@dataclass(frozen=True)
class Neighbour:
    """Another compressor on the same rack: its stage, machine and how loud it is here."""
    stage: int
    kind: str
    cylinders: int
    fixed_hz: float  # shaft speed when not the inverter lead
    level: float     # amplitude relative to the monitored machine, at the microphone
    coupling: float  # share of its vibration reaching the accelerometer through the frame


@dataclass
class Unit:
    device_id: str
    seed: int
    kind: str              # "recip" (semi-hermetic reciprocating) or "scroll"
    cylinders: int         # recip: 2, 4 or 6; scroll: 1 (one discharge per orbit)
    poles: int
    mains_hz: float
    stage: int             # 0: the inverter-driven lead compressor; k: the k-th fixed stage
    carrier_hz: float      # inverter PWM carrier
    rotor_slots: int
    slip: float
    harmonics: np.ndarray  # rotation comb amplitudes, orders 1..
    housing: list          # (Hz, Q, gain) housing and pipework modes
    valve_hz: float        # valve plate ring (recip) / scroll wrap tone base (scroll)
    bearing: Bearing
    bearing_res_hz: float  # audio: the bearing housing's ring
    vib_res_hz: float      # accelerometer: the structural ring excited by impacts
    part_hz: float         # the loosest part's own ring (a clamp, a guard)
    rack_size: int
    neighbours: list
    fans: int              # condenser fans on the roof
    fan_blades: int
    rt60_s: float
    vent_level: float
    audio_rate: int
    channels: int
    mic_gain: float
    vib_rate: int
    vib_unit: str          # "m/s2" or "g"
    vib_target_mm_s: float  # healthy velocity RMS 10-1000 Hz at mid load
    vib_axes: np.ndarray   # per-axis sensitivity of the healthy response (x, y, z)
    phase_days: float      # this rack's offset in its slow wander
    cache: dict = field(default_factory=dict, compare=False, repr=False)


def _neighbours(rng: np.random.Generator, size: int, stage: int, mains: float) -> list:
    out = []
    for k in range(size):
        if k == stage:
            continue
        kind = "recip" if rng.random() < 0.6 else "scroll"
        poles = 4 if kind == "recip" and rng.random() < 0.7 else 2
        fixed = 2 * mains / poles * (1 - rng.uniform(0.02, 0.045))
        out.append(Neighbour(k, kind, int(rng.choice((2, 4, 6))) if kind == "recip" else 1,
                             fixed, float(rng.uniform(0.08, 0.3)),  # 1.5-4 m away, mic at 0.3 m
                             float(rng.uniform(0.03, 0.15))))
    return out


def _machine(rng: np.random.Generator) -> dict:
    kind = "recip" if rng.random() < 0.55 else "scroll"
    cylinders = int(rng.choice((2, 4, 6))) if kind == "recip" else 1
    orders = np.arange(1, 61)
    envelope = orders ** -rng.uniform(0.5, 1.0) * 10 ** (rng.normal(0, 6, 60) / 20)
    if kind == "recip":  # gas pulsation at the cylinders' firing orders
        envelope[cylinders - 1::cylinders] *= rng.uniform(2.0, 4.0)
    housing = [(float(rng.uniform(lo, hi)), float(rng.uniform(4, 20)), float(rng.uniform(0.4, 1)))
               for lo, hi in ((250, 600), (600, 1400), (1400, 3000), (3000, 6000))]
    return {"kind": kind, "cylinders": cylinders, "harmonics": envelope * 0.02,
            "housing": housing, "valve_hz": float(rng.uniform(2500, 6000)),
            "rotor_slots": int(rng.choice((28, 34, 38, 44))),
            "bearing": Bearing(int(rng.integers(7, 13)), float(rng.uniform(0.16, 0.3)),
                               float(rng.choice((0.0, 0.0, 15.0))))}


def unit_for(device_id: str, seed: int) -> Unit:
    rng = rng_for("rackhall-unit", device_id, seed)
    machine = _machine(rng)
    mains = float(rng.choice((50.0, 60.0)))
    size = int(rng.integers(3, 7))
    stage = 0 if rng.random() < 0.6 else int(rng.integers(1, size))
    vib_rate = int(rng.choice(VIB_RATES))
    return Unit(
        device_id=device_id, seed=seed, mains_hz=mains, stage=stage,
        poles=4 if machine["kind"] == "recip" and rng.random() < 0.7 else 2,
        carrier_hz=float(rng.choice((2500.0, 4000.0, 5000.0, 8000.0))),
        slip=float(rng.uniform(0.02, 0.045)),
        bearing_res_hz=float(rng.uniform(2500, 7000)),
        vib_res_hz=float(min(rng.uniform(1800, 6000), 0.38 * vib_rate)),
        part_hz=float(rng.uniform(700, 2500)), rack_size=size,
        neighbours=_neighbours(rng, size, stage, mains),
        fans=int(rng.integers(2, 7)), fan_blades=int(rng.choice((5, 6, 7, 9))),
        rt60_s=float(rng.uniform(0.5, 1.5)), vent_level=float(rng.uniform(0.002, 0.008)),
        audio_rate=int(rng.choice(AUDIO_RATES)), channels=int(rng.choice((1, 1, 2))),
        mic_gain=float(10 ** (rng.uniform(-9, 6) / 20)), vib_rate=vib_rate,
        vib_unit="g" if rng.random() < 0.3 else "m/s2",
        vib_target_mm_s=float(rng.uniform(0.45, 1.2)),
        vib_axes=rng.uniform(0.6, 1.0, 3) * np.array([1.0, 1.0, 0.6]),
        phase_days=float(rng.uniform(0, 7)), **machine)
