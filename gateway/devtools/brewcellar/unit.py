"""One monitored compressor and its sensor box: every fixed parameter, drawn from the device id.

Three kinds of machine stand in the brewery: the lead glycol chiller (runs whenever the cellar
needs cooling), a lag chiller staged in only on heavy load (crash-cooling, wort knock-out), and
keg-store condensing units. Each has one semi-hermetic reciprocating compressor (4-pole, 2-6
cylinders) or a scroll (2-pole), maybe a tandem partner, air-cooled condenser fans, a glycol pump
near it, and a box whose microphone and accelerometer differ from the next box's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .keys import rng_for

AUDIO_RATES = (16_000, 22_050, 44_100, 48_000)
VIB_RATES = (3_200, 5_120, 6_400, 10_240, 12_800, 25_600)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Unit:
    """Everything about one device that does not change with time."""

    device_id: str
    seed: int
    role: str  # "chiller_lead" | "chiller_lag" | "keg_store"
    compressor: str  # "recip" | "scroll"
    cylinders: int  # discharges per revolution: 2/4/6 for a recip, 1 for a scroll orbit
    tandem: bool  # a second compressor on the circuit, staged on at high demand
    mains_hz: float
    sync_hz: float  # synchronous shaft speed, mains over pole pairs
    slip: float  # induction-motor slip at middling head pressure
    rotor_bars: int  # gives the slot-passing whine of the motor
    capacity: float  # cooling capacity over the demand it serves
    stage_above: float  # a lag unit starts only when the site demand exceeds this
    cycle_tau_s: float  # thermostat hysteresis times glycol mass over capacity
    fans: int
    fan_blades: int
    fan_hz: float  # fan rotation at full speed
    fan_drive: str  # "fixed" | "two_speed" | "ec"
    pump_hz: float
    pump_vanes: int
    pump_distance_m: float
    housing_hz: tuple[float, ...]  # shell and head resonances the microphone hears
    housing_q: tuple[float, ...]
    valve_hz: float  # ringing of a reed valve slapping its seat
    audio_rate: int
    channels: int
    mic_distance_m: float
    mic_gain_db: float
    mic_corner_hz: float  # low-pass of the box's acoustic port
    room_rt60_s: float
    site_exposure: float  # 0.15 in a closed plant room .. 1.0 in the open cellar
    vib_rate: int
    vib_unit: str  # "m/s2" | "g"
    vib_axes: tuple[int, int, int]  # sensor axis of (vertical radial, horizontal radial, axial)
    mount_hz: tuple[float, ...]  # structural resonances between bearing and accelerometer
    mount_zeta: tuple[float, ...]
    balls: int  # main rolling bearing geometry
    ball_ratio: float  # ball diameter over pitch diameter
    contact_deg: float
    vib_noise_ug: float  # accelerometer noise density in micro-g per root hertz
    fouling_days: float  # condenser coil cleaning interval


def _choice(rng: np.random.Generator, options: tuple[T, ...], weights: tuple[float, ...]) -> T:
    return options[int(rng.choice(len(options), p=np.asarray(weights) / sum(weights)))]


def _machine_params(rng: np.random.Generator, role: str) -> dict[str, Any]:
    """Compressor, motor and duty: what a nameplate and the controller settings would say."""
    recip = rng.random() < (0.55 if role != "keg_store" else 0.4)
    mains = 50.0 if rng.random() < 0.85 else 60.0
    capacity = float(rng.uniform(0.62, 0.8) if rng.random() < 0.2 else rng.uniform(0.85, 1.7))
    return {
        "role": role,
        "compressor": "recip" if recip else "scroll",
        "cylinders": _choice(rng, (2, 4, 6), (0.3, 0.5, 0.2)) if recip else 1,
        "tandem": bool(rng.random() < (0.25 if recip else 0.5) and role != "keg_store"),
        "mains_hz": mains,
        "sync_hz": mains / 2.0 if recip else mains,
        "slip": float(rng.uniform(0.025, 0.04) if recip else rng.uniform(0.02, 0.035)),
        "rotor_bars": int(rng.choice((28, 32, 34, 38, 40, 44))),
        "capacity": capacity if role != "chiller_lag" else float(rng.uniform(0.5, 0.9)),
        "stage_above": float(rng.uniform(0.5, 0.65)) if role == "chiller_lag" else 0.0,
        "cycle_tau_s": float(rng.uniform(150.0, 480.0)),
    }


def _plant_params(rng: np.random.Generator, role: str, mains: float) -> dict[str, Any]:
    """Condenser fans, the glycol pump and the shell: the rest of the package."""
    drive = _choice(rng, ("fixed", "two_speed", "ec"), (0.5, 0.25, 0.25))
    fixed_hz = mains / float(rng.choice((3, 4))) * float(rng.uniform(0.9, 0.94))
    fans = int(rng.integers(2, 4)) if role != "keg_store" else int(rng.integers(1, 3))
    return {
        "fans": fans,
        "fan_blades": int(rng.choice((3, 4, 5, 6, 7))),
        "fan_hz": float(rng.uniform(13.0, 23.0)) if drive == "ec" else fixed_hz,
        "fan_drive": drive,
        "pump_hz": mains * float(rng.uniform(0.965, 0.98)),
        "pump_vanes": int(rng.choice((5, 6, 7))),
        "pump_distance_m": float(rng.uniform(0.6, 1.6) if role != "keg_store"
                                 else rng.uniform(2.0, 6.0)),
        "housing_hz": (float(rng.uniform(350, 700)), float(rng.uniform(900, 1800)),
                       float(rng.uniform(2200, 4500))),
        "housing_q": tuple(float(q) for q in rng.uniform(4.0, 12.0, 3)),
        "valve_hz": float(rng.uniform(2500, 6000)),
    }


def _box_params(rng: np.random.Generator) -> dict[str, Any]:
    """The sensor box: microphone, its placement, the room, and the accelerometer."""
    rate = _choice(rng, AUDIO_RATES, (0.35, 0.15, 0.2, 0.3))
    stereo = rng.random() < (0.3 if rate >= 44_100 else 0.1)
    return {
        "audio_rate": rate,
        "channels": 2 if stereo else 1,
        "mic_distance_m": float(rng.uniform(0.5, 2.5)),
        "mic_gain_db": float(rng.uniform(-4.0, 4.0)),
        "mic_corner_hz": float(rng.uniform(6000, 14000)),
        "room_rt60_s": float(rng.uniform(0.3, 1.1)),
        "site_exposure": float(rng.uniform(0.15, 1.0)),
        "vib_rate": int(rng.choice(VIB_RATES)),
        "vib_unit": "g" if rng.random() < 0.4 else "m/s2",
        "vib_axes": tuple(int(a) for a in rng.permutation(3)),
        "mount_hz": (float(rng.uniform(500, 1100)), float(rng.uniform(1500, 3000)),
                     float(rng.uniform(3500, 7000))),
        "mount_zeta": tuple(float(z) for z in rng.uniform(0.02, 0.06, 3)),
        "balls": int(rng.integers(7, 13)),
        "ball_ratio": float(rng.uniform(0.18, 0.3)),
        "contact_deg": float(rng.uniform(0.0, 15.0)),
        "vib_noise_ug": float(rng.uniform(20.0, 80.0)),
        "fouling_days": float(rng.uniform(60.0, 120.0)),
    }


def unit_for(device_id: str, seed: int = 0) -> Unit:
    """The unit behind a device id: the same (id, seed) always gives the same machine."""
    rng = rng_for("unit", str(device_id), int(seed))
    role = _choice(rng, ("chiller_lead", "chiller_lag", "keg_store"), (0.5, 0.2, 0.3))
    machine = _machine_params(rng, role)
    plant = _plant_params(rng, role, machine["mains_hz"])
    return Unit(device_id=str(device_id), seed=int(seed), **machine, **plant, **_box_params(rng))
