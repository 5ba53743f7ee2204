"""A condensing unit and its surroundings drawn from (device id, seed): the compressor
family and its motor, the main bearing's geometry, the condenser fans, the cabinet's panel
and shell modes, the rubber mounting, the duty cycle's settings, the neighbours in the row,
the site and the sensor box (microphone, accelerometer, rates, units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gateway.devtools.rooftop.pieces import rng

AUDIO_RATES = (16_000, 22_050, 32_000, 44_100, 48_000)
VIB_RATES = (5_120, 10_240, 12_800, 25_600)
KINDS = ("rotary_inverter", "scroll", "recip_hermetic", "recip_semi")


@dataclass(frozen=True)
class Bearing:
    """Defect frequencies as multiples of the shaft speed, from the rolling geometry."""

    balls: int
    ratio: float  # ball diameter / pitch diameter, times cos(contact angle)
    bpfo: float
    bpfi: float
    bsf: float
    ftf: float


def bearing(balls: int, ball_over_pitch: float, contact_deg: float) -> Bearing:
    r = ball_over_pitch * math.cos(math.radians(contact_deg))
    return Bearing(balls, r, balls / 2 * (1 - r), balls / 2 * (1 + r),
                   (1 / (2 * ball_over_pitch)) * (1 - r * r), 0.5 * (1 - r))


@dataclass(frozen=True)
class Fan:
    """An axial condenser fan: EC (speed follows head pressure) or fixed-speed PSC."""

    blades: int
    ec: bool
    rps_max: float  # PSC: its only speed
    rps_min: float
    level: float  # blade-pass loudness relative to the unit's compressor
    cuts_in_c: float  # the second fan of a pair runs only above this ambient


@dataclass(frozen=True)
class Neighbour:
    """Another unit in the row: its own cycles, speeds and distance (a level, a low-pass)."""

    seed: int
    shaft_hz: float
    fan_rps: float
    blades: int
    period_s: float
    phase_s: float
    level: float
    corner_hz: float


@dataclass(frozen=True)
class Unit:
    device_id: str
    seed: int
    audio_rate: int
    channels: int
    vib_rate: int
    vib_unit: str  # "m/s2" or "g", as the box sends it
    kind: str
    mains_hz: float
    poles: int
    slip: float  # at full load (fixed-speed induction motors)
    speed_min: float  # inverter shaft speeds, rps (fixed speed: both the synchronous speed)
    speed_max: float
    pwm_hz: float  # inverter carrier (0 for fixed speed)
    cylinders: int  # compressions per revolution (scroll and rotary: 1)
    bearing: Bearing
    fans: tuple[Fan, ...]
    panel_modes: tuple[tuple[float, float, float], ...]  # (Hz, Q, gain)
    shell_modes: tuple[tuple[float, float, float], ...]
    valve_modes: tuple[tuple[float, float, float], ...]  # valve reeds / discharge chamber
    mount_hz: tuple[float, float, float]  # rubber grommets, per axis
    vib_levels: tuple[float, float, float]  # 1x, 2x, blade/compression mm/s RMS
    period_s: float  # nominal on/off cycle length of the thermostat / pressure switch
    min_run_s: float
    min_off_s: float
    cycle_phase_s: float
    utc_offset_h: float  # local time, for opening hours and the sun
    climate_c: float  # the site's mean ambient over the week
    neighbours: tuple[Neighbour, ...]
    hvac: bool  # a roof-top air handler nearby
    exhaust: bool  # a kitchen exhaust fan nearby
    traffic: float
    birds: float
    mic_gain: float
    mic_lp_hz: float
    mic_hp_hz: float
    mic_floor: float
    clean_s: float  # when the condenser coil was last cleaned (fouling grows from then)


def unit_for(device_id: str, seed: int) -> Unit:
    g = rng("rooftop-unit", device_id, seed)
    kind = KINDS[int(g.integers(len(KINDS)))]
    mains = float(g.choice([50.0, 60.0]))
    motor = _motor(g, kind, mains)
    audio_rate = int(g.choice(AUDIO_RATES))
    return Unit(
        device_id=device_id, seed=seed, audio_rate=audio_rate,
        channels=int(g.choice([1, 1, 2])), vib_rate=int(g.choice(VIB_RATES)),
        vib_unit=str(g.choice(["m/s2", "g"])), kind=kind, mains_hz=mains, **motor,
        bearing=bearing(int(g.integers(7, 13)), float(g.uniform(0.17, 0.28)),
                        float(g.uniform(0, 15))),
        fans=_fans(g, mains),
        panel_modes=_modes(g, 5, 70, 700, 12, 40),
        shell_modes=_modes(g, 3, 1500, 6500, 20, 60),
        valve_modes=_modes(g, 2, 900, 4500, 8, 20),
        mount_hz=(float(g.uniform(9, 16)), float(g.uniform(9, 16)), float(g.uniform(14, 24))),
        vib_levels=(float(g.uniform(0.45, 0.9)), float(g.uniform(0.15, 0.4)),
                    float(g.uniform(0.1, 0.3))),
        period_s=float(g.uniform(900, 2400)), min_run_s=float(g.uniform(180, 300)),
        min_off_s=float(g.uniform(180, 300)), cycle_phase_s=float(g.uniform(0, 2400)),
        utc_offset_h=float(g.choice([-5.0, 0.0, 1.0, 2.0, 10.0])),
        climate_c=float(g.uniform(8, 30)),
        neighbours=tuple(_neighbour(g, mains) for _ in range(int(g.integers(2, 5)))),
        hvac=bool(g.random() < 0.7), exhaust=bool(g.random() < 0.6),
        traffic=float(g.uniform(0.2, 1.0)), birds=float(g.uniform(0.0, 1.0)),
        mic_gain=float(10 ** (g.uniform(-4, 4) / 20)),
        mic_lp_hz=float(min(0.45 * audio_rate, g.uniform(7000, 16000))),
        mic_hp_hz=float(g.uniform(20, 60)), mic_floor=float(g.uniform(2e-4, 6e-4)),
        clean_s=float(1.69e9 + g.uniform(0, 90 * 86400)),
    )


def _motor(g: np.random.Generator, kind: str, mains: float) -> dict:
    if kind == "rotary_inverter":
        return dict(poles=int(g.choice([4, 6])), slip=0.0, speed_min=float(g.uniform(25, 35)),
                    speed_max=float(g.uniform(90, 120)),
                    pwm_hz=float(g.choice([5e3, 8e3, 1e4, 15e3])),
                    cylinders=int(g.choice([1, 2])))  # single or twin rolling piston
    poles = 4 if kind == "recip_semi" else 2
    sync = 2 * mains / poles
    cylinders = {"scroll": 1, "recip_hermetic": int(g.choice([1, 2])),
                 "recip_semi": int(g.choice([2, 4]))}[kind]
    return dict(poles=poles, slip=float(g.uniform(0.025, 0.045)), speed_min=sync,
                speed_max=sync, pwm_hz=0.0, cylinders=cylinders)


def _fans(g: np.random.Generator, mains: float) -> tuple[Fan, ...]:
    ec = bool(g.random() < 0.5)
    psc_rps = 2 * mains / int(g.choice([6, 8])) * (1 - float(g.uniform(0.08, 0.15)))
    blades = int(g.choice([4, 5, 6]))
    count = int(g.choice([1, 1, 2]))
    out = []
    for i in range(count):
        top = float(g.uniform(13, 22)) if ec else psc_rps
        out.append(Fan(blades, ec, top, top * 0.3 if ec else top, float(g.uniform(0.5, 1.0)),
                       -99.0 if i == 0 else float(g.uniform(12, 22))))
    return tuple(out)


def _modes(g: np.random.Generator, count: int, lo: float, hi: float, q_lo: float,
           q_hi: float) -> tuple[tuple[float, float, float], ...]:
    f = np.sort(np.exp(g.uniform(np.log(lo), np.log(hi), count)))
    return tuple((float(x), float(g.uniform(q_lo, q_hi)), float(g.uniform(0.4, 1.0)))
                 for x in f)


def _neighbour(g: np.random.Generator, mains: float) -> Neighbour:
    return Neighbour(seed=int(g.integers(2**31)),
                     shaft_hz=float(g.choice([mains * 0.97, mains * 0.485, g.uniform(30, 90)])),
                     fan_rps=float(g.uniform(9, 18)), blades=int(g.choice([4, 5, 6])),
                     period_s=float(g.uniform(800, 2600)), phase_s=float(g.uniform(0, 2600)),
                     level=float(g.uniform(0.05, 0.3)), corner_hz=float(g.uniform(1500, 5000)))
