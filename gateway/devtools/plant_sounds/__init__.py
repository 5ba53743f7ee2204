"""A third generator of compressor sound and vibration, written from a physical description
only (without reading synth.py, compressor_rig or the detector), for bench/detection.py's
held-out evaluation: units with their own machine (reciprocating, scroll, screw), motor slip,
mains, fan, room, microphone and accelerometer; duty cycles, defrosts, load and drift; nine
audio and six vibration fault kinds at a severity 0..1 (0 is healthy).

    unit = unit_for("plant-00", seed=11)
    samples = audio_window(unit, t_s, fault="bearing_inner", severity=0.5)  # at unit.audio_rate
    wav = audio_wav(unit, t_s)                      # what the box sends on <prefix>/<id>/audio
    xyz = vibration_window(unit, t_s, fault="bearing_outer", severity=0.25)  # m/s², unit.vib_rate
    doc = vibration_payload(unit, xyz, t_s)         # on <prefix>/<id>/vibration
"""

from gateway.devtools.plant_sounds.faults import AUDIO_FAULTS
from gateway.devtools.plant_sounds.units import Unit, unit_for
from gateway.devtools.plant_sounds.vibration import VIBRATION_FAULTS
from gateway.devtools.plant_sounds.windows import (
    audio_wav,
    audio_window,
    device_week,
    running_at,
    vibration_payload,
    vibration_window,
)

__all__ = ["AUDIO_FAULTS", "VIBRATION_FAULTS", "Unit", "audio_wav", "audio_window",
           "device_week", "running_at", "unit_for", "vibration_payload", "vibration_window"]
