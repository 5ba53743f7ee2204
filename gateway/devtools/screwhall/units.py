"""One screw-compressor unit and its engine room, drawn once from (device id, seed).

Everything constant about a unit lives here: the drive (direct-on-line 2-pole motor through a
flexible coupling, or a VFD), the rotor profile (male 4-5 lobes, female 5-7), the motor's
slots and fan, the oil pump, the discharge-end bearings' geometry, the housing's and the
pipework's modes, the room (neighbours, booster, pumps, condenser, fans, reverberation) and
the sensor box (microphone distance and gain, sample rates, vibration unit). Per-window work
caches its spectra in `Unit.cache`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gateway.devtools.screwhall.pieces import rng_for

AUDIO_RATES = (16_000, 22_050, 32_000, 44_100, 48_000)
VIB_RATES = (5_120, 10_240, 12_800, 25_600)
SITES = ("cold_store", "dairy", "meat_plant", "ice_rink")


@dataclass(frozen=True)
class Bearing:
    """A rolling bearing: its defect frequencies as orders of the shaft it carries."""

    rollers: int
    d_over_pitch: float  # rolling element diameter / pitch diameter
    contact_deg: float  # 0 for the cylindrical roller bearing, ~40 for the thrust set

    def _ratio(self) -> float:
        return self.d_over_pitch * float(np.cos(np.radians(self.contact_deg)))

    @property
    def bpfo(self) -> float:
        return self.rollers / 2 * (1 - self._ratio())

    @property
    def bpfi(self) -> float:
        return self.rollers / 2 * (1 + self._ratio())

    @property
    def bsf(self) -> float:
        return (1 - self._ratio() ** 2) / (2 * self.d_over_pitch)

    @property
    def ftf(self) -> float:
        return (1 - self._ratio()) / 2


@dataclass(frozen=True)
class Neighbour:
    """Another screw compressor in the room, heard from metres away."""

    index: int
    speed_hz: float
    lobes: int
    level: float  # of its lobe-pass comb at the microphone, relative to this unit's
    cycles_per_day: int


@dataclass
class Unit:
    device_id: str
    seed: int
    site: str
    refrigerant: str  # "NH3" or "CO2/NH3"
    mains_hz: float
    drive: str  # "star_delta" | "soft_start" | "vfd"
    speed_min_hz: float  # male rotor, at the coupling
    speed_max_hz: float
    male_lobes: int
    female_lobes: int
    rotor_slots: int
    motor_fan_blades: int
    pump_teeth: int
    pump_hz: float  # oil pump motor (4-pole, its own)
    economiser: bool
    pwm_hz: float  # VFD carrier (0 on a fixed-speed unit)
    bearing: Bearing  # discharge-end radial bearing of the male rotor
    thrust: Bearing | None  # discharge-end angular contact set
    housing_modes: tuple[tuple[float, float], ...]  # (Hz, Q) of the casing, audio band
    pipe_modes: tuple[float, ...]  # discharge line's acoustic resonances, Hz
    frame_modes: tuple[tuple[float, float], ...]  # (Hz, Q) at the bearing housing
    cycles_per_day: int
    min_run_s: float
    min_off_s: float
    day_offset_s: float
    utc_offset_h: float  # the site's local time, for its shifts
    defrost_every_h: float
    mic_distance_m: float
    mic_gain_db: float  # dBFS at 94 dB SPL at the capsule
    self_noise: float  # RMS of the box's self-noise, full scale 1
    rt60_s: float
    audio_rate: int
    channels: int
    vib_rate: int
    vib_unit: str  # "m/s2" | "g"
    neighbours: tuple[Neighbour, ...]
    booster_cylinders: int  # 0: no reciprocating booster in this room
    booster_hz: float
    nh3_pumps: int
    condenser_fans: int
    condenser_blades: int
    condenser_fan_hz: float
    vent_blades: int
    vent_hz: float
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def fixed_speed(self) -> bool:
        return self.drive != "vfd"


def _drive(rng: np.random.Generator) -> tuple[str, float, float, float]:
    """(drive, mains Hz, lowest and highest male rotor speed in Hz)."""
    mains = float(rng.choice([50.0, 60.0]))
    drive = str(rng.choice(["star_delta", "soft_start", "vfd"], p=[0.4, 0.25, 0.35]))
    if drive == "vfd":
        return drive, mains, float(rng.uniform(25.0, 30.0)), float(rng.uniform(60.0, 75.0))
    slip = float(rng.uniform(0.008, 0.017))  # large 2-pole motors slip little
    return drive, mains, mains * (1 - slip), mains * (1 - slip)


def _bearings(rng: np.random.Generator) -> tuple[Bearing, Bearing | None]:
    radial = Bearing(int(rng.integers(12, 19)), float(rng.uniform(0.14, 0.22)), 0.0)
    thrust = None
    if rng.random() < 0.6:
        thrust = Bearing(int(rng.integers(10, 16)), float(rng.uniform(0.18, 0.26)), 40.0)
    return radial, thrust


def _neighbours(rng: np.random.Generator, mains: float) -> tuple[Neighbour, ...]:
    count = int(rng.integers(2, 6))
    out = []
    for i in range(count):
        vfd = rng.random() < 0.35
        speed = float(rng.uniform(30, 70)) if vfd else mains * float(rng.uniform(0.983, 0.992))
        out.append(Neighbour(i, speed, int(rng.choice([4, 5])), float(rng.uniform(0.08, 0.3)),
                             int(rng.integers(1, 6))))
    return tuple(out)


def unit_for(device_id: str, seed: int) -> Unit:
    """The unit behind a device id, the same for the same (id, seed)."""
    rng = rng_for("screwhall-unit", device_id, seed)
    drive, mains, lo, hi = _drive(rng)
    bearing, thrust = _bearings(rng)
    male = int(rng.choice([4, 5]))
    female = male + int(rng.choice([1, 2])) if male == 4 else int(rng.choice([6, 7]))
    return Unit(
        device_id=device_id, seed=seed, site=str(rng.choice(SITES)),
        refrigerant=str(rng.choice(["NH3", "CO2/NH3"], p=[0.7, 0.3])), mains_hz=mains,
        drive=drive, speed_min_hz=lo, speed_max_hz=hi, male_lobes=male, female_lobes=female,
        rotor_slots=int(rng.choice([28, 34, 40, 46])), motor_fan_blades=int(rng.integers(7, 13)),
        pump_teeth=int(rng.integers(9, 14)), pump_hz=mains / 2 * float(rng.uniform(0.96, 0.975)),
        economiser=bool(rng.random() < 0.45),
        pwm_hz=float(rng.choice([2000.0, 2500.0, 3000.0, 4000.0])) if drive == "vfd" else 0.0,
        bearing=bearing, thrust=thrust,
        housing_modes=tuple((float(rng.uniform(f * 0.8, f * 1.25)), float(rng.uniform(8, 25)))
                            for f in (650.0, 1400.0, 2600.0, 4300.0)),
        pipe_modes=tuple(float(rng.uniform(f * 0.8, f * 1.2)) for f in (95.0, 240.0, 520.0)),
        frame_modes=tuple((float(rng.uniform(f * 0.8, f * 1.2)), float(rng.uniform(10, 30)))
                          for f in (420.0, 1250.0, 3100.0)),
        cycles_per_day=int(rng.integers(3, 7)) if drive != "vfd" else int(rng.integers(1, 3)),
        min_run_s=float(rng.uniform(30, 50)) * 60, min_off_s=float(rng.uniform(10, 20)) * 60,
        day_offset_s=float(rng.uniform(0, 86_400)),
        utc_offset_h=float(rng.choice([-8.0, -6.0, -5.0, 0.0, 1.0, 2.0, 8.0, 10.0])),
        defrost_every_h=float(rng.choice([6.0, 8.0, 12.0])),
        mic_distance_m=float(rng.uniform(0.5, 2.0)),
        mic_gain_db=float(rng.uniform(-40.0, -32.0)),
        self_noise=float(10 ** (rng.uniform(-80.0, -72.0) / 20)),
        rt60_s=float(rng.uniform(0.8, 2.2)),
        audio_rate=int(rng.choice(AUDIO_RATES)), channels=int(rng.choice([1, 2], p=[0.7, 0.3])),
        vib_rate=int(rng.choice(VIB_RATES)), vib_unit=str(rng.choice(["m/s2", "g"])),
        neighbours=_neighbours(rng, mains),
        booster_cylinders=int(rng.choice([0, 0, 4, 6, 8])),
        booster_hz=mains / 2 * float(rng.uniform(0.965, 0.98)),
        nh3_pumps=int(rng.integers(1, 4)), condenser_fans=int(rng.integers(1, 5)),
        condenser_blades=int(rng.choice([4, 5, 6, 8, 9])),
        condenser_fan_hz=float(rng.uniform(6.0, 12.0)),
        vent_blades=int(rng.choice([5, 6, 7, 9])), vent_hz=float(rng.uniform(12.0, 24.0)),
    )
