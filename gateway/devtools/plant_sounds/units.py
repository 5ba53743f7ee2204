"""A unit: everything drawn once from its id and a seed (its machine, duty cycle, room,
microphone, accelerometer, neighbouring machine, and how loud each fault reaches the sensors
there). Two calls with the same id and seed give the same unit."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from gateway.devtools.plant_sounds import machine, operation, room, vibration
from gateway.devtools.plant_sounds.faults import AUDIO_FAULTS
from gateway.devtools.plant_sounds.machine import Machine
from gateway.devtools.plant_sounds.room import Mic, Room
from gateway.devtools.plant_sounds.vibration import VIBRATION_FAULTS


@dataclass(frozen=True)
class Unit:
    unit_id: str
    key: tuple                 # seeds every window of this unit
    machine: Machine
    duty: operation.Duty
    room: Room
    mic: Mic
    accelerometer: vibration.Accelerometer
    neighbour: Machine
    neighbour_duty: operation.Duty
    path_db: dict              # fault kind -> how loud it reaches the sensor here, dB
    wav_encoding: str          # what the box writes: pcm16, pcm24 or float32
    spin_up_s: float
    run_down_s: float
    scale: float               # 1 / the machine's nominal RMS at this microphone's rate
    neighbour_scale: float

    @property
    def audio_rate(self) -> int:
        return self.mic.rate

    @property
    def vib_rate(self) -> int:
        return self.accelerometer.rate


def key_of(unit_id: str, seed: int) -> tuple:
    digest = hashlib.blake2b(unit_id.encode(), digest_size=8).digest()
    return (int(seed) & 0xFFFFFFFF, int.from_bytes(digest[:4], "little"),
            int.from_bytes(digest[4:], "little"))


def unit_for(unit_id: str, seed: int = 0) -> Unit:
    key = key_of(unit_id, seed)
    rng = np.random.default_rng([*key, 1])
    kinds = sorted(set(AUDIO_FAULTS) | set(VIBRATION_FAULTS))
    family = machine.draw(rng)
    neighbour = machine.draw(rng)
    mic = room.draw_mic(rng)
    return Unit(unit_id=unit_id, key=key, machine=family,
                duty=operation.draw(rng, (*key, 2)), room=room.draw_room(rng),
                mic=mic, accelerometer=vibration.draw(rng), neighbour=neighbour,
                neighbour_duty=operation.draw(rng, (*key, 3)),
                path_db={kind: float(rng.uniform(-4, 4)) for kind in kinds},
                wav_encoding=str(rng.choice(["pcm16", "pcm16", "pcm24", "float32"])),
                spin_up_s=float(rng.uniform(0.3, 1.2)),
                run_down_s=float(rng.uniform(0.2, 1.0) if family.family != "screw" else 1.5),
                scale=1 / machine.nominal_rms(family, mic.rate, key),
                neighbour_scale=1 / machine.nominal_rms(neighbour, mic.rate, key))
