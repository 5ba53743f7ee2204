"""One audio window of a case's sensor box: the room, the neighbours, the unit, its fault.

The window is built in a Mix (near sources and diffuse room kept apart) and handed to the
microphone model. Each part draws from its own random stream keyed by (unit, window time,
part), so the healthy sound is the same whatever fault is added on top of it.
"""

from __future__ import annotations

import numpy as np

from gateway.wav import encode_wav

from . import floor_sound, machine_sound, microphone, thermostat
from .audio_faults import AUDIO_FAULTS, FaultContext, add_fault
from .mix import Mix
from .seeding import stream, time_key
from .units import Unit, neighbour
from .vibration import VIBRATION_FAULTS


def _check(fault: str | None, severity: float) -> None:
    # A vibration fault named here is accepted and inaudible: the two are separate channels.
    if fault is not None and fault not in AUDIO_FAULTS and fault not in VIBRATION_FAULTS:
        raise ValueError(f"unknown fault {fault!r}; audio faults are {AUDIO_FAULTS}")
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity must be in [0, 1], got {severity!r}")


def _neighbours(unit: Unit, mix: Mix, t_s: float, key: int) -> None:
    for index in range(len(unit.neighbour_distances_m)):
        other = neighbour(unit, index)
        if thermostat.running_at(other, t_s):
            rng = stream("neighbour", unit.device_id, unit.seed, index, key)
            machine_sound.neighbour_compressor(other, mix, t_s, rng)


def _own_unit(unit: Unit, mix: Mix, t_s: float, running: bool, key: int) -> float:
    """The unit's compressor and fans; returns the shaft speed (0 when stopped)."""
    rng = stream("own", unit.device_id, unit.seed, key)
    shaft = machine_sound.own_compressor(unit, mix, t_s, rng) if running else 0.0
    condenser, evaporator = thermostat.fans_running(unit, t_s, running)
    if condenser:
        machine_sound.fan_sound(unit, mix, t_s, rng, "condenser", unit.compressor_level * 0.35)
    if evaporator:
        machine_sound.fan_sound(unit, mix, t_s, rng, "evaporator", unit.compressor_level * 0.12)
    return shaft


def audio_window(
    unit: Unit,
    t_s: float,
    fault: str | None = None,
    severity: float = 0.0,
    running: bool | None = None,
    seconds: float = 1.0,
) -> np.ndarray:
    """float32 PCM16-step samples, (frames,) mono or (frames, 2) stereo."""
    _check(fault, severity)
    if running is None:
        running = thermostat.running_at(unit, t_s)
    key = time_key(t_s)
    mix = Mix(max(1, int(round(seconds * unit.audio_rate))), unit.audio_rate)
    floor_sound.sales_floor(unit, mix, t_s, stream("room", unit.device_id, unit.seed, key))
    _neighbours(unit, mix, t_s, key)
    shaft = _own_unit(unit, mix, t_s, running, key)
    if fault in AUDIO_FAULTS and severity > 0:
        condenser, evaporator = thermostat.fans_running(unit, t_s, running)
        rng = stream("fault", fault, unit.device_id, unit.seed, key)
        context = FaultContext(unit, mix, t_s, severity, rng, shaft, condenser, evaporator)
        add_fault(context, fault)
    return microphone.render(mix, unit, stream("mic", unit.device_id, unit.seed, key))


def audio_wav(
    unit: Unit,
    t_s: float,
    fault: str | None = None,
    severity: float = 0.0,
    running: bool | None = None,
) -> bytes:
    """The 1 s window as a PCM16 WAV file, as the box publishes it."""
    samples = audio_window(unit, t_s, fault, severity, running)
    return encode_wav(samples, unit.audio_rate, "pcm16")
