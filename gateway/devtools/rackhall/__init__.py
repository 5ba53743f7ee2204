"""A fifth compressor generator, written from physics without reading the other generators
or the detector: a supermarket / cold-store compressor rack's machine room. Several
compressors (semi-hermetic reciprocating and scroll) on a common suction header, staged by
the rack controller, the lead on an inverter (25-70 Hz, PWM whine); the monitored one with a
microphone and an accelerometer, the others audible and felt through the frame; roof fans,
ventilation, pipework, a radio, beeps, doors; a concrete room's reverberation.

Modules: `units` a unit from its id and seed; `operation` load, defrosts, staging, speed,
drift; `motor` the drive's tones; `machine` the compressor's voice; `room` the room and the
microphone; `faults` eight audio faults; `vibration` and `vibration_faults` the
accelerometer and six vibration faults; `windows` the public windows; `pieces` shared
signal pieces."""

from gateway.devtools.rackhall.faults import AUDIO_FAULTS
from gateway.devtools.rackhall.operation import device_week, running_at
from gateway.devtools.rackhall.units import Unit, unit_for
from gateway.devtools.rackhall.vibration_faults import VIBRATION_FAULTS
from gateway.devtools.rackhall.windows import (
    audio_wav,
    audio_window,
    vibration_payload,
    vibration_window,
)

__all__ = ["AUDIO_FAULTS", "VIBRATION_FAULTS", "Unit", "audio_wav", "audio_window",
           "device_week", "running_at", "unit_for", "vibration_payload", "vibration_window"]
