"""freezerdock: simulated sound and vibration of refrigeration compressors at a frozen-food
distribution centre, as heard by a sensor box (microphone + tri-axial accelerometer bolted to
the compressor shell).

The site: remote condensing units and semi-hermetic reciprocating and scroll compressors (some
on inverters, 50 or 60 Hz mains, 2- or 4-pole motors) serve freezer chambers at -25 C and a
chill dock. Penthouse unit coolers defrost several times a day — electric heaters or hot gas
(the compressor off or unloaded, heaters ticking as they expand, fans stopped then restarting,
a pressure-equalisation hiss when the valves switch). Condenser fans follow the outdoor
temperature. Around the plant: electric forklifts and reach trucks (motor whine, reversing
beepers, pallets dropped, forks clanking), fast roller doors, dock levellers, truck reefer
diesels idling at the doors, a PA, radios, shift changes, rain on the roof, quiet night shifts
with a few trucks. The healthy sound drifts with outdoor temperature, load and condenser
fouling over days.

Modules, one job each:

* ``seeding`` — blake2b-seeded Generators and vectorised hashes (determinism).
* ``checks`` — argument validation for the public functions.
* ``units`` — the unit-to-unit variety: machine, microphone, duty plan, accelerometer.
* ``climate`` — outdoor temperature, rain, shift activity, condenser fouling.
* ``schedule`` — thermostat cycling, defrosts, load; ``running_at`` and ``device_week``.
* ``machine`` — the operating point over a window (speed ramps, phases, pressures).
* ``bearing`` — rolling-element defect frequencies from the bearing geometry.
* ``dsp`` — vectorised filtering, shaped noise, wavetables, impact trains.
* ``compressor_sound`` — the healthy compressor at the microphone.
* ``fans`` — condenser and unit-cooler fans.
* ``defrost_sounds`` — heater ticks and equalisation hiss.
* ``events`` / ``site_sounds`` / ``ambience`` — the dock around the plant room.
* ``microphone`` — capsule, gain, noise, DC, knee, clipping, PCM16 quantisation.
* ``audio_faults`` — the audio fault kinds (``AUDIO_FAULTS``).
* ``vibration`` / ``vibration_faults`` — healthy shell vibration and the six faults.
* ``windows`` — the public windows and the vibration JSON payload.
"""

from __future__ import annotations

from .audio_faults import NAMES as AUDIO_FAULTS
from .schedule import device_week, running_at
from .units import Unit, unit_for
from .vibration_faults import NAMES as VIBRATION_FAULTS
from .windows import audio_wav, audio_window, vibration_payload, vibration_window

__all__ = [
    "AUDIO_FAULTS",
    "VIBRATION_FAULTS",
    "Unit",
    "unit_for",
    "running_at",
    "device_week",
    "audio_window",
    "audio_wav",
    "vibration_window",
    "vibration_payload",
]
