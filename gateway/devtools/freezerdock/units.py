"""The fleet: what makes one compressor, its sensor box and its corner of the site unique.

Everything a window needs to know about a unit is drawn here once, from a Generator seeded by
(seed, device_id), and frozen into small hashable dataclasses that the other modules read and
cache on. The ranges are what one finds across the plant rooms of a frozen-food distribution
centre: 4-pole semi-hermetic reciprocating compressors and 2-pole scrolls, fixed speed on 50 or
60 Hz mains or inverter driven, condensers integrated or remote, sensor boxes bolted at
different distances with different microphones and accelerometers. ``seed`` is the site: the
weather and the time zone depend on it alone, so every unit of one site sees the same sky.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import seeding

AUDIO_RATES = (16000, 22050, 44100, 48000)
VIB_RATES = (3200, 5120, 6400, 10240, 12800, 25600)


@dataclass(frozen=True)
class Machine:
    """The compressor, its motor, its fans and its bearing."""

    kind: str  # "recip" (semi-hermetic reciprocating) | "scroll"
    cylinders: int  # compression events per revolution (1 for a scroll)
    mains_hz: float
    poles: int
    inverter: bool
    drive_hz: tuple[float, float]  # inverter output range (min, max); mains for fixed speed
    slip: float  # full-load slip of the induction motor
    rotor_bars: int
    tau_up_s: float  # start: direct-on-line motors are up to speed in a fraction of a second
    tau_down_s: float  # stop: gas load brakes the shaft quickly
    timbre: int  # seed for the harmonic mix, so it is drawn once per unit
    level: float  # acoustic level of the compressor at 1 m (full scale at 0 dB mic gain)
    hum: float  # magnetic hum relative to the mechanical sound
    shell: tuple[tuple[float, float, float], ...]  # acoustic shell/pipe modes (Hz, Q, gain)
    valve_hz: float  # valve-plate ring
    pwm_hz: float  # inverter carrier (0 without an inverter)
    fan_blades: int
    fan_rpm: float  # condenser fan top speed
    fan_level: float  # condenser fan relative to the compressor (remote ones are far away)
    evap_blades: int
    evap_rpm: float
    evap_level: float  # unit-cooler fans heard through the penthouse
    bearing: tuple[int, float, float, float]  # balls, ball d mm, pitch D mm, contact deg


@dataclass(frozen=True)
class Mic:
    """The box's microphone: where it is, how it hears, how it digitises."""

    channels: int
    distance_m: float
    gain_db: float
    hp_hz: float  # MEMS capsules roll off the bass
    lp_frac: float  # anti-alias corner as a fraction of the sample rate
    peak_hz: float  # capsule/port resonance
    peak_db: float
    tilt_db: float  # facing away from the compressor loses its treble
    spacing_s: float  # stereo capsules' acoustic delay difference
    pair_db: float  # second capsule's sensitivity mismatch
    dc: tuple[float, float]
    noise_dbfs: float
    knee: float  # analogue front end compresses above this (1.0: hard ADC clip only)
    site_db: float  # how loud the dock is in this plant room, relative to the compressor
    rain_db: float  # roof exposure


@dataclass(frozen=True)
class Plan:
    """The unit's duty: what it cools and how its controller cycles and defrosts it."""

    role: str  # "freezer" (-25 C chamber) | "chill_dock"
    tz_s: float  # site local time offset
    defrost: str  # "electric" | "hot_gas" | "off_cycle"
    defrosts_per_day: int
    defrost_offset_h: float
    heat_s: float
    drip_s: float
    fan_delay_s: float
    pulldown_s: float
    cycle_s: float
    cycle_phase_s: float
    base_load: float
    temp_coef: float
    door_coef: float
    fouling_days: float  # condenser cleaning interval
    fouling_phase: float
    min_speed: float  # inverter minimum as a fraction of top speed


@dataclass(frozen=True)
class Accel:
    """The accelerometer and the structure it is bolted to."""

    rotation: tuple[float, ...]  # 3x3 row-major, machine (H, V, A) to box (x, y, z)
    noise_g: float  # noise density, g/sqrt(Hz)
    mount_hz: float
    resonances: tuple[tuple[float, float, float], ...]  # structural modes (Hz, Q, gain)
    one_x: float  # residual imbalance at 1x, m/s2 at 25 Hz shaft speed
    rumble: float  # floor-borne site noise, m/s2 rms


@dataclass(frozen=True)
class Unit:
    """One monitored compressor and its sensor box; frozen and hashable."""

    device_id: str
    seed: int
    audio_rate: int
    vib_rate: int
    vib_unit: str
    machine: Machine
    mic: Mic
    plan: Plan
    accel: Accel


def _machine(g: np.random.Generator) -> Machine:
    kind = "recip" if g.random() < 0.6 else "scroll"
    mains = 50.0 if g.random() < 0.6 else 60.0
    if kind == "recip":
        poles = 4 if g.random() < 0.8 else 2
        cylinders = int(g.choice([2, 4, 4, 6, 6, 8]))
    else:
        poles = 2 if g.random() < 0.9 else 4
        cylinders = 1
    inverter = bool(g.random() < 0.35)
    drive = (float(g.uniform(25, 35)), float(g.uniform(60, 75))) if inverter else (mains, mains)
    shell = tuple(
        (float(f), float(g.uniform(6, 25)), float(g.uniform(0.5, 3.0)))
        for f in np.sort(g.uniform([250, 700, 1500, 3000], [600, 1400, 3000, 6000]))
    )
    balls = int(g.integers(7, 15))
    pitch = float(g.uniform(40, 110))
    return Machine(
        kind=kind, cylinders=cylinders, mains_hz=mains, poles=poles, inverter=inverter,
        drive_hz=drive, slip=float(g.uniform(0.02, 0.05)), rotor_bars=int(g.choice([22, 28, 34])),
        tau_up_s=float(g.uniform(1.5, 3.5) if inverter else g.uniform(0.12, 0.35)),
        tau_down_s=float(g.uniform(0.25, 0.7)), timbre=int(g.integers(2**62)),
        level=float(10 ** (g.uniform(-30, -24) / 20)), hum=float(g.uniform(0.15, 0.6)),
        shell=shell, valve_hz=float(g.uniform(2500, 6000)),
        pwm_hz=float(g.uniform(2500, 8000)) if inverter else 0.0,
        fan_blades=int(g.choice([3, 4, 5, 6])), fan_rpm=float(g.uniform(600, 1400)),
        fan_level=float(10 ** (g.uniform(-22, -4) / 20)),
        evap_blades=int(g.choice([3, 4, 5])), evap_rpm=float(g.uniform(1300, 1450)),
        evap_level=float(10 ** (g.uniform(-32, -14) / 20)),
        bearing=(balls, pitch * float(g.uniform(0.16, 0.28)), pitch, float(g.uniform(0, 15))),
    )  # fmt: skip


def _mic(g: np.random.Generator, machine: Machine) -> Mic:
    distance = float(np.exp(g.uniform(np.log(0.3), np.log(2.5))))
    # The installer sets the gain for the unit in front of them, so healthy running lands
    # between about -45 and -12 dBFS, with a few boxes set hot enough to clip on a pallet drop.
    target = g.uniform(-44, -16) if g.random() < 0.88 else g.uniform(-15, -4)
    at_mic = 20 * math.log10(machine.level / distance)
    stereo = g.random() < 0.3
    return Mic(
        channels=2 if stereo else 1, distance_m=distance, gain_db=float(target - at_mic),
        hp_hz=float(g.uniform(20, 120)), lp_frac=float(g.uniform(0.40, 0.46)),
        peak_hz=float(g.uniform(9000, 16000)), peak_db=float(g.uniform(0, 6)),
        tilt_db=float(g.uniform(-8, 1)), spacing_s=float(g.uniform(1e-4, 6e-4)) if stereo else 0.0,
        pair_db=float(g.uniform(-1.5, 1.5)),
        dc=(float(g.uniform(-0.01, 0.01)), float(g.uniform(-0.01, 0.01))),
        noise_dbfs=float(g.uniform(-88, -66)), knee=float(g.choice([1.0, 1.0, 1.0, 0.7, 0.85])),
        site_db=float(g.uniform(-26, -6)), rain_db=float(g.uniform(-30, -8)),
    )  # fmt: skip


def _plan(g: np.random.Generator, site: np.random.Generator, machine: Machine) -> Plan:
    role = "freezer" if g.random() < 0.7 else "chill_dock"
    if role == "freezer":
        defrost = "electric" if g.random() < 0.6 else "hot_gas"
        per_day = int(g.choice([3, 4, 4, 6]))
    else:
        defrost, per_day = "off_cycle", int(g.choice([2, 3, 4]))
    heat = {"electric": (1200, 2400), "hot_gas": (600, 1200), "off_cycle": (900, 1800)}[defrost]
    return Plan(
        role=role, tz_s=float(site.choice([-6, -5, 0, 1, 2])) * 3600.0, defrost=defrost,
        defrosts_per_day=per_day, defrost_offset_h=float(g.uniform(0, 24 / per_day)),
        heat_s=float(g.uniform(*heat)), drip_s=float(g.uniform(120, 300)),
        fan_delay_s=float(g.uniform(60, 240)), pulldown_s=float(g.uniform(480, 1500)),
        cycle_s=float(g.uniform(480, 1800)), cycle_phase_s=float(g.uniform(0, 1800)),
        base_load=float(g.uniform(0.4, 0.6) if role == "freezer" else g.uniform(0.3, 0.5)),
        temp_coef=float(g.uniform(0.1, 0.3)), door_coef=float(g.uniform(0.1, 0.35)),
        fouling_days=float(g.uniform(30, 120)), fouling_phase=float(g.random()),
        min_speed=float(machine.drive_hz[0] / machine.drive_hz[1]),
    )  # fmt: skip


def _rotation(g: np.random.Generator) -> tuple[float, ...]:
    # Boxes are bolted square to some face of the shell, so start from a signed permutation,
    # then tilt by up to 20 degrees (curved shells, brackets); one in five sits at any angle.
    if g.random() < 0.8:
        base = np.eye(3)[g.permutation(3)] * g.choice([-1.0, 1.0], 3)[:, None]
        angles = np.radians(g.uniform(-20, 20, 3))
    else:
        base = np.eye(3)
        angles = g.uniform(-np.pi, np.pi, 3)
    a, b, c = angles
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return tuple(float(v) for v in (rz @ ry @ rx @ base).ravel())


def _accel(g: np.random.Generator) -> Accel:
    modes = np.sort(g.uniform([600, 1800, 4500], [1300, 4000, 8000]))
    return Accel(
        rotation=_rotation(g), noise_g=float(10 ** g.uniform(np.log10(2e-5), np.log10(2e-4))),
        mount_hz=float(g.uniform(5000, 12000)),
        resonances=tuple((float(f), float(g.uniform(10, 30)), float(g.uniform(0.6, 1.4)))
                         for f in modes),
        one_x=float(g.uniform(0.05, 0.35)), rumble=float(g.uniform(0.005, 0.04)),
    )  # fmt: skip


def unit_for(device_id: str, seed: int = 0) -> Unit:
    """The unit behind a device id at a site; the same (id, seed) always gives an equal unit."""
    if not isinstance(device_id, str) or not device_id:
        raise ValueError(f"device_id must be a non-empty string, got {device_id!r}")
    seed = int(seed)
    g = seeding.rng(seed, device_id, "unit")
    site = seeding.rng(seed, "", "site")
    machine = _machine(g)
    return Unit(
        device_id=device_id, seed=seed, audio_rate=int(g.choice(AUDIO_RATES)),
        vib_rate=int(g.choice(VIB_RATES)), vib_unit="g" if g.random() < 0.4 else "m/s2",
        machine=machine, mic=_mic(g, machine), plan=_plan(g, site, machine), accel=_accel(g),
    )  # fmt: skip
