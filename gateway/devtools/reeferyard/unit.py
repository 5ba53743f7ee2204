"""One reefer unit's fixed parameters, drawn deterministically from its device id and seed.

A unit is a model (the shared design: drive, harmonic mix, housing resonances) plus its own
scatter (mains, speed, fan speeds, resonances, mic placement and chain, sample rates, cycle
timing) and the neighbours parked around it in the stack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

from .keys import uniform

AUDIO_RATES = (16000, 22050, 44100, 48000)
VIB_RATES = (1600, 2000, 3200, 4000, 6400)
T = TypeVar("T")


@dataclass(frozen=True)
class Bearing:
    """Rolling-element bearing geometry; defect frequencies follow from it per shaft Hz."""

    balls: int
    ball_mm: float
    pitch_mm: float
    contact_deg: float

    def orders(self) -> dict[str, float]:
        """Defect frequencies as multiples of the shaft rate (outer, inner, ball spin, cage)."""
        r = self.ball_mm / self.pitch_mm * math.cos(math.radians(self.contact_deg))
        return {
            "bpfo": self.balls / 2.0 * (1.0 - r),
            "bpfi": self.balls / 2.0 * (1.0 + r),
            "bsf": self.pitch_mm / (2.0 * self.ball_mm) * (1.0 - r * r),
            "ftf": 0.5 * (1.0 - r),
        }


@dataclass(frozen=True)
class Neighbour:
    """A reefer parked 2-6 m away: heard through the air and, faintly, through the stack."""

    name: str
    distance_m: float
    shaft_hz: float
    fan_hz: float
    blades: int
    cycle_s: float
    duty: float
    offset_s: float
    digital: bool
    pwm_s: float
    same_stack: bool  # stacked on/under this unit: its vibration reaches the sensor


@dataclass(frozen=True)
class Model:
    """What all units of one design share."""

    name: str
    drive: str  # "digital" | "inverter" | "fixed"
    harmonics: tuple[float, ...]  # pulsation amplitude per shaft order 1..
    housing_hz: tuple[float, ...]  # shell resonances heard by the microphone
    cond_blades: int
    evap_blades: int
    two_speed_fan: bool


MODELS = (
    Model("DS-40 digital", "digital", (1.0, 0.55, 0.42, 0.3, 0.22, 0.2, 0.12, 0.1), (640, 1850,
          3300), 4, 5, True),
    Model("DS-45e digital", "digital", (1.0, 0.7, 0.3, 0.35, 0.15, 0.12, 0.1, 0.06), (820, 2300,
          4100), 3, 5, False),
    Model("VS-eco inverter", "inverter", (1.0, 0.45, 0.38, 0.2, 0.18, 0.08, 0.08, 0.05), (560,
          1600, 2900), 4, 4, True),
    Model("FX-52 fixed", "fixed", (1.0, 0.6, 0.5, 0.25, 0.25, 0.15, 0.1, 0.08), (720, 2050,
          3700), 5, 5, True),
    Model("FX-48 fixed", "fixed", (1.0, 0.4, 0.45, 0.35, 0.12, 0.14, 0.06, 0.07), (900, 2500,
          4400), 4, 5, False),
)


@dataclass(frozen=True)
class Unit:
    """Everything fixed about one reefer's refrigeration unit and its sensor box."""

    device_id: str
    seed: int
    audio_rate: int
    vib_rate: int
    vib_unit: str  # "m/s2" | "g"
    channels: int
    model: Model
    cargo: str  # "frozen" (-25 C, runs nearly always) | "chilled" (+2..+13 C, cycles)
    mains_hz: float
    speed_lo_hz: float  # inverter: shaft speed at the lowest capacity
    speed_hi_hz: float  # inverter: at full capacity; fixed drives: synchronous speed
    slip: float  # induction motor slip at full load
    harmonic_scatter: tuple[float, ...]  # this unit's deviation from the model's mix
    housing_hz: tuple[float, ...]
    frame_hz: tuple[float, ...]  # structural resonances the accelerometer sees
    carrier_hz: float  # inverter PWM carrier whine (0 for mains drives)
    pwm_period_s: float  # digital scroll load/unload period
    cond_fan_hz: tuple[float, float]  # low and high speed rotation rate
    evap_fan_hz: tuple[float, float]
    fan_switch_c: float  # ambient above which the two-speed condenser fan runs high
    cycle_s: float  # thermostat cycle length
    duty_bias: float
    defrost_every_s: float
    defrost_s: float
    offset_s: float  # phase of this unit's cycles
    mean_ambient_c: float
    tz_hours: float
    mic_distance_m: float
    mic_gain: float
    mic_hp_hz: float
    mic_lp_frac: float
    mic_noise: float  # self-noise RMS at full scale (cheap MEMS capsules are noisy)
    stereo_delay: int  # samples between the two capsules for the machine's sound
    comp_bearing: Bearing
    fan_bearing: Bearing
    bearing_site: str  # where the vibration bearing faults live: "compressor" | "fan"
    shaft_site: str  # where imbalance / misalignment / looseness live
    shaft_1x: float  # healthy 1x vibration amplitude, m/s2
    neighbours: tuple[Neighbour, ...]


def _pick(seq: tuple[T, ...], u: float) -> T:
    return seq[min(int(u * len(seq)), len(seq) - 1)]


def _between(lo: float, hi: float, *key: object) -> float:
    return lo + (hi - lo) * uniform(*key)


def _neighbours(device_id: str, seed: int) -> tuple[Neighbour, ...]:
    count = 3 + int(uniform("nb-count", device_id, seed) * 4)
    out = []
    for i in range(count):
        k = ("nb", device_id, seed, i)
        model = _pick(MODELS, uniform(*k, "model"))
        mains = 60.0 if uniform(*k, "mains") < 0.25 else 50.0
        out.append(Neighbour(
            name=f"{device_id}-nb{i}",
            distance_m=_between(2.0, 6.0, *k, "d"),
            shaft_hz=mains * (1.0 - _between(0.015, 0.045, *k, "slip"))
            if model.drive != "inverter" else _between(35.0, 95.0, *k, "speed"),
            fan_hz=_between(14.0, 25.0, *k, "fan"),
            blades=model.cond_blades,
            cycle_s=_between(700.0, 2600.0, *k, "cycle"),
            duty=_between(0.35, 0.97, *k, "duty"),
            offset_s=_between(0.0, 86400.0, *k, "offset"),
            digital=model.drive == "digital",
            pwm_s=_between(10.0, 20.0, *k, "pwm"),
            same_stack=i < 2,
        ))
    return tuple(out)


def _bearing(kind: str, *key: object) -> Bearing:
    if kind == "compressor":
        return Bearing(int(_between(8, 13, *key, "n")), _between(7.0, 12.0, *key, "d"),
                       _between(38.0, 56.0, *key, "D"), _between(0.0, 15.0, *key, "a"))
    return Bearing(int(_between(7, 10, *key, "n")), _between(5.5, 7.9, *key, "d"),
                   _between(24.0, 33.0, *key, "D"), 0.0)


def unit_for(device_id: str, seed: int = 0) -> Unit:
    """The unit behind a device id: the same id and seed always give the same unit."""
    def u(name: str) -> float:
        return uniform("unit", device_id, seed, name)

    model = _pick(MODELS, u("model"))
    mains = 60.0 if u("mains") < 0.25 else 50.0
    inverter = model.drive == "inverter"
    lo_fan = 16.0 * (0.9 + 0.2 * u("cfan"))  # 6-pole winding, ~960 rpm
    hi_fan = lo_fan * 1.5 if model.two_speed_fan else lo_fan
    if model.two_speed_fan:
        hi_fan = 24.0 * (0.93 + 0.1 * u("cfan-hi"))
    evap_lo = 24.0 * (0.95 + 0.1 * u("efan"))
    cargo = "frozen" if u("cargo") < 0.45 else "chilled"
    return Unit(
        device_id=device_id,
        seed=seed,
        audio_rate=int(_pick(AUDIO_RATES, u("rate"))),
        vib_rate=int(_pick(VIB_RATES, u("vrate"))),
        vib_unit="g" if u("vunit") < 0.5 else "m/s2",
        channels=2 if u("stereo") < 0.12 else 1,
        model=model,
        cargo=cargo,
        mains_hz=mains,
        speed_lo_hz=30.0 + 12.0 * u("vlo") if inverter else mains,
        speed_hi_hz=85.0 + 15.0 * u("vhi") if inverter else mains,
        slip=0.018 + 0.025 * u("slip"),
        harmonic_scatter=tuple(0.7 + 0.6 * u(f"h{k}") for k in range(len(model.harmonics))),
        housing_hz=tuple(f * (0.9 + 0.2 * u(f"hous{i}")) for i, f in enumerate(model.housing_hz)),
        frame_hz=tuple(f * (0.85 + 0.3 * u(f"frame{i}")) for i, f in enumerate((95.0, 310.0,
                                                                                 780.0, 1450.0))),
        carrier_hz=(2500.0 + 5000.0 * u("carrier")) if inverter else 0.0,
        pwm_period_s=10.0 + 10.0 * u("pwm"),
        cond_fan_hz=(lo_fan, hi_fan),
        evap_fan_hz=(evap_lo * 0.5, evap_lo),
        fan_switch_c=18.0 + 10.0 * u("fswitch"),
        cycle_s=(3600.0 + 3600.0 * u("cycle")) if cargo == "frozen"
        else (900.0 + 1500.0 * u("cycle")),
        duty_bias=u("duty") - 0.5,
        defrost_every_s=3600.0 * (6.0 + 6.0 * u("defrost")),
        defrost_s=60.0 * (20.0 + 25.0 * u("defrost-len")),
        offset_s=86400.0 * u("offset"),
        mean_ambient_c=8.0 + 20.0 * uniform("yard", seed, "climate"),
        tz_hours=float(int(uniform("yard", seed, "tz") * 24) - 11),
        mic_distance_m=0.25 + 0.9 * u("micd"),
        mic_gain=0.6 + 0.8 * u("micg"),
        mic_hp_hz=15.0 + 110.0 * u("hp"),
        mic_lp_frac=0.42 + 0.06 * u("lp"),  # as a fraction of the sample rate
        mic_noise=(4e-4 + 1.2e-3 * u("selfnoise")) if u("mems") < 0.35 else 6e-5,
        stereo_delay=int(2 + 10 * u("spacing")),
        comp_bearing=_bearing("compressor", "cb", device_id, seed),
        fan_bearing=_bearing("fan", "fb", device_id, seed),
        bearing_site="fan" if u("bsite") < 0.3 else "compressor",
        shaft_site="fan" if u("ssite") < 0.35 else "compressor",
        shaft_1x=0.25 + 0.45 * u("1x"),
        neighbours=_neighbours(device_id, seed),
    )
