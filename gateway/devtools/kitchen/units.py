"""A unit drawn from its device id and seed: what kind of cabinet it cools, its compressor,
motor, condenser fan, bearing, shell, thermostat, its kitchen and its sensor box.

Everything here is fixed for the unit's life; what changes with time is in operation.py.
The unit also carries a cache (`unit.cache`) for per-rate constants (spectral shapes, comb
tables), so a window costs only its own random draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gateway.devtools.kitchen.pieces import rng

KINDS = ("undercounter", "reachin", "walkin_cooler", "walkin_freezer", "ice_machine")
SITES = ("restaurant", "hotel", "canteen")
PLACES = ("housing", "kitchen", "cupboard", "roof")  # where the microphone box hangs
AUDIO_RATES = (16_000, 22_050, 32_000, 44_100, 48_000)
VIB_RATES = (5_120, 10_240, 12_800, 25_600)


@dataclass(frozen=True)
class Bearing:
    """A deep-groove ball bearing's geometry, in the shaft's orders (defects per revolution)."""

    balls: int
    ball_mm: float
    pitch_mm: float
    contact_deg: float

    def _ratio(self) -> float:
        return self.ball_mm / self.pitch_mm * float(np.cos(np.radians(self.contact_deg)))

    @property
    def bpfo(self) -> float:
        return self.balls / 2 * (1 - self._ratio())

    @property
    def bpfi(self) -> float:
        return self.balls / 2 * (1 + self._ratio())

    @property
    def bsf(self) -> float:
        r = self._ratio()
        return self.pitch_mm / (2 * self.ball_mm) * (1 - r * r)

    @property
    def ftf(self) -> float:
        return 0.5 * (1 - self._ratio())


@dataclass
class Unit:
    device_id: str
    seed: int
    kind: str  # one of KINDS
    compressor: str  # "recip" | "rotary" | "scroll"
    cylinders: int  # 1-3 for reciprocating, 1 otherwise
    inverter: bool
    mains_hz: float  # 50 or 60
    slip_rated: float  # at rated torque
    rotor_bars: int
    stator_slots: int
    shell_modes: list[tuple[float, float, float]]  # (Hz, Q, gain) of the shell and cavity
    suspension_hz: float  # the pump on its internal springs
    level_db: float  # the compressor's sound at 1 m while running
    fan_blades: int
    fan_motor: str  # "shaded_pole" | "psc" | "ec"
    fan_rps: float
    fan_level_db: float
    evap_fan_rps: float
    evap_blades: int
    bearing: Bearing
    bearing_res_hz: float  # the structural resonance the bearing's impacts ring
    tau_s: float  # thermostat constant: on = tau/(1-x), off = tau/x at load fraction x
    min_run_s: float
    min_off_s: float
    defrost_every_h: int  # 0: no scheduled defrost
    defrost_s: float
    site: str
    utc_offset_h: int
    closed_weekday: int  # 0 Monday .. 6 Sunday; -1 open every day
    radio: bool
    place: str
    distance_m: float
    audio_rate: int
    channels: int
    full_scale_db: float  # SPL at the microphone's digital full scale
    vib_rate: int
    vib_unit: str  # "m/s2" | "g"
    vib_mm_s: float  # healthy ISO velocity RMS aimed at
    mount_axis_gain: tuple[float, float, float]
    neighbours: list[Unit] = field(default_factory=list)
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def fixed_speed(self) -> bool:
        return not self.inverter


def _compressor(g: np.random.Generator, kind: str) -> tuple[str, int, bool]:
    if kind == "undercounter":
        return ("recip", 1, False) if g.random() < 0.7 else ("rotary", 1, g.random() < 0.3)
    if kind == "reachin":
        return ("recip", 1, False) if g.random() < 0.6 else ("rotary", 1, g.random() < 0.4)
    if kind == "ice_machine":
        return ("recip", int(g.integers(1, 3)), False) if g.random() < 0.6 else \
            ("scroll", 1, False)
    # walk-ins: hermetic reciprocating 1-3 cylinders, some scroll, a few with an inverter
    pick = g.random()
    if pick < 0.6:
        return "recip", int(g.integers(1, 4)), False
    if pick < 0.85:
        return "scroll", 1, g.random() < 0.25
    return "rotary", 1, True


def _shell_modes(g: np.random.Generator, compressor: str) -> list[tuple[float, float, float]]:
    """A small hermetic shell: a gas cavity resonance of a few hundred Hz, shell bending
    modes from ~1.5 kHz up (a thicker, smaller scroll shell rings higher)."""
    base = 1.0 if compressor == "recip" else 1.25
    cavity = float(g.uniform(380, 700)) * base
    modes = [(cavity, float(g.uniform(6, 12)), 1.0)]
    for f0 in (1500, 2300, 3200, 4300, 5600):
        modes.append((f0 * base * float(g.uniform(0.9, 1.12)), float(g.uniform(18, 40)),
                      float(g.uniform(0.3, 0.9))))
    return modes


def _bearing(g: np.random.Generator) -> Bearing:
    balls = int(g.integers(7, 10))
    ball = float(g.uniform(6.0, 8.5))
    pitch = float(g.uniform(28.0, 36.0))
    return Bearing(balls, ball, pitch, float(g.choice([0.0, 0.0, 5.0, 10.0])))


def _fan(g: np.random.Generator, kind: str, mains: float) -> tuple[str, int, float, float]:
    """Shaded-pole fans on the small cabinets (4-pole, high slip: ~1300/1550 rpm), PSC or EC
    on walk-in condensing units (6-pole ~900/1100 rpm, or EC 800-1400 rpm)."""
    blades = int(g.integers(4, 7))
    if kind in ("undercounter", "reachin") or g.random() < 0.3:
        return "shaded_pole", blades, mains / 2 * float(g.uniform(0.82, 0.9)), \
            float(g.uniform(46, 53)) if kind in ("undercounter", "reachin") else \
            float(g.uniform(50, 56))
    if g.random() < 0.6:
        return "psc", blades, mains / 3 * float(g.uniform(0.9, 0.95)), float(g.uniform(54, 60))
    return "ec", blades, float(g.uniform(14, 23)), float(g.uniform(52, 58))


def _thermostat(g: np.random.Generator, kind: str) -> tuple[float, float, float, int, float]:
    """tau, minimum run, minimum off (anti-short-cycle), defrost interval (h), defrost length."""
    if kind == "undercounter":
        return float(g.uniform(90, 150)), 90.0, 120.0, 0, 0.0
    if kind == "reachin":
        return float(g.uniform(200, 360)), 120.0, 150.0, 0, 0.0
    if kind == "walkin_cooler":  # off-cycle defrost
        return float(g.uniform(420, 720)), 180.0, 180.0, 6, float(g.uniform(900, 1500))
    if kind == "walkin_freezer":  # electric defrost every 6-8 h
        return float(g.uniform(480, 800)), 180.0, 180.0, int(g.choice([6, 8])), \
            float(g.uniform(1200, 2400))
    return float(g.uniform(1500, 2400)), 600.0, 300.0, 0, 0.0  # ice machine: bin thermostat


_KIND_DB = {"undercounter": -7.0, "reachin": -5.0, "walkin_cooler": 0.0,
            "walkin_freezer": 1.0, "ice_machine": -2.0}  # bigger cabinets, bigger pumps


def _levels(g: np.random.Generator, kind: str, compressor: str, cylinders: int) -> float:
    """The compressor's sound pressure at 1 m while running, dB: a walk-in's 1-3 kW
    reciprocating pump around 60, an under-counter fridge's 150 W one some 7 dB less."""
    if compressor == "recip":
        base = float(g.uniform(57, 63)) + 2.0 * (cylinders - 1)
    else:
        base = float(g.uniform(54, 59)) if compressor == "rotary" else float(g.uniform(57, 62))
    return base + _KIND_DB[kind]


def _box(g: np.random.Generator, kind: str) -> dict:
    place = str(g.choice(PLACES, p=[0.3, 0.3, 0.25, 0.15]))
    near = place == "housing"
    return dict(
        place=place,
        distance_m=float(g.uniform(0.3, 0.6) if near else g.uniform(0.5, 1.5)),
        audio_rate=int(g.choice(AUDIO_RATES)),
        channels=int(g.choice([1, 1, 2])),
        full_scale_db=float(g.uniform(106, 116)),
        vib_rate=int(g.choice(VIB_RATES)),
        vib_unit=str(g.choice(["m/s2", "m/s2", "g"])),
        vib_mm_s=float(g.uniform(0.35, 1.2)),
        mount_axis_gain=(1.0, float(g.uniform(0.6, 1.0)), float(g.uniform(0.3, 0.6))),
    )


def _draw(device_id: str, seed: int, kind: str | None = None) -> Unit:
    g = rng("kitchen-unit", device_id, seed)
    kind = kind or str(g.choice(KINDS, p=[0.25, 0.15, 0.25, 0.25, 0.10]))
    compressor, cylinders, inverter = _compressor(g, kind)
    mains = float(g.choice([50.0, 60.0]))
    fan_motor, blades, fan_rps, fan_db = _fan(g, kind, mains)
    tau, min_run, min_off, defrost_h, defrost_s = _thermostat(g, kind)
    closed = int(g.choice([0, 6, -1, -1]))  # restaurants close a Monday or Sunday
    return Unit(
        device_id=device_id, seed=seed, kind=kind, compressor=compressor,
        cylinders=cylinders, inverter=inverter, mains_hz=mains,
        slip_rated=float(g.uniform(0.028, 0.05)), rotor_bars=int(g.choice([17, 22, 26, 28])),
        stator_slots=int(g.choice([18, 24])), shell_modes=_shell_modes(g, compressor),
        suspension_hz=float(g.uniform(8, 16)), level_db=_levels(g, kind, compressor, cylinders),
        fan_blades=blades, fan_motor=fan_motor, fan_rps=fan_rps, fan_level_db=fan_db,
        evap_fan_rps=float(mains / 2 * g.uniform(0.85, 0.93)),
        evap_blades=int(g.integers(4, 6)), bearing=_bearing(g),
        bearing_res_hz=float(g.uniform(1800, 4200)),
        tau_s=tau, min_run_s=min_run, min_off_s=min_off, defrost_every_h=defrost_h,
        defrost_s=defrost_s, site=str(g.choice(SITES, p=[0.55, 0.25, 0.2])),
        utc_offset_h=int(g.choice([0, 1, 2, -5, -6, -8])), closed_weekday=closed,
        radio=bool(g.random() < 0.5), **_box(g, kind),
    )


def unit_for(device_id: str, seed: int) -> Unit:
    """The unit behind `device_id` for this seed (the same every call), with one to three
    neighbouring units in the same cupboard, kitchen or roof, heard while it is off."""
    unit = _draw(device_id, seed)
    g = rng("kitchen-neighbours", device_id, seed)
    for i in range(int(g.integers(1, 4))):
        other = _draw(f"{device_id}~{i}", seed)
        other.distance_m = unit.distance_m + float(g.uniform(0.8, 4.0))
        other.site, other.utc_offset_h = unit.site, unit.utc_offset_h
        other.closed_weekday = unit.closed_weekday
        unit.neighbours.append(other)
    return unit
