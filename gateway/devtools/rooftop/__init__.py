"""A sixth compressor generator, written from physics only (without reading the other
generators or the detector) and held out from tuning: outdoor condensing units on a flat
roof or in a yard behind a shop, each with one compressor (DC-inverter rotary, fixed-speed
scroll, hermetic or semi-hermetic reciprocating), one or two condenser fans, and a site
that is never silent.

- `units.py` — a unit from its id and seed (compressor, motor, bearing geometry, fans,
  cabinet modes, mounting, cycle settings, neighbours, site, sensor box);
- `operation.py` — weather, the shop's load, thermostat cycles with minimum run and off
  times, inverter speed, head pressure and fan speed, start-up, pump-down, drift;
- `machine.py` — the unit's own sound, part by part;
- `site.py` — the neighbours, roof plant, weather and passing events;
- `microphone.py` — the box's microphone (gain, band, self-noise, PCM16, stereo);
- `faults.py` — nine audio faults;
- `vibration.py` and `vibration_faults.py` — the shell accelerometer and six faults;
- `windows.py` — the public windows and payloads;
- `pieces.py` — the shared signal pieces.
"""

from gateway.devtools.rooftop.operation import device_week, running_at
from gateway.devtools.rooftop.units import Unit, unit_for
from gateway.devtools.rooftop.windows import (
    AUDIO_FAULTS,
    VIBRATION_FAULTS,
    audio_wav,
    audio_window,
    vibration_payload,
    vibration_window,
)

__all__ = ["AUDIO_FAULTS", "VIBRATION_FAULTS", "Unit", "audio_wav", "audio_window",
           "device_week", "running_at", "unit_for", "vibration_payload", "vibration_window"]
