"""screwhall: a seventh compressor generator, written from physics only and held out (nobody
has tuned the detector on it): an industrial refrigeration engine room (cold store, dairy,
meat plant, ice rink) with oil-injected twin-screw compressors on ammonia or CO2/NH3.

Modules, one job each:

- `units` a unit and its room drawn from (device id, seed): drive (star-delta, soft-start or
  VFD), rotor lobes, motor slots and fan, oil pump, bearing geometry, modes, neighbours,
  sensor box;
- `operation` the schedule (a few runs a day, minimum run and off times), the slide valve
  following the load, VFD speed, starts, unloaded idling before a stop, defrosts, shifts,
  the week's drift;
- `machine` the compressor's voice (lobe-pass pulsation, roar, motor tones, PWM, oil pump,
  economiser, the start);
- `site` the engine room (other screws, booster, NH3 pumps, condenser, ventilation, events);
- `microphone` the concrete room's reverberation and the box's microphone;
- `faults` the nine audio faults; `vibration` the healthy accelerometer;
  `vibration_faults` the six vibration faults;
- `windows` the public windows and payloads; `pieces` the shared signal pieces.
"""

from gateway.devtools.screwhall.faults import AUDIO_FAULTS
from gateway.devtools.screwhall.operation import device_week, running_at
from gateway.devtools.screwhall.units import Unit, unit_for
from gateway.devtools.screwhall.vibration_faults import VIBRATION_FAULTS
from gateway.devtools.screwhall.windows import (
    audio_wav,
    audio_window,
    vibration_payload,
    vibration_window,
)

__all__ = ["AUDIO_FAULTS", "VIBRATION_FAULTS", "Unit", "audio_wav", "audio_window",
           "device_week", "running_at", "unit_for", "vibration_payload", "vibration_window"]
