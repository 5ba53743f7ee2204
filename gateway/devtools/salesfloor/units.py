"""The cases on the floor: what each plug-in unit is made of, drawn once from its device id.

A plug-in ("integral") case carries its own condensing unit: a small hermetic compressor
(reciprocating, or rotary in newer bottle coolers, some on an inverter), a condenser fan, an
evaporator fan, and the sensor box bolted next to the compressor. Units of one store come in
rows of near-identical cases, so a unit's neighbours are mostly the same model; their
compressors run at nearly the same speed and are heard through the shared floor and air.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .seeding import key64

AUDIO_RATES = (16000, 22050, 44100, 48000)
VIB_RATES = (2000, 4000, 5120, 6400, 8000, 10240, 12800, 25600)
CASE_KINDS = ("multideck", "bottle_cooler", "freezer_island", "serve_over")
STORE_KINDS = ("supermarket", "convenience", "all_night")


@dataclass(frozen=True)
class Unit:
    """One case's condensing unit and sensor box. Frequencies in Hz, levels as linear
    amplitudes at the microphone (full scale 1.0), distances in metres."""

    device_id: str
    seed: int
    audio_rate: int
    vib_rate: int
    vib_unit: str
    channels: int
    store_kind: str
    utc_offset_h: float
    case_kind: str
    compressor: str  # "reciprocating" | "rotary"
    mains_hz: float
    inverter: bool
    speed_range_hz: tuple[float, float]  # inverter's shaft speed range (fixed units: unused)
    slip: float  # induction motor slip at nominal load
    harmonics: tuple[float, ...]  # relative airborne levels of shaft harmonics 1x, 2x, ...
    shell_modes: tuple[tuple[float, float], ...]  # (frequency, Q) of the hermetic shell
    valve_ring_hz: float  # ringing of a reed valve impact inside the shell
    compressor_level: float
    mic_distance_m: float
    cond_fan_blades: int
    cond_fan_hz: float
    cond_fan_continuous: bool  # fan wired to run also while the compressor is off
    evap_fan_blades: int
    evap_fan_hz: float
    neighbour_distances_m: tuple[float, ...]
    neighbour_same_model: tuple[bool, ...]
    mic_highpass_hz: float
    mic_lowpass_hz: float
    mic_gain: float
    mic_self_noise: float
    stereo_delay_samples: int
    cycle_s: float  # thermostat on+off cycle at nominal load
    duty_nominal: float
    defrost_every_h: float
    defrost_min: float
    electric_defrost: bool  # heater defrost stops the evaporator fan; off-cycle keeps it
    fouling_days: float  # condenser fouling builds up over this many days, then is cleaned
    bearing: tuple[int, float, float, float]  # balls, ball diameter, pitch diameter (mm), angle
    mount_resonance_hz: float  # accelerometer mount / compressor foot resonance
    grommet_transmission: float  # how much of the shaft force the rubber feet pass


def _pick(rng: np.random.Generator, options: tuple[Any, ...]) -> Any:
    return options[int(rng.integers(len(options)))]


def _harmonic_mix(rng: np.random.Generator, compressor: str) -> tuple[float, ...]:
    """A piston's gas force is a pulse once per revolution, rich in harmonics; a rotary's
    rolling piston compresses more smoothly, so its series falls off faster."""
    k = np.arange(1, 13)
    fall = 0.55 if compressor == "reciprocating" else 0.9
    mix = k**-fall * rng.uniform(0.4, 1.4, k.size)
    mix[1] *= 1.5 if compressor == "reciprocating" else 1.0  # two strokes of gas force
    return tuple(float(a) for a in mix / mix.max())


def _shell_modes(rng: np.random.Generator) -> tuple[tuple[float, float], ...]:
    """A hermetic shell (a thin steel can, 15-25 cm) rings at a few modes around 0.6-5 kHz."""
    base = rng.uniform(600.0, 1100.0)
    ratios = np.array([1.0, 1.7, 2.6, 3.9]) * rng.uniform(0.93, 1.07, 4)
    return tuple((float(base * r), float(rng.uniform(8.0, 25.0))) for r in ratios)


def _bearing(rng: np.random.Generator) -> tuple[int, float, float, float]:
    """A 62xx deep-groove ball bearing of a small motor: 7-9 balls, 6-9 mm balls, 30-40 mm
    pitch; contact angle 0 for radial load."""
    return (int(rng.integers(7, 10)), float(rng.uniform(6.0, 9.0)),
            float(rng.uniform(30.0, 40.0)), 0.0)  # fmt: skip


def _machine(rng: np.random.Generator, case_kind: str) -> dict[str, Any]:
    compressor = "rotary" if case_kind == "bottle_cooler" and rng.random() < 0.6 else (
        "reciprocating" if rng.random() < 0.8 else "rotary")
    inverter = bool(rng.random() < (0.45 if compressor == "rotary" else 0.2))
    lo = rng.uniform(25.0, 35.0) if compressor == "reciprocating" else rng.uniform(30.0, 40.0)
    hi = rng.uniform(65.0, 75.0) if compressor == "reciprocating" else rng.uniform(80.0, 100.0)
    distance = float(rng.uniform(0.15, 0.6))
    return {
        "compressor": compressor, "inverter": inverter, "speed_range_hz": (lo, hi),
        "mains_hz": float(_pick(rng, (50.0, 50.0, 60.0))),
        "slip": float(rng.uniform(0.025, 0.045)),
        "harmonics": _harmonic_mix(rng, compressor), "shell_modes": _shell_modes(rng),
        "valve_ring_hz": float(rng.uniform(2500.0, 4500.0)),
        "compressor_level": float(0.05 * rng.uniform(0.6, 1.4) * 0.3 / distance**0.7),
        "mic_distance_m": distance,
        "cond_fan_blades": int(_pick(rng, (4, 5, 5, 6))),
        "cond_fan_hz": float(rng.uniform(20.0, 24.0)),  # shaded-pole 4-pole motor, ~1300 rpm
        "cond_fan_continuous": bool(rng.random() < 0.25),
        "evap_fan_blades": int(_pick(rng, (3, 5, 7))),
        "evap_fan_hz": float(rng.uniform(30.0, 45.0)),  # EC fan, 1800-2700 rpm
        "bearing": _bearing(rng), "mount_resonance_hz": float(rng.uniform(1500.0, 4500.0)),
        "grommet_transmission": float(rng.uniform(0.4, 1.0)),
    }  # fmt: skip


def _box(rng: np.random.Generator) -> dict[str, Any]:
    """The sensor box: a MEMS microphone behind a port, its own front end and converter."""
    audio_rate = int(_pick(rng, AUDIO_RATES))
    return {
        "audio_rate": audio_rate, "vib_rate": int(_pick(rng, VIB_RATES)),
        "vib_unit": str(_pick(rng, ("m/s2", "g"))), "channels": 2 if rng.random() < 0.3 else 1,
        "mic_highpass_hz": float(rng.uniform(20.0, 90.0)),
        "mic_lowpass_hz": float(min(rng.uniform(7000.0, 16000.0), 0.45 * audio_rate)),
        "mic_gain": float(rng.uniform(0.7, 1.4)),
        "mic_self_noise": float(rng.uniform(1.5, 5.0) / 32768.0),
        "stereo_delay_samples": int(rng.integers(1, 6)),
    }  # fmt: skip


def _thermal(rng: np.random.Generator, case_kind: str) -> dict[str, Any]:
    frozen = case_kind == "freezer_island"
    return {
        "cycle_s": float(rng.uniform(900.0, 1800.0)),
        "duty_nominal": float(rng.uniform(0.5, 0.65) if frozen else rng.uniform(0.4, 0.6)),
        "defrost_every_h": float(_pick(rng, (6.0, 8.0) if not frozen else (8.0, 12.0))),
        "defrost_min": float(rng.uniform(15.0, 30.0)),
        "electric_defrost": bool(frozen or rng.random() < 0.3),
        "fouling_days": float(rng.uniform(30.0, 90.0)),
    }


def _neighbours(rng: np.random.Generator) -> dict[str, Any]:
    count = int(rng.integers(1, 5))
    distances = np.sort(rng.uniform(1.0, 6.0, count)) * np.arange(1, count + 1) ** 0.3
    return {
        "neighbour_distances_m": tuple(float(d) for d in distances),
        "neighbour_same_model": tuple(bool(rng.random() < 0.7) for _ in range(count)),
    }


@lru_cache(maxsize=4096)
def unit_for(device_id: str, seed: int = 0) -> Unit:
    """The unit behind a device id: the same (device_id, seed) always gives the same unit."""
    rng = np.random.default_rng(key64("unit", device_id, seed))
    case_kind = str(_pick(rng, CASE_KINDS))
    store = np.random.default_rng(key64("store", device_id.split("-")[0], seed))
    return Unit(
        device_id=device_id, seed=seed, case_kind=case_kind,
        store_kind=str(_pick(store, STORE_KINDS)),
        utc_offset_h=float(_pick(store, (-5.0, 0.0, 1.0, 1.0, 2.0, 8.0, 10.0))),
        **_box(rng), **_machine(rng, case_kind), **_thermal(rng, case_kind), **_neighbours(rng),
    )  # fmt: skip


@lru_cache(maxsize=4096)
def neighbour(unit: Unit, index: int) -> Unit:
    """The index-th case next to this one: mostly the same model (same speed within slip,
    same sound), its own thermostat cycle, farther from the box than the unit's own pump."""
    other_id = f"{unit.device_id}~nb{index}"
    distance = unit.neighbour_distances_m[index]
    if unit.neighbour_same_model[index]:
        rng = np.random.default_rng(key64("neighbour", other_id, unit.seed))
        other = dataclasses.replace(
            unit, device_id=other_id, slip=unit.slip * float(rng.uniform(0.97, 1.03)),
            cycle_s=unit.cycle_s * float(rng.uniform(0.85, 1.15)),
        )
    else:
        other = unit_for(other_id, unit.seed)
    # Spreading from farther away, and the neighbour's own machine compartment's panels.
    level = 0.5 * unit.compressor_level * (unit.mic_distance_m / distance) ** 0.8
    return dataclasses.replace(other, compressor_level=level, mic_distance_m=distance)
