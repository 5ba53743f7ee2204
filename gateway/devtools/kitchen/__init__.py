"""An eighth compressor generator, written blind and held out: the back of house of
restaurants, hotel kitchens and canteens (walk-in coolers and freezers, reach-in and
under-counter fridges, an ice machine) among hood fans, dishwashers, pans and voices.

Nobody has tuned the detector on it, so its first measurement is an honest one.

- ``units.py`` a unit from its id and seed (compressor, motor, fans, bearing, shell,
  thermostat, kitchen, sensor box, neighbours)
- ``operation.py`` the kitchen's day and week, cooling load, thermostat cycles, defrosts,
  ice harvests, speed, drift
- ``machine.py`` the unit's running voice (pulsation comb, valve impacts on the shell, gas
  noise, motor tones or PWM whine, condenser and evaporator fans, refrigerant flow)
- ``transients.py`` starts, stops, a freezer's defrost and the ice machine's cycle
- ``kitchen_sounds.py`` clatter, voices, radio, printer, sinks, dishwasher, oven, hosing
- ``site.py`` neighbours, the hood, the room, wind on a roof, the wall in between
- ``microphone.py`` response, gain drift, self-noise, stereo, PCM16
- ``faults.py`` nine audio faults
- ``vibration.py`` and ``vibration_faults.py`` the shell accelerometer and six faults
- ``windows.py`` the public windows and payloads
- ``pieces.py`` the shared signal pieces
"""

from gateway.devtools.kitchen.faults import AUDIO_FAULTS
from gateway.devtools.kitchen.operation import device_week, running_at
from gateway.devtools.kitchen.units import Unit, unit_for
from gateway.devtools.kitchen.vibration_faults import VIBRATION_FAULTS
from gateway.devtools.kitchen.windows import (
    audio_wav,
    audio_window,
    vibration_payload,
    vibration_window,
)

__all__ = [
    "AUDIO_FAULTS", "VIBRATION_FAULTS", "Unit", "audio_wav", "audio_window", "device_week",
    "running_at", "unit_for", "vibration_payload", "vibration_window",
]
