"""milkroom: blind test data for the detector, from dairy farms' milk rooms.

The site. A bulk milk tank (1,000-20,000 l) is cooled by a direct-expansion condensing
unit: one or two hermetic reciprocating or scroll compressors (2- or 4-pole on 50 or 60 Hz
mains, some soft-started, some inverter scrolls), an air-cooled condenser with one or two
fans (in the room or outside through the wall), on some farms an ice bank building ice at
night, and the plate cooler's water pump. Milk arrives warm (35 C) two or three times a day,
so the compressor runs long after each milking and cycles short on the thermostat in
between; the agitator paddle turns whenever it cools and on a timer otherwise. Every one
or two days the tanker collects, the tank is washed and stays off for hours. Around it:
the parlour (vacuum pump, pulsators, milk pump, clusters, a radio), cows, the pressure
washer, tractors, rain on the roof, wind, birds at dawn, flies; nights nearly silent.
Weather and condenser dust drift the healthy sound over days and seasons.

Modules, one job each:
  seeding          named, blake2b-keyed random streams (never Python's hash())
  units            Unit and its parts (compressor, fan, farm, mic, bearing, accelerometer);
                   unit_for(device_id, seed)
  weather          temperature, rain, wind, condenser dust -> head pressure
  schedule         the milking-driven day: running_at, device_week, milking, washing
  machine          speed, slip, load and rotation phase of one window (starts and stops)
  bearing          rolling-element defect frequencies from the bearing's geometry
  dsp              wave tables, shaped noise, resonances, impact trains
  compressor_sound the healthy unit at its source, in parts
  audio_faults     the ten audio faults as contributions on top of those parts
  ambience         the farm around the machine
  microphone       room paths, MEMS response, self-noise, gain, DC, clipping, PCM16
  vibration        tri-axial shell acceleration and the six vibration faults
  windows          the public window makers, the WAV and the JSON payload

Determinism. Every window is a pure function of (unit, t_s, fault, severity, running,
seconds); draws come from streams named by (seed, device id, purpose, window millisecond).
Healthy parts never draw from a fault's stream, so a faulty window is its healthy twin
plus the fault's contribution (then the shared microphone), and severity 0 is the twin.
"""

from __future__ import annotations

from .audio_faults import AUDIO_FAULTS
from .schedule import device_week, running_at
from .units import Unit, unit_for
from .vibration import VIBRATION_FAULTS
from .windows import audio_wav, audio_window, vibration_payload, vibration_window

__all__ = [
    "AUDIO_FAULTS",
    "VIBRATION_FAULTS",
    "Unit",
    "audio_wav",
    "audio_window",
    "device_week",
    "running_at",
    "unit_for",
    "vibration_payload",
    "vibration_window",
]
