"""A unit drawn from its device id and a seed: which machine, motor, fans, duty cycle, room,
microphone and accelerometer it has, and how each fault would show on it (which race of the
bearing, which side the leak, which panel rattles...). The same (id, seed) is the same unit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.coldroom.machines import Fan, Machine, draw_fan, draw_machine
from gateway.devtools.coldroom.motor import Motor, draw_motor
from gateway.devtools.coldroom.operation import Duty, draw_duty
from gateway.devtools.coldroom.pieces import Mode, rng_for
from gateway.devtools.coldroom.room import Microphone, Room, draw_microphone, draw_room

EPOCH_S = 1_767_225_600.0  # 2026-01-01: units were commissioned up to 30 days before it
AUDIO_RATES = (16_000, 22_050, 32_000, 44_100, 48_000)
VIB_RATES = (3_200, 6_400, 12_800, 25_600)


@dataclass(frozen=True)
class Traits:
    """How each fault realises on this unit (its own mechanics, not its severity)."""
    bearing_race: str  # the audio bearing defect: "outer" or "inner"
    bearing_ring: Mode  # the bearing housing's resonance that impacts excite (audio)
    leak_side: str  # "discharge" (high pressure) or "suction"
    electrical: str  # "rotor_bar" or "stator"
    rattle_modes: tuple[Mode, ...]  # the loose panel's modes
    reed_hz: float  # the cracked reed's flutter frequency
    damaged_blade: int
    transmission: dict  # fault kind -> how well this unit carries it to the microphone


@dataclass(frozen=True)
class Accelerometer:
    """A tri-axial accelerometer on the compressor's bearing end: x, y radial, z axial."""
    rate: int
    seconds: float
    unit: str  # what the box sends: "m/s2" or "g"
    noise: float  # sensor noise density, m/s²/sqrt(Hz)
    velocity_mm_s: float  # the healthy machine's velocity RMS 10-1000 Hz, per radial axis
    modes: tuple[Mode, ...]  # the structure's resonances between the bearing and the sensor
    axis_gains: tuple[float, float, float]  # stiffness anisotropy: x, y, z
    broadband: float  # HF acceleration RMS from flow and valves, m/s²


@dataclass(frozen=True)
class Unit:
    device_id: str
    seed: int
    machine: Machine
    motor: Motor
    fan: Fan  # the condenser fan: it runs with the compressor
    duty: Duty
    room: Room
    mic: Microphone
    accel: Accelerometer
    traits: Traits
    audio_rate: int
    vib_rate: int


def _traits(rng: np.random.Generator, blades: int) -> Traits:
    kinds = ("bearing", "leak", "rattle", "imbalance", "electrical", "valve_reed", "floodback",
             "fan_damage", "oil_starvation")
    return Traits(
        str(rng.choice(["outer", "outer", "inner"])),
        (float(rng.uniform(2500, 7000)), float(rng.uniform(15, 40)), 1.0),
        str(rng.choice(["discharge", "discharge", "suction"])),
        str(rng.choice(["rotor_bar", "stator"])),
        tuple((float(f), float(rng.uniform(20, 60)), float(g)) for f, g in
              zip(rng.uniform(500, 3500, 2), (1.0, 0.5), strict=True)),
        float(rng.uniform(300, 1200)), int(rng.integers(blades)),
        {kind: float(np.exp(rng.normal(0, 0.35))) for kind in kinds})


def _accelerometer(rng: np.random.Generator, family: str) -> Accelerometer:
    rate = int(rng.choice(VIB_RATES, p=[0.15, 0.35, 0.3, 0.2]))
    lively = family in ("reciprocating", "rotary")  # impacting machines shake more
    modes = ((float(rng.uniform(400, 1100)), float(rng.uniform(8, 20)), 1.0),
             (float(rng.uniform(1500, 4500)), float(rng.uniform(15, 35)), 1.0),
             (float(rng.uniform(5000, 9000)), float(rng.uniform(15, 35)), 0.7))
    return Accelerometer(rate, float(rng.choice([0.5, 1.0, 1.0, 2.0])),
                         str(rng.choice(["m/s2", "g"])),
                         float(np.exp(rng.uniform(np.log(8e-4), np.log(3e-3)))),
                         float(rng.uniform(0.45, 1.3) * (1.0 if lively else 0.7)), modes,
                         (1.0, float(rng.uniform(0.6, 0.95)), float(rng.uniform(0.3, 0.6))),
                         float(rng.uniform(0.4, 1.5) * (1.0 if lively else 0.5)))


def unit_for(device_id: str, seed: int) -> Unit:
    rng = rng_for("coldroom-unit", device_id, seed)
    machine = draw_machine(rng)
    motor = draw_motor(rng, machine.family)
    fan = draw_fan(rng, int(rng.choice([4, 6])), motor.mains_hz, machine.level_pa)
    audio_rate = int(rng.choice(AUDIO_RATES))
    accel = _accelerometer(rng, machine.family)
    return Unit(device_id, seed, machine, motor, fan, draw_duty(rng, EPOCH_S), draw_room(rng),
                draw_microphone(rng, audio_rate), accel, _traits(rng, fan.blades), audio_rate,
                accel.rate)
