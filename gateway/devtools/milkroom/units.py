"""The fixed parameters of one monitored condensing unit and its farm, drawn from its id.

Everything that does not change from window to window lives here, in frozen dataclasses
(hashable, so per-unit spectra can be cached). unit_for() derives a whole machine, farm
and sensor box from blake2b(device id, seed): the same id always gives the same machine,
different ids give different ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .seeding import stream

AUDIO_RATES = (16_000, 22_050, 44_100, 48_000)
VIB_RATES = (3_200, 5_120, 6_400, 10_240, 12_800, 25_600)
Modes = tuple[tuple[float, float, float], ...]  # (Hz, Q, relative gain)


@dataclass(frozen=True)
class Compressor:
    kind: str  # "reciprocating" | "scroll"
    poles: int  # 2 or 4; synchronous speed is 2 * mains / poles rev/s
    inverter_hz: float  # 0 for direct-on-line; else the inverter's full-load rotor speed
    soft_start: bool
    cylinders: int  # compression events per revolution (1 for a scroll orbit)
    cylinder_spread: tuple[float, ...]  # per-cylinder pulse strength (manufacturing spread)
    rated_slip: float  # slip at rated load; rotation = sync * (1 - slip * load)
    pulse_width: float  # compression pulse width, fraction of a revolution
    orders: tuple[complex, ...]  # mechanical rotation orders 1x.. (imbalance, crank)
    shell: Modes  # shell / housing resonances excited by the valves
    level_db: float  # healthy steady RMS at the microphone, dBFS (distance included)
    second: bool  # a second compressor staged on during pull-down
    second_ratio: float  # its speed relative to the first (beats)


@dataclass(frozen=True)
class Fan:
    count: int
    blades: int
    rot_hz: float  # rotation of the condenser fan motor (4- or 6-pole, slipping)
    outside: bool  # condenser outside through the wall: quieter, duller at the mic
    tone_db: float  # blade-pass tones re the compressor level
    noise_db: float  # broadband fan noise re the compressor level


@dataclass(frozen=True)
class Farm:
    tz_hours: float  # local time = UTC + tz_hours
    mains_hz: float
    milking_hours: tuple[float, ...]  # local start hours, two or three a day
    milking_duration_h: float
    tail_h: float  # pull-down run after milking ends until the tank reaches 4 C
    collect_every: int  # tanker every 1 or 2 days
    collect_phase: int
    collect_delay_h: float  # hours after the morning pull-down ends
    cycle_on_s: float  # thermostat cycling while holding 4 C
    cycle_off_s: float
    ice_bank: bool  # builds ice at night, long night runs
    agitator_period_s: float
    agitator_on_s: float
    agitator_motor_hz: float
    gear_teeth: tuple[int, int]  # first-stage pinion and wheel teeth of the gearbox
    parlour_db: float  # vacuum pump level at the mic during milking, dBFS
    vacuum_kind: str  # "rotary_vane" | "liquid_ring"
    vacuum_hz: float
    vanes: int
    pulsators: int  # pulsators ticking at ~60 cycles/min, half of them in alternation
    pulsation_hz: float
    dust_days: float  # condenser cleaned every this many days; dust raises head pressure
    climate_c: float  # annual mean temperature
    night_db: float  # room noise at night


@dataclass(frozen=True)
class Microphone:
    stereo: bool
    gain_db: float
    dc: float
    self_noise_db: float
    highpass_hz: float  # the MEMS vent's acoustic high-pass
    peak_hz: float  # Helmholtz resonance of the port
    peak_q: float
    distance_m: float
    room_seed: int
    channel2_db: float
    channel2_delay_s: float


@dataclass(frozen=True)
class Bearing:
    balls: int
    ball_mm: float
    pitch_mm: float
    contact_deg: float


@dataclass(frozen=True)
class Accelerometer:
    axes: tuple[float, ...]  # 3x3 rotation, machine (radial H, radial V, axial) -> sensor
    noise: float  # m/s2 RMS per axis
    mount_hz: float
    mount_q: float
    modes: Modes  # structural modes that impacts ring at
    velocity_mm_s: float  # healthy 10-1000 Hz velocity RMS


@dataclass(frozen=True)
class Unit:
    device_id: str
    seed: int
    audio_rate: int
    vib_rate: int
    vib_unit: str
    compressor: Compressor
    fan: Fan
    farm: Farm
    mic: Microphone
    bearing: Bearing
    accel: Accelerometer


def unit_for(device_id: str, seed: int = 0) -> Unit:
    r = stream(seed, device_id, "unit")
    farm = _farm(r)
    return Unit(
        device_id=device_id, seed=seed,
        audio_rate=int(r.choice(AUDIO_RATES)), vib_rate=int(r.choice(VIB_RATES)),
        vib_unit=str(r.choice(["m/s2", "g"])), compressor=_compressor(r, farm.mains_hz),
        fan=_fan(r, farm.mains_hz), farm=farm, mic=_microphone(r), bearing=_bearing(r),
        accel=_accelerometer(r),
    )


def _compressor(r: np.random.Generator, mains: float) -> Compressor:
    kind = "scroll" if r.random() < 0.4 else "reciprocating"
    cylinders = 1 if kind == "scroll" else int(r.choice([1, 2, 2, 4]))
    inverter = kind == "scroll" and r.random() < 0.3
    n_orders = 8
    orders = r.uniform(0.05, 0.4, n_orders) / np.arange(1, n_orders + 1) ** 0.7
    phases = np.exp(2j * np.pi * r.random(n_orders))
    shell = tuple((float(r.uniform(lo, hi)), float(r.uniform(8, 40)), float(r.uniform(0.4, 1)))
                  for lo, hi in ((500, 1100), (1200, 2600), (2800, 5200), (5500, 9000)))
    return Compressor(
        kind=kind, poles=4 if (kind == "reciprocating" and r.random() < 0.25) else 2,
        inverter_hz=float(r.uniform(50, 90)) if inverter else 0.0,
        soft_start=bool(r.random() < 0.3), cylinders=cylinders,
        cylinder_spread=tuple(float(x) for x in r.uniform(0.9, 1.1, cylinders)),
        rated_slip=float(r.uniform(0.025, 0.05)),
        pulse_width=float(r.uniform(0.03, 0.06) if kind == "reciprocating"
                          else r.uniform(0.08, 0.14)),
        orders=tuple(complex(x) for x in orders * phases), shell=shell,
        level_db=float(r.uniform(-28, -17)), second=bool(r.random() < 0.35),
        second_ratio=float(r.uniform(0.992, 1.008)),
    )


def _fan(r: np.random.Generator, mains: float) -> Fan:
    poles = int(r.choice([4, 6, 8]))
    return Fan(count=int(r.choice([1, 2])), blades=int(r.choice([3, 4, 5])),
               rot_hz=2 * mains / poles * float(r.uniform(0.93, 0.97)),
               outside=bool(r.random() < 0.4), tone_db=float(r.uniform(-16, -9)),
               noise_db=float(r.uniform(-12, -6)))


def _farm(r: np.random.Generator) -> Farm:
    three = r.random() < 0.2
    nominal = (4.5, 12.5, 20.0) if three else (5.0, 16.0)
    hours = tuple(float(h + r.uniform(-0.75, 0.75)) for h in nominal)
    mains = 60.0 if r.random() < 0.35 else 50.0
    return Farm(
        tz_hours=float(r.choice([-6, -5, 0, 1, 2, 10, 12])), mains_hz=mains,
        milking_hours=hours, milking_duration_h=float(r.uniform(1.2, 2.5)),
        tail_h=float(r.uniform(0.4, 1.2)), collect_every=int(r.choice([1, 2, 2])),
        collect_phase=int(r.integers(0, 2)), collect_delay_h=float(r.uniform(0.5, 3.0)),
        cycle_on_s=float(r.uniform(180, 480)), cycle_off_s=float(r.uniform(900, 2400)),
        ice_bank=bool(r.random() < 0.25), agitator_period_s=float(r.uniform(900, 1800)),
        agitator_on_s=float(r.uniform(120, 300)),
        agitator_motor_hz=mains / 2 * float(r.uniform(0.93, 0.96)),
        gear_teeth=(int(r.integers(13, 21)), int(r.integers(47, 71))),
        parlour_db=float(r.uniform(-40, -18)),
        vacuum_kind="liquid_ring" if r.random() < 0.3 else "rotary_vane",
        vacuum_hz=mains / 2 * float(r.uniform(0.94, 0.97)), vanes=int(r.choice([4, 5, 6])),
        pulsators=int(r.choice([6, 8, 10, 12, 16])), pulsation_hz=float(r.uniform(0.9, 1.1)),
        dust_days=float(r.uniform(30, 120)), climate_c=float(r.uniform(6, 18)),
        night_db=float(r.uniform(-64, -56)),
    )


def _microphone(r: np.random.Generator) -> Microphone:
    return Microphone(
        stereo=bool(r.random() < 0.3), gain_db=float(r.uniform(-2, 2)),
        dc=float(r.uniform(-0.0008, 0.0008)), self_noise_db=float(r.uniform(-78, -68)),
        highpass_hz=float(r.uniform(40, 150)), peak_hz=float(r.uniform(9000, 16000)),
        peak_q=float(r.uniform(1.5, 4)), distance_m=float(r.uniform(0.5, 3)),
        room_seed=int(r.integers(0, 2**31)), channel2_db=float(r.uniform(-3, 1)),
        channel2_delay_s=float(r.uniform(-4e-4, 4e-4)),
    )


def _bearing(r: np.random.Generator) -> Bearing:
    pitch = float(r.uniform(30, 60))
    return Bearing(balls=int(r.integers(7, 13)), ball_mm=pitch * float(r.uniform(0.14, 0.24)),
                   pitch_mm=pitch, contact_deg=float(r.choice([0.0, 0.0, 15.0, 25.0])))


def _accelerometer(r: np.random.Generator) -> Accelerometer:
    # A stud-mounted box sits roughly square to the shell but never exactly: a random axis
    # permutation with signs, then a tilt of a few degrees.
    perm = np.eye(3)[r.permutation(3)] * r.choice([-1.0, 1.0], 3)[:, None]
    a, b, c = r.normal(0, 0.08, 3)
    tilt = _rotation(a, b, c)
    modes = ((float(r.uniform(600, 1400)), float(r.uniform(10, 25)), 1.0),
             (float(r.uniform(1500, 3000)), float(r.uniform(10, 30)), 0.8),
             (float(r.uniform(3500, 9000)), float(r.uniform(12, 30)), 0.6))
    return Accelerometer(axes=tuple(float(x) for x in (tilt @ perm).ravel()),
                         noise=float(r.uniform(0.005, 0.02)),
                         mount_hz=float(r.uniform(4000, 12000)),
                         mount_q=float(r.uniform(5, 15)), modes=modes,
                         velocity_mm_s=float(r.uniform(0.7, 2.0)))


def _rotation(a: float, b: float, c: float) -> np.ndarray:
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rz = np.array([[cc, -sc, 0], [sc, cc, 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx)
